package ops

import (
	"fmt"
	"math"

	"github.com/ciuic/ciuic/ir"
)

// Binary and variadic elementwise ops with numpy broadcasting.

func init() {
	for _, op := range []string{"Add", "Sub", "Mul", "Div"} {
		Register("", op, binaryKernel(op), numericTypes...)
	}
	Register("", "Mod", modKernel, numericTypes...)
	Register("", "Pow", powKernel, numericTypes...)
	Register("", "PRelu", preluKernel, numericTypes...)
	for _, op := range []string{"Max", "Min", "Sum", "Mean"} {
		Register("", op, variadicKernel(op), numericTypes...)
	}
	for _, op := range []string{"Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual"} {
		Register("", op, compareKernel(op), allTypes...)
	}
	for _, op := range []string{"And", "Or", "Xor"} {
		Register("", op, logicKernel(op), ir.Bool)
	}
	Register("", "Not", notKernel, ir.Bool)
	for _, op := range []string{"BitwiseAnd", "BitwiseOr", "BitwiseXor"} {
		Register("", op, bitwiseKernel(op), intTypes...)
	}
	Register("", "BitwiseNot", bitwiseNotKernel, intTypes...)
	Register("", "BitShift", bitShiftKernel, ir.U8, ir.U16, ir.U32, ir.U64)
	Register("", "Where", whereKernel, ir.Bool)
}

func arithFn[T Number](op string) func(a, b T) T {
	switch op {
	case "Add", "Sum":
		return func(a, b T) T { return a + b }
	case "Sub":
		return func(a, b T) T { return a - b }
	case "Mul":
		return func(a, b T) T { return a * b }
	case "Div":
		return func(a, b T) T { return a / b }
	case "Max":
		// NaN propagates, as in numpy.maximum (a != a only for NaN).
		return func(a, b T) T {
			if a != a || a > b {
				return a
			}
			return b
		}
	case "Min":
		return func(a, b T) T {
			if a != a || a < b {
				return a
			}
			return b
		}
	}
	panic("ops: unknown arithmetic op " + op)
}

// runBinary fills out (already shaped to the broadcast) with f over a and b.
func runBinary[A, B, R any](ctx *KernelContext, out, a, b *Tensor, f func(A, B) R) {
	o, x, y := out.Data.([]R), a.Data.([]A), b.Data.([]B)
	ctx.ParallelFor(len(o), elemGrain, func(lo, hi int) {
		binaryLoop(o, out.Shape, x, a.Shape, y, b.Shape, lo, hi, f)
	})
}

func binaryKernel(op string) Kernel {
	return func(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
		if err := need(in, 2); err != nil {
			return nil, err
		}
		out, err := arith(ctx, op, in[0], in[1])
		if err != nil {
			return nil, err
		}
		return one(out), nil
	}
}

func sameDType(op string, ts ...*Tensor) error {
	for _, t := range ts[1:] {
		if t.DType != ts[0].DType {
			return fmt.Errorf("%s: input dtypes differ (%s and %s)", op, ts[0].DType, t.DType)
		}
	}
	return nil
}

func hasZero(t *Tensor) bool {
	v, err := t.Ints()
	if err != nil {
		return false
	}
	for _, x := range v {
		if x == 0 {
			return true
		}
	}
	return false
}

// arith applies Add, Sub, Mul, Div, Max or Min with broadcasting.
func arith(ctx *KernelContext, op string, a, b *Tensor) (*Tensor, error) {
	if err := sameDType(op, a, b); err != nil {
		return nil, err
	}
	shape, err := broadcastShapes(a.Shape, b.Shape)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", op, err)
	}
	if a.DType.IsInt() && op == "Div" && hasZero(b) {
		return nil, fmt.Errorf("%s: integer division by zero", op)
	}
	if a.DType == ir.F16 || a.DType == ir.BF16 {
		return viaF32(a.DType, func(x ...*Tensor) (*Tensor, error) { return arith(ctx, op, x[0], x[1]) }, a, b)
	}
	out, err := newTensor(a.DType, shape)
	if err != nil {
		return nil, err
	}
	switch a.DType {
	case ir.F32:
		runBinary(ctx, out, a, b, arithFn[float32](op))
	case ir.F64:
		runBinary(ctx, out, a, b, arithFn[float64](op))
	case ir.I8:
		runBinary(ctx, out, a, b, arithFn[int8](op))
	case ir.I16:
		runBinary(ctx, out, a, b, arithFn[int16](op))
	case ir.I32:
		runBinary(ctx, out, a, b, arithFn[int32](op))
	case ir.I64:
		runBinary(ctx, out, a, b, arithFn[int64](op))
	case ir.U8:
		runBinary(ctx, out, a, b, arithFn[uint8](op))
	case ir.U16:
		runBinary(ctx, out, a, b, arithFn[uint16](op))
	case ir.U32:
		runBinary(ctx, out, a, b, arithFn[uint32](op))
	case ir.U64:
		runBinary(ctx, out, a, b, arithFn[uint64](op))
	default:
		return nil, fmt.Errorf("%s: unsupported dtype %s", op, a.DType)
	}
	return out, nil
}

