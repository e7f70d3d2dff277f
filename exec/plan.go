package exec

import (
	"context"
	"fmt"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/ciuic/ciuic/codegen"
	"github.com/ciuic/ciuic/ir"
	"github.com/ciuic/ciuic/ops"
)

// A Session made from a codegen.Plan runs every node into the plan's arena: each
// intermediate has a fixed place in one buffer, kernels with an into-variant write
// there directly, elementwise kernels run in place where the plan says so, and view
// ops (Reshape, Squeeze, ...) only relabel memory. A run takes a prepared run state
// (arena, tensor headers, dependency counters) from a free list and returns it, so in
// steady state a run allocates nothing for its intermediates. With several workers a
// planSched runs the nodes: dependency counts, a depth-first ready stack, the run's
// worker tokens and a parallel-for per token. The plan's memory reuse orders nothing
// the graph leaves independent (codegen reuses only bytes whose users all happen
// before the writer), so independent branches run side by side; what memory
// dependencies a plan still has (MemoryPlan.After: updates of an input in place) are
// added to the data dependencies, so any order the scheduler picks is safe. With one
// worker the nodes run in graph order on the calling goroutine.

// planExec is the plan-specific part of a Session.
type planExec struct {
	plan *codegen.Plan
	into []ops.KernelInto // per node; nil: allocate and copy
	view []bool           // per node: output 0 is a view of input 0

	def *layout // the layout of the plan's own memory plan

	mu      sync.Mutex
	layouts map[string]*layout // by bindings
	free    map[*layout][]*planState
}

// layout is one memory plan with the schedule derived from it.
type layout struct {
	key       string
	mp        *codegen.MemoryPlan
	deps      []int   // data + memory dependencies per node
	consumers [][]int // per node: nodes waiting for it
	initial   []int
	slots     []slotPlan
}

type slotPlan struct {
	storage codegen.Storage
	shape   []int
	offset  int64
	bytes   int64
	// perRun marks an alias of memory outside the arena (a graph input or constant,
	// possibly through views): its tensor's data is set from aliasOf's in each run.
	perRun  bool
	aliasOf int
}

// planState is everything one run of a layout uses; runs take one from the free list.
type planState struct {
	l      *layout
	arena  []byte
	hdr    []*ops.Tensor   // per slot: the arena tensor (nil: external or dynamic)
	values []*ops.Tensor   // per slot, during a run
	in     [][]*ops.Tensor // per node: its input tensors
	out    [][]*ops.Tensor // per node: its output tensors (arena headers)
	kctx   []ops.KernelContext
	tok    *tokens
	sched  *planSched // made by the first run with several workers
}

// NewPlanSession prepares a compiled plan for running. The constants are used where
// they are (in the mapped file), and the packed weights stored in the plan are
// installed for the GEMM kernels; nothing is converted or packed, which is what makes
// loading fast. The plan must stay open while the session is used.
func NewPlanSession(p *codegen.Plan, opts Options) (*Session, error) {
	g := p.Graph
	pe := &planExec{plan: p, layouts: map[string]*layout{}, free: map[*layout][]*planState{},
		into: make([]ops.KernelInto, len(g.Nodes)), view: make([]bool, len(g.Nodes))}
	constant := func(v *ir.Value) (*ops.Tensor, error) {
		t, err := constTensor(v.Const)
		if err != nil {
			return nil, err
		}
		if pm := p.Packed[v]; pm != nil {
			if impl, _ := pm.Panels(); impl == ops.GemmImpl() {
				err = ops.UsePacked(t, pm)
			} else {
				err = ops.Prepack(nil, t) // another GEMM is active here
			}
		} else if pm := p.PackedInt8[v]; pm != nil {
			if impl, _, _, _ := pm.Panels(); impl == ops.GemmInt8Impl() {
				err = ops.UsePackedInt8(t, pm)
			} else {
				err = ops.Prepack(nil, t) // another int8 GEMM is active here
			}
		} else if int8Weight(v) {
			// A plan made without its int8 panels (Compile found no constant weight
			// there): pack once here, at load, rather than on the first run.
			err = ops.Prepack(nil, t)
		}
		return t, err
	}
	s, err := buildSession(g, opts, constant, func(i int, n *ir.Node, dt ir.DType) {
		pe.into[i], _, _ = ops.LookupInto(n.Domain, n.Op, dt)
		pe.view[i] = codegen.IsView(n)
	})
	if err != nil {
		return nil, err
	}
	s.release = make([]int, s.nslots) // plan runs never drop slots: the arena is reused whole
	s.plan = pe
	l, err := pe.layoutFor(s, p.Memory)
	if err != nil {
		return nil, err
	}
	pe.def = l
	return s, nil
}

