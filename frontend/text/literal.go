package text

import (
	"encoding/binary"
	"math"
	"strconv"

	"github.com/alecthomas/participle/v2/lexer"

	"github.com/ciuic/ciuic/ir"
)

// elems returns the elements of a literal: one for a scalar, the list otherwise.
func (l *literal) elems() []*elem {
	if l.IsList {
		return l.List
	}
	return []*elem{l.Scalar}
}

// isFloat reports whether e reads as a float: it has a '.', an exponent, or is inf/nan.
func (e *elem) isFloat() bool {
	return e.Float != nil || e.Ident != nil && (*e.Ident == "inf" || *e.Ident == "nan")
}

func (e *elem) isBool() bool {
	return e.Ident != nil && (*e.Ident == "true" || *e.Ident == "false")
}

func (e *elem) text() string {
	switch {
	case e.Float != nil:
		return *e.Float
	case e.Int != nil:
		return *e.Int
	case e.Str != nil:
		return *e.Str
	case e.Ident != nil:
		return *e.Ident
	}
	return "?"
}

// literalType guesses the type of an untyped constant: f32 if any element is a float,
// i64 for integers, bool, or string; a scalar or a 1-D list.
func literalType(l *literal) ir.Type {
	dt := ir.I64
	for _, e := range l.elems() {
		switch {
		case e.isFloat():
			dt = ir.F32
		case e.Str != nil:
			dt = ir.String
		case e.isBool():
			dt = ir.Bool
		}
	}
	if !l.IsList {
		return ir.Type{DType: dt, Shape: ir.Shape{}}
	}
	return ir.Type{DType: dt, Shape: ir.StaticShape(int64(len(l.List)))}
}

// tensor builds constant data of type t from a literal; what names the constant in messages.
func (b *builder) tensor(t ir.Type, l *literal, what string, pos lexer.Position) *ir.Tensor {
	if !t.IsValid() {
		return nil
	}
	shape, ok := t.Shape.Ints()
	if !ok {
		b.errorf(pos, "%s needs a static shape, got %s", what, t)
		return nil
	}
	out := &ir.Tensor{DType: t.DType, Shape: shape}
	es := l.elems()
	if n := out.NumElements(); int64(len(es)) != n {
		b.errorf(l.Pos, "%s: %s has %d elements, got %d", what, t, n, len(es))
		return nil
	}
	size := t.DType.Size()
	if t.DType != ir.String {
		out.Data = make([]byte, size*len(es))
	}
	bad := false
	for i, e := range es {
		if !b.putElem(out, i, e) {
			bad = true
		}
	}
	if bad {
		return nil
	}
	return out
}

// putElem encodes element i of t from e; it reports a mismatch and returns false.
func (b *builder) putElem(t *ir.Tensor, i int, e *elem) bool {
	dt := t.DType
	d := t.Data
	switch {
	case dt == ir.String:
		if e.Str == nil {
			b.errorf(e.Pos, "want a string, got %s", e.text())
			return false
		}
		t.Strings = append(t.Strings, b.unquote(*e.Str, e.Pos))
	case dt == ir.Bool:
		if !e.isBool() {
			b.errorf(e.Pos, "want true or false, got %s", e.text())
			return false
		}
		if *e.Ident == "true" {
			d[i] = 1
		}
	case dt.IsFloat():
		if !e.isFloat() && e.Int == nil {
			b.errorf(e.Pos, "want a number, got %s", e.text())
			return false
		}
		bits := 64
		if dt != ir.F64 {
			bits = 32
		}
		f, err := strconv.ParseFloat(e.text(), bits)
		if err != nil {
			b.errorf(e.Pos, "%s out of range for %s", e.text(), dt)
			return false
		}
		switch dt {
		case ir.F64:
			binary.LittleEndian.PutUint64(d[8*i:], math.Float64bits(f))
		case ir.F32:
			binary.LittleEndian.PutUint32(d[4*i:], math.Float32bits(float32(f)))
		case ir.F16:
			binary.LittleEndian.PutUint16(d[2*i:], ir.F32ToF16(float32(f)))
		case ir.BF16:
			binary.LittleEndian.PutUint16(d[2*i:], f32ToBF16(float32(f)))
		}
	case dt.IsInt():
		if e.Int == nil {
			b.errorf(e.Pos, "want an integer, got %s", e.text())
			return false
		}
		bits := 8 * dt.Size()
		var u uint64
		var err error
		if dt == ir.U8 || dt == ir.U16 || dt == ir.U32 || dt == ir.U64 {
			u, err = strconv.ParseUint(*e.Int, 10, bits)
		} else {
			var v int64
			v, err = strconv.ParseInt(*e.Int, 10, bits)
			u = uint64(v)
		}
		if err != nil {
			b.errorf(e.Pos, "%s out of range for %s", *e.Int, dt)
			return false
		}
		switch bits {
		case 8:
			d[i] = byte(u)
		case 16:
			binary.LittleEndian.PutUint16(d[2*i:], uint16(u))
		case 32:
			binary.LittleEndian.PutUint32(d[4*i:], uint32(u))
		case 64:
			binary.LittleEndian.PutUint64(d[8*i:], u)
		}
	default:
		b.errorf(e.Pos, "cannot write %s data", dt)
		return false
	}
	return true
}

