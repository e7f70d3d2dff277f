package ir

import (
	"fmt"
)

// Helpers shared by the Infer functions of the schema table.

// inType returns the type of input i, or an invalid Type if the input is omitted.
func inType(n *Node, i int) Type {
	if i < len(n.Inputs) && n.Inputs[i] != nil {
		return n.Inputs[i].Type
	}
	return Type{}
}

// hasInput reports whether optional input i is present.
func hasInput(n *Node, i int) bool { return i < len(n.Inputs) && n.Inputs[i] != nil }

// ConstInts returns the values of a constant integer input, if it is constant.
func ConstInts(v *Value) ([]int64, bool) {
	if v == nil || v.Const == nil || !(v.Const.DType.IsInt() || v.Const.DType == Bool) {
		return nil, false
	}
	return v.Const.Int64s(), true
}

// ConstFloats returns the values of a constant input as float64s, if it is constant.
func ConstFloats(v *Value) ([]float64, bool) {
	if v == nil || v.Const == nil || !v.Const.DType.IsNumeric() {
		return nil, false
	}
	return v.Const.Float64s(), true
}

// NormAxis maps a possibly negative axis into [0, rank).
func NormAxis(axis int64, rank int) (int, error) {
	if axis < -int64(rank) || axis >= int64(rank) {
		return 0, fmt.Errorf("axis %d out of range for rank %d", axis, rank)
	}
	if axis < 0 {
		axis += int64(rank)
	}
	return int(axis), nil
}

// BroadcastShapes applies numpy broadcasting to shapes. Symbolic dims broadcast with 1
// and with themselves; a symbolic dim against a static size other than 1 takes the size.
func BroadcastShapes(shapes ...Shape) (Shape, error) {
	rank := 0
	for _, s := range shapes {
		rank = max(rank, len(s))
	}
	out := make(Shape, rank)
	for i := range out {
		out[i] = Static(1)
	}
	for _, s := range shapes {
		off := rank - len(s)
		for i, d := range s {
			r, err := broadcastDim(out[off+i], d)
			if err != nil {
				return nil, fmt.Errorf("shapes %s cannot be broadcast: %v", shapesString(shapes), err)
			}
			out[off+i] = r
		}
	}
	return out, nil
}

func broadcastDim(a, b Dim) (Dim, error) {
	switch {
	case dimEqual(a, b):
		return a, nil
	case a.IsStatic() && a.Size == 1:
		return b, nil
	case b.IsStatic() && b.Size == 1:
		return a, nil
	case a.IsStatic() && b.IsStatic():
		return Dim{}, fmt.Errorf("dim %d vs %d", a.Size, b.Size)
	case a.IsStatic():
		return a, nil
	case b.IsStatic():
		return b, nil
	}
	return Unknown(), nil
}

func shapesString(shapes []Shape) string {
	s := ""
	for i, sh := range shapes {
		if i > 0 {
			s += " and "
		}
		s += sh.String()
	}
	return s
}

// sameDType checks that the given inputs (all present ones) share one dtype and returns it.
func sameDType(n *Node, idx ...int) (DType, error) {
	var dt DType
	first := -1
	for _, i := range idx {
		if !hasInput(n, i) {
			continue
		}
		t := n.Inputs[i].Type.DType
		if first < 0 {
			dt, first = t, i
		} else if t != dt {
			return dt, fmt.Errorf("input %d is %s but input %d is %s", first, dt, i, t)
		}
	}
	return dt, nil
}

func allInputs(n *Node) []int {
	idx := make([]int, len(n.Inputs))
	for i := range idx {
		idx[i] = i
	}
	return idx
}

func requireFloat(n *Node, i int) error {
	if t := inType(n, i); !t.DType.IsFloat() {
		return fmt.Errorf("input %d must be a float type, got %s", i, t.DType)
	}
	return nil
}

func requireInt(n *Node, i int) error {
	if t := inType(n, i); t.DType != I64 && t.DType != I32 {
		return fmt.Errorf("input %d must be i32 or i64, got %s", i, t.DType)
	}
	return nil
}

// one wraps a single inferred type.
func one(t Type) []Type { return []Type{t} }

// mulDim multiplies dims, unknown if either is not static.
func mulDim(a, b Dim) Dim {
	if a.IsStatic() && b.IsStatic() {
		return Static(a.Size * b.Size)
	}
	if a.IsStatic() && a.Size == 1 {
		return b
	}
	if b.IsStatic() && b.Size == 1 {
		return a
	}
	return Unknown()
}

func productDims(ds Shape) Dim {
	p := Static(1)
	for _, d := range ds {
		p = mulDim(p, d)
	}
	return p
}