// int8Weight reports whether constant v is the 8-bit right operand of an integer
// matrix product (MatMulInteger, ciuic.DenseInt8), whose kernels use it packed.
func int8Weight(v *ir.Value) bool {
	if v.Const == nil || v.Const.DType != ir.I8 && v.Const.DType != ir.U8 || len(v.Const.Shape) != 2 {
		return false
	}
	for _, u := range v.Uses() {
		n := u.Node
		if u.Index == 1 && (n.Domain == "" && n.Op == "MatMulInteger" || n.Domain == ir.CiuicDomain && n.Op == "DenseInt8") {
			return true
		}
	}
	return false
}

// constTensor makes an ops tensor over an IR constant's bytes without copying, when
// they are suitably aligned (always, for a mapped .ciuic file), else by conversion.
func constTensor(c *ir.Tensor) (*ops.Tensor, error) {
	if c.DType != ir.String && c.DType.Size() > 0 {
		shape := make([]int, len(c.Shape))
		for i, d := range c.Shape {
			shape[i] = int(d)
		}
		if t, err := ops.TensorOver(c.DType, shape, c.Data); err == nil {
			return t, nil
		}
	}
	return ops.FromIR(c)
}

func bindingsKey(b map[string]int64) string {
	names := make([]string, 0, len(b))
	for n := range b {
		names = append(names, n)
	}
	sort.Strings(names)
	var sb strings.Builder
	for _, n := range names {
		fmt.Fprintf(&sb, "%s=%d;", n, b[n])
	}
	return sb.String()
}

// layoutFor returns the layout of memory plan mp, building it once.
func (pe *planExec) layoutFor(s *Session, mp *codegen.MemoryPlan) (*layout, error) {
	key := bindingsKey(mp.Bindings)
	pe.mu.Lock()
	defer pe.mu.Unlock()
	if l := pe.layouts[key]; l != nil {
		return l, nil
	}
	l := &layout{key: key, mp: mp, deps: make([]int, len(s.nodes)), consumers: make([][]int, len(s.nodes)), slots: make([]slotPlan, s.nslots)}
	for v, si := range s.slotOf {
		if vp := mp.Values[v]; vp != nil {
			l.slots[si] = slotPlan{storage: vp.Storage, shape: vp.Shape, offset: vp.Offset, bytes: vp.Bytes, aliasOf: -1}
			if vp.Storage == codegen.Alias && !l.aliasOfArena(s, v) {
				l.slots[si].perRun, l.slots[si].aliasOf = true, s.slotOf[vp.Alias]
			}
		} else {
			l.slots[si] = slotPlan{storage: codegen.Dynamic}
		}
	}
	for i := range s.nodes {
		l.deps[i] = s.nodes[i].deps
		l.consumers[i] = append([]int(nil), s.nodes[i].consumers...)
	}
	if len(mp.After) == len(s.nodes) {
		for i, before := range mp.After {
			for _, b := range before {
				l.deps[i]++
				l.consumers[b] = append(l.consumers[b], i)
			}
		}
	}
	for i := range s.nodes {
		if l.deps[i] == 0 {
			l.initial = append(l.initial, i)
		}
	}
	if len(pe.layouts) >= 8 { // a model fed ever new sizes: keep the cache bounded
		for k, old := range pe.layouts {
			if old != pe.def {
				delete(pe.layouts, k)
				delete(pe.free, old)
			}
		}
	}
	pe.layouts[key] = l
	return l, nil
}