// newTensor is New with an error for an unsupported dtype.
func newTensor(dt ir.DType, shape []int) (*Tensor, error) {
	data, err := makeData(dt, NumElems(shape))
	if err != nil {
		return nil, err
	}
	return &Tensor{DType: dt, Shape: shape, Data: data}, nil
}

// viaF32 computes a half-precision op by widening its inputs to f32 and rounding the
// result back to dt: ciuic's reference for f16/bf16 math.
func viaF32(dt ir.DType, f func(...*Tensor) (*Tensor, error), in ...*Tensor) (*Tensor, error) {
	wide := make([]*Tensor, len(in))
	for i, t := range in {
		w, err := Cast(t, ir.F32)
		if err != nil {
			return nil, err
		}
		wide[i] = w
	}
	r, err := f(wide...)
	if err != nil {
		return nil, err
	}
	if r.DType != ir.F32 {
		return r, nil
	}
	return Cast(r, dt)
}

func variadicKernel(op string) Kernel {
	return func(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
		if err := need(in, 1); err != nil {
			return nil, err
		}
		acc := in[0]
		fold := op
		if op == "Mean" {
			fold = "Sum"
			if !acc.DType.IsFloat() {
				return nil, fmt.Errorf("Mean: unsupported dtype %s", acc.DType)
			}
		}
		if len(in) == 1 {
			acc = acc.Clone()
		}
		for i, t := range in[1:] {
			if t == nil {
				return nil, fmt.Errorf("input %d is missing", i+1)
			}
			r, err := arith(ctx, fold, acc, t)
			if err != nil {
				return nil, err
			}
			acc = r
		}
		if op == "Mean" && len(in) > 1 {
			n, err := Cast(Scalar(float64(len(in))), acc.DType)
			if err != nil {
				return nil, err
			}
			if acc, err = arith(ctx, "Div", acc, n); err != nil {
				return nil, err
			}
		}
		return one(acc), nil
	}
}

// Mod: fmod=0 takes the sign of the divisor (Python's %), fmod=1 that of the dividend (C's fmod).
func modKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 2); err != nil {
		return nil, err
	}
	a, b := in[0], in[1]
	if err := sameDType("Mod", a, b); err != nil {
		return nil, err
	}
	fmod := attrs.Int("fmod", 0) != 0
	if a.DType.IsInt() {
		if hasZero(b) {
			return nil, fmt.Errorf("Mod: integer division by zero")
		}
		ai, _ := Cast(a, ir.I64)
		bi, _ := Cast(b, ir.I64)
		if a.DType == ir.U64 {
			r, err := floatBinary(ctx, "Mod", a, b, func(x, y float64) float64 { return math.Mod(x, y) })
			return one(r), err
		}
		shape, err := broadcastShapes(a.Shape, b.Shape)
		if err != nil {
			return nil, fmt.Errorf("Mod: %v", err)
		}
		out := New(ir.I64, shape...)
		runBinary(ctx, out, ai, bi, func(x, y int64) int64 {
			r := x % y
			if !fmod && r != 0 && (r < 0) != (y < 0) {
				r += y
			}
			return r
		})
		r, err := Cast(out, a.DType)
		return one(r), err
	}
	r, err := floatBinary(ctx, "Mod", a, b, func(x, y float64) float64 {
		r := math.Mod(x, y)
		if !fmod && r != 0 && (r < 0) != (y < 0) {
			r += y
		}
		return r
	})
	if err != nil {
		return nil, err
	}
	return one(r), nil
}

