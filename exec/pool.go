package exec

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
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

// Helpers are goroutines that run tasks handed to them and park between tasks. They
// are shared by every session of the process and started only when none is idle, so
// there are never more than the most that worked at once, and in steady state handing
// out work starts no goroutine and allocates nothing. A helper computes only with a
// token of the run it works for, which the task carries: the worker budget is the
// tokens', not the helpers'.

// task is work for a helper holding token id of some run.
type task interface {
	do(id int)
}

type handoff struct {
	t  task
	id int
}

type helper struct{ wake chan handoff }

var helpers struct {
	mu   sync.Mutex
	idle []*helper // a stack: the helper parked last is the likeliest to still be spinning
}

// spinFor is how long an idle helper polls for its next task before parking. Waking a
// parked goroutine on an idle core takes tens of microseconds (the thread sleeps in the
// kernel), as long as a small GEMM, and a transformer's parallel loops come a few to a
// few hundred microseconds apart. Measured on gpt4l (2 workers, Zen 4): 10 µs 7.6 ms,
// 50 µs 6.5 ms, 200 µs 5.4 ms, 500 µs and 1 ms no better. A spinning helper holds no
// token: it is not counted as work, it parks by itself when no work comes, and it
// yields its core to any other thread that wants it (osYield): with a CPU hog beside
// gpt4l's two workers, 9.3 ms as with no spinning, 16 ms spinning without yielding.
const spinFor = 200 * time.Microsecond

// waitSpin is how long a parallel-for's caller polls for its helpers' last chunks
// before sleeping: about a chunk of a transformer's GEMM with two workers. Longer
// costs more when the machine is oversubscribed and a helper's thread is not running.
const waitSpin = 30 * time.Microsecond

// handOut gives t to an idle helper, starting one if none is idle.
func handOut(t task, id int) {
	helpers.mu.Lock()
	var h *helper
	if n := len(helpers.idle); n > 0 {
		h = helpers.idle[n-1]
		helpers.idle = helpers.idle[:n-1]
	}
	helpers.mu.Unlock()
	if h == nil {
		h = &helper{wake: make(chan handoff, 1)}
		go h.loop()
	}
	h.wake <- handoff{t, id}
}

func (h *helper) loop() {
	for {
		w := h.next()
		w.t.do(w.id)
		w.t = nil // do not keep the task's run alive while parked
		helpers.mu.Lock()
		helpers.idle = append(helpers.idle, h)
		helpers.mu.Unlock()
	}
}

// next waits for a task: polling for spinFor, then parked.
func (h *helper) next() handoff {
	start := time.Now()
	for i := 0; ; i++ {
		select {
		case w := <-h.wake:
			return w
		default:
		}
		if i%16 == 15 && time.Since(start) > spinFor {
			return <-h.wake
		}
		runtime.Gosched() // other goroutines of this thread run meanwhile,
		osYield()         // and other threads of this core
	}
}

// chunksPerWorker bounds how finely a parallel-for splits its range: enough chunks
// that helpers joining late still find work, few enough that per-chunk overhead stays
// negligible. Kernels guarantee that the split does not change results.
const chunksPerWorker = 4

// forJob is the parallel-for of one goroutine computing with a token: the
// KernelContext.Parallel its kernels get is For, made once, so a call allocates nothing.
// The calling goroutine hands the job to one helper per token it can take without
// waiting, and all of them pull chunks from a shared counter, so the work completes
// even if no helper can be had or one is slow to wake. A helper leaves as soon as a
// node waits for a token. Once the context ends or the run fails, no new chunk
// starts: the kernel returns early with partial results, which the caller discards.
type forJob struct {
	ctx     context.Context
	tok     *tokens
	workers int
	// failed, if set, ends the job early as the context would (a plan run's error).
	failed *atomic.Bool
	// backlog, if set, counts ready nodes no goroutine has taken: helpers leave the
	// job for them (a plan run's scheduler).
	backlog *atomic.Int32
	// sched, if set, is where a helper leaving for the backlog runs nodes.
	sched *planSched

	forFn func(n, grain int, fn func(lo, hi int)) // j.For

	// One call: fn over n items in chunks of size.
	fn              func(lo, hi int)
	n, size, chunks int
	next            atomic.Int64 // the next chunk
	active          bool         // a call is running: a nested call runs serially
	panicked        atomic.Pointer[string]

	// handed[id] is gen<<1 | 1 while the helper handed token id has not woken to
	// claim it, 0 otherwise. A helper parked when handed a call may wake after the
	// caller has done all the chunks: the next call of the job (a kernel's second
	// loop) then takes that helper over by moving its gen forward, instead of finding
	// the token gone and running alone.
	handed []atomic.Uint64

	// Helpers join call gen while it is open; the caller closes it (see close).
	gen   uint32
	state atomic.Uint64 // gen << 32 | waitBit | helpers inside the job
	left  chan struct{} // the last helper out wakes the caller sleeping in close
}