// f32ToBF16 rounds to the nearest bfloat16, ties to even; NaN stays NaN.
func f32ToBF16(f float32) uint16 {
	u := math.Float32bits(f)
	if u&0x7fffffff > 0x7f800000 {
		return uint16(u>>16) | 0x40
	}
	u += 0x7fff + (u>>16)&1
	return uint16(u >> 16)
}

// attrValue converts an attribute value. hint is the kind the op's schema expects (or
// AttrInvalid): it resolves "[]" and lets integers stand for floats.
func (b *builder) attrValue(s *scope, v *attrValue, hint ir.AttrKind) (ir.Attr, bool) {
	switch {
	case v.Graph != nil:
		return ir.GraphAttr(b.graph(v.Graph, s)), true
	case v.Tensor != nil:
		t := b.tensor(b.typ(v.Tensor), v.Data, "tensor", v.Pos)
		return ir.TensorAttr(t), t != nil
	}
	l := v.Literal
	if !l.IsList {
		e := l.Scalar
		switch {
		case e.Str != nil:
			return ir.StringAttr(b.unquote(*e.Str, e.Pos)), true
		case e.isFloat() || e.Int != nil && hint == ir.AttrFloat:
			f, ok := b.float32(e)
			return ir.FloatAttr(f), ok
		case e.Int != nil:
			n, err := strconv.ParseInt(*e.Int, 10, 64)
			if err != nil {
				b.errorf(e.Pos, "%s out of range for an int attribute", *e.Int)
			}
			return ir.IntAttr(n), err == nil
		}
		b.errorf(e.Pos, "unexpected %s in attribute value", e.text())
		return ir.Attr{}, false
	}
	kind := ir.AttrInts
	if len(l.List) == 0 && (hint == ir.AttrFloats || hint == ir.AttrStrings) {
		kind = hint
	}
	for _, e := range l.List {
		switch {
		case e.Str != nil:
			kind = ir.AttrStrings
		case e.isFloat():
			kind = ir.AttrFloats
		}
	}
	if kind == ir.AttrInts && hint == ir.AttrFloats {
		kind = ir.AttrFloats
	}
	a := ir.Attr{Kind: kind}
	ok := true
	for _, e := range l.List {
		switch {
		case kind == ir.AttrStrings && e.Str != nil:
			a.Strs = append(a.Strs, b.unquote(*e.Str, e.Pos))
		case kind == ir.AttrFloats && (e.isFloat() || e.Int != nil):
			f, fok := b.float32(e)
			a.Floats = append(a.Floats, f)
			ok = ok && fok
		case kind == ir.AttrInts && e.Int != nil:
			n, err := strconv.ParseInt(*e.Int, 10, 64)
			if err != nil {
				b.errorf(e.Pos, "%s out of range for an int attribute", *e.Int)
				ok = false
			}
			a.Ints = append(a.Ints, n)
		default:
			b.errorf(e.Pos, "unexpected %s in a list of %s", e.text(), kind)
			ok = false
		}
	}
	if kind == ir.AttrStrings && a.Strs == nil {
		a.Strs = []string{}
	}
	return a, ok
}

func (b *builder) float32(e *elem) (float32, bool) {
	f, err := strconv.ParseFloat(e.text(), 32)
	if err != nil {
		b.errorf(e.Pos, "%s out of range for f32", e.text())
		return 0, false
	}
	return float32(f), true
}
