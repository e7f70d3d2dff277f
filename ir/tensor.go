package ir

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Tensor is constant data held by the IR: weights, folded constants and tensor attributes.
// Data is the little-endian, row-major (C order) encoding of the elements, DType.Size()
// bytes each; string tensors keep their elements in Strings instead.
//
// The Data slice may alias a memory-mapped file: treat it as read-only.
type Tensor struct {
	DType   DType
	Shape   []int64
	Data    []byte
	Strings []string // only for DType String
}

// NumElements is the product of the shape's dims (1 for a scalar).
func (t *Tensor) NumElements() int64 {
	n := int64(1)
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// Type is the IR type of the tensor.
func (t *Tensor) Type() Type { return Type{DType: t.DType, Shape: StaticShape(t.Shape...)} }

// Bytes is the size of the tensor's data in bytes.
func (t *Tensor) Bytes() int64 {
	if t.DType == String {
		var n int64
		for _, s := range t.Strings {
			n += int64(len(s))
		}
		return n
	}
	return int64(len(t.Data))
}

// Check reports whether the data length agrees with dtype and shape.
func (t *Tensor) Check() error {
	for _, d := range t.Shape {
		if d < 0 {
			return fmt.Errorf("negative dimension in shape %v", t.Shape)
		}
	}
	n := t.NumElements()
	if t.DType == String {
		if int64(len(t.Strings)) != n {
			return fmt.Errorf("string tensor %v has %d elements, want %d", t.Shape, len(t.Strings), n)
		}
		return nil
	}
	if want := n * int64(t.DType.Size()); int64(len(t.Data)) != want {
		return fmt.Errorf("%s%v tensor has %d bytes of data, want %d", t.DType, t.Shape, len(t.Data), want)
	}
	return nil
}

// NewTensorF32 makes an f32 tensor of the given shape from values.
func NewTensorF32(shape []int64, values []float32) *Tensor {
	b := make([]byte, 4*len(values))
	for i, v := range values {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return &Tensor{DType: F32, Shape: append([]int64{}, shape...), Data: b}
}

// NewTensorI64 makes an i64 tensor of the given shape from values.
func NewTensorI64(shape []int64, values []int64) *Tensor {
	b := make([]byte, 8*len(values))
	for i, v := range values {
		binary.LittleEndian.PutUint64(b[8*i:], uint64(v))
	}
	return &Tensor{DType: I64, Shape: append([]int64{}, shape...), Data: b}
}

// Float64s decodes the elements of a numeric or bool tensor as float64 (a copy).
func (t *Tensor) Float64s() []float64 {
	n := int(t.NumElements())
	out := make([]float64, n)
	for i := range out {
		out[i] = t.At(i)
	}
	return out
}

// Int64s decodes the elements of an integer or bool tensor as int64 (a copy);
// float elements are truncated toward zero.
func (t *Tensor) Int64s() []int64 {
	n := int(t.NumElements())
	out := make([]int64, n)
	for i := range out {
		if t.DType.IsInt() || t.DType == Bool {
			out[i] = t.intAt(i)
		} else {
			out[i] = int64(t.At(i))
		}
	}
	return out
}

// Float32s decodes the elements as float32 (a copy).
func (t *Tensor) Float32s() []float32 {
	n := int(t.NumElements())
	out := make([]float32, n)
	if t.DType == F32 {
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(t.Data[4*i:]))
		}
		return out
	}
	for i := range out {
		out[i] = float32(t.At(i))
	}
	return out
}

func (t *Tensor) intAt(i int) int64 {
	d := t.Data
	switch t.DType {
	case I8:
		return int64(int8(d[i]))
	case U8, Bool:
		return int64(d[i])
	case I16:
		return int64(int16(binary.LittleEndian.Uint16(d[2*i:])))
	case U16:
		return int64(binary.LittleEndian.Uint16(d[2*i:]))
	case I32:
		return int64(int32(binary.LittleEndian.Uint32(d[4*i:])))
	case U32:
		return int64(binary.LittleEndian.Uint32(d[4*i:]))
	case I64, U64:
		return int64(binary.LittleEndian.Uint64(d[8*i:]))
	}
	panic("ir: intAt on " + t.DType.String())
}

// At returns element i (in row-major order) as a float64. It panics for String tensors.
func (t *Tensor) At(i int) float64 {
	d := t.Data
	switch t.DType {
	case F32:
		return float64(math.Float32frombits(binary.LittleEndian.Uint32(d[4*i:])))
	case F64:
		return math.Float64frombits(binary.LittleEndian.Uint64(d[8*i:]))
	case F16:
		return float64(F16ToF32(binary.LittleEndian.Uint16(d[2*i:])))
	case BF16:
		return float64(math.Float32frombits(uint32(binary.LittleEndian.Uint16(d[2*i:])) << 16))
	case U64:
		return float64(binary.LittleEndian.Uint64(d[8*i:]))
	default:
		return float64(t.intAt(i))
	}
}

// F16ToF32 converts an IEEE 754 half-precision value to float32.
func F16ToF32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0 && mant == 0:
		return math.Float32frombits(sign)
	case exp == 0: // subnormal
		for mant&0x400 == 0 {
			mant <<= 1
			exp--
		}
		exp++
		mant &= 0x3ff
		return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
	case exp == 0x1f:
		return math.Float32frombits(sign | 0xff<<23 | mant<<13)
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
}

// F32ToF16 converts a float32 to IEEE 754 half precision, rounding to nearest even.
func F32ToF16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int32(b>>23&0xff) - 127 + 15
	mant := b & 0x7fffff
	switch {
	case b&0x7fffffff > 0x7f800000: // NaN
		return sign | 0x7e00
	case exp >= 0x1f:
		return sign | 0x7c00
	case exp <= 0:
		if exp < -10 {
			return sign
		}
		mant |= 0x800000
		shift := uint32(14 - exp)
		half := uint32(1) << (shift - 1)
		r := mant >> shift
		rem := mant & (1<<shift - 1)
		if rem > half || (rem == half && r&1 == 1) {
			r++
		}
		return sign | uint16(r)
	}
	r := uint32(exp)<<10 | mant>>13
	rem := mant & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && r&1 == 1) {
		r++
	}
	return sign | uint16(r)
}
