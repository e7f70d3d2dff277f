package ir

import (
	"fmt"
	"sort"
)

// AttrKind is the type of an attribute value.
type AttrKind uint8

const (
	AttrInvalid AttrKind = iota
	AttrInt
	AttrFloat
	AttrString
	AttrInts
	AttrFloats
	AttrStrings
	AttrTensor
	AttrGraph
)

var attrKindNames = [...]string{"invalid", "int", "float", "string", "ints", "floats", "strings", "tensor", "graph"}

func (k AttrKind) String() string {
	if int(k) < len(attrKindNames) {
		return attrKindNames[k]
	}
	return fmt.Sprintf("attrkind(%d)", uint8(k))
}

// Attr is one typed attribute value; only the field for Kind is meaningful.
type Attr struct {
	Kind   AttrKind
	Int    int64
	Float  float32 // ONNX attributes are float32
	Str    string
	Ints   []int64
	Floats []float32
	Strs   []string
	Tensor *Tensor
	Graph  *Graph
}

// Constructors for attributes.
func IntAttr(v int64) Attr         { return Attr{Kind: AttrInt, Int: v} }
func FloatAttr(v float32) Attr     { return Attr{Kind: AttrFloat, Float: v} }
func StringAttr(v string) Attr     { return Attr{Kind: AttrString, Str: v} }
func IntsAttr(v ...int64) Attr     { return Attr{Kind: AttrInts, Ints: v} }
func FloatsAttr(v ...float32) Attr { return Attr{Kind: AttrFloats, Floats: v} }
func StringsAttr(v ...string) Attr { return Attr{Kind: AttrStrings, Strs: v} }
func TensorAttr(t *Tensor) Attr    { return Attr{Kind: AttrTensor, Tensor: t} }
func GraphAttr(g *Graph) Attr      { return Attr{Kind: AttrGraph, Graph: g} }

// Attrs maps attribute names to values. Iterate with Names for a stable order.
type Attrs map[string]Attr

// Names returns the attribute names in sorted order.
func (a Attrs) Names() []string {
	names := make([]string, 0, len(a))
	for n := range a {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Int returns the int attribute name, or def if it is absent.
func (a Attrs) Int(name string, def int64) int64 {
	if v, ok := a[name]; ok && v.Kind == AttrInt {
		return v.Int
	}
	return def
}

// Float returns the float attribute name, or def if it is absent.
func (a Attrs) Float(name string, def float32) float32 {
	if v, ok := a[name]; ok && v.Kind == AttrFloat {
		return v.Float
	}
	return def
}

// String returns the string attribute name, or def if it is absent.
func (a Attrs) String(name string, def string) string {
	if v, ok := a[name]; ok && v.Kind == AttrString {
		return v.Str
	}
	return def
}

// Ints returns the ints attribute name and whether it is present.
func (a Attrs) Ints(name string) ([]int64, bool) {
	if v, ok := a[name]; ok && v.Kind == AttrInts {
		return v.Ints, true
	}
	return nil, false
}

// Floats returns the floats attribute name and whether it is present.
func (a Attrs) Floats(name string) ([]float32, bool) {
	if v, ok := a[name]; ok && v.Kind == AttrFloats {
		return v.Floats, true
	}
	return nil, false
}

// Has reports whether the attribute is present.
func (a Attrs) Has(name string) bool { _, ok := a[name]; return ok }

// Clone returns a shallow copy (tensors and graphs are shared).
func (a Attrs) Clone() Attrs {
	if a == nil {
		return nil
	}
	b := make(Attrs, len(a))
	for k, v := range a {
		b[k] = v
	}
	return b
}
