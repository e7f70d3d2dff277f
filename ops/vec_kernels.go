package ops

import (
	"fmt"
	"math"

	"github.com/ciuic/ciuic/ir"
	"github.com/ciuic/ciuic/ops/internal/vec"
)

// Fast f32 kernels on package vec: the unary activations, Softmax, LayerNormalization
// and ciuic.RMSNorm. They agree with the float64 reference kernels within 1e-6
// relative (vec's approximations; see vec_kernels_test.go) and give the same result
// for any worker count (each element's value depends only on its inputs, each row's on
// that row). Other dtypes and layouts go to the reference kernels.

// vecUnaries picks the vec function of each fast unary op from its attributes.
var vecUnaries = map[string]func(ir.Attrs) (func(dst, src []float32), error){
	"Exp":     func(ir.Attrs) (func(dst, src []float32), error) { return vec.Exp, nil },
	"Erf":     func(ir.Attrs) (func(dst, src []float32), error) { return vec.Erf, nil },
	"Tanh":    func(ir.Attrs) (func(dst, src []float32), error) { return vec.Tanh, nil },
	"Sigmoid": func(ir.Attrs) (func(dst, src []float32), error) { return vec.Sigmoid, nil },
	"Gelu": func(a ir.Attrs) (func(dst, src []float32), error) {
		switch approx := a.String("approximate", "none"); approx {
		case "none":
			return vec.Gelu, nil
		case "tanh":
			return vec.GeluTanh, nil
		default:
			return nil, fmt.Errorf("Gelu: approximate must be \"none\" or \"tanh\", got %q", approx)
		}
	},
}

// vecUnaryInto is the into-form of a fast unary op; anything but f32 in and out of
// one shape goes to the reference kernel.
func vecUnaryInto(name string) KernelInto {
	pick := vecUnaries[name]
	ref := floatUnaryKernel(name, floatUnaries[name])
	return func(ctx *KernelContext, in, out []*Tensor, attrs ir.Attrs) error {
		if err := need(in, 1); err != nil {
			return err
		}
		x, o := in[0], out[0]
		if x.DType != ir.F32 || o.DType != ir.F32 || !sameShape(x.Shape, o.Shape) {
			return fallbackInto(ctx, ref, in, out, attrs)
		}
		f, err := pick(attrs)
		if err != nil {
			return err
		}
		xs, zs := x.F32(), o.F32()
		if serial(ctx, len(zs), elemGrain) {
			f(zs, xs)
			return nil
		}
		j := elemJobs.Get().(*elemJob)
		j.x, j.z, j.vecf = xs, zs, f
		j.run(ctx, len(zs), j.vecFn)
		return nil
	}
}

// vecUnaryKernel is the allocating form of vecUnaryInto.
func vecUnaryKernel(name string) Kernel {
	into := vecUnaryInto(name)
	ref := floatUnaryKernel(name, floatUnaries[name])
	return func(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
		if err := need(in, 1); err != nil {
			return nil, err
		}
		if in[0].DType != ir.F32 {
			return ref(ctx, in, attrs)
		}
		y := New(ir.F32, in[0].Shape...)
		if err := into(ctx, in, []*Tensor{y}, attrs); err != nil {
			return nil, err
		}
		return one(y), nil
	}
}

// fastSoftmaxKernel is Softmax over a last (innermost) axis of f32: per row, the max
// subtracted, vec.Exp, the sum in float64 in order, and one scale by its reciprocal.
func fastSoftmaxKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	x := in[0]
	if x.DType != ir.F32 || x.Rank() == 0 {
		return softmaxKernel(false)(ctx, in, attrs)
	}
	axis, err := normAxis(attrs.Int("axis", -1), x.Rank())
	if err != nil || NumElems(x.Shape[axis+1:]) != 1 {
		return softmaxKernel(false)(ctx, in, attrs)
	}
	D := x.Shape[axis]
	y := New(ir.F32, x.Shape...)
	xs, ys := x.F32(), y.F32()
	rows := NumElems(x.Shape[:axis])
	if D == 0 {
		return one(y), nil
	}
	ctx.ParallelFor(rows, rowGrain(D), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			SoftmaxRow(ys[r*D:][:D], xs[r*D:][:D])
		}
	})
	return one(y), nil
}

