package attn

import (
	"runtime"
	"testing"
)

// A kept worker survives garbage collections (a sync.Pool would drop it) and comes
// back from Get; beyond the bound, Put drops workers.
func TestScratchKeepsWorkers(t *testing.T) {
	s := NewScratch[Worker](1)
	w := s.Get()
	s.Put(w)
	s.Put(new(Worker)) // over the bound: dropped
	runtime.GC()
	runtime.GC()
	if got := s.Get(); got != w {
		t.Error("the kept worker did not come back after two collections")
	}
	if got := s.Get(); got == w || got == nil {
		t.Error("an empty Scratch must make a new worker")
	}
}