// state takes a run state of l from the free list, or builds one.
func (pe *planExec) state(s *Session, l *layout) (*planState, error) {
	pe.mu.Lock()
	if f := pe.free[l]; len(f) > 0 {
		st := f[len(f)-1]
		pe.free[l] = f[:len(f)-1]
		pe.mu.Unlock()
		return st, nil
	}
	pe.mu.Unlock()
	st := &planState{l: l, hdr: make([]*ops.Tensor, s.nslots), values: make([]*ops.Tensor, s.nslots),
		in: make([][]*ops.Tensor, len(s.nodes)), out: make([][]*ops.Tensor, len(s.nodes)),
		kctx: make([]ops.KernelContext, len(s.nodes)), tok: newTokens(s.workers)}
	// The arena is allocated as []uint64 and viewed as bytes: Go aligns large
	// allocations to pages, and every buffer offset is a multiple of 64.
	words := make([]uint64, (l.mp.ArenaBytes+7)/8+codegen.Align/8)
	base := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(words))), len(words)*8)
	pad := int((codegen.Align - uintptr(unsafe.Pointer(&base[0]))%codegen.Align) % codegen.Align)
	st.arena = base[pad : pad+int(l.mp.ArenaBytes)]
	// Buffers first, then aliases (in-place outputs and views of arena values share
	// their root's bytes, with their own shape).
	for v, si := range s.slotOf {
		sp := l.slots[si]
		if sp.storage != codegen.Arena && sp.storage != codegen.Alias {
			continue
		}
		if sp.storage == codegen.Alias && !l.aliasOfArena(s, v) {
			continue // a view of an input or constant: its data is set per run
		}
		t, err := ops.TensorOver(v.Type.DType, sp.shape, st.arena[sp.offset:sp.offset+sp.bytes])
		if err != nil {
			return nil, fmt.Errorf("value %s: %v", v, err)
		}
		st.hdr[si] = t
	}
	for v, si := range s.slotOf {
		if sp := l.slots[si]; sp.storage == codegen.Alias && st.hdr[si] == nil && sp.shape != nil {
			st.hdr[si] = &ops.Tensor{DType: v.Type.DType, Shape: sp.shape} // Data: per run
		}
	}
	for i, nd := range s.nodes {
		st.in[i] = make([]*ops.Tensor, len(nd.in))
		st.out[i] = make([]*ops.Tensor, len(nd.out))
		for k, si := range nd.out {
			if si >= 0 {
				st.out[i][k] = st.hdr[si]
			}
		}
	}
	return st, nil
}

// aliasOfArena reports whether alias value v resolves to an arena buffer.
func (l *layout) aliasOfArena(s *Session, v *ir.Value) bool {
	for steps := 0; steps <= len(s.slotOf); steps++ {
		vp := l.mp.Values[v]
		if vp == nil {
			return false
		}
		switch vp.Storage {
		case codegen.Arena:
			return true
		case codegen.Alias:
			v = vp.Alias
		default:
			return false
		}
	}
	return false
}

func (pe *planExec) put(st *planState) {
	clear(st.values)
	pe.mu.Lock()
	if pe.layouts[st.l.key] == st.l {
		pe.free[st.l] = append(pe.free[st.l], st)
	}
	pe.mu.Unlock()
}

// layoutForInputs returns the layout for the symbolic dims the inputs bind, planning
// memory again when they differ from the plan's.
func (pe *planExec) layoutForInputs(s *Session, in []*ops.Tensor) (*layout, error) {
	// The common case, sizes as planned, is checked without building the bindings (a
	// map per run).
	mp := pe.plan.Memory
	same := true
	pe.eachBinding(s, in, func(name string, size int64) {
		if b, ok := mp.Bindings[name]; !ok || b != size {
			same = false
		}
	})
	if same {
		return pe.def, nil
	}
	bind := map[string]int64{}
	pe.eachBinding(s, in, func(name string, size int64) { bind[name] = size })
	key := bindingsKey(bind)
	pe.mu.Lock()
	l := pe.layouts[key]
	pe.mu.Unlock()
	if l != nil {
		return l, nil
	}
	mp, err := codegen.PlanMemory(s.graph, bind)
	if err != nil {
		return nil, err
	}
	return pe.layoutFor(s, mp)
}

// eachBinding calls f with each symbolic input dim's name and its size in this run.
func (pe *planExec) eachBinding(s *Session, in []*ops.Tensor, f func(name string, size int64)) {
	for i, v := range s.graph.Inputs {
		for k, d := range v.Type.Shape {
			if d.Name != "" && d.Name != "?" && k < len(in[i].Shape) {
				f(d.Name, int64(in[i].Shape[k]))
			}
		}
	}
}

