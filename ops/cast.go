package ops

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/ciuic/ciuic/ir"
)

func init() {
	Register("", "Cast", castKernel)
	Register("", "CastLike", castLikeKernel)
}

func castKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	if !attrs.Has("to") {
		return nil, fmt.Errorf("Cast needs attribute \"to\"")
	}
	to, ok := ir.DTypeFromONNX(attrs.Int("to", 0))
	if !ok {
		return nil, fmt.Errorf("Cast: unknown ONNX dtype code %d", attrs.Int("to", 0))
	}
	out, err := Cast(in[0], to)
	if err != nil {
		return nil, err
	}
	return one(out), nil
}

func castLikeKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 2); err != nil {
		return nil, err
	}
	out, err := Cast(in[0], in[1].DType)
	if err != nil {
		return nil, err
	}
	return one(out), nil
}

// Cast converts t to dtype to following ONNX Cast: float to integer rounds toward zero,
// anything to bool is "nonzero" (NaN is true), bool to numbers is 0/1, strings are parsed
// as numbers and numbers print in their shortest round-trip form. Casting to the same
// dtype returns t itself.
//
// The "to" attribute of the Cast op is an ONNX TensorProto code, as in the IR.
func Cast(t *Tensor, to ir.DType) (*Tensor, error) {
	if t.DType == to {
		return t, nil
	}
	if _, err := makeData(to, 0); err != nil {
		return nil, fmt.Errorf("Cast to %s: %v", to, err)
	}
	shape := append([]int{}, t.Shape...)
	switch {
	case t.DType == ir.F16 || t.DType == ir.BF16:
		bits := t.Data.([]uint16)
		f := make([]float32, len(bits))
		for i, h := range bits {
			if t.DType == ir.F16 {
				f[i] = ir.F16ToF32(h)
			} else {
				f[i] = bf16ToF32(h)
			}
		}
		return Cast(&Tensor{DType: ir.F32, Shape: shape, Data: f}, to)
	case to == ir.F16 || to == ir.BF16:
		f32, err := Cast(t, ir.F32)
		if err != nil {
			return nil, err
		}
		f := f32.Data.([]float32)
		bits := make([]uint16, len(f))
		for i, v := range f {
			if to == ir.F16 {
				bits[i] = ir.F32ToF16(v)
			} else {
				bits[i] = f32ToBF16(v)
			}
		}
		return &Tensor{DType: to, Shape: shape, Data: bits}, nil
	case t.DType == ir.String:
		return castFromString(t, to)
	case to == ir.String:
		return castToString(t)
	case t.DType == ir.Bool:
		b := t.Data.([]bool)
		u := make([]uint8, len(b))
		for i, v := range b {
			if v {
				u[i] = 1
			}
		}
		return Cast(&Tensor{DType: ir.U8, Shape: shape, Data: u}, to)
	case to == ir.Bool:
		f, err := Cast(t, ir.F64)
		if err != nil {
			return nil, err
		}
		fs := f.Data.([]float64)
		b := make([]bool, len(fs))
		for i, v := range fs {
			b[i] = v != 0
		}
		return &Tensor{DType: ir.Bool, Shape: shape, Data: b}, nil
	}
	var data any
	switch s := t.Data.(type) {
	case []float32:
		data = castNum(s, to)
	case []float64:
		data = castNum(s, to)
	case []int8:
		data = castNum(s, to)
	case []int16:
		data = castNum(s, to)
	case []int32:
		data = castNum(s, to)
	case []int64:
		data = castNum(s, to)
	case []uint8:
		data = castNum(s, to)
	case []uint16:
		data = castNum(s, to)
	case []uint32:
		data = castNum(s, to)
	case []uint64:
		data = castNum(s, to)
	}
	if data == nil {
		return nil, fmt.Errorf("cannot cast %s to %s", t.DType, to)
	}
	return &Tensor{DType: to, Shape: shape, Data: data}, nil
}

func castNum[S Number](s []S, to ir.DType) any {
	switch to {
	case ir.F32:
		return convertSlice[S, float32](s)
	case ir.F64:
		return convertSlice[S, float64](s)
	case ir.I8:
		return convertSlice[S, int8](s)
	case ir.I16:
		return convertSlice[S, int16](s)
	case ir.I32:
		return convertSlice[S, int32](s)
	case ir.I64:
		return convertSlice[S, int64](s)
	case ir.U8:
		return convertSlice[S, uint8](s)
	case ir.U16:
		return convertSlice[S, uint16](s)
	case ir.U32:
		return convertSlice[S, uint32](s)
	case ir.U64:
		return convertSlice[S, uint64](s)
	}
	return nil
}

// convertSlice converts with Go's conversion rules, which truncate floats toward zero.
func convertSlice[S, D Number](s []S) []D {
	d := make([]D, len(s))
	for i, v := range s {
		d[i] = D(v)
	}
	return d
}

func castFromString(t *Tensor, to ir.DType) (*Tensor, error) {
	ss := t.Data.([]string)
	shape := append([]int{}, t.Shape...)
	if to.IsInt() {
		v := make([]int64, len(ss))
		for i, s := range ss {
			n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
			if err != nil {
				f, ferr := strconv.ParseFloat(strings.TrimSpace(s), 64)
				if ferr != nil {
					return nil, fmt.Errorf("Cast: element %d %q is not a number", i, s)
				}
				n = int64(f)
			}
			v[i] = n
		}
		return Cast(&Tensor{DType: ir.I64, Shape: shape, Data: v}, to)
	}
	v := make([]float64, len(ss))
	for i, s := range ss {
		s = strings.TrimSpace(s)
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			// ParseFloat reports out-of-range values with ±Inf and an error; keep the Inf.
			if ne, ok := err.(*strconv.NumError); !ok || ne.Err != strconv.ErrRange {
				if to == ir.Bool {
					v[i] = boolString(s)
					continue
				}
				return nil, fmt.Errorf("Cast: element %d %q is not a number", i, s)
			}
		}
		v[i] = f
	}
	return Cast(&Tensor{DType: ir.F64, Shape: shape, Data: v}, to)
}

func boolString(s string) float64 {
	if strings.EqualFold(s, "true") {
		return 1
	}
	return 0
}

func castToString(t *Tensor) (*Tensor, error) {
	n := t.Len()
	out := make([]string, n)
	switch t.DType {
	case ir.F32, ir.F64:
		bits := 64
		if t.DType == ir.F32 {
			bits = 32
		}
		f, _ := t.Floats()
		for i, v := range f {
			switch {
			case math.IsNaN(v):
				out[i] = "NaN"
			case math.IsInf(v, 1):
				out[i] = "INF"
			case math.IsInf(v, -1):
				out[i] = "-INF"
			default:
				out[i] = strconv.FormatFloat(v, 'g', -1, bits)
			}
		}
	case ir.Bool:
		for i, v := range t.Data.([]bool) {
			out[i] = strconv.FormatBool(v)
		}
	case ir.U64:
		for i, v := range t.Data.([]uint64) {
			out[i] = strconv.FormatUint(v, 10)
		}
	default:
		v, err := t.Ints()
		if err != nil {
			return nil, err
		}
		for i, x := range v {
			out[i] = strconv.FormatInt(x, 10)
		}
	}
	return &Tensor{DType: ir.String, Shape: append([]int{}, t.Shape...), Data: out}, nil
}
