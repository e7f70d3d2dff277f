package ops

import (
	"fmt"
	"math"

	"github.com/ciuic/ciuic/ir"
)

// ciuic.DenseInt8: the integer matrix product that passes/quantize makes from QDQ
// patterns and from onnxruntime's DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul.

func init() {
	Register(ir.CiuicDomain, "DenseInt8", denseInt8Kernel, ir.F32, ir.U8, ir.I8)
}

// Int8Operands is one DenseInt8 product after X has been quantized: A (u8, M×K, row
// major) with per-tensor (len 1) or per-row (len M) scales and zero points, W (i8, K×N)
// with per-tensor (len 1) or per-column (len N) scales, an optional bias and an
// activation (one of ir.DenseActivations). Y (f32, M×N) receives
//
//	Y[m, n] = act(float32(Σ_k (A[m,k] - AZero[m]) · W[k,n]) · (AScale[m] · WScale[n]) + Bias[n])
//
// with the sum exact in int32 and the scale product rounded to float32 first, which is
// what onnxruntime's Cast -> Mul(scale) -> Add(bias) computes.
type Int8Operands struct {
	A      []uint8
	M, K   int
	AScale []float32
	AZero  []int32
	W      *Tensor // i8 [K, N]; the constant weight, stable across calls (may be pre-packed)
	WScale []float32
	Bias   []float32
	Act    string
	Y      []float32
}

// Int8Gemm is the fast path of DenseInt8: it computes o.Y and returns true, or returns
// false (without touching o.Y) for operands it does not handle, and the reference loop
// runs instead. A SIMD int8 GEMM (VNNI, AVX2) installs itself with SetInt8Gemm.
type Int8Gemm func(ctx *KernelContext, o *Int8Operands) (bool, error)

var int8Gemm Int8Gemm

// SetInt8Gemm installs the fast int8 product used by ciuic.DenseInt8 (nil: reference only).
func SetInt8Gemm(f Int8Gemm) { int8Gemm = f }

func denseInt8Kernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 3); err != nil {
		return nil, err
	}
	x, w, ws, b := in[0], in[1], in[2], input(in, 3)
	xs, xz := input(in, 4), input(in, 5)
	preq := x.DType == ir.U8 || x.DType == ir.I8 // X already quantized (QLinearMatMul): XScale/XZero give its grid
	if x.DType != ir.F32 && !(preq && xz != nil && xz.DType == x.DType) || w.DType != ir.I8 || w.Rank() != 2 || ws.DType != ir.F32 {
		return nil, fmt.Errorf("DenseInt8: want X f32, W 2-D i8, WScale f32; got %s%v, %s%v, %s%v", x.DType, x.Shape, w.DType, w.Shape, ws.DType, ws.Shape)
	}
	K, N := w.Shape[0], w.Shape[1]
	if x.Rank() == 0 || x.Shape[x.Rank()-1] != K {
		return nil, fmt.Errorf("DenseInt8: X %v does not end in K=%d (W %v)", x.Shape, K, w.Shape)
	}
	if ws.Len() != 1 && ws.Len() != N {
		return nil, fmt.Errorf("DenseInt8: WScale has %d elements, want 1 or %d", ws.Len(), N)
	}
	if b != nil && (b.DType != ir.F32 || b.Len() != N) {
		return nil, fmt.Errorf("DenseInt8: B %s%v must be f32[%d]", b.DType, b.Shape, N)
	}
	if (xs == nil) != (xz == nil) || (xs != nil && (xs.DType != ir.F32 || xs.Len() != 1 || xz.DType != ir.U8 && !preq || xz.Len() != 1)) {
		return nil, fmt.Errorf("DenseInt8: XScale and XZero must both be given, as f32 and u8 scalars")
	}
	act := attrs.String("activation", "")
	actFn, err := denseActivation(act)
	if err != nil {
		return nil, err
	}
	shape := append(append([]int{}, x.Shape[:x.Rank()-1]...), N)
	M := NumElems(shape[:len(shape)-1])
	o := &Int8Operands{M: M, K: K, W: w, WScale: ws.F32(), Act: act, Y: New(ir.F32, shape...).F32()}
	if b != nil {
		o.Bias = b.F32()
	}
	switch {
	case x.DType == ir.U8:
		o.A, o.AScale, o.AZero = Elems[uint8](x), []float32{xs.F32()[0]}, []int32{int32(Elems[uint8](xz)[0])}
	case x.DType == ir.I8: // the same grid shifted by 128: (x+128) - (z+128) = x - z
		a := make([]uint8, x.Len())
		for i, v := range Elems[int8](x) {
			a[i] = uint8(v) ^ 0x80
		}
		o.A, o.AScale, o.AZero = a, []float32{xs.F32()[0]}, []int32{int32(Elems[int8](xz)[0]) + 128}
	case xs != nil:
		o.A, o.AScale, o.AZero = QuantizeU8(ctx, x.F32(), xs.F32()[0], int32(Elems[uint8](xz)[0]))
	case attrs.String("x_quant", "") == "row":
		o.A, o.AScale, o.AZero = DynamicQuantizeRowsU8(ctx, x.F32(), M, K)
	default:
		o.A, o.AScale, o.AZero = DynamicQuantizeU8(ctx, x.F32())
	}
	if int8Gemm != nil {
		done, err := int8Gemm(ctx, o)
		if err != nil {
			return nil, fmt.Errorf("DenseInt8: %v", err)
		}
		if done {
			return one(&Tensor{DType: ir.F32, Shape: shape, Data: o.Y}), nil
		}
	}
	grain := max(1, (1<<16)/max(1, K*N))
	ctx.ParallelFor(M, grain, func(lo, hi int) { int8Rows(o, actFn, lo, hi) })
	return one(&Tensor{DType: ir.F32, Shape: shape, Data: o.Y}), nil
}