// execute runs the plan once.
func (pe *planExec) execute(ctx context.Context, s *Session, in []*ops.Tensor, outs []*ops.Tensor) (*Result, error) {
	start := time.Now()
	l, err := pe.layoutForInputs(s, in)
	if err != nil {
		return nil, err
	}
	st, err := pe.state(s, l)
	if err != nil {
		return nil, err
	}
	defer pe.put(st)
	for i, si := range s.inputSlots {
		st.values[si] = in[i]
	}
	for si, t := range s.consts {
		st.values[si] = t
	}
	var stats []NodeStat
	if s.opts.Profile || s.opts.Trace {
		stats = make([]NodeStat, len(s.nodes))
	}
	if s.workers == 1 {
		if err := pe.serial(ctx, s, st, start, stats); err != nil {
			return nil, err
		}
	} else if err := pe.parallel(ctx, s, st, start, stats); err != nil {
		return nil, err
	}
	var res *Result
	if outs == nil {
		res = &Result{Outputs: make([]*ops.Tensor, len(s.outputSlots))}
		outs = res.Outputs
	}
	for i, si := range s.outputSlots {
		v := st.values[si]
		if v == nil {
			return nil, fmt.Errorf("graph output %s was not computed", s.graph.Outputs[i])
		}
		if outs[i] == nil {
			outs[i] = v.Clone() // the arena is reused by the next run
		} else if err := ops.CopyInto(outs[i], v); err != nil {
			return nil, fmt.Errorf("graph output %s: %v", s.graph.Outputs[i], err)
		}
	}
	if res != nil {
		res.Stats = Stats{Workers: s.workers, Wall: time.Since(start), PeakBytes: l.mp.ArenaBytes, Nodes: stats}
	}
	return res, nil
}

// runNode runs node i of a plan: as a view, into the arena, or by its allocating kernel
// with the result copied into the arena (or kept, for values of no static size).
func (pe *planExec) runNode(s *Session, st *planState, i int, kctx *ops.KernelContext) (err error) {
	nd := &s.nodes[i]
	in := st.in[i]
	for k, si := range nd.in {
		if si >= 0 {
			in[k] = st.values[si]
		} else {
			in[k] = nil
		}
	}
	out := st.out[i]
	defer func() {
		if p := recover(); p != nil {
			if kp, ok := p.(kernelPanic); ok {
				err = fmt.Errorf("node %s: %s: kernel panic: %s", nd.n.Ref(), nd.n.OpName(), string(kp))
				return
			}
			err = fmt.Errorf("node %s: %s: kernel panic: %v\n%s", nd.n.Ref(), nd.n.OpName(), p, debug.Stack())
		}
	}()
	if pe.view[i] && out[0] != nil && st.l.slots[nd.out[0]].storage == codegen.Alias && in[0] != nil {
		if in[0].Len() != out[0].Len() || in[0].DType != out[0].DType {
			return fmt.Errorf("node %s: %s of %s as %v: sizes differ from the plan", nd.n.Ref(), nd.n.OpName(), typeString(in[0]), out[0].Shape)
		}
		out[0].Data = in[0].Data
		st.values[nd.out[0]] = out[0]
		return nil
	}
	planned := true
	for k, si := range nd.out {
		if si >= 0 && out[k] == nil {
			planned = false
		}
		if si >= 0 && out[k] != nil && st.l.slots[si].perRun {
			// An update in place of a graph input (ciuic.KVCacheUpdate of a cache
			// passed in as state): the output is the input's memory in this run.
			src := st.values[st.l.slots[si].aliasOf]
			if src == nil || src.DType != out[k].DType || src.Len() != out[k].Len() {
				return fmt.Errorf("node %s: %s: output %d shares memory with a value of another size", nd.n.Ref(), nd.n.OpName(), k)
			}
			out[k].Data = src.Data
		}
	}
	if planned && pe.into[i] != nil {
		if err := pe.into[i](kctx, in, out, nd.n.Attrs); err != nil {
			return fmt.Errorf("node %s: %s with inputs %s: %w", nd.n.Ref(), nd.n.OpName(), inputTypes(in), err)
		}
		for k, si := range nd.out {
			if si >= 0 {
				st.values[si] = out[k]
			}
		}
		return nil
	}
	res, kerr := nd.kernel(kctx, in, nd.n.Attrs)
	if kerr == nil && len(res) < len(nd.out) {
		kerr = fmt.Errorf("kernel returned %d outputs, node has %d", len(res), len(nd.out))
	}
	if kerr != nil {
		return fmt.Errorf("node %s: %s with inputs %s: %w", nd.n.Ref(), nd.n.OpName(), inputTypes(in), kerr)
	}
	for k, si := range nd.out {
		if si < 0 || res[k] == nil {
			continue
		}
		if p := checkOutput(nd.n.Outputs[k], res[k]); p != "" {
			return fmt.Errorf("node %s: %s: %s", nd.n.Ref(), nd.n.OpName(), p)
		}
		if out[k] == nil {
			st.values[si] = res[k]
			continue
		}
		if !slices.Equal(out[k].Shape, res[k].Shape) {
			return fmt.Errorf("node %s: %s produced %s, the plan expects %v", nd.n.Ref(), nd.n.OpName(), typeString(res[k]), out[k].Shape)
		}
		if err := ops.CopyInto(out[k], res[k]); err != nil {
			return fmt.Errorf("node %s: %s: %v", nd.n.Ref(), nd.n.OpName(), err)
		}
		st.values[si] = out[k]
	}
	return nil
}

