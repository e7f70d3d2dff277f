package exec

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// A kernel often runs two parallel-fors in a row (quantize its input, then multiply).
// When the first ends before its helper wakes, the helper's token must still serve the
// second: the second loop has to run on two goroutines, not on the caller alone.
func TestParallelForKeepsLateHelpers(t *testing.T) {
	tok := newTokens(2)
	id, err := tok.acquire(context.Background()) // the node's own token
	if err != nil {
		t.Fatal(err)
	}
	defer tok.release(id)
	j := newForJob(context.Background(), tok, 2)
	alone := 0
	for range 50 {
		time.Sleep(time.Millisecond)     // let the helper park
		j.For(8, 1, func(lo, hi int) {}) // done by the caller long before the helper wakes
		// Every chunk waits (up to 100 ms) until two goroutines are inside at once.
		var inside atomic.Int32
		var met atomic.Bool
		j.For(2, 1, func(lo, hi int) {
			inside.Add(1)
			defer inside.Add(-1)
			for start := time.Now(); time.Since(start) < 100*time.Millisecond; {
				if inside.Load() >= 2 || met.Load() {
					met.Store(true)
					return
				}
				time.Sleep(10 * time.Microsecond)
			}
		})
		if !met.Load() {
			alone++
		}
	}
	if alone > 5 { // a busy machine may keep a helper from running for 100 ms now and then
		t.Errorf("the second parallel-for ran on the caller alone in %d of 50 rounds", alone)
	}
}
