package ops

import (
	"fmt"
	"math"
	"sync"

	"github.com/ciuic/ciuic/ir"
	"github.com/ciuic/ciuic/ops/internal/vec"
)

func init() {
	Register(ir.CiuicDomain, "FusedElementwise", fusedKernel, ir.F32, ir.F64)
}

// ciuic.FusedElementwise(x0, x1, ...) {expr} evaluates an expression of elementwise ONNX
// ops (ir.ElementwiseOps) over the broadcast of its inputs in one pass over memory.
//
// Every step computes what the op's own registered kernel computes, so the result is
// bit-identical to running the ops one by one: binary arithmetic in the dtype (on f32
// through package vec's SIMD kernels: add, sub, mul and div are single IEEE operations
// and Max/Min pick an operand by the reference rule, the same bits as a scalar loop),
// Pow and the unary ops in float64 rounded once (the functions of unary.go), except the
// f32 unary ops with fast kernels (vecUnaries: Exp, Erf, Tanh, Sigmoid, Gelu), which go
// through the same package vec approximations as those kernels: within their tolerance
// (about 1e-6 relative) of the float64 reference, not bit-identical to it.
//
// The expression is compiled once per (expr, number of inputs) into a program for a small
// stack machine whose registers are blocks of fusedBlock elements. The output is computed
// a block at a time: inputs that have the output's shape are read in place, scalars from
// a block filled once, other broadcast inputs are gathered into a block first; then each
// step runs one tight loop over the block.

const fusedBlock = 256

// fusedCode is what one step of a fused program does.
type fusedCode uint8

const (
	fLoad fusedCode = iota // push input
	fAdd
	fSub
	fMul
	fDiv
	fMax
	fMin
	fPow
	fRelu
	fUnary // apply fn
)

var fusedBinary = map[string]fusedCode{"Add": fAdd, "Sub": fSub, "Mul": fMul, "Div": fDiv, "Max": fMax, "Min": fMin, "Pow": fPow}

// fusedStep is one instruction: load input into stack slot dst, or apply an op to the
// operands in slots dst (and dst+1) leaving the result in slot dst.
type fusedStep struct {
	code  fusedCode
	input int
	dst   int
	fn    func(float64) float64    // fUnary
	vfn   func(dst, src []float32) // fUnary on f32: the fast kernel's function (vec_kernels.go), if it has one
}

// fusedProg is a compiled expression.
type fusedProg struct {
	steps []fusedStep
	depth int // stack slots needed
}

type fusedKey struct {
	expr string
	nin  int
}

// fusedCache maps a fusedKey to its *fusedProg: an expression is parsed once, not per call.
var fusedCache sync.Map

func compileFused(expr string, nin int) (*fusedProg, error) {
	key := fusedKey{expr, nin}
	if p, ok := fusedCache.Load(key); ok {
		return p.(*fusedProg), nil
	}
	e, err := ir.ParseExpr(expr, nin)
	if err != nil {
		return nil, err
	}
	p := &fusedProg{}
	if err := p.emit(e, 0); err != nil {
		return nil, fmt.Errorf("expr %q: %v", expr, err)
	}
	fusedCache.Store(key, p)
	return p, nil
}

// emit appends the steps computing e into stack slot sp.
func (p *fusedProg) emit(e *ir.Expr, sp int) error {
	p.depth = max(p.depth, sp+1)
	if e.Op == "" {
		p.steps = append(p.steps, fusedStep{code: fLoad, input: e.Input, dst: sp})
		return nil
	}
	for i, a := range e.Args {
		if err := p.emit(a, sp+i); err != nil {
			return err
		}
	}
	st := fusedStep{dst: sp}
	if c, ok := fusedBinary[e.Op]; ok {
		st.code = c
	} else if e.Op == "Relu" {
		st.code = fRelu
	} else if f, ok := numUnaries[e.Op]; ok {
		st.code, st.fn = fUnary, f
	} else if fu, ok := floatUnaries[e.Op]; ok {
		f, err := fu(ir.Attrs{}) // the ONNX op with default attributes (Gelu: exact erf form)
		if err != nil {
			return err
		}
		st.code, st.fn = fUnary, f
		if pick := vecUnaries[e.Op]; pick != nil { // f32 goes through the same function as the op's kernel
			st.vfn, _ = pick(ir.Attrs{})
		}
	} else {
		return fmt.Errorf("op %s has no fused kernel", e.Op)
	}
	p.steps = append(p.steps, st)
	return nil
}

func fusedKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	const op = "FusedElementwise"
	if err := need(in, len(in)); err != nil || len(in) == 0 {
		return nil, fmt.Errorf("%s: every input is required (got %d)", op, len(in))
	}
	if !attrs.Has("expr") {
		return nil, fmt.Errorf("%s: attribute expr is required", op)
	}
	prog, err := compileFused(attrs.String("expr", ""), len(in))
	if err != nil {
		return nil, fmt.Errorf("%s: %v", op, err)
	}
	if err := sameDType(op, in...); err != nil {
		return nil, err
	}
	shapes := make([][]int, len(in))
	for i, t := range in {
		shapes[i] = t.Shape
	}
	shape, err := broadcastShapes(shapes...)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", op, err)
	}
	out, err := newTensor(in[0].DType, shape)
	if err != nil {
		return nil, err
	}
	switch in[0].DType {
	case ir.F32:
		runFused[float32](ctx, prog, out, in)
	case ir.F64:
		runFused[float64](ctx, prog, out, in)
	default:
		return nil, fmt.Errorf("%s: unsupported dtype %s (want f32 or f64)", op, in[0].DType)
	}
	return one(out), nil
}

// fusedInput is how one input is read: in place (full), from a filled block (scalar), or
// gathered through broadcast strides.
type fusedInput[T Float] struct {
	data    []T
	full    bool
	scalar  bool
	strides []int // broadcast strides (0 on broadcast dims), for gathered inputs
}

func runFused[T Float](ctx *KernelContext, prog *fusedProg, out *Tensor, in []*Tensor) {
	pool := fusedPool[T]()
	j := pool.jobs.Get().(*fusedJob[T])
	j.prog, j.shape, j.dst, j.pool = prog, out.Shape, out.Data.([]T), pool
	n, rank := len(j.dst), len(out.Shape)
	j.ins = j.ins[:0]
	j.strides = growInts(j.strides, len(in)*rank)
	for i, t := range in {
		d := t.Data.([]T)
		fi := fusedInput[T]{data: d, full: len(d) == n, scalar: len(d) == 1 && n != 1}
		if !fi.full && !fi.scalar {
			fi.strides = j.strides[i*rank : (i+1)*rank]
			bcastStridesTo(fi.strides, out.Shape, t.Shape)
		}
		j.ins = append(j.ins, fi)
	}
	ctx.ParallelFor(n, elemGrain, j.chunkFn)
	clear(j.ins) // keep no tensor alive in the pool
	j.prog, j.shape, j.dst, j.pool = nil, nil, nil, nil
	pool.jobs.Put(j)
}

// fusedJob is one call of runFused: what every chunk reads, taken from a pool with the
// method value of its chunk loop made once (a closure handed to the parallel-for would
// be allocated on every call, and the into-variant allocates nothing).
type fusedJob[T Float] struct {
	prog    *fusedProg
	shape   []int
	dst     []T
	ins     []fusedInput[T]
	strides []int // the gathered inputs' broadcast strides
	pool    *fusedPools[T]
	chunkFn func(lo, hi int)
}

// fusedScratch is one chunk's scratch: stack registers and a block per input (used by
// scalar and gathered inputs), pooled separately from the job since chunks run
// concurrently.
type fusedScratch[T Float] struct {
	regs, bufs, stack [][]T
	pos               []int
}

type fusedPools[T Float] struct{ jobs, scratch sync.Pool }

var fusedPools32, fusedPools64 = newFusedPools[float32](), newFusedPools[float64]()

func newFusedPools[T Float]() *fusedPools[T] {
	p := &fusedPools[T]{}
	p.jobs.New = func() any {
		j := new(fusedJob[T])
		j.chunkFn = j.chunk
		return j
	}
	p.scratch.New = func() any { return new(fusedScratch[T]) }
	return p
}

func fusedPool[T Float]() *fusedPools[T] {
	var p any = fusedPools64
	if _, ok := any(T(0)).(float32); ok {
		p = fusedPools32
	}
	return p.(*fusedPools[T])
}

func growInts(s []int, n int) []int {
	if cap(s) < n {
		return make([]int, n)
	}
	return s[:n]
}

// bcastStridesTo sets bs to in's row-major strides as seen from out (bcastStrides
// without allocating): 0 on broadcast dims and on the dims in lacks.
func bcastStridesTo(bs, out, in []int) {
	clear(bs)
	off, st := len(out)-len(in), 1
	for i := len(in) - 1; i >= 0; i-- {
		if in[i] != 1 {
			bs[off+i] = st
		}
		st *= in[i]
	}
}

