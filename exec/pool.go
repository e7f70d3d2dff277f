package exec

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
)

// tokens is a run's worker budget: one token per worker, each with an id that names
// the worker in traces. A goroutine computes only while it holds a token, so at most
// Workers goroutines compute at once whatever mix of nodes and intra-op helpers is
// running.
type tokens struct {
	ch chan int
	// waiting counts node goroutines blocked in acquire. Helpers give their token
	// back between chunks when a node waits: running independent nodes side by side
	// costs nothing, while splitting one kernel costs chunking and synchronisation.
	waiting atomic.Int32
}

func newTokens(n int) *tokens {
	t := &tokens{ch: make(chan int, n)}
	for i := 0; i < n; i++ {
		t.ch <- i
	}
	return t
}

// acquire waits for a token or for ctx to end.
func (t *tokens) acquire(ctx context.Context) (int, error) {
	if id, ok := t.tryAcquire(); ok {
		return id, nil
	}
	t.waiting.Add(1)
	defer t.waiting.Add(-1)
	select {
	case id := <-t.ch:
		return id, nil
	case <-ctx.Done():
		return -1, ctx.Err()
	}
}

// tryAcquire takes a token only if one is free right now.
func (t *tokens) tryAcquire() (int, bool) {
	select {
	case id := <-t.ch:
		return id, true
	default:
		return -1, false
	}
}

func (t *tokens) release(id int) { t.ch <- id }

// chunksPerWorker bounds how finely a parallel-for splits its range: enough chunks
// that helpers joining late still find work, few enough that per-chunk overhead stays
// negligible. Kernels guarantee that the split does not change results.
const chunksPerWorker = 4

// parallelFor returns the KernelContext.Parallel of one node invocation. The calling
// goroutine already holds a token; it spawns one helper per token it can take without
// waiting, and all of them pull chunks from a shared counter, so the work completes
// even if no helper can be had. A helper leaves as soon as a node waits for a token. Once ctx ends, no new chunk starts: the kernel returns
// early with partial results, which the caller discards.
func parallelFor(ctx context.Context, tok *tokens, workers int) func(n, grain int, fn func(lo, hi int)) {
	return func(n, grain int, fn func(lo, hi int)) {
		if n <= 0 {
			return
		}
		if grain < 1 {
			grain = 1
		}
		chunks := (n + grain - 1) / grain
		if limit := chunksPerWorker * workers; chunks > limit {
			chunks = limit
		}
		size := (n + chunks - 1) / chunks
		chunks = (n + size - 1) / size
		var next atomic.Int64
		var panicked atomic.Value
		work := func(helper bool) {
			defer func() {
				if r := recover(); r != nil {
					panicked.CompareAndSwap(nil, fmt.Sprintf("%v\n%s", r, debug.Stack()))
				}
			}()
			for ctx.Err() == nil {
				if helper && tok.waiting.Load() > 0 {
					return // the caller finishes the chunks; a waiting node gets this token
				}
				c := int(next.Add(1)) - 1
				if c >= chunks {
					return
				}
				lo := c * size
				fn(lo, min(lo+size, n))
			}
		}
		var wg sync.WaitGroup
		for h := 1; h < chunks; h++ {
			id, ok := tok.tryAcquire()
			if !ok {
				break
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer tok.release(id)
				work(true)
			}()
		}
		work(false)
		wg.Wait()
		if p := panicked.Load(); p != nil {
			// Re-raise on the node goroutine, where callKernel turns it into an error.
			panic(kernelPanic(p.(string)))
		}
	}
}

// kernelPanic carries a panic from a parallel-for helper to the node goroutine.
type kernelPanic string