// floatBinary computes f in float64 over the broadcast of a and b and casts the result
// to a's dtype. It is the simple, exact-enough path for ops that are not hot.
func floatBinary(ctx *KernelContext, op string, a, b *Tensor, f func(x, y float64) float64) (*Tensor, error) {
	shape, err := broadcastShapes(a.Shape, b.Shape)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", op, err)
	}
	if a.DType == ir.F32 && b.DType == ir.F32 {
		out := New(ir.F32, shape...)
		runBinary(ctx, out, a, b, func(x, y float32) float32 { return float32(f(float64(x), float64(y))) })
		return out, nil
	}
	af, err := Cast(a, ir.F64)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", op, err)
	}
	bf, err := Cast(b, ir.F64)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", op, err)
	}
	out := New(ir.F64, shape...)
	runBinary(ctx, out, af, bf, f)
	return Cast(out, a.DType)
}

// Pow: the result has the base's dtype; the exponent may have any numeric dtype.
func powKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 2); err != nil {
		return nil, err
	}
	r, err := floatBinary(ctx, "Pow", in[0], in[1], math.Pow)
	if err != nil {
		return nil, err
	}
	return one(r), nil
}

// PRelu: y = x < 0 ? slope*x : x, with slope broadcast to x (unidirectionally).
func preluKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 2); err != nil {
		return nil, err
	}
	shape, err := broadcastShapes(in[0].Shape, in[1].Shape)
	if err != nil || !sameShape(shape, in[0].Shape) {
		return nil, fmt.Errorf("PRelu: slope %v does not broadcast to x %v", in[1].Shape, in[0].Shape)
	}
	r, err := floatBinary(ctx, "PRelu", in[0], in[1], func(x, s float64) float64 {
		if x < 0 {
			return s * x
		}
		return x
	})
	if err != nil {
		return nil, err
	}
	return one(r), nil
}

func cmpFn[T Number | ~string](op string) func(a, b T) bool {
	switch op {
	case "Equal":
		return func(a, b T) bool { return a == b }
	case "Less":
		return func(a, b T) bool { return a < b }
	case "Greater":
		return func(a, b T) bool { return a > b }
	case "LessOrEqual":
		return func(a, b T) bool { return a <= b }
	case "GreaterOrEqual":
		return func(a, b T) bool { return a >= b }
	}
	panic("ops: unknown comparison " + op)
}

func compareKernel(op string) Kernel {
	return func(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
		if err := need(in, 2); err != nil {
			return nil, err
		}
		a, b := in[0], in[1]
		if err := sameDType(op, a, b); err != nil {
			return nil, err
		}
		shape, err := broadcastShapes(a.Shape, b.Shape)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", op, err)
		}
		out := New(ir.Bool, shape...)
		switch a.DType {
		case ir.F32:
			runBinary(ctx, out, a, b, cmpFn[float32](op))
		case ir.F64:
			runBinary(ctx, out, a, b, cmpFn[float64](op))
		case ir.I8:
			runBinary(ctx, out, a, b, cmpFn[int8](op))
		case ir.I16:
			runBinary(ctx, out, a, b, cmpFn[int16](op))
		case ir.I32:
			runBinary(ctx, out, a, b, cmpFn[int32](op))
		case ir.I64:
			runBinary(ctx, out, a, b, cmpFn[int64](op))
		case ir.U8:
			runBinary(ctx, out, a, b, cmpFn[uint8](op))
		case ir.U16:
			runBinary(ctx, out, a, b, cmpFn[uint16](op))
		case ir.U32:
			runBinary(ctx, out, a, b, cmpFn[uint32](op))
		case ir.U64:
			runBinary(ctx, out, a, b, cmpFn[uint64](op))
		case ir.String:
			runBinary(ctx, out, a, b, cmpFn[string](op))
		case ir.F16, ir.BF16:
			af, _ := Cast(a, ir.F32)
			bf, _ := Cast(b, ir.F32)
			runBinary(ctx, out, af, bf, cmpFn[float32](op))
		case ir.Bool:
			if op != "Equal" {
				return nil, fmt.Errorf("%s: unsupported dtype bool", op)
			}
			runBinary(ctx, out, a, b, func(x, y bool) bool { return x == y })
		default:
			return nil, fmt.Errorf("%s: unsupported dtype %s", op, a.DType)
		}
		return one(out), nil
	}
}

