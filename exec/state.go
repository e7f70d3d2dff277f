package exec

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ciuic/ciuic/ir"
	"github.com/ciuic/ciuic/ops"
)

// Stepper runs a graph step after step with state: graph inputs whose tensors it owns
// and passes to every step, and that ops declared as in-place (ciuic.KVCacheUpdate)
// update where they are. A language model's key/value cache is such state: a decode
// step writes one row of it and allocates no cache.
//
// A Stepper runs the nodes one after another in graph order on the calling goroutine;
// with more than one worker, kernels split their work across the session's budget
// (intra-op parallelism), which is where the work of a one-token step is. Per-node
// cost is a kernel call and a type check: no goroutine, channel or map per node. A
// Stepper is not safe for concurrent use; each holds its own state.
type Stepper struct {
	s      *Session
	state  map[string]*ops.Tensor
	inputs map[string]*ops.Tensor // scratch: step inputs plus state, for checkInputs
	values []*ops.Tensor          // one per slot; constants stay, the rest is cleared after each step
	ins    [][]*ops.Tensor        // per node: its input tensors (reused)
	kctx   []ops.KernelContext    // per node
	reuse  []reuse                // per node
	tok    *tokens
	job    *forJob // the stepping goroutine's parallel-for, with tok
	stats  []NodeStat
}

// reuse lets a node with an into-variant write into the outputs of its previous step
// when its inputs have the shapes they had then (as in every decode step), so that in
// steady state a step allocates little beyond what kernels without one allocate.
type reuse struct {
	into   ops.KernelInto // nil: the node always allocates
	shapes [][]int        // input shapes of the step that made outs
	outs   []*ops.Tensor
}

// fits reports whether in has the shapes recorded with outs.
func (r *reuse) fits(in []*ops.Tensor) bool {
	if r.outs == nil {
		return false
	}
	for k, t := range in {
		if (t == nil) != (r.shapes[k] == nil) || t != nil && !slices.Equal(t.Shape, r.shapes[k]) {
			return false
		}
	}
	return true
}

// keep records outs and the input shapes that produced them.
func (r *reuse) keep(in, outs []*ops.Tensor) {
	if r.shapes == nil {
		r.shapes = make([][]int, len(in))
	}
	for k, t := range in {
		r.shapes[k] = nil
		if t != nil {
			r.shapes[k] = append([]int{}, t.Shape...) // non-nil even for a scalar
		}
	}
	r.outs = append(r.outs[:0], outs...)
}

// NewStepper prepares stepped runs of s with the given state tensors, keyed by graph
// input name. The Stepper keeps them; State returns them.
func (s *Session) NewStepper(state map[string]*ops.Tensor) (*Stepper, error) {
	st := &Stepper{s: s, state: state, inputs: map[string]*ops.Tensor{},
		values: make([]*ops.Tensor, s.nslots), ins: make([][]*ops.Tensor, len(s.nodes)),
		kctx: make([]ops.KernelContext, len(s.nodes)), reuse: make([]reuse, len(s.nodes))}
	var probs []string
	for name := range state {
		if v := s.graph.Lookup(name); v == nil || !s.isInput(v) {
			probs = append(probs, fmt.Sprintf("state %q is not a graph input (inputs: %s)", name, s.inputList()))
		}
	}
	if len(probs) > 0 {
		return nil, &InputError{Problems: probs}
	}
	for si, t := range s.consts {
		st.values[si] = t
	}
	if s.workers > 1 {
		st.tok = newTokens(s.workers)
		st.job = newForJob(context.Background(), st.tok, s.workers)
	}
	for i := range s.nodes {
		st.ins[i] = make([]*ops.Tensor, len(s.nodes[i].in))
		st.kctx[i] = ops.KernelContext{NumOutputs: len(s.nodes[i].out)}
		if k, _, ok := ops.LookupInto(nd(s, i).Domain, nd(s, i).Op, firstDType(nd(s, i))); ok {
			st.reuse[i].into = k
		}
	}
	if s.opts.Profile || s.opts.Trace {
		st.stats = make([]NodeStat, len(s.nodes))
	}
	return st, nil
}

func (s *Session) isInput(v *ir.Value) bool {
	for _, in := range s.graph.Inputs {
		if in == v {
			return true
		}
	}
	return false
}

// State returns the state tensors, keyed by graph input name.
func (st *Stepper) State() map[string]*ops.Tensor { return st.state }