// serial runs the nodes in graph order on this goroutine, with no parallel-for: the
// kernels' loops then run without building closures (see ops' serial), so that a run
// allocates nothing. A canceled run stops between nodes.
func (pe *planExec) serial(ctx context.Context, s *Session, st *planState, start time.Time, stats []NodeStat) error {
	for i := range s.nodes {
		if err := ctx.Err(); err != nil {
			return err
		}
		t0 := time.Since(start)
		st.kctx[i] = ops.KernelContext{NumOutputs: len(s.nodes[i].out)}
		if err := pe.runNode(s, st, i, &st.kctx[i]); err != nil {
			return err
		}
		if stats != nil {
			stats[i] = NodeStat{Node: s.nodes[i].n, Start: t0, End: time.Since(start)}
		}
	}
	return ctx.Err()
}

// planSched runs a plan's nodes with several workers: dependency counts (data and
// memory), a depth-first ready stack, and the run's tokens. It belongs to one run
// state and is reused by its runs, so a run allocates nothing: no goroutine per node,
// no closure per parallel-for. The goroutine that calls Execute runs nodes with one
// token; when a finished node makes more than one node ready, a helper (pool.go) takes
// a free token and runs nodes too. A runner takes ready nodes until there are none,
// then gives its token back. Helpers of a parallel-for leave it for ready nodes no
// runner took (backlog), and run them with their token.
type planSched struct {
	pe    *planExec
	s     *Session
	st    *planState
	ctx   context.Context
	start time.Time
	stats []NodeStat

	failed  atomic.Bool  // an error: start nothing new
	backlog atomic.Int32 // len(ready), for helpers of parallel-fors
	jobs    []*forJob    // per token id: the parallel-for of the goroutine holding it

	mu       sync.Mutex
	deps     []int
	ready    []int
	left     int // nodes not finished
	running  int // goroutines running nodes
	starting int // runners started by spread that have not taken a node yet
	err      error
	done     chan struct{} // one element when running drops to 0 with the run over
}

func newPlanSched(pe *planExec, s *Session, st *planState) *planSched {
	ps := &planSched{pe: pe, s: s, st: st, deps: make([]int, len(s.nodes)), ready: make([]int, 0, len(s.nodes)),
		done: make(chan struct{}, 1), jobs: make([]*forJob, s.workers)}
	for id := range ps.jobs {
		j := newForJob(context.Background(), st.tok, s.workers)
		j.failed, j.backlog, j.sched = &ps.failed, &ps.backlog, ps
		ps.jobs[id] = j
	}
	return ps
}

// parallel runs the plan with the run state's scheduler.
func (pe *planExec) parallel(ctx context.Context, s *Session, st *planState, start time.Time, stats []NodeStat) error {
	ps := st.sched
	if ps == nil {
		ps = newPlanSched(pe, s, st)
		st.sched = ps
	}
	l := st.l
	ps.ctx, ps.start, ps.stats = ctx, start, stats
	for _, j := range ps.jobs {
		j.ctx = ctx
	}
	ps.failed.Store(false)
	copy(ps.deps, l.deps)
	ps.ready = ps.ready[:0]
	for k := len(l.initial) - 1; k >= 0; k-- { // reversed: the stack pops graph order
		ps.ready = append(ps.ready, l.initial[k])
	}
	ps.backlog.Store(int32(len(ps.ready)))
	ps.left, ps.running, ps.starting, ps.err = len(s.nodes), 1, 0, nil
	// A run state serves one run at a time, so every token is free but those a helper
	// woken too late for a parallel-for of the last run has not given back yet.
	id, err := st.tok.acquire(ctx)
	if err != nil {
		return err
	}
	ps.runWith(id, false)
	<-ps.done
	for _, j := range ps.jobs {
		j.ctx = context.Background() // do not keep the caller's context alive
	}
	ps.ctx, ps.stats = nil, nil
	if ps.err != nil {
		return ps.err
	}
	return ctx.Err()
}

