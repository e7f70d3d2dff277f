package ir

import (
	"fmt"
	"strconv"
	"strings"
)

// Dim is one dimension of a Shape: a static size, a named symbolic size (N, seq),
// or unknown (printed "?").
//
//	Dim{Size: 128}        prints 128
//	Dim{Name: "N"}        prints N
//	Dim{Size: -1}         prints ?
type Dim struct {
	Size int64  // the static size when Name is "" and Size >= 0; ignored when Name != ""
	Name string // symbolic name; "" for static or unknown dims
}

// Static returns a static dimension of size n.
func Static(n int64) Dim { return Dim{Size: n} }

// Sym returns a named symbolic dimension.
func Sym(name string) Dim { return Dim{Name: name, Size: -1} }

// Unknown returns an anonymous unknown dimension.
func Unknown() Dim { return Dim{Size: -1} }

// IsStatic reports whether the size of d is known.
func (d Dim) IsStatic() bool { return d.Name == "" && d.Size >= 0 }

// IsUnknown reports whether d is neither static nor named.
func (d Dim) IsUnknown() bool { return d.Name == "" && d.Size < 0 }

func (d Dim) String() string {
	switch {
	case d.Name != "":
		return d.Name
	case d.Size < 0:
		return "?"
	default:
		return strconv.FormatInt(d.Size, 10)
	}
}

// Shape is the list of dimensions of a tensor; a nil or empty Shape is a scalar.
type Shape []Dim

// S builds a Shape from ints (static dims) and strings (symbolic dims); "?" is unknown.
func S(dims ...any) Shape {
	s := make(Shape, len(dims))
	for i, d := range dims {
		switch d := d.(type) {
		case int:
			s[i] = Static(int64(d))
		case int64:
			s[i] = Static(d)
		case string:
			if d == "?" {
				s[i] = Unknown()
			} else {
				s[i] = Sym(d)
			}
		case Dim:
			s[i] = d
		default:
			panic(fmt.Sprintf("ir.S: bad dim %T", d))
		}
	}
	return s
}

// StaticShape builds a fully static Shape.
func StaticShape(dims ...int64) Shape {
	s := make(Shape, len(dims))
	for i, d := range dims {
		s[i] = Static(d)
	}
	return s
}

// Rank is the number of dimensions.
func (s Shape) Rank() int { return len(s) }

// IsStatic reports whether every dimension is static.
func (s Shape) IsStatic() bool {
	for _, d := range s {
		if !d.IsStatic() {
			return false
		}
	}
	return true
}

// NumElements is the product of the dims, or -1 if any dim is not static.
func (s Shape) NumElements() int64 {
	n := int64(1)
	for _, d := range s {
		if !d.IsStatic() {
			return -1
		}
		n *= d.Size
	}
	return n
}

// Ints returns the static sizes; ok is false if any dim is not static.
func (s Shape) Ints() (dims []int64, ok bool) {
	dims = make([]int64, len(s))
	for i, d := range s {
		if !d.IsStatic() {
			return nil, false
		}
		dims[i] = d.Size
	}
	return dims, true
}

// Equal reports whether two shapes are identical, dim by dim (symbolic names must match).
func (s Shape) Equal(t Shape) bool {
	if len(s) != len(t) {
		return false
	}
	for i := range s {
		if !dimEqual(s[i], t[i]) {
			return false
		}
	}
	return true
}

func dimEqual(a, b Dim) bool {
	if a.Name != "" || b.Name != "" {
		return a.Name == b.Name
	}
	if a.Size < 0 || b.Size < 0 {
		return a.Size < 0 && b.Size < 0
	}
	return a.Size == b.Size
}

// Clone returns a copy of s that shares no memory with it.
func (s Shape) Clone() Shape {
	if s == nil {
		return nil
	}
	return append(Shape{}, s...)
}

// String prints the shape in brackets: [N, 128].
func (s Shape) String() string {
	var b strings.Builder
	b.WriteByte('[')
	for i, d := range s {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(d.String())
	}
	b.WriteByte(']')
	return b.String()
}

// Type is the static type of a Value: element type and shape.
type Type struct {
	DType DType
	Shape Shape
}

// T is shorthand for a Type.
func T(dt DType, shape Shape) Type { return Type{DType: dt, Shape: shape} }

// String prints the type as in the IR text: f32[N, 128]; a scalar is f32[].
func (t Type) String() string { return t.DType.String() + t.Shape.String() }

// Equal reports whether the types are identical.
func (t Type) Equal(u Type) bool { return t.DType == u.DType && t.Shape.Equal(u.Shape) }

// IsValid reports whether the type has a dtype (shapes may be partly unknown).
func (t Type) IsValid() bool { return t.DType != Invalid }
