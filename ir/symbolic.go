package ir

// Symbolic values of shape computations. Exported transformers compute Reshape targets
// at run time from Shape, Gather, Unsqueeze and Concat:
//
//	%s = Shape(%x)                     x: f32[B, S, 64]
//	%b = Gather(%s, @0)                -> B
//	%t = Concat(Unsqueeze(%b), @[-1], @[4], @[16])   -> [B, -1, 4, 16]
//	%y = Reshape(%x, %t)               -> f32[B, S, 4, 16]
//
// SymbolicInts evaluates such small integer tensors as dims (static or named) without
// running anything, so shape inference keeps symbolic dims through them.

// unknownSym stands for a dim of unknown size inside symbolic values, where a static
// -1 already means "solve for this" (Reshape). Consumers turn it back into Unknown().
var unknownSym = Dim{Name: "?", Size: -1}

// fromSym maps unknownSym back to an unknown dim.
func fromSym(d Dim) Dim {
	if d == unknownSym {
		return Unknown()
	}
	return d
}

// maxSymbolicDepth bounds the walk back through the graph.
const maxSymbolicDepth = 32

// SymbolicInts returns the elements of a 1-D (or scalar) integer value as dims when they
// can be derived from constants and the shapes of other values. ok is false otherwise.
// A static dim of -1 or 0 in the result means that number (Reshape's conventions).
func SymbolicInts(v *Value) (dims []Dim, ok bool) { return symbolicInts(v, 0) }

// (Inside this package, an unknown size in a result is unknownSym; SymbolicShape below
// converts it for everyone else.)

func symbolicInts(v *Value, depth int) ([]Dim, bool) {
	if v == nil || depth > maxSymbolicDepth || !(v.Type.DType == I64 || v.Type.DType == I32) || len(v.Type.Shape) > 1 {
		return nil, false
	}
	if v.Const != nil {
		vals := v.Const.Int64s()
		out := make([]Dim, len(vals))
		for i, x := range vals {
			out[i] = Static(x)
		}
		return out, true
	}
	n := v.Def
	if n == nil || n.Domain != "" {
		return nil, false
	}
	arg := func(i int) ([]Dim, bool) {
		if i >= len(n.Inputs) {
			return nil, false
		}
		return symbolicInts(n.Inputs[i], depth+1)
	}
	switch n.Op {
	case "Shape":
		s := n.Inputs[0].Type.Shape
		start, end := ShapeRange(n, len(s))
		out := s[start:end].Clone()
		for i, d := range out {
			if d.IsUnknown() {
				out[i] = unknownSym // an unknown size, not the literal -1
			}
		}
		return out, true
	case "Gather":
		data, ok := arg(0)
		idx, ok2 := ConstInts(n.Inputs[1])
		if !ok || !ok2 || n.Attrs.Int("axis", 0) != 0 {
			return nil, false
		}
		out := make([]Dim, len(idx))
		for i, k := range idx {
			if k < 0 {
				k += int64(len(data))
			}
			if k < 0 || k >= int64(len(data)) {
				return nil, false
			}
			out[i] = data[k]
		}
		return out, true
	case "Unsqueeze", "Squeeze", "Identity", "Cast", "Reshape", "Flatten":
		if n.Op == "Cast" && !(v.Type.DType.IsInt()) {
			return nil, false
		}
		return arg(0)
	case "Concat":
		var out []Dim
		for i := range n.Inputs {
			d, ok := arg(i)
			if !ok {
				return nil, false
			}
			out = append(out, d...)
		}
		return out, true
	case "Slice":
		data, ok := arg(0)
		starts, ok1 := ConstInts(inputOrNil(n, 1))
		ends, ok2 := ConstInts(inputOrNil(n, 2))
		if !ok || !ok1 || !ok2 || len(starts) != 1 || len(ends) != 1 {
			return nil, false
		}
		step := int64(1)
		if st, ok := ConstInts(inputOrNil(n, 4)); ok && len(st) == 1 {
			step = st[0]
		}
		if step != 1 {
			return nil, false
		}
		r := int64(len(data))
		b, e := starts[0], ends[0]
		if b < 0 {
			b += r
		}
		if e < 0 {
			e += r
		}
		b, e = max(0, min(r, b)), max(0, min(r, e))
		if e < b {
			e = b
		}
		return data[b:e], true
	case "Add", "Sub", "Mul", "Div":
		a, ok := arg(0)
		b, ok2 := arg(1)
		if !ok || !ok2 {
			return nil, false
		}
		if len(a) == 1 && len(b) > 1 {
			a = repeatDim(a[0], len(b))
		}
		if len(b) == 1 && len(a) > 1 {
			b = repeatDim(b[0], len(a))
		}
		if len(a) != len(b) {
			return nil, false
		}
		out := make([]Dim, len(a))
		for i := range a {
			d, ok := dimArith(n.Op, a[i], b[i])
			if !ok {
				return nil, false
			}
			out[i] = d
		}
		return out, true
	}
	return nil, false
}

func repeatDim(d Dim, n int) []Dim {
	out := make([]Dim, n)
	for i := range out {
		out[i] = d
	}
	return out
}

// dimArith computes a op b on dims where the result is still a dim: any arithmetic on
// static sizes, x*1, x/1, x+0, x-0 and x-x on symbolic ones.
func dimArith(op string, a, b Dim) (Dim, bool) {
	if a.IsStatic() && b.IsStatic() {
		switch op {
		case "Add":
			return Static(a.Size + b.Size), true
		case "Sub":
			return Static(a.Size - b.Size), true
		case "Mul":
			return Static(a.Size * b.Size), true
		case "Div":
			if b.Size == 0 {
				return Dim{}, false
			}
			return Static(a.Size / b.Size), true
		}
	}
	isConst := func(d Dim, k int64) bool { return d.IsStatic() && d.Size == k }
	switch {
	case (op == "Mul" || op == "Div") && isConst(b, 1), (op == "Add" || op == "Sub") && isConst(b, 0):
		return a, true
	case op == "Mul" && isConst(a, 1), op == "Add" && isConst(a, 0):
		return b, true
	case a == unknownSym || b == unknownSym:
		return Dim{}, false
	case op == "Sub" && a.Name != "" && a == b:
		return Static(0), true
	}
	return Dim{}, false
}

// targetShape reads a shape input as dims: constant values, or symbolic ones.
func targetShape(v *Value) ([]Dim, bool) {
	if v == nil {
		return nil, false
	}
	return SymbolicInts(v)
}

// SymbolicShape is SymbolicInts with unknown sizes as Unknown() dims, for callers outside
// shape inference.
func SymbolicShape(v *Value) (Shape, bool) {
	d, ok := SymbolicInts(v)
	if !ok {
		return nil, false
	}
	out := make(Shape, len(d))
	for i, x := range d {
		out[i] = fromSym(x)
	}
	return out, true
}
