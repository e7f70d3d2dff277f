package exec

import (
	"context"
	"fmt"
	"reflect"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/ciuic/ciuic/ir"
	"github.com/ciuic/ciuic/ops"
)

// Result is what one run produces: the graph outputs and how the run went.
type Result struct {
	Outputs []*ops.Tensor // in graph output order
	Stats   Stats
}

// Map returns the outputs keyed by graph output name.
func (r *Result) Map(s *Session) map[string]*ops.Tensor {
	m := make(map[string]*ops.Tensor, len(r.Outputs))
	for i, v := range s.graph.Outputs {
		m[v.Name] = r.Outputs[i]
	}
	return m
}

// Run runs the graph on inputs (keyed by graph input name) and returns the outputs
// keyed by graph output name. Inputs are never modified; outputs may share data with
// inputs or constants (a graph output that is an input, a Reshape view) and must be
// treated as read-only.
func (s *Session) Run(ctx context.Context, inputs map[string]*ops.Tensor) (map[string]*ops.Tensor, error) {
	r, err := s.Execute(ctx, inputs)
	if err != nil {
		return nil, err
	}
	return r.Map(s), nil
}

// RunOrdered is Run returning the outputs in graph output order.
func (s *Session) RunOrdered(ctx context.Context, inputs map[string]*ops.Tensor) ([]*ops.Tensor, error) {
	r, err := s.Execute(ctx, inputs)
	if err != nil {
		return nil, err
	}
	return r.Outputs, nil
}

