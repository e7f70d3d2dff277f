package ops

import (
	"fmt"
	"math"
	"weak"

	"github.com/ciuic/ciuic/ir"
	"github.com/ciuic/ciuic/ops/internal/vec"
)

// Fast kernels on the int8 GEMM: ONNX MatMulInteger and DynamicQuantizeLinear (u8),
// with results identical to the reference kernels of quant.go, and the fast path of
// ciuic.DenseInt8 (installed with SetInt8Gemm). Registered in vec_register.go.

// fastMatMulIntegerKernel computes MatMulInteger exactly through the int8 GEMM for a
// 2-D B with scalar or per-column zero point and a scalar (or, for a 2-D A, per-row)
// A zero point. s8 A is moved to u8 (a+128, zero point +128); u8 B is packed as s8
// (PackInt8). Other layouts go to the reference kernel.
func fastMatMulIntegerKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 2); err != nil {
		return nil, err
	}
	a, b, azp, bzp := in[0], in[1], input(in, 2), input(in, 3)
	int8ish := func(t *Tensor) bool { return t.DType == ir.U8 || t.DType == ir.I8 }
	if !int8ish(a) || !int8ish(b) || a.Rank() < 1 || b.Rank() != 2 || a.Shape[a.Rank()-1] != b.Shape[0] {
		return matMulIntegerKernel(ctx, in, attrs)
	}
	K, N := b.Shape[0], b.Shape[1]
	M := NumElems(a.Shape[:a.Rank()-1])
	if azp != nil && (azp.DType != a.DType || !(azp.Len() == 1 || a.Rank() == 2 && azp.Rank() == 1 && azp.Len() == M)) {
		return matMulIntegerKernel(ctx, in, attrs)
	}
	if bzp != nil && (bzp.DType != b.DType || !(bzp.Len() == 1 || bzp.Rank() == 1 && bzp.Len() == N)) {
		return matMulIntegerKernel(ctx, in, attrs)
	}
	zeros := func(t *Tensor) []int32 {
		if t == nil {
			return nil
		}
		z := make([]int32, t.Len())
		for i := range z {
			if t.DType == ir.U8 {
				z[i] = int32(Elems[uint8](t)[i])
			} else {
				z[i] = int32(Elems[int8](t)[i])
			}
		}
		return z
	}
	aZero := zeros(azp)
	if aZero == nil {
		aZero = []int32{0}
	}
	ad := []uint8(nil)
	if a.DType == ir.U8 {
		ad = Elems[uint8](a)
	} else {
		ad = make([]uint8, a.Len())
		for i, v := range Elems[int8](a) {
			ad[i] = uint8(v) ^ 0x80
		}
		for i := range aZero {
			aZero[i] += 128
		}
	}
	w, err := packedInt8For(ctx, b)
	if err != nil {
		return nil, fmt.Errorf("MatMulInteger: %v", err)
	}
	shape := append(append([]int{}, a.Shape[:a.Rank()-1]...), N)
	y := New(ir.I32, shape...)
	if y.Len() == 0 {
		return one(y), nil
	}
	o := &int8Product{a: ad, M: M, K: K, aZero: aZero, w: w, wZero: zeros(bzp)}
	o.run(ctx, Elems[int32](y), nil, nil)
	return one(y), nil
}

// fastDynQuantKernel is DynamicQuantizeLinear for f32: the same arithmetic as the
// reference (scale and division in float32, round half to even), without converting
// the input to float64, in parallel.
func fastDynQuantKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	if in[0].DType != ir.F32 {
		return dynQuantKernel(ctx, in, attrs)
	}
	xs := in[0].F32()
	// Min and max are exact, so combining chunks in any order gives the same range.
	const grain = 1 << 15
	nchunks := (len(xs) + grain - 1) / grain
	los, his := make([]float32, nchunks), make([]float32, nchunks)
	ctx.ParallelFor(nchunks, 1, func(c0, c1 int) {
		for c := c0; c < c1; c++ {
			lo, hi := vec.MinMax(xs[c*grain : min(len(xs), (c+1)*grain)])
			los[c], his[c] = min(lo, 0), max(hi, 0)
		}
	})
	lo, hi := 0.0, 0.0
	for c := range los {
		lo, hi = min(lo, float64(los[c])), max(hi, float64(his[c]))
	}
	scale := float32(hi-lo) / 255
	zp := 0.0
	if scale != 0 {
		zp = min(max(math.RoundToEven(float64(float32(-lo)/scale)), 0), 255)
	}
	q := make([]uint8, len(xs))
	if scale != 0 {
		ctx.ParallelFor(len(xs), elemGrain, func(l, h int) { vec.QuantizeU8(q[l:h], xs[l:h], scale, int32(zp)) })
	}
	return []*Tensor{MustFromSlice(in[0].Shape, q), Scalar(scale), Scalar(uint8(zp))}, nil
}

