package passes

import (
	"fmt"
	"math"

	"github.com/ciuic/ciuic/ir"
)

// The sparse-attention pass must know every value of a mask [.., S, T] to prove a rewrite
// exact, but a mask for S = T = 4096 is 64 MiB, beyond what fold-constants makes. So the
// pass evaluates it one query row at a time: each value of the mask's subgraph is a
// scalar, a vector along the query axis s, a vector along the key axis t, or a function
// from s to a row over t. Sources are constants and Range; layout ops (Unsqueeze,
// Reshape, Expand, ...) move a vector between the axes; elementwise ops combine.
//
//	%r = Range(@0, @4096, @1)                                   t-vector
//	%d = Sub(Unsqueeze(%r) {axes: [1]}, Unsqueeze(%r) {axes: [0]})  row function s - t
//	%m = Where(Less(Abs(%d), @256), @0.0, @-inf)                 row function

// maxMaskWork bounds the elements (S·T) the pass evaluates for one mask.
const maxMaskWork = 1 << 26

// maskEval is one value of a mask subgraph.
type maskEval struct {
	axis int       // 0 scalar, 1 along s, 2 along t, 3 both
	vec  []float64 // axis 0: 1 element, 1: S, 2: T
	fn   func(s int, out []float64)
	buf  []float64
	at   int // the s that buf holds (axis 3)
}

// row returns row s over t: T values, or 1 for a value that does not depend on t.
func (e *maskEval) row(s int) []float64 {
	switch e.axis {
	case 0, 2:
		return e.vec
	case 1:
		return e.vec[s : s+1]
	}
	if e.at != s {
		e.fn(s, e.buf)
		e.at = s
	}
	return e.buf
}

// maskRows builds the row evaluator of mask for attention of S queries over T keys, or
// says why it cannot.
func maskRows(mask *ir.Value, S, T int) (*maskEval, string) {
	if S*T > maxMaskWork {
		return nil, fmt.Sprintf("mask of %d×%d is too large to check", S, T)
	}
	ev := &maskBuilder{S: S, T: T, memo: map[*ir.Value]*maskEval{}}
	e, err := ev.eval(mask, 0)
	if err != nil {
		return nil, err.Error()
	}
	return e, ""
}

type maskBuilder struct {
	S, T int
	memo map[*ir.Value]*maskEval
}

// axisOf says which attention axis a value of shape sh varies along: its last dim is t,
// the one before s; any other dim must be 1 (a mask differing by batch or head is not a
// pattern this pass can use).
func (b *maskBuilder) axisOf(v *ir.Value) (int, error) {
	dims, ok := v.Type.Shape.Ints()
	if !ok {
		return 0, fmt.Errorf("%s has a shape %s that is not static", v, v.Type.Shape)
	}
	axis := 0
	for i, d := range dims {
		switch {
		case d == 1:
		case i == len(dims)-1 && int(d) == b.T:
			axis |= 2
		case i == len(dims)-2 && int(d) == b.S:
			axis |= 1
		default:
			return 0, fmt.Errorf("%s has shape %s: it varies along an axis other than queries (%d) and keys (%d)", v, v.Type.Shape, b.S, b.T)
		}
	}
	return axis, nil
}

func (b *maskBuilder) eval(v *ir.Value, depth int) (*maskEval, error) {
	if e, ok := b.memo[v]; ok {
		return e, nil
	}
	if depth > 64 {
		return nil, fmt.Errorf("mask subgraph deeper than 64 nodes")
	}
	axis, err := b.axisOf(v)
	if err != nil {
		return nil, err
	}
	e, err := b.build(v, axis, depth)
	if err != nil {
		return nil, err
	}
	b.memo[v] = e
	return e, nil
}

func (b *maskBuilder) vector(axis int, vec []float64) *maskEval {
	return &maskEval{axis: axis, vec: vec}
}