func logicKernel(op string) Kernel {
	var f func(a, b bool) bool
	switch op {
	case "And":
		f = func(a, b bool) bool { return a && b }
	case "Or":
		f = func(a, b bool) bool { return a || b }
	case "Xor":
		f = func(a, b bool) bool { return a != b }
	}
	return func(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
		if err := need(in, 2); err != nil {
			return nil, err
		}
		a, b := in[0], in[1]
		if a.DType != ir.Bool || b.DType != ir.Bool {
			return nil, fmt.Errorf("%s: inputs must be bool, got %s and %s", op, a.DType, b.DType)
		}
		shape, err := broadcastShapes(a.Shape, b.Shape)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", op, err)
		}
		out := New(ir.Bool, shape...)
		runBinary(ctx, out, a, b, f)
		return one(out), nil
	}
}

func notKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	if in[0].DType != ir.Bool {
		return nil, fmt.Errorf("Not: input must be bool, got %s", in[0].DType)
	}
	x := in[0].Data.([]bool)
	out := New(ir.Bool, in[0].Shape...)
	o := out.Data.([]bool)
	for i, v := range x {
		o[i] = !v
	}
	return one(out), nil
}

// Bitwise ops compute on the uint64 bit pattern, which is exact for every integer
// width after conversion back (two's complement truncation).
func bitwiseKernel(op string) Kernel {
	return func(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
		if err := need(in, 2); err != nil {
			return nil, err
		}
		a, b := in[0], in[1]
		if err := sameDType(op, a, b); err != nil {
			return nil, err
		}
		return bitsOp(ctx, op, a, b, func(x, y uint64) uint64 {
			switch op {
			case "BitwiseAnd":
				return x & y
			case "BitwiseOr":
				return x | y
			}
			return x ^ y
		})
	}
}

func bitsOp(ctx *KernelContext, op string, a, b *Tensor, f func(x, y uint64) uint64) ([]*Tensor, error) {
	if !a.DType.IsInt() {
		return nil, fmt.Errorf("%s: unsupported dtype %s", op, a.DType)
	}
	shape, err := broadcastShapes(a.Shape, b.Shape)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", op, err)
	}
	au, _ := Cast(a, ir.U64)
	bu, _ := Cast(b, ir.U64)
	out := New(ir.U64, shape...)
	runBinary(ctx, out, au, bu, f)
	r, err := Cast(out, a.DType)
	return one(r), err
}

func bitwiseNotKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	return bitsOp(ctx, "BitwiseNot", in[0], Scalar(uint64(0)), func(x, _ uint64) uint64 { return ^x })
}

func bitShiftKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 2); err != nil {
		return nil, err
	}
	dir := attrs.String("direction", "")
	if dir != "LEFT" && dir != "RIGHT" {
		return nil, fmt.Errorf("BitShift: direction must be LEFT or RIGHT, got %q", dir)
	}
	return bitsOp(ctx, "BitShift", in[0], in[1], func(x, y uint64) uint64 {
		if dir == "LEFT" {
			return x << y
		}
		return x >> y
	})
}

// Where(cond, x, y) picks x where cond is true, y elsewhere, all three broadcast.
func whereKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 3); err != nil {
		return nil, err
	}
	c, x, y := in[0], in[1], in[2]
	if c.DType != ir.Bool {
		return nil, fmt.Errorf("Where: condition must be bool, got %s", c.DType)
	}
	if err := sameDType("Where", x, y); err != nil {
		return nil, err
	}
	shape, err := broadcastShapes(c.Shape, x.Shape, y.Shape)
	if err != nil {
		return nil, fmt.Errorf("Where: %v", err)
	}
	// Index into x's data followed by y's data, so one take does the selection.
	both := &Tensor{DType: x.DType, Shape: []int{x.Len() + y.Len()}}
	both.Data, _ = makeData(x.DType, x.Len()+y.Len())
	copyElems(both.Data, 0, x.Data, 0, x.Len())
	copyElems(both.Data, x.Len(), y.Data, 0, y.Len())
	ic, ix, iy := bcastIndex(shape, c.Shape), bcastIndex(shape, x.Shape), bcastIndex(shape, y.Shape)
	cond := c.Data.([]bool)
	idx := make([]int, len(ic))
	for i := range idx {
		if cond[ic[i]] {
			idx[i] = ix[i]
		} else {
			idx[i] = x.Len() + iy[i]
		}
	}
	return one(take(both, shape, idx, nil)), nil
}