// Step runs the graph once on inputs (every graph input that is not state) and the
// state, and returns the outputs in graph output order. Outputs may alias state and
// are valid until the next step, which may write over them: copy one before passing it
// back as an input.
func (st *Stepper) Step(ctx context.Context, inputs map[string]*ops.Tensor) (*Result, error) {
	s := st.s
	clear(st.inputs)
	for k, v := range inputs {
		if _, dup := st.state[k]; dup {
			return nil, &InputError{Problems: []string{fmt.Sprintf("input %q is state: the Stepper passes it", k)}}
		}
		st.inputs[k] = v
	}
	for k, v := range st.state {
		st.inputs[k] = v
	}
	in, err := s.checkInputs(st.inputs)
	if err != nil {
		return nil, err
	}
	for i, si := range s.inputSlots {
		st.values[si] = in[i]
	}
	defer st.clearIntermediates()
	var par func(n, grain int, fn func(lo, hi int))
	if st.tok != nil {
		// This goroutine computes with token 0 taken; helpers take the others.
		id, err := st.tok.acquire(ctx)
		if err != nil {
			return nil, err
		}
		defer st.tok.release(id)
		st.job.ctx = ctx
		defer func() { st.job.ctx = context.Background() }() // do not keep ctx alive
		par = st.job.forFn
	}
	start := time.Now()
	for i := range s.nodes {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		nd := &s.nodes[i]
		in := st.ins[i]
		for k, si := range nd.in {
			if si >= 0 {
				in[k] = st.values[si]
			}
		}
		kctx := &st.kctx[i]
		kctx.Parallel = par
		var t0 time.Duration
		if st.stats != nil {
			t0 = time.Since(start)
		}
		var outs []*ops.Tensor
		var kerr error
		if ru := &st.reuse[i]; ru.into != nil && ru.fits(in) {
			outs = ru.outs
			kerr = callInto(ru.into, kctx, in, outs, nd.n.Attrs)
		} else {
			outs, kerr = callKernel(nd.kernel, kctx, in, nd.n.Attrs)
			if kerr == nil {
				kerr = checkStepOutputs(nd, outs)
			}
			if kerr == nil && ru.into != nil {
				ru.keep(in, outs[:len(nd.out)])
			}
		}
		if kerr != nil {
			return nil, fmt.Errorf("node %s: %s with inputs %s: %w", nd.n.Ref(), nd.n.OpName(), inputTypes(in), kerr)
		}
		for k, si := range nd.out {
			if si >= 0 {
				st.values[si] = outs[k]
			}
		}
		if st.stats != nil {
			st.stats[i] = NodeStat{Node: nd.n, Start: t0, End: time.Since(start)}
		}
	}
	res := &Result{Outputs: make([]*ops.Tensor, len(s.outputSlots))}
	for i, si := range s.outputSlots {
		res.Outputs[i] = st.values[si]
	}
	res.Stats = Stats{Workers: s.workers, Wall: time.Since(start), Nodes: st.stats}
	return res, nil
}

// clearIntermediates drops every non-constant slot so that a step's tensors do not
// outlive it.
func (st *Stepper) clearIntermediates() {
	for i := range st.values {
		if _, ok := st.s.consts[i]; !ok {
			st.values[i] = nil
		}
	}
	for _, in := range st.ins {
		clear(in)
	}
}

// checkStepOutputs is checkOutputs without reflection: the dtype and static dims of
// each output against the node's declared type (kernels build their outputs with
// ops.New, so the data invariants hold).
func checkStepOutputs(nd *node, outs []*ops.Tensor) error {
	if len(outs) < len(nd.out) {
		return fmt.Errorf("kernel returned %d outputs, node has %d", len(outs), len(nd.out))
	}
	var probs []string
	for k, si := range nd.out {
		t := outs[k]
		if si < 0 || t == nil {
			continue
		}
		want := nd.n.Outputs[k].Type
		if !want.IsValid() {
			continue
		}
		ok := t.DType == want.DType && len(t.Shape) == len(want.Shape)
		for j := 0; ok && j < len(want.Shape); j++ {
			d := want.Shape[j]
			ok = !d.IsStatic() || int64(t.Shape[j]) == d.Size
		}
		if !ok {
			probs = append(probs, fmt.Sprintf("kernel produced %s for output %s, declared %s", typeString(t), nd.n.Outputs[k], want))
		}
	}
	if len(probs) > 0 {
		return fmt.Errorf("%s", strings.Join(probs, "; "))
	}
	return nil
}

func nd(s *Session, i int) *ir.Node { return s.nodes[i].n }

// firstDType is the dtype that selects a node's kernel: its first present input's.
func firstDType(n *ir.Node) ir.DType {
	for _, in := range n.Inputs {
		if in != nil {
			return in.Type.DType
		}
	}
	return ir.Invalid
}

// callInto runs an into-variant, turning a panic into an error as callKernel does.
func callInto(k ops.KernelInto, kctx *ops.KernelContext, in, out []*ops.Tensor, attrs ir.Attrs) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("kernel panic: %v", p)
		}
	}()
	return k(kctx, in, out, attrs)
}