// SoftmaxRow sets dst = softmax(src) (one row, f32; dst may be src) with vec.Softmax:
// the row maximum subtracted, e^x, one multiply by the reciprocal of the sum.
func SoftmaxRow(dst, src []float32) { vec.Softmax(dst, src) }

// rowParam returns t's data if it is f32 with D elements all along its last axis
// (shape [D] or [1, ..., D]), else nil.
func rowParam(t *Tensor, D int) ([]float32, bool) {
	if t == nil {
		return nil, true
	}
	if t.DType != ir.F32 || t.Len() != D || (t.Rank() > 0 && t.Shape[t.Rank()-1] != D) {
		return nil, false
	}
	return t.F32(), true
}

// fastLayerNormKernel is LayerNormalization of f32 over the last axis with per-column
// scale and bias and only output Y, by LayerNormRow.
func fastLayerNormKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 2); err != nil {
		return nil, err
	}
	x := in[0]
	axis, err := normAxis(attrs.Int("axis", -1), x.Rank())
	if x.DType != ir.F32 || err != nil || axis != x.Rank()-1 || ctx.numOutputs() > 1 {
		return layerNormKernel(ctx, in, attrs)
	}
	D := x.Shape[axis]
	scale, ok1 := rowParam(in[1], D)
	bias, ok2 := rowParam(input(in, 2), D)
	if !ok1 || !ok2 || scale == nil {
		return layerNormKernel(ctx, in, attrs)
	}
	eps := float64(attrs.Float("epsilon", 1e-5))
	y := New(ir.F32, x.Shape...)
	layerNormRows(ctx, y.F32(), x.F32(), scale, bias, D, eps)
	return one(y), nil
}

// LayerNormRow sets dst = (src - mean)/sqrt(var + eps)·scale + bias for one row (bias
// may be nil; dst may be src): the statistics by rowMeanInv, the normalization in
// float64 rounded once (vec.Normalize).
func LayerNormRow(dst, src, scale, bias []float32, eps float64) {
	s, q := vec.SumSq(src)
	mean, inv := rowMeanInv(s, q, len(src), eps)
	vec.Normalize(dst, src, mean, inv, scale, bias)
}

// rowMeanInv returns the mean and 1/sqrt(variance + eps) of a row of n elements from its
// float64 sum and sum of squares (vec.SumSq). The one-pass variance q/n - mean² loses
// about mean²/var·2^-53 of its relative accuracy to cancellation: for float32 data
// whose mean is under 10^5 standard deviations, still far below float32's resolution.
// The normalizations agree with the two-pass float64 reference within 1e-5 relative
// (vec_kernels_test.go), and with each other bit for bit.
func rowMeanInv(s, q float64, n int, eps float64) (mean, inv float64) {
	if n == 0 {
		return 0, 0
	}
	mean = s / float64(n)
	v := max(q/float64(n)-float64(mean*mean), 0) // the conversion keeps mean² rounded (no fused multiply-add)
	return mean, 1 / math.Sqrt(v+eps)
}

// rmsInv returns 1/sqrt(mean(x²) + eps) from a row's sum of squares.
func rmsInv(q float64, n int, eps float64) float64 {
	if n == 0 {
		return 0
	}
	return 1 / math.Sqrt(q/float64(n)+eps)
}

// RMSNormRow sets dst = src/sqrt(mean(src²) + eps)·scale for one row (dst may be src).
func RMSNormRow(dst, src, scale []float32, eps float64) {
	_, q := vec.SumSq(src)
	vec.Normalize(dst, src, 0, rmsInv(q, len(src), eps), scale, nil)
}

// fastRMSNormKernel is ciuic.RMSNorm by RMSNormRow.
func fastRMSNormKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 2); err != nil {
		return nil, err
	}
	x := in[0]
	if x.DType != ir.F32 || x.Rank() == 0 {
		return rmsNormKernel(ctx, in, attrs)
	}
	D := x.Shape[x.Rank()-1]
	scale, err := lastDimParam("RMSNorm", "Scale", in[1], D)
	if err != nil {
		return nil, err
	}
	eps := float64(attrs.Float("epsilon", 1e-5))
	y := New(ir.F32, x.Shape...)
	rmsNormRows(ctx, y.F32(), x.F32(), scale, D, eps)
	return one(y), nil
}
