package ops

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/ciuic/ciuic/ir"
)

// Tensor is a dense, contiguous, row-major (C order) array.
//
// Data holds a typed slice whose element type follows DType:
//
//	F32 []float32   F64 []float64   F16, BF16 []uint16 (raw bits)
//	I8 []int8  I16 []int16  I32 []int32  I64 []int64
//	U8 []uint8 U16 []uint16 U32 []uint32 U64 []uint64
//	Bool []bool     String []string
//
// Kernels assert the slice type once per call (see F32 and Elems), never per element.
// len(Data) equals the product of Shape (1 for a scalar, whose Shape is empty).
type Tensor struct {
	DType ir.DType
	Shape []int
	Data  any
}

// Elem is the set of Go element types a Tensor's Data can hold.
type Elem interface {
	float32 | float64 | int8 | int16 | int32 | int64 | uint8 | uint16 | uint32 | uint64 | bool | string
}

// NumElems is the product of shape (1 for a scalar).
func NumElems(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// Len is the number of elements of t.
func (t *Tensor) Len() int { return NumElems(t.Shape) }

// Rank is the number of dimensions of t.
func (t *Tensor) Rank() int { return len(t.Shape) }

// F32 returns the data of an f32 tensor.
func (t *Tensor) F32() []float32 { return t.Data.([]float32) }

// Elems returns the typed data of t. It panics if T does not match t's dtype
// (a broken internal invariant, not a user error).
func Elems[T Elem](t *Tensor) []T { return t.Data.([]T) }

// makeData allocates a zeroed slice for n elements of dt.
func makeData(dt ir.DType, n int) (any, error) {
	switch dt {
	case ir.F32:
		if d := reuseF32(n); d != nil {
			return d, nil
		}
		return make([]float32, n), nil
	case ir.F64:
		return make([]float64, n), nil
	case ir.F16, ir.BF16, ir.U16:
		return make([]uint16, n), nil
	case ir.I8:
		return make([]int8, n), nil
	case ir.I16:
		return make([]int16, n), nil
	case ir.I32:
		return make([]int32, n), nil
	case ir.I64:
		return make([]int64, n), nil
	case ir.U8:
		return make([]uint8, n), nil
	case ir.U32:
		return make([]uint32, n), nil
	case ir.U64:
		return make([]uint64, n), nil
	case ir.Bool:
		return make([]bool, n), nil
	case ir.String:
		return make([]string, n), nil
	}
	return nil, fmt.Errorf("unsupported dtype %s", dt)
}

// New returns a zero-filled tensor of the given dtype and shape. It panics on an invalid
// dtype or negative dim: both are programming errors of the caller.
func New(dt ir.DType, shape ...int) *Tensor {
	for _, d := range shape {
		if d < 0 {
			panic(fmt.Sprintf("ops.New: negative dim in shape %v", shape))
		}
	}
	data, err := makeData(dt, NumElems(shape))
	if err != nil {
		panic("ops.New: " + err.Error())
	}
	return &Tensor{DType: dt, Shape: append([]int{}, shape...), Data: data}
}

// dtypeOf maps a Go element type to its DType (uint16 maps to U16).
func dtypeOf[T Elem]() ir.DType {
	var z T
	switch any(z).(type) {
	case float32:
		return ir.F32
	case float64:
		return ir.F64
	case int8:
		return ir.I8
	case int16:
		return ir.I16
	case int32:
		return ir.I32
	case int64:
		return ir.I64
	case uint8:
		return ir.U8
	case uint16:
		return ir.U16
	case uint32:
		return ir.U32
	case uint64:
		return ir.U64
	case bool:
		return ir.Bool
	case string:
		return ir.String
	}
	panic("unreachable")
}

// FromSlice makes a tensor of the given shape that uses data (no copy). The dtype follows
// T (uint16 is U16; use FromBits for F16 and BF16).
func FromSlice[T Elem](shape []int, data []T) (*Tensor, error) {
	if NumElems(shape) != len(data) {
		return nil, fmt.Errorf("shape %v needs %d elements, got %d", shape, NumElems(shape), len(data))
	}
	return &Tensor{DType: dtypeOf[T](), Shape: append([]int{}, shape...), Data: data}, nil
}

// MustFromSlice is FromSlice that panics on a size mismatch; for tests and literals.
func MustFromSlice[T Elem](shape []int, data []T) *Tensor {
	t, err := FromSlice(shape, data)
	if err != nil {
		panic(err)
	}
	return t
}

// Scalar makes a rank-0 tensor holding v.
func Scalar[T Elem](v T) *Tensor { return MustFromSlice([]int{}, []T{v}) }

// FromBits makes an F16 or BF16 tensor from raw 16-bit patterns (no copy).
func FromBits(dt ir.DType, shape []int, bits []uint16) (*Tensor, error) {
	if dt != ir.F16 && dt != ir.BF16 && dt != ir.U16 {
		return nil, fmt.Errorf("FromBits: dtype %s is not 16-bit", dt)
	}
	if NumElems(shape) != len(bits) {
		return nil, fmt.Errorf("shape %v needs %d elements, got %d", shape, NumElems(shape), len(bits))
	}
	return &Tensor{DType: dt, Shape: append([]int{}, shape...), Data: bits}, nil
}

// View returns a tensor with a new shape sharing t's data. The element count must match.
func (t *Tensor) View(shape []int) (*Tensor, error) {
	if NumElems(shape) != t.Len() {
		return nil, fmt.Errorf("cannot view %s%v (%d elements) as %v", t.DType, t.Shape, t.Len(), shape)
	}
	return &Tensor{DType: t.DType, Shape: append([]int{}, shape...), Data: t.Data}, nil
}

// Clone returns a deep copy of t.
func (t *Tensor) Clone() *Tensor {
	c := New(t.DType, t.Shape...)
	copyElems(c.Data, 0, t.Data, 0, t.Len())
	return c
}

// String prints dtype, shape and up to 8 elements, for error messages and debugging.
func (t *Tensor) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s%v", t.DType, t.Shape)
	n := t.Len()
	b.WriteString("{")
	for i := 0; i < n && i < 8; i++ {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprint(&b, elemString(t, i))
	}
	if n > 8 {
		b.WriteString(" ...")
	}
	b.WriteString("}")
	return b.String()
}

