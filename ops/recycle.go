package ops

import (
	"sync"

	"github.com/ciuic/ciuic/ir"
)

// Recycling of large float32 buffers. An executor that knows a tensor is no longer read
// (its last reader finished and nothing else shares its buffer) hands it to Recycle; New
// then reuses such a buffer, cleared, instead of asking the Go heap for fresh memory.
// Fresh large allocations cost page faults and garbage-collection work on every run; a
// model run repeatedly allocates the same sizes again and again.

const (
	recycleMin      = 4096     // elements: smaller buffers are cheap to allocate
	recycleMaxBytes = 64 << 20 // bound on the memory kept for reuse
)

var recycled struct {
	mu    sync.Mutex
	free  map[int][][]float32 // by length
	bytes int64
}

// Recycle offers t's buffer for reuse by New. The caller guarantees nothing reads or
// writes t, or any tensor sharing its buffer, afterwards.
func Recycle(t *Tensor) {
	if t == nil || t.DType != ir.F32 {
		return
	}
	d, ok := t.Data.([]float32)
	if !ok || len(d) < recycleMin || len(d) != cap(d) {
		return // a slice into a larger buffer is not ours to give away
	}
	recycled.mu.Lock()
	defer recycled.mu.Unlock()
	if recycled.bytes+int64(4*len(d)) > recycleMaxBytes {
		return
	}
	if recycled.free == nil {
		recycled.free = map[int][][]float32{}
	}
	recycled.free[len(d)] = append(recycled.free[len(d)], d)
	recycled.bytes += int64(4 * len(d))
}

// reuseF32 returns a cleared recycled buffer of n elements, or nil.
func reuseF32(n int) []float32 {
	if n < recycleMin {
		return nil
	}
	recycled.mu.Lock()
	list := recycled.free[n]
	if len(list) == 0 {
		recycled.mu.Unlock()
		return nil
	}
	d := list[len(list)-1]
	recycled.free[n] = list[:len(list)-1]
	recycled.bytes -= int64(4 * n)
	recycled.mu.Unlock()
	clear(d)
	return d
}
