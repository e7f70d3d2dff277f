package ops

import (
	"fmt"
	"math"

	"github.com/ciuic/ciuic/ir"
)

// Integer convolutions: ciuic.ConvInt8, which passes/quantize makes from a Conv with a
// constant weight under -quantize int8-dynamic, and ONNX QLinearConv. Both accumulate
// exactly (the products of integers summed in float64, exact below 2^53) on the
// reference ConvInteger path: reference quality, not a fast kernel.

func init() {
	Register(ir.CiuicDomain, "ConvInt8", convInt8Kernel, ir.F32, ir.U8, ir.I8)
	Register("", "QLinearConv", qlinearConvKernel, ir.U8, ir.I8)
}

// convInt8Kernel computes act(float32(acc[n, m, ...]) · (xScale · wScale[m]) + B[m]) where
// acc is the integer convolution of X quantized to u8 per tensor (as
// DynamicQuantizeLinear) with the i8 weight.
func convInt8Kernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 3); err != nil {
		return nil, err
	}
	x, w, ws, b := in[0], in[1], in[2], input(in, 3)
	xsT, xzT := input(in, 4), input(in, 5)
	preq := xsT != nil && xzT != nil && xsT.DType == ir.F32 && xsT.Len() == 1 && xzT.Len() == 1 && xzT.DType == x.DType && (x.DType == ir.U8 || x.DType == ir.I8)
	wz := input(in, 6)
	wOK := w.DType == ir.I8 && wz == nil || w.DType == ir.U8 && wz != nil && wz.DType == ir.U8 && wz.Len() == 1
	if x.DType != ir.F32 && !preq || !wOK || w.Rank() < 3 || ws.DType != ir.F32 {
		return nil, fmt.Errorf("ConvInt8: want X f32, W i8 [M, C/group, k...], WScale f32; got %s%v, %s%v, %s%v", x.DType, x.Shape, w.DType, w.Shape, ws.DType, ws.Shape)
	}
	M := w.Shape[0]
	if ws.Len() != 1 && ws.Len() != M {
		return nil, fmt.Errorf("ConvInt8: WScale has %d elements, want 1 or %d", ws.Len(), M)
	}
	if b != nil && (b.DType != ir.F32 || b.Len() != M) {
		return nil, fmt.Errorf("ConvInt8: B %s%v must be f32[%d]", b.DType, b.Shape, M)
	}
	actFn, err := denseActivation(attrs.String("activation", ""))
	if err != nil {
		return nil, err
	}
	var xq, zp *Tensor
	var xs []float32
	if preq { // already quantized (QLinearConv): its own scale and zero point
		xq, zp, xs = x, xzT, xsT.F32()
	} else {
		q, s, z := DynamicQuantizeU8(ctx, x.F32())
		xq, zp, xs = &Tensor{DType: ir.U8, Shape: x.Shape, Data: q}, Scalar(uint8(z[0])), s
	}
	cattrs := ir.Attrs{}
	for _, k := range []string{"auto_pad", "group", "dilations", "kernel_shape", "pads", "strides"} {
		if a, ok := attrs[k]; ok {
			cattrs[k] = a
		}
	}
	acc, err := convIntegerKernel(ctx, []*Tensor{xq, w, zp, wz}, cattrs)
	if err != nil {
		return nil, fmt.Errorf("ConvInt8: %v", err)
	}
	a := Elems[int32](acc[0])
	y := New(ir.F32, acc[0].Shape...)
	yd, sw := y.F32(), ws.F32()
	inner := y.Len() / max(1, y.Shape[0]*M) // spatial size
	for i, v := range a {
		m := i / max(inner, 1) % M
		s := sw[0]
		if len(sw) > 1 {
			s = sw[m]
		}
		f := float32(v) * (xs[0] * s)
		if b != nil {
			f += b.F32()[m]
		}
		if actFn != nil {
			f = actFn(f)
		}
		yd[i] = f
	}
	return one(y), nil
}

// qlinearConvKernel: y = saturate(round((acc + B[m]) · x_scale · w_scale[m] / y_scale) + y_zp)
// with acc the exact integer convolution of (x - x_zp) and (w - w_zp).
func qlinearConvKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 8); err != nil {
		return nil, err
	}
	x, xs, xz, w, ws, wz, ys, yz, b := in[0], in[1], in[2], in[3], in[4], in[5], in[6], in[7], input(in, 8)
	acc, err := convIntegerKernel(ctx, []*Tensor{x, w, xz, wz}, attrs)
	if err != nil {
		return nil, fmt.Errorf("QLinearConv: %v", err)
	}
	scalar := func(t *Tensor) (float64, error) {
		f, err := t.Floats()
		if err != nil || len(f) != 1 {
			return 0, fmt.Errorf("QLinearConv: %s%v is not a numeric scalar", t.DType, t.Shape)
		}
		return f[0], nil
	}
	xsv, err1 := scalar(xs)
	ysv, err2 := scalar(ys)
	yzv, err3 := scalar(yz)
	wsv, err4 := ws.Floats()
	if err := errors4(err1, err2, err3, err4); err != nil {
		return nil, err
	}
	M := w.Shape[0]
	if len(wsv) != 1 && len(wsv) != M {
		return nil, fmt.Errorf("QLinearConv: w_scale has %d elements, want 1 or %d", len(wsv), M)
	}
	var bias []int32
	if b != nil {
		if b.DType != ir.I32 || b.Len() != M {
			return nil, fmt.Errorf("QLinearConv: B must be i32[%d], got %s%v", M, b.DType, b.Shape)
		}
		bias = Elems[int32](b)
	}
	lo, hi, err := qrange(yz.DType)
	if err != nil {
		return nil, fmt.Errorf("QLinearConv: %v", err)
	}
	a := Elems[int32](acc[0])
	yf := make([]float64, len(a))
	inner := len(a) / max(1, acc[0].Shape[0]*M)
	for i, v := range a {
		m := i / max(inner, 1) % M
		s := wsv[0]
		if len(wsv) > 1 {
			s = wsv[m]
		}
		t := float64(v)
		if bias != nil {
			t += float64(bias[m])
		}
		yf[i] = min(max(math.RoundToEven(t*xsv*s/ysv)+yzv, lo), hi)
	}
	r, err := Cast(MustFromSlice(acc[0].Shape, yf), yz.DType)
	return one(r), err
}

func errors4(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