// int8Rows is the reference product for rows [lo, hi) of o.
func int8Rows(o *Int8Operands, act func(float32) float32, lo, hi int) {
	K := o.K
	N := o.W.Shape[1]
	w := Elems[int8](o.W)
	acc := make([]int32, N)
	for r := lo; r < hi; r++ {
		a := o.A[r*K:][:K]
		zi := 0
		if len(o.AZero) > 1 {
			zi = r
		}
		z, sa := o.AZero[zi], o.AScale[zi]
		clear(acc)
		for k, av := range a {
			xv := int32(av) - z
			if xv == 0 {
				continue
			}
			wrow := w[k*N:][:N]
			acc := acc[:len(wrow)]
			for j, wv := range wrow {
				acc[j] += xv * int32(wv)
			}
		}
		y := o.Y[r*N:][:N]
		for j, s := range acc {
			sw := o.WScale[0]
			if len(o.WScale) > 1 {
				sw = o.WScale[j]
			}
			v := float32(s) * (sa * sw)
			if o.Bias != nil {
				v += o.Bias[j]
			}
			if act != nil {
				v = act(v)
			}
			y[j] = v
		}
	}
}

// DynamicQuantizeU8 quantizes x to u8 over [min(0, x), max(0, x)] exactly as ONNX's
// DynamicQuantizeLinear does (scale and division in float32, round half to even), and
// returns the data with its scale and zero point (one each).
func DynamicQuantizeU8(ctx *KernelContext, x []float32) ([]uint8, []float32, []int32) {
	lo, hi := float32(0), float32(0)
	for _, v := range x {
		lo, hi = min(lo, v), max(hi, v)
	}
	scale, zp := dynScale(lo, hi)
	q, _, _ := QuantizeU8(ctx, x, scale, zp)
	return q, []float32{scale}, []int32{zp}
}

// DynamicQuantizeRowsU8 is DynamicQuantizeU8 applied to each row of x (M rows of K):
// one scale and zero point per row, so one outlier row does not coarsen the others.
func DynamicQuantizeRowsU8(ctx *KernelContext, x []float32, M, K int) ([]uint8, []float32, []int32) {
	q := make([]uint8, len(x))
	scales, zps := make([]float32, M), make([]int32, M)
	ctx.ParallelFor(M, max(1, 4096/max(K, 1)), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			row := x[r*K:][:K]
			l, h := float32(0), float32(0)
			for _, v := range row {
				l, h = min(l, v), max(h, v)
			}
			scales[r], zps[r] = dynScale(l, h)
			quantizeInto(q[r*K:][:K], row, scales[r], zps[r])
		}
	})
	return q, scales, zps
}

func dynScale(lo, hi float32) (float32, int32) {
	scale := (hi - lo) / 255
	if scale == 0 {
		return 0, 0
	}
	zp := min(max(roundHalfEven(float64(-lo/scale)), 0), 255)
	return scale, int32(zp)
}

// QuantizeU8 quantizes x with a given scale and zero point: saturate(round(x/scale) + zp).
// A zero scale maps everything to 0 (DynamicQuantizeLinear's rule for all-zero input).
func QuantizeU8(ctx *KernelContext, x []float32, scale float32, zp int32) ([]uint8, []float32, []int32) {
	q := make([]uint8, len(x))
	ctx.ParallelFor(len(x), 1<<14, func(lo, hi int) { quantizeInto(q[lo:hi], x[lo:hi], scale, zp) })
	return q, []float32{scale}, []int32{zp}
}

func quantizeInto(q []uint8, x []float32, scale float32, zp int32) {
	if scale == 0 {
		clear(q)
		return
	}
	fz := float32(zp)
	for i, v := range x {
		// math.RoundToEven on the f32 quotient matches the ONNX reference.
		r := float32(math.RoundToEven(float64(v/scale))) + fz
		q[i] = uint8(min(max(r, 0), 255))
	}
}

// HasFastInt8 reports whether a SIMD int8 GEMM is installed for ciuic.DenseInt8.
func HasFastInt8() bool { return int8Gemm != nil }