func elemString(t *Tensor, i int) string {
	switch t.DType {
	case ir.F16:
		return fmt.Sprint(ir.F16ToF32(t.Data.([]uint16)[i]))
	case ir.BF16:
		return fmt.Sprint(bf16ToF32(t.Data.([]uint16)[i]))
	}
	return fmt.Sprint(indexAny(t.Data, i))
}

func indexAny(data any, i int) any {
	switch s := data.(type) {
	case []float32:
		return s[i]
	case []float64:
		return s[i]
	case []int8:
		return s[i]
	case []int16:
		return s[i]
	case []int32:
		return s[i]
	case []int64:
		return s[i]
	case []uint8:
		return s[i]
	case []uint16:
		return s[i]
	case []uint32:
		return s[i]
	case []uint64:
		return s[i]
	case []bool:
		return s[i]
	case []string:
		return s[i]
	}
	panic(fmt.Sprintf("ops: unexpected data type %T", data))
}

func bf16ToF32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// f32ToBF16 rounds to nearest even, keeping NaN a NaN.
func f32ToBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 {
		return uint16(b>>16) | 0x40
	}
	b += 0x7fff + (b>>16)&1
	return uint16(b >> 16)
}

// FromIR converts IR constant data into a Tensor (a copy; the IR data may be mapped read-only).
func FromIR(it *ir.Tensor) (*Tensor, error) {
	if err := it.Check(); err != nil {
		return nil, err
	}
	shape := make([]int, len(it.Shape))
	for i, d := range it.Shape {
		shape[i] = int(d)
	}
	t := &Tensor{DType: it.DType, Shape: shape}
	n := NumElems(shape)
	d := it.Data
	le := binary.LittleEndian
	switch it.DType {
	case ir.F32:
		s := make([]float32, n)
		for i := range s {
			s[i] = math.Float32frombits(le.Uint32(d[4*i:]))
		}
		t.Data = s
	case ir.F64:
		s := make([]float64, n)
		for i := range s {
			s[i] = math.Float64frombits(le.Uint64(d[8*i:]))
		}
		t.Data = s
	case ir.F16, ir.BF16, ir.U16:
		s := make([]uint16, n)
		for i := range s {
			s[i] = le.Uint16(d[2*i:])
		}
		t.Data = s
	case ir.I16:
		s := make([]int16, n)
		for i := range s {
			s[i] = int16(le.Uint16(d[2*i:]))
		}
		t.Data = s
	case ir.I8:
		s := make([]int8, n)
		for i := range s {
			s[i] = int8(d[i])
		}
		t.Data = s
	case ir.U8:
		t.Data = append([]uint8{}, d[:n]...)
	case ir.Bool:
		s := make([]bool, n)
		for i := range s {
			s[i] = d[i] != 0
		}
		t.Data = s
	case ir.I32:
		s := make([]int32, n)
		for i := range s {
			s[i] = int32(le.Uint32(d[4*i:]))
		}
		t.Data = s
	case ir.U32:
		s := make([]uint32, n)
		for i := range s {
			s[i] = le.Uint32(d[4*i:])
		}
		t.Data = s
	case ir.I64:
		s := make([]int64, n)
		for i := range s {
			s[i] = int64(le.Uint64(d[8*i:]))
		}
		t.Data = s
	case ir.U64:
		s := make([]uint64, n)
		for i := range s {
			s[i] = le.Uint64(d[8*i:])
		}
		t.Data = s
	case ir.String:
		t.Data = append([]string{}, it.Strings...)
	default:
		return nil, fmt.Errorf("unsupported dtype %s", it.DType)
	}
	return t, nil
}

