package ops

import (
	"fmt"
	"math"

	"github.com/ciuic/ciuic/ir"
)

// Linear quantization ops (ONNX QuantizeLinear family): q = saturate(round_half_even(x/scale) + zp).

func init() {
	Register("", "QuantizeLinear", quantizeKernel, floatTypes...)
	Register("", "DequantizeLinear", dequantizeKernel, intTypes...)
	Register("", "DynamicQuantizeLinear", dynQuantKernel, floatTypes...)
	Register("", "MatMulInteger", matMulIntegerKernel, ir.U8, ir.I8)
	Register("", "QLinearMatMul", qlinearMatMulKernel, ir.U8, ir.I8)
}

// quantParam reads a scale or zero point as float64 shaped to broadcast against x:
// a scalar, or a 1-D tensor along axis (per-axis quantization).
//
// With block > 0 (blocked quantization, opset 21), t has x's rank and holds one value per
// block of `block` consecutive elements along axis; it is expanded to x's shape.
func quantParam(t *Tensor, x *Tensor, axis64 int64, name string, block int64) (*Tensor, error) {
	v, err := Cast(t, ir.F64)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	if block > 0 {
		return blockedParam(v, x, axis64, block, name)
	}
	if t.Len() == 1 {
		return v.View([]int{})
	}
	if t.Rank() > 1 {
		return nil, fmt.Errorf("%s: shape %v needs block_size (blocked quantization)", name, t.Shape)
	}
	axis, err := normAxis(axis64, x.Rank())
	if err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	if t.Len() != x.Shape[axis] {
		return nil, fmt.Errorf("%s has %d elements, but axis %d of %v has %d", name, t.Len(), axis, x.Shape, x.Shape[axis])
	}
	shape := make([]int, x.Rank())
	for i := range shape {
		shape[i] = 1
	}
	shape[axis] = t.Len()
	return v.View(shape)
}

// blockedParam repeats each entry of v block times along axis (the last block may be
// shorter), checking v's shape against x's.
func blockedParam(v, x *Tensor, axis64, block int64, name string) (*Tensor, error) {
	axis, err := normAxis(axis64, x.Rank())
	if err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	if v.Rank() != x.Rank() {
		return nil, fmt.Errorf("%s: blocked quantization needs rank %d, got shape %v", name, x.Rank(), v.Shape)
	}
	n := x.Shape[axis]
	for i, d := range v.Shape {
		want := x.Shape[i]
		if i == axis {
			want = (n + int(block) - 1) / int(block)
		}
		if d != want {
			return nil, fmt.Errorf("%s: shape %v does not match %v in blocks of %d along axis %d", name, v.Shape, x.Shape, block, axis)
		}
	}
	idx := make([]int64, n)
	for i := range idx {
		idx[i] = int64(i) / block
	}
	out, err := Run("", "Gather", []*Tensor{v, MustFromSlice([]int{n}, idx)}, ir.Attrs{"axis": ir.IntAttr(int64(axis))}, 1)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	return out[0], nil
}

func qrange(dt ir.DType) (float64, float64, error) {
	switch dt {
	case ir.U8:
		return 0, 255, nil
	case ir.I8:
		return -128, 127, nil
	case ir.U16:
		return 0, 65535, nil
	case ir.I16:
		return -32768, 32767, nil
	case ir.I32:
		return math.MinInt32, math.MaxInt32, nil
	}
	return 0, 0, fmt.Errorf("unsupported quantized dtype %s", dt)
}

func quantizeKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 2); err != nil {
		return nil, err
	}
	x, zp := in[0], input(in, 2)
	axis := attrs.Int("axis", 1)
	dt := ir.U8
	if zp != nil {
		dt = zp.DType
	} else if code := attrs.Int("output_dtype", 0); code != 0 {
		d, ok := ir.DTypeFromONNX(code)
		if !ok {
			return nil, fmt.Errorf("QuantizeLinear: unknown output_dtype %d", code)
		}
		dt = d
	}
	lo, hi, err := qrange(dt)
	if err != nil {
		return nil, fmt.Errorf("QuantizeLinear: %v", err)
	}
	scale, err := quantParam(in[1], x, axis, "y_scale", attrs.Int("block_size", 0))
	if err != nil {
		return nil, fmt.Errorf("QuantizeLinear: %v", err)
	}
	zero := Scalar(0.0)
	if zp != nil {
		if zero, err = quantParam(zp, x, axis, "y_zero_point", attrs.Int("block_size", 0)); err != nil {
			return nil, fmt.Errorf("QuantizeLinear: %v", err)
		}
	}
	xf, err := Cast(x, ir.F64)
	if err != nil {
		return nil, err
	}
	q, err := arith(ctx, "Div", xf, scale)
	if err != nil {
		return nil, fmt.Errorf("QuantizeLinear: %v", err)
	}
	if x.DType == ir.F32 {
		// ONNX divides in f32; the f64 quotient rounded to f32 is that result exactly,
		// and it decides ties such as 0.5/0.019607844 = 25.5 (f32) vs 25.4999 (f64).
		q = mapT(ctx, q, func(v float64) float64 { return float64(float32(v)) })
	}
	q = mapT(ctx, q, roundHalfEven)
	if q, err = arith(ctx, "Add", q, zero); err != nil {
		return nil, err
	}
	q = mapT(ctx, q, func(v float64) float64 { return min(max(v, lo), hi) })
	r, err := Cast(q, dt)
	return one(r), err
}

func dequantizeKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 2); err != nil {
		return nil, err
	}
	x, zp := in[0], input(in, 2)
	axis := attrs.Int("axis", 1)
	scale, err := quantParam(in[1], x, axis, "x_scale", attrs.Int("block_size", 0))
	if err != nil {
		return nil, fmt.Errorf("DequantizeLinear: %v", err)
	}
	xf, err := Cast(x, ir.F64)
	if err != nil {
		return nil, err
	}
	if zp != nil {
		zero, err := quantParam(zp, x, axis, "x_zero_point", attrs.Int("block_size", 0))
		if err != nil {
			return nil, fmt.Errorf("DequantizeLinear: %v", err)
		}
		if xf, err = arith(ctx, "Sub", xf, zero); err != nil {
			return nil, err
		}
	}
	y, err := arith(ctx, "Mul", xf, scale)
	if err != nil {
		return nil, fmt.Errorf("DequantizeLinear: %v", err)
	}
	r, err := Cast(y, in[1].DType)
	return one(r), err
}

// DynamicQuantizeLinear: u8 quantization over the range [min(0, x), max(0, x)].
func dynQuantKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	xs, err := in[0].Floats()
	if err != nil {
		return nil, err
	}
	lo, hi := 0.0, 0.0
	for _, v := range xs {
		lo, hi = min(lo, v), max(hi, v)
	}
	// ONNX computes the scale in f32.
	scale := float64(float32(hi-lo) / 255)
	zp := 0.0
	if scale != 0 {
		zp = min(max(roundHalfEven(float64(float32(-lo)/float32(scale))), 0), 255)
	}
	q := make([]uint8, len(xs))
	for i, v := range xs {
		if scale != 0 {
			// Divide in f32 as ONNX does: in f64, 0.5/0.019607844 rounds to 25, not 26.
			q[i] = uint8(min(max(roundHalfEven(float64(float32(v)/float32(scale)))+zp, 0), 255))
		}
	}
	return []*Tensor{MustFromSlice(in[0].Shape, q), Scalar(float32(scale)), Scalar(uint8(zp))}, nil
}

// zeroPointFor shapes a MatMulInteger zero point: a scalar, per-row of A ([M] becomes
// [M, 1]) or per-column of B ([N]).
func zeroPointFor(zp *Tensor, m *Tensor, rowwise bool) (*Tensor, error) {
	z, err := Cast(zp, ir.I32)
	if err != nil {
		return nil, err
	}
	if z.Len() == 1 {
		return z.View([]int{})
	}
	if rowwise && z.Rank() == 1 {
		return z.View([]int{z.Len(), 1})
	}
	return z, nil
}

// intMatMul computes (a - azp) x (b - bzp) in i32.
func intMatMul(ctx *KernelContext, a, b, azp, bzp *Tensor) (*Tensor, error) {
	ai, err := Cast(a, ir.I32)
	if err != nil {
		return nil, err
	}
	bi, err := Cast(b, ir.I32)
	if err != nil {
		return nil, err
	}
	if azp != nil {
		z, err := zeroPointFor(azp, a, true)
		if err != nil {
			return nil, err
		}
		if ai, err = arith(ctx, "Sub", ai, z); err != nil {
			return nil, fmt.Errorf("a_zero_point: %v", err)
		}
	}
	if bzp != nil {
		z, err := zeroPointFor(bzp, b, false)
		if err != nil {
			return nil, err
		}
		if bi, err = arith(ctx, "Sub", bi, z); err != nil {
			return nil, fmt.Errorf("b_zero_point: %v", err)
		}
	}
	return MatMul(ctx, ai, bi)
}

func matMulIntegerKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 2); err != nil {
		return nil, err
	}
	y, err := intMatMul(ctx, in[0], in[1], input(in, 2), input(in, 3))
	if err != nil {
		return nil, fmt.Errorf("MatMulInteger: %v", err)
	}
	return one(y), nil
}

// QLinearMatMul(a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp).
func qlinearMatMulKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 8); err != nil {
		return nil, err
	}
	acc, err := intMatMul(ctx, in[0], in[3], in[2], in[5])
	if err != nil {
		return nil, fmt.Errorf("QLinearMatMul: %v", err)
	}
	af, _ := Cast(acc, ir.F64)
	as, err1 := Cast(in[1], ir.F64)
	bs, err2 := Cast(in[4], ir.F64)
	ys, err3 := Cast(in[6], ir.F64)
	if err1 != nil || err2 != nil || err3 != nil {
		return nil, fmt.Errorf("QLinearMatMul: scales must be numeric")
	}
	if in[1].Len() > 1 && in[1].Rank() == 1 {
		as, _ = as.View([]int{as.Len(), 1})
	}
	for _, s := range []*Tensor{as, bs} {
		if af, err = arith(ctx, "Mul", af, s); err != nil {
			return nil, fmt.Errorf("QLinearMatMul: %v", err)
		}
	}
	if af, err = arith(ctx, "Div", af, ys); err != nil {
		return nil, fmt.Errorf("QLinearMatMul: %v", err)
	}
	yzp, _ := Cast(in[7], ir.F64)
	af = mapT(ctx, af, roundHalfEven)
	if af, err = arith(ctx, "Add", af, yzp); err != nil {
		return nil, fmt.Errorf("QLinearMatMul: %v", err)
	}
	lo, hi, err := qrange(in[7].DType)
	if err != nil {
		return nil, fmt.Errorf("QLinearMatMul: %v", err)
	}
	af = mapT(ctx, af, func(v float64) float64 { return min(max(v, lo), hi) })
	r, err := Cast(af, in[7].DType)
	return one(r), err
}