func (b *maskBuilder) build(v *ir.Value, axis, depth int) (*maskEval, error) {
	if v.Const != nil {
		return b.constant(v.Const, axis), nil
	}
	n := v.Def
	if n == nil {
		return nil, fmt.Errorf("the mask depends on graph input %s, known only at run time", v)
	}
	if n.Domain != "" {
		return nil, fmt.Errorf("the mask is computed by %s, which the pass cannot evaluate", n.OpName())
	}
	args := make([]*maskEval, len(n.Inputs))
	for i, in := range n.Inputs {
		if in == nil {
			continue
		}
		if n.Op == "Range" || isShapeArg(n.Op, i) {
			continue // scalars and shape vectors, read as constants below
		}
		a, err := b.eval(in, depth+1)
		if err != nil {
			return nil, err
		}
		args[i] = a
	}
	switch n.Op {
	case "Range":
		for _, in := range n.Inputs {
			if in == nil || in.Const == nil || in.Const.NumElements() != 1 {
				return nil, fmt.Errorf("%s has a run-time bound", n.Ref())
			}
		}
		start, delta := n.Inputs[0].Const.At(0), n.Inputs[2].Const.At(0)
		size, _ := v.Type.Shape.Ints()
		vec := make([]float64, size[0])
		for i := range vec {
			vec[i] = start + float64(i)*delta
		}
		return b.vector(axis, vec), nil
	case "Unsqueeze", "Squeeze", "Reshape", "Expand", "Identity", "Flatten":
		a := args[0]
		if a.axis == 3 || axis == 3 {
			if a.axis != axis {
				return nil, fmt.Errorf("%s moves a 2-D mask between axes", n.Ref())
			}
			return a, nil
		}
		if a.axis == 0 || axis == 0 {
			if a.axis != 0 && axis == 0 || a.axis == 0 && axis != 0 && len(a.vec) != 1 {
				return nil, fmt.Errorf("%s changes which axis the mask varies along", n.Ref())
			}
			if axis == 0 {
				return a, nil
			}
			vec := make([]float64, b.len(axis))
			for i := range vec {
				vec[i] = a.vec[0]
			}
			return b.vector(axis, vec), nil
		}
		if len(a.vec) != b.len(axis) {
			return nil, fmt.Errorf("%s reshapes %d values to %d", n.Ref(), len(a.vec), b.len(axis))
		}
		return b.vector(axis, a.vec), nil
	}
	f, ok := maskOps[n.Op]
	if !ok {
		return nil, fmt.Errorf("the mask is computed by %s, which the pass cannot evaluate", n.OpName())
	}
	round := func(x float64) float64 { return x }
	switch dt := v.Type.DType; {
	case dt == ir.F32:
		round = func(x float64) float64 { return float64(float32(x)) }
	case dt == ir.Bool:
		round = func(x float64) float64 { return b2f(x != 0) }
	case dt.IsFloat():
	default: // integers: truncate (integer Div)
		round = func(x float64) float64 {
			if math.IsInf(x, 0) || math.IsNaN(x) {
				return x
			}
			return math.Trunc(x)
		}
	}
	x := make([]float64, len(args))
	at := func(a *maskEval, s, t int) float64 {
		switch a.axis {
		case 0:
			return a.vec[0]
		case 1:
			return a.vec[s]
		case 2:
			return a.vec[t]
		}
		return a.buf[t] // filled for row s by the caller
	}
	apply := func(s, t int) float64 {
		for i, a := range args {
			x[i] = at(a, s, t)
		}
		return round(f(x))
	}
	if axis != 3 {
		vec := make([]float64, b.len(axis))
		for i := range vec {
			s, t := 0, 0
			if axis == 1 {
				s = i
			} else {
				t = i
			}
			vec[i] = apply(s, t)
		}
		return b.vector(axis, vec), nil
	}
	return &maskEval{axis: 3, buf: make([]float64, b.T), at: -1, fn: func(s int, out []float64) {
		for _, a := range args {
			if a.axis == 3 {
				a.row(s)
			}
		}
		for t := range out {
			out[t] = apply(s, t)
		}
	}}, nil
}

func (b *maskBuilder) len(axis int) int {
	switch axis {
	case 1:
		return b.S
	case 2:
		return b.T
	}
	return 1
}

// isShapeArg reports whether input i of op is a shape or axes operand, not data.
func isShapeArg(op string, i int) bool {
	switch op {
	case "Unsqueeze", "Squeeze", "Reshape", "Expand":
		return i == 1
	}
	return false
}

// constant reads a constant as a mask value: a vector or, for a 2-D mask, rows read on
// demand (converting S·T values at once would cost 8 bytes each).
func (b *maskBuilder) constant(c *ir.Tensor, axis int) *maskEval {
	switch axis {
	case 0:
		return b.vector(0, []float64{c.At(0)})
	case 1, 2:
		vec := make([]float64, b.len(axis))
		for i := range vec {
			vec[i] = c.At(i)
		}
		return b.vector(axis, vec)
	}
	T := b.T
	return &maskEval{axis: 3, buf: make([]float64, T), at: -1, fn: func(s int, out []float64) {
		for t := range out {
			out[t] = c.At(s*T + t)
		}
	}}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// maskOps are the elementwise ops a mask may be computed with, on float64 values (bools
// are 0 and 1; results are rounded to the output dtype afterwards).
var maskOps = map[string]func(x []float64) float64{
	"Add":            func(x []float64) float64 { return x[0] + x[1] },
	"Sub":            func(x []float64) float64 { return x[0] - x[1] },
	"Mul":            func(x []float64) float64 { return x[0] * x[1] },
	"Div":            func(x []float64) float64 { return x[0] / x[1] },
	"Min":            func(x []float64) float64 { return math.Min(x[0], x[1]) },
	"Max":            func(x []float64) float64 { return math.Max(x[0], x[1]) },
	"Abs":            func(x []float64) float64 { return math.Abs(x[0]) },
	"Neg":            func(x []float64) float64 { return -x[0] },
	"Less":           func(x []float64) float64 { return b2f(x[0] < x[1]) },
	"LessOrEqual":    func(x []float64) float64 { return b2f(x[0] <= x[1]) },
	"Greater":        func(x []float64) float64 { return b2f(x[0] > x[1]) },
	"GreaterOrEqual": func(x []float64) float64 { return b2f(x[0] >= x[1]) },
	"Equal":          func(x []float64) float64 { return b2f(x[0] == x[1]) },
	"And":            func(x []float64) float64 { return b2f(x[0] != 0 && x[1] != 0) },
	"Or":             func(x []float64) float64 { return b2f(x[0] != 0 || x[1] != 0) },
	"Xor":            func(x []float64) float64 { return b2f((x[0] != 0) != (x[1] != 0)) },
	"Not":            func(x []float64) float64 { return b2f(x[0] == 0) },
	"Cast":           func(x []float64) float64 { return x[0] },
	"Where": func(x []float64) float64 {
		if x[0] != 0 {
			return x[1]
		}
		return x[2]
	},
}