// ToIR encodes t as IR constant data (little-endian bytes).
func (t *Tensor) ToIR() *ir.Tensor {
	shape := make([]int64, len(t.Shape))
	for i, d := range t.Shape {
		shape[i] = int64(d)
	}
	out := &ir.Tensor{DType: t.DType, Shape: shape}
	n := t.Len()
	le := binary.LittleEndian
	b := make([]byte, n*t.DType.Size())
	switch s := t.Data.(type) {
	case []float32:
		for i, v := range s {
			le.PutUint32(b[4*i:], math.Float32bits(v))
		}
	case []float64:
		for i, v := range s {
			le.PutUint64(b[8*i:], math.Float64bits(v))
		}
	case []uint16:
		for i, v := range s {
			le.PutUint16(b[2*i:], v)
		}
	case []int16:
		for i, v := range s {
			le.PutUint16(b[2*i:], uint16(v))
		}
	case []int8:
		for i, v := range s {
			b[i] = byte(v)
		}
	case []uint8:
		copy(b, s)
	case []bool:
		for i, v := range s {
			if v {
				b[i] = 1
			}
		}
	case []int32:
		for i, v := range s {
			le.PutUint32(b[4*i:], uint32(v))
		}
	case []uint32:
		for i, v := range s {
			le.PutUint32(b[4*i:], v)
		}
	case []int64:
		for i, v := range s {
			le.PutUint64(b[8*i:], uint64(v))
		}
	case []uint64:
		for i, v := range s {
			le.PutUint64(b[8*i:], v)
		}
	case []string:
		out.Strings = append([]string{}, s...)
		return out
	}
	out.Data = b
	return out
}

// Ints returns the elements of an integer tensor as int64 (a copy). Shape-like inputs
// (Reshape's shape, Slice's starts, axes, pads, ...) are read with it.
func (t *Tensor) Ints() ([]int64, error) {
	out := make([]int64, t.Len())
	switch s := t.Data.(type) {
	case []int64:
		copy(out, s)
	case []int32:
		for i, v := range s {
			out[i] = int64(v)
		}
	case []int16:
		for i, v := range s {
			out[i] = int64(v)
		}
	case []int8:
		for i, v := range s {
			out[i] = int64(v)
		}
	case []uint8:
		for i, v := range s {
			out[i] = int64(v)
		}
	case []uint32:
		for i, v := range s {
			out[i] = int64(v)
		}
	case []uint64:
		for i, v := range s {
			out[i] = int64(v)
		}
	default:
		if t.DType == ir.U16 {
			for i, v := range s.([]uint16) {
				out[i] = int64(v)
			}
			break
		}
		return nil, fmt.Errorf("expected an integer tensor, got %s", t.DType)
	}
	return out, nil
}

// Floats returns the elements of a numeric or bool tensor as float64 (a copy).
func (t *Tensor) Floats() ([]float64, error) {
	c, err := Cast(t, ir.F64)
	if err != nil {
		return nil, err
	}
	return c.Data.([]float64), nil
}

// Equal reports whether a and b have the same dtype, shape and elements (NaN equals NaN).
func Equal(a, b *Tensor) bool {
	if a.DType != b.DType || !sameShape(a.Shape, b.Shape) {
		return false
	}
	if a.DType.IsFloat() {
		af, _ := a.Floats()
		bf, _ := b.Floats()
		for i := range af {
			if af[i] != bf[i] && !(math.IsNaN(af[i]) && math.IsNaN(bf[i])) {
				return false
			}
		}
		return true
	}
	for i := 0; i < a.Len(); i++ {
		if indexAny(a.Data, i) != indexAny(b.Data, i) {
			return false
		}
	}
	return true
}

// AllClose reports whether a and b have the same shape and every element satisfies
// |a-b| <= atol + rtol*|b| (numpy's rule), with NaNs equal and infinities equal by sign.
// Non-float tensors are compared exactly. The error says where they differ.
func AllClose(a, b *Tensor, rtol, atol float64) error {
	if a.DType != b.DType {
		return fmt.Errorf("dtype %s != %s", a.DType, b.DType)
	}
	if !sameShape(a.Shape, b.Shape) {
		return fmt.Errorf("shape %v != %v", a.Shape, b.Shape)
	}
	if !a.DType.IsFloat() {
		if !Equal(a, b) {
			for i := 0; i < a.Len(); i++ {
				if x, y := indexAny(a.Data, i), indexAny(b.Data, i); x != y {
					return fmt.Errorf("element %d: %v != %v", i, x, y)
				}
			}
		}
		return nil
	}
	af, _ := a.Floats()
	bf, _ := b.Floats()
	for i := range af {
		x, y := af[i], bf[i]
		switch {
		case math.IsNaN(x) || math.IsNaN(y):
			if math.IsNaN(x) != math.IsNaN(y) {
				return fmt.Errorf("element %d: %v != %v", i, x, y)
			}
		case math.IsInf(x, 0) || math.IsInf(y, 0):
			if x != y {
				return fmt.Errorf("element %d: %v != %v", i, x, y)
			}
		case math.Abs(x-y) > atol+rtol*math.Abs(y):
			return fmt.Errorf("element %d (of %v): %v != %v (diff %g)", i, a.Shape, x, y, math.Abs(x-y))
		}
	}
	return nil
}

func sameShape(a, b []int) bool { return slices.Equal(a, b) }