// chunk computes output elements [lo, hi).
func (j *fusedJob[T]) chunk(lo, hi int) {
	prog, ins, dst := j.prog, j.ins, j.dst
	sc := j.pool.scratch.Get().(*fusedScratch[T])
	defer j.pool.scratch.Put(sc)
	for len(sc.regs) < prog.depth {
		sc.regs = append(sc.regs, make([]T, fusedBlock))
	}
	for len(sc.bufs) < len(ins) {
		sc.bufs = append(sc.bufs, make([]T, fusedBlock))
	}
	if cap(sc.stack) < prog.depth {
		sc.stack = make([][]T, prog.depth)
	}
	regs, bufs, stack := sc.regs, sc.bufs, sc.stack[:prog.depth]
	sc.pos = growInts(sc.pos, len(j.shape))
	for i, fi := range ins {
		if fi.scalar {
			for k := range bufs[i] {
				bufs[i][k] = fi.data[0]
			}
		}
	}
	for b := lo; b < hi; b += fusedBlock {
		e := min(b+fusedBlock, hi)
		m := e - b
		for i, fi := range ins {
			if fi.strides != nil {
				gather(bufs[i][:m], fi.data, j.shape, fi.strides, sc.pos, b)
			}
		}
		last := len(prog.steps) - 1
		for si, st := range prog.steps {
			if st.code == fLoad {
				if ins[st.input].full {
					stack[st.dst] = ins[st.input].data[b:e]
				} else {
					stack[st.dst] = bufs[st.input][:m]
				}
				continue
			}
			res := regs[st.dst][:m]
			if si == last {
				res = dst[b:e] // the last step writes the output directly
			}
			fusedApply(st, res, stack[st.dst], stack[min(st.dst+1, len(stack)-1)])
			stack[st.dst] = res
		}
		if prog.steps[last].code == fLoad { // the expression is a bare input
			copy(dst[b:e], stack[0])
		}
	}
	clear(stack) // no input's memory kept in the pool
}

// gather fills buf with src's elements for flat output indices [lo, lo+len(buf)) of an
// output of shape, src read through broadcast strides st. pos is scratch of len(shape).
// It moves a run along the last dim at a time: a copy where src is contiguous there, a
// fill where src is broadcast there (a bias row, a per-row scale).
func gather[T Float](buf, src []T, shape, st, pos []int, lo int) {
	r, off := lo, 0
	for d := len(shape) - 1; d >= 0; d-- {
		pos[d] = r % shape[d]
		r /= shape[d]
		off += pos[d] * st[d]
	}
	last := len(shape) - 1
	inner, ist := shape[last], st[last]
	for i := 0; i < len(buf); {
		run := min(len(buf)-i, inner-pos[last])
		out := buf[i : i+run]
		if ist == 0 {
			v := src[off]
			for j := range out {
				out[j] = v
			}
		} else { // row-major: a dim that is not broadcast has stride 1 when it is the last
			copy(out, src[off:off+run])
		}
		i += run
		pos[last] += run
		off += run * ist
		for d := last; d > 0 && pos[d] == shape[d]; d-- { // carry into the outer dims
			off -= pos[d] * st[d]
			pos[d] = 0
			pos[d-1]++
			off += st[d-1]
		}
	}
}

// fusedApply runs one non-load step: res = op(a) or op(a, b). res may be a (elementwise,
// so in place is safe) but never b.
func fusedApply[T Float](st fusedStep, res, a, b []T) {
	if r, ok := any(res).([]float32); ok && fusedApplyVec(st, r, any(a).([]float32), any(b).([]float32)) {
		return
	}
	a = a[:len(res)] // lets the compiler drop bounds checks in the loops
	if st.code < fRelu {
		b = b[:len(res)]
	}
	switch st.code {
	case fAdd:
		for i := range res {
			res[i] = a[i] + b[i]
		}
	case fSub:
		for i := range res {
			res[i] = a[i] - b[i]
		}
	case fMul:
		for i := range res {
			res[i] = a[i] * b[i]
		}
	case fDiv:
		for i := range res {
			res[i] = a[i] / b[i]
		}
	case fMax:
		for i := range res {
			x, y := a[i], b[i]
			if x != x || x > y { // as arithFn: NaN propagates
				res[i] = x
			} else {
				res[i] = y
			}
		}
	case fMin:
		for i := range res {
			x, y := a[i], b[i]
			if x != x || x < y {
				res[i] = x
			} else {
				res[i] = y
			}
		}
	case fPow:
		for i := range res {
			res[i] = T(math.Pow(float64(a[i]), float64(b[i])))
		}
	case fRelu:
		// The builtin max is math.Max's rule (NaN stays, max(-0, 0) = +0), as in the Relu
		// kernel, and compiles without a branch.
		for i := range res {
			res[i] = max(a[i], 0)
		}
	case fUnary:
		f := st.fn
		for i := range res {
			res[i] = T(f(float64(a[i])))
		}
	default:
		panic(fmt.Sprintf("ops: fused step %d", st.code))
	}
}

// fusedApplyVec runs an f32 step with package vec's functions, if it has one: the
// binary arithmetic and Relu (SIMD, same bits as the loops of fusedApply), and the
// unary ops of the fast kernels (the same function as the op's own kernel).
func fusedApplyVec(st fusedStep, res, a, b []float32) bool {
	switch st.code {
	case fAdd:
		vec.Add(res, a, b)
	case fSub:
		vec.Sub(res, a, b)
	case fMul:
		vec.Mul(res, a, b)
	case fDiv:
		vec.Div(res, a, b)
	case fMax:
		vec.Max(res, a, b)
	case fMin:
		vec.Min(res, a, b)
	case fRelu:
		vec.Relu(res, a)
	case fUnary:
		if st.vfn == nil {
			return false
		}
		st.vfn(res, a)
	default:
		return false
	}
	return true
}