// Execute is Run returning statistics too: peak intermediate bytes always, per-node
// timings with Options.Profile or Options.Trace.
func (s *Session) Execute(ctx context.Context, inputs map[string]*ops.Tensor) (*Result, error) {
	in, err := s.checkInputs(inputs)
	if err != nil {
		return nil, err
	}
	if s.plan != nil {
		return s.plan.execute(ctx, s, in, nil)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(s.workers)
	r := &run{
		s:         s,
		ctx:       gctx,
		tok:       newTokens(s.workers),
		values:    make([]*ops.Tensor, s.nslots),
		deps:      make([]int, len(s.nodes)),
		remaining: append([]int(nil), s.release...),
		live:      map[uintptr]*buffer{},
		external:  map[uintptr]bool{},
		signal:    make(chan struct{}, len(s.nodes)),
		start:     time.Now(),
	}
	r.jobs = make([]*forJob, s.workers)
	for i, si := range s.inputSlots {
		r.values[si] = in[i]
		r.external[dataKey(in[i])] = true
	}
	for si, t := range s.consts {
		r.values[si] = t
		r.external[dataKey(t)] = true
	}
	if s.opts.Profile || s.opts.Trace {
		r.stats = make([]NodeStat, len(s.nodes))
	}
	for i := range s.nodes {
		r.deps[i] = s.nodes[i].deps
	}
	for k := len(s.initial) - 1; k >= 0; k-- { // reversed: the stack pops graph order
		r.push(s.initial[k])
	}

	// The dispatcher is this goroutine, outside the group: g.Go blocks while the group
	// is at its limit, and a node goroutine must never block on that itself (it holds
	// a slot), so nodes push ready nodes on a stack and signal the dispatcher instead.
dispatch:
	for dispatched := 0; dispatched < len(s.nodes); dispatched++ {
		select {
		case <-r.signal:
			g.Go(r.runNext)
		case <-gctx.Done():
			break dispatch
		}
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	res := &Result{Outputs: make([]*ops.Tensor, len(s.outputSlots))}
	for i, si := range s.outputSlots {
		res.Outputs[i] = r.values[si]
	}
	res.Stats = Stats{
		Workers:   s.workers,
		Wall:      time.Since(r.start),
		PeakBytes: r.peak,
		Nodes:     r.stats,
	}
	return res, nil
}

// run is the state of one Execute call; the Session itself is never written.
type run struct {
	s   *Session
	ctx context.Context // canceled on the first error
	tok *tokens
	// jobs holds the parallel-for of each token's holder, made on first use; only the
	// goroutine holding token id touches jobs[id].
	jobs []*forJob
	// signal has one element per node pushed on ready and not yet popped.
	signal chan struct{}
	start  time.Time

	mu        sync.Mutex // guards everything below
	values    []*ops.Tensor
	deps      []int // producer edges not yet computed, per node
	remaining []int // readers not yet finished, per releasable slot
	live      map[uintptr]*buffer
	external  map[uintptr]bool // buffers of inputs and constants: not counted
	liveBytes int64
	peak      int64
	stats     []NodeStat
	// ready holds nodes whose inputs are all computed. It is a stack: the consumers
	// of the node that just finished run next, depth first, so a branch's
	// intermediates are released before the next branch allocates its own.
	ready []int
}

// push makes node i ready. Caller holds r.mu, or is the only goroutine.
func (r *run) push(i int) {
	r.ready = append(r.ready, i)
	r.signal <- struct{}{} // never blocks: capacity is the number of nodes
}

func (r *run) pop() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	i := r.ready[len(r.ready)-1]
	r.ready = r.ready[:len(r.ready)-1]
	return i
}

// buffer is one live intermediate allocation; views of it (Reshape, Identity) share it.
type buffer struct {
	bytes int64
	refs  int
}

// runNext takes a worker token, then the top ready node, and runs it: it publishes
// the node's outputs, releases inputs it was the last reader of, and marks consumers
// ready. The node is chosen only once a token is held, so the choice sees every node
// made ready until then (depth first), and there is always one: every runNext call
// follows a push.
func (r *run) runNext() error {
	id, err := r.tok.acquire(r.ctx)
	if err != nil {
		return err
	}
	defer r.tok.release(id)
	if err := r.ctx.Err(); err != nil {
		return err
	}
	i := r.pop()
	nd := &r.s.nodes[i]
	in := make([]*ops.Tensor, len(nd.in))
	r.mu.Lock()
	for k, si := range nd.in {
		if si >= 0 {
			in[k] = r.values[si]
		}
	}
	r.mu.Unlock()

	t0 := time.Since(r.start)
	kctx := &ops.KernelContext{NumOutputs: len(nd.out), Parallel: r.job(id).forFn}
	outs, kerr := callKernel(nd.kernel, kctx, in, nd.n.Attrs)
	t1 := time.Since(r.start)
	if err := r.ctx.Err(); err != nil {
		// The run was canceled while the kernel ran: its outputs may be partial.
		return err
	}
	if kerr == nil {
		kerr = r.checkOutputs(nd, outs)
	}
	if kerr != nil {
		return fmt.Errorf("node %s: %s with inputs %s: %w", nd.n.Ref(), nd.n.OpName(), inputTypes(in), kerr)
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	for k, si := range nd.out {
		if si < 0 || outs[k] == nil {
			continue
		}
		r.values[si] = outs[k]
		r.hold(outs[k])
		if r.remaining[si] == 0 { // nobody reads it and it is not a graph output
			r.drop(si)
		}
	}
	for _, si := range nd.distinct {
		if r.remaining[si] > 0 {
			r.remaining[si]--
			if r.remaining[si] == 0 {
				r.drop(si)
			}
		}
	}
	if r.stats != nil {
		r.stats[i] = NodeStat{Node: nd.n, Start: t0, End: t1, Worker: id}
	}
	for k := len(nd.consumers) - 1; k >= 0; k-- { // reversed: the stack pops graph order
		c := nd.consumers[k]
		r.deps[c]--
		if r.deps[c] == 0 {
			r.push(c)
		}
	}
	return nil
}

func (r *run) job(id int) *forJob {
	if r.jobs[id] == nil {
		r.jobs[id] = newForJob(r.ctx, r.tok, r.s.workers)
	}
	return r.jobs[id]
}

// callKernel runs k, turning a panic into an error: a kernel bug must not take down
// the program that embeds ciuic.
func callKernel(k ops.Kernel, kctx *ops.KernelContext, in []*ops.Tensor, attrs ir.Attrs) (outs []*ops.Tensor, err error) {
	defer func() {
		if p := recover(); p != nil {
			if kp, ok := p.(kernelPanic); ok {
				err = fmt.Errorf("kernel panic: %s", string(kp))
				return
			}
			err = fmt.Errorf("kernel panic: %v\n%s", p, debug.Stack())
		}
	}()
	return k(kctx, in, attrs)
}

func (r *run) checkOutputs(nd *node, outs []*ops.Tensor) error {
	if len(outs) < len(nd.out) {
		return fmt.Errorf("kernel returned %d outputs, node has %d", len(outs), len(nd.out))
	}
	var probs []string
	for k, si := range nd.out {
		if si < 0 {
			continue
		}
		v := nd.n.Outputs[k]
		if outs[k] == nil {
			if r.s.release[si] != 0 { // read by a node, or a graph output
				probs = append(probs, fmt.Sprintf("kernel produced no tensor for output %s", v))
			}
			continue
		}
		if p := checkOutput(v, outs[k]); p != "" {
			probs = append(probs, p)
		}
	}
	if len(probs) > 0 {
		return fmt.Errorf("%s", strings.Join(probs, "; "))
	}
	return nil
}

// hold counts t's buffer as live. Caller holds r.mu.
func (r *run) hold(t *ops.Tensor) {
	key := dataKey(t)
	if key == 0 || r.external[key] {
		return
	}
	b := r.live[key]
	if b == nil {
		b = &buffer{bytes: tensorBytes(t)}
		r.live[key] = b
		r.liveBytes += b.bytes
		r.peak = max(r.peak, r.liveBytes)
	}
	b.refs++
}

// drop releases slot si: the tensor is no longer reachable from the run, so the
// garbage collector can reclaim it once the kernels that read it are done. Caller
// holds r.mu.
func (r *run) drop(si int) {
	t := r.values[si]
	r.values[si] = nil
	if t == nil {
		return
	}
	key := dataKey(t)
	if b := r.live[key]; b != nil {
		b.refs--
		if b.refs == 0 {
			delete(r.live, key)
			r.liveBytes -= b.bytes
			ops.Recycle(t) // its last reader finished and no view of it is alive
		}
	}
}

// dataKey identifies the buffer behind t (0 for empty tensors, which own nothing).
func dataKey(t *ops.Tensor) uintptr {
	if t == nil || t.Len() == 0 {
		return 0
	}
	return reflect.ValueOf(t.Data).Pointer()
}

func tensorBytes(t *ops.Tensor) int64 {
	if s, ok := t.Data.([]string); ok {
		var n int64
		for _, e := range s {
			n += int64(len(e))
		}
		return n
	}
	return int64(t.Len()) * int64(t.DType.Size())
}

// inputTypes prints the input types of a failing node: "f32[2, 3], _, i64[1]".
func inputTypes(in []*ops.Tensor) string {
	parts := make([]string, len(in))
	for i, t := range in {
		parts[i] = typeString(t)
	}
	if len(parts) == 0 {
		return "(none)"
	}
	return strings.Join(parts, ", ")
}