// runWith runs ready nodes with token id until there are none, then releases the
// token. The caller counts as running (ps.running includes it); fresh says it was
// started for a node by spread and has not taken one yet.
func (ps *planSched) runWith(id int, fresh bool) {
	ps.mu.Lock()
	if fresh {
		ps.starting--
	}
	for {
		if ps.err == nil {
			if err := ps.ctx.Err(); err != nil {
				ps.fail(err)
			}
		}
		if ps.err != nil || len(ps.ready) == 0 {
			break
		}
		i := ps.ready[len(ps.ready)-1]
		ps.ready = ps.ready[:len(ps.ready)-1]
		ps.spread()
		ps.mu.Unlock()

		t0 := time.Since(ps.start)
		kctx := &ps.st.kctx[i]
		*kctx = ops.KernelContext{NumOutputs: len(ps.s.nodes[i].out), Parallel: ps.jobs[id].forFn}
		// No lock around the node's values: it reads slots whose producers finished
		// before it was pushed (under mu) and writes only its own output slots.
		err := ps.pe.runNode(ps.s, ps.st, i, kctx)
		t1 := time.Since(ps.start)

		ps.mu.Lock()
		if err != nil {
			ps.fail(err)
			break
		}
		if ps.stats != nil {
			ps.stats[i] = NodeStat{Node: ps.s.nodes[i].n, Start: t0, End: t1, Worker: id}
		}
		ps.left--
		cons := ps.st.l.consumers[i]
		for k := len(cons) - 1; k >= 0; k-- { // reversed: the stack pops graph order
			c := cons[k]
			ps.deps[c]--
			if ps.deps[c] == 0 {
				ps.ready = append(ps.ready, c)
			}
		}
		ps.backlog.Store(int32(len(ps.ready)))
	}
	ps.running--
	last := ps.running == 0
	ps.mu.Unlock()
	ps.st.tok.release(id) // before done: the next run finds every token free
	if last {
		ps.done <- struct{}{}
	}
}

// spread starts a runner, with a free token, for each ready node no runner is about
// to take, and publishes the backlog. Caller holds ps.mu.
func (ps *planSched) spread() {
	for len(ps.ready) > ps.starting {
		id, ok := ps.st.tok.tryAcquire()
		if !ok {
			break
		}
		ps.running++
		ps.starting++
		handOut(runnerTask{ps}, id)
	}
	ps.backlog.Store(int32(len(ps.ready) - ps.starting))
}

// enlist counts the caller, a helper holding a token, as a runner if ready nodes wait.
func (ps *planSched) enlist() bool {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.err != nil || len(ps.ready) <= ps.starting || ps.running == 0 {
		return false
	}
	ps.running++
	return true
}

// fail records the run's first error. Caller holds ps.mu.
func (ps *planSched) fail(err error) {
	if ps.err == nil {
		ps.err = err
	}
	ps.failed.Store(true)
}

// runnerTask is a helper's turn at running nodes.
type runnerTask struct{ ps *planSched }

func (r runnerTask) do(id int) { r.ps.runWith(id, true) }

// ExecuteInto runs a session made from a plan with inputs in graph-input order and
// copies the outputs into outs (graph-output order), which the caller allocated with
// the output shapes. It checks only dtypes and ranks (kernels check the rest), and with
// one worker and fixed shapes it allocates nothing: the loop a server runs per request.
func (s *Session) ExecuteInto(ctx context.Context, inputs, outs []*ops.Tensor) error {
	if s.plan == nil {
		return fmt.Errorf("ExecuteInto needs a session made from a compiled plan")
	}
	if len(inputs) != len(s.graph.Inputs) || len(outs) != len(s.outputSlots) {
		return fmt.Errorf("ExecuteInto: %d inputs and %d outputs, want %d and %d", len(inputs), len(outs), len(s.graph.Inputs), len(s.outputSlots))
	}
	for i, v := range s.graph.Inputs {
		t := inputs[i]
		if t == nil || t.DType != v.Type.DType || len(t.Shape) != len(v.Type.Shape) {
			return fmt.Errorf("ExecuteInto: input %q: want %s", v.Name, v.Type)
		}
	}
	for i, t := range outs {
		if t == nil {
			return fmt.Errorf("ExecuteInto: output %d is nil", i)
		}
	}
	_, err := s.plan.execute(ctx, s, inputs, outs)
	return err
}

// Plan returns the compiled plan a session runs, or nil for a session made from a graph.
func (s *Session) Plan() *codegen.Plan {
	if s.plan == nil {
		return nil
	}
	return s.plan.plan
}