func newForJob(ctx context.Context, tok *tokens, workers int) *forJob {
	j := &forJob{ctx: ctx, tok: tok, workers: workers, left: make(chan struct{}, 1), handed: make([]atomic.Uint64, workers)}
	j.forFn = j.For
	return j
}

// For runs fn over [0, n) in chunks of at least grain items, on this goroutine and the
// helpers it can get, and returns when every chunk is done.
func (j *forJob) For(n, grain int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	if j.active { // a chunk calling For again: this goroutine's job is busy
		j.serial(n, fn)
		return
	}
	grain = max(grain, 1)
	chunks := min((n+grain-1)/grain, chunksPerWorker*j.workers)
	size := (n + chunks - 1) / chunks
	chunks = (n + size - 1) / size
	if chunks == 1 {
		j.serial(n, fn)
		return
	}
	j.active = true
	j.fn, j.n, j.size, j.chunks = fn, n, size, chunks
	j.next.Store(0)
	gen := j.gen
	coming := 0 // helpers of earlier calls that have not woken yet, now this call's
	for id := range j.handed {
		if v := j.handed[id].Load(); v&1 != 0 && coming+1 < chunks && j.handed[id].CompareAndSwap(v, uint64(gen)<<1|1) {
			coming++
		}
	}
	for h := 1 + coming; h < chunks; h++ {
		id, ok := j.tok.tryAcquire()
		if !ok {
			break
		}
		j.handed[id].Store(uint64(gen)<<1 | 1)
		handOut(j, id)
	}
	j.work(false)
	j.close()
	j.fn, j.active = nil, false
	if p := j.panicked.Swap(nil); p != nil {
		// Re-raise on the node goroutine, where the executor turns it into an error.
		panic(kernelPanic(*p))
	}
}

func (j *forJob) serial(n int, fn func(lo, hi int)) {
	if !j.stopped() {
		fn(0, n)
	}
}

func (j *forJob) stopped() bool {
	return j.ctx.Err() != nil || j.failed != nil && j.failed.Load()
}

// The job's state word: the open call's generation in the high half, then a bit set
// while the caller sleeps waiting for helpers, then how many helpers are inside.
const (
	waitBit   = 1 << 31
	countMask = waitBit - 1
)

// close ends the call's generation once no helper is inside the job: helpers woken
// later find the generation over and leave without touching the job, so the caller
// never waits for a helper to wake, only for those working to finish their chunk. It
// polls for waitSpin first (a chunk ends within microseconds), then sleeps until the
// last helper out wakes it.
func (j *forJob) close() {
	closed := uint64(j.gen+1) << 32
	var start time.Time
	for i := 0; ; i++ {
		s := j.state.Load()
		if s&countMask == 0 {
			if j.state.CompareAndSwap(s, closed) {
				break
			}
			continue
		}
		if i == 0 {
			start = time.Now()
		}
		if i%16 != 15 || time.Since(start) < waitSpin {
			runtime.Gosched() // a helper may share this thread
			osYield()         // or this core
			continue
		}
		if j.state.CompareAndSwap(s, s|waitBit) {
			<-j.left
		}
	}
	j.gen++
}

// do is a helper's part of the call its hand-out is for (handed[id]): its chunks,
// then the token back, or on to running ready nodes with it when some wait. Either happens before the helper leaves
// the job, so that when For returns every token its helpers took is free again or
// counted by the scheduler.
func (j *forJob) do(id int) {
	gen := uint32(j.handed[id].Swap(0) >> 1) // claim the hand-out: the call it is for now
	for {
		s := j.state.Load()
		if uint32(s>>32) != gen {
			j.tok.release(id) // the call is over
			return
		}
		if j.state.CompareAndSwap(s, s+1) {
			break
		}
	}
	j.work(true)
	sched := j.sched
	runner := sched != nil && j.backlog.Load() > 0 && sched.enlist()
	if !runner {
		j.tok.release(id)
	}
	if s := j.state.Add(^uint64(0)); s&countMask == 0 && s&waitBit != 0 { // -1: this helper is out
		j.left <- struct{}{} // the last one out wakes the caller
	}
	if runner {
		sched.runWith(id, false)
	}
}

func (j *forJob) work(helper bool) {
	defer func() {
		if r := recover(); r != nil {
			msg := fmt.Sprintf("%v\n%s", r, debug.Stack())
			j.panicked.CompareAndSwap(nil, &msg)
		}
	}()
	for !j.stopped() {
		if helper && (j.tok.waiting.Load() > 0 || j.backlog != nil && j.backlog.Load() > 0) {
			return // the caller finishes the chunks; a waiting node gets this token
		}
		c := int(j.next.Add(1)) - 1
		if c >= j.chunks {
			return
		}
		lo := c * j.size
		j.fn(lo, min(lo+j.size, j.n))
	}
}

// kernelPanic carries a panic from a parallel-for helper to the node goroutine.
type kernelPanic string