// fastDenseInt8 is ciuic.DenseInt8's product on the int8 GEMM (see SetInt8Gemm), the
// dequantization, bias and activation fused. W is DenseInt8's constant weight (its
// contract: the same tensor on every call), so it is packed on first use and kept.
func fastDenseInt8(ctx *KernelContext, o *Int8Operands) (bool, error) {
	if _, ok := prepackedI8.Load(weak.Make(o.W)); !ok {
		if err := prepackInt8(ctx, o.W); err != nil {
			return false, err
		}
	}
	w, err := packedInt8For(ctx, o.W)
	if err != nil {
		return false, err
	}
	N := w.N
	if w.flip || w.K != o.K || len(o.Y) != o.M*N {
		return false, nil
	}
	epi, fast, err := dequantEpilogue(o.Y, N, o.AScale, o.WScale, o.Bias, o.Act)
	if err != nil {
		return false, err
	}
	p := &int8Product{a: o.A, M: o.M, K: o.K, aZero: o.AZero, w: w}
	p.run(ctx, asInt32(o.Y), epi, fast)
	return true, nil
}

// fastDenseInt8Kernel is ciuic.DenseInt8 with X quantized by the vec kernels (the
// same values as quant_dense.go's loops: float32 division, round half to even, float32
// zero-point add, saturation) and the product by fastDenseInt8. Anything it does not
// recognise goes to denseInt8Kernel, which also reports the errors.
func fastDenseInt8Kernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if len(in) < 3 || in[0] == nil || in[1] == nil || in[2] == nil {
		return denseInt8Kernel(ctx, in, attrs)
	}
	x, w, ws, b := in[0], in[1], in[2], input(in, 3)
	xs, xz := input(in, 4), input(in, 5)
	mode := attrs.String("x_quant", "")
	ok := x.DType == ir.F32 && x.Rank() > 0 && w.DType == ir.I8 && w.Rank() == 2 && ws.DType == ir.F32 &&
		x.Shape[x.Rank()-1] == w.Shape[0] && (ws.Len() == 1 || ws.Len() == w.Shape[1]) &&
		(b == nil || b.DType == ir.F32 && b.Len() == w.Shape[1]) &&
		(xs == nil && xz == nil || xs != nil && xz != nil && xs.DType == ir.F32 && xs.Len() == 1 && xz.DType == ir.U8 && xz.Len() == 1) &&
		(mode == "" || mode == "tensor" || mode == "row")
	if _, known := activations[attrs.String("activation", "")]; !ok || !known {
		return denseInt8Kernel(ctx, in, attrs)
	}
	K, N := w.Shape[0], w.Shape[1]
	M := NumElems(x.Shape[:x.Rank()-1])
	xd := x.F32()
	a := make([]uint8, len(xd))
	quant := func(q []uint8, v []float32, scale float32, zp int32) {
		if scale == 0 { // DynamicQuantizeLinear's rule for an all-zero input
			clear(q)
			return
		}
		vec.QuantizeU8(q, v, scale, zp)
	}
	var aScale []float32
	var aZero []int32
	switch {
	case xs != nil:
		s, z := xs.F32()[0], int32(Elems[uint8](xz)[0])
		ctx.ParallelFor(len(xd), elemGrain, func(l, h int) { quant(a[l:h], xd[l:h], s, z) })
		aScale, aZero = []float32{s}, []int32{z}
	case mode == "row":
		aScale, aZero = make([]float32, M), make([]int32, M)
		ctx.ParallelFor(M, max(1, 4096/max(K, 1)), func(lo, hi int) {
			for r := lo; r < hi; r++ {
				row := xd[r*K:][:K]
				l, h := vec.MinMax(row)
				aScale[r], aZero[r] = dynScale(min(l, 0), max(h, 0))
				quant(a[r*K:][:K], row, aScale[r], aZero[r])
			}
		})
	default:
		l, h := vec.MinMax(xd)
		s, z := dynScale(min(l, 0), max(h, 0))
		ctx.ParallelFor(len(xd), elemGrain, func(l, h int) { quant(a[l:h], xd[l:h], s, z) })
		aScale, aZero = []float32{s}, []int32{z}
	}
	shape := append(append([]int{}, x.Shape[:x.Rank()-1]...), N)
	o := &Int8Operands{A: a, M: M, K: K, AScale: aScale, AZero: aZero, W: w, WScale: ws.F32(),
		Act: attrs.String("activation", ""), Y: New(ir.F32, shape...).F32()}
	if b != nil {
		o.Bias = b.F32()
	}
	if done, err := fastDenseInt8(ctx, o); err != nil || !done {
		if err != nil {
			return nil, fmt.Errorf("DenseInt8: %v", err)
		}
		return denseInt8Kernel(ctx, in, attrs)
	}
	return one(&Tensor{DType: ir.F32, Shape: shape, Data: o.Y}), nil
}
