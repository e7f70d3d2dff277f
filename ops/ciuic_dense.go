package ops

import (
	"fmt"
	"math"

	"github.com/ciuic/ciuic/ir"
)

// Reference kernels of the ciuic domain (docs/ops.md). They register through Register,
// the same public API a user's custom operator uses.

func init() {
	Register(ir.CiuicDomain, "Dense", denseKernel, ir.F32)
}

// ciuic.Dense(X[..., K], W[K, N], B[N]?) {activation} = act(X @ W + B).
//
// Rows of the output are computed in blocks: the matrix product of a block of rows
// (denseRows), then the epilogue (bias and activation) on those rows while they are
// still in cache. Each element goes through exactly the steps of MatMul, Add and the
// activation's ONNX op with the reference kernels (float32 sum over k in order, float32
// add, activation in float64 rounded once), so the two agree bit for bit.
func denseKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 2); err != nil {
		return nil, err
	}
	x, w, b := in[0], in[1], input(in, 2)
	for i, t := range []*Tensor{x, w, b} {
		if t != nil && t.DType != ir.F32 {
			return nil, fmt.Errorf("Dense: input %d is %s, want f32", i, t.DType)
		}
	}
	if w.Rank() != 2 {
		return nil, fmt.Errorf("Dense: W must be 2-D, got %v", w.Shape)
	}
	K, N := w.Shape[0], w.Shape[1]
	if x.Rank() == 0 || x.Shape[x.Rank()-1] != K {
		return nil, fmt.Errorf("Dense: X %v does not end in K=%d (W %v)", x.Shape, K, w.Shape)
	}
	if b != nil && (b.Rank() != 1 || b.Shape[0] != N) {
		return nil, fmt.Errorf("Dense: B %v must be [%d]", b.Shape, N)
	}
	act, err := denseActivation(attrs.String("activation", ""))
	if err != nil {
		return nil, err
	}
	shape := append(append([]int{}, x.Shape[:x.Rank()-1]...), N)
	y := New(ir.F32, shape...)
	M := NumElems(shape[:len(shape)-1])
	xs, ws, ys := x.F32(), w.F32(), y.F32()
	var bias []float32
	if b != nil {
		bias = b.F32()
	}
	grain := max(1, (1<<16)/max(1, K*N))
	ctx.ParallelFor(M, grain, func(lo, hi int) {
		denseRows(xs, ws, ys, K, N, lo, hi)
		denseEpilogue(ys[lo*N:hi*N], N, bias, act)
	})
	return one(y), nil
}

// denseRows computes rows [lo, hi) of y[M×N] = x[M×K] · w[K×N], each element summed over
// k in order in float32, as the reference MatMul does. It is the one place Dense does a
// matrix product: a faster GEMM replaces this function's body.
func denseRows(x, w, y []float32, K, N, lo, hi int) {
	for r := lo; r < hi; r++ {
		xrow := x[r*K:][:K]
		yrow := y[r*N:][:N]
		clear(yrow)
		for k, xv := range xrow {
			wrow := w[k*N:][:N]
			for j, wv := range wrow {
				yrow[j] += xv * wv
			}
		}
	}
}

// denseEpilogue adds the bias (if any) to each row of y (rows of n) and applies act
// (if any) in place.
func denseEpilogue(y []float32, n int, bias []float32, act func(float32) float32) {
	if bias != nil {
		for r := 0; r+n <= len(y); r += n {
			row := y[r:][:n]
			for j, bv := range bias {
				row[j] += bv
			}
		}
	}
	if act != nil {
		for i, v := range y {
			y[i] = act(v)
		}
	}
}

// denseActivation returns Dense's activation as the element function of the ONNX op it
// stands for (nil for none), built from the reference kernels' functions.
func denseActivation(name string) (func(float32) float32, error) {
	round := func(f func(float64) float64) func(float32) float32 {
		return func(v float32) float32 { return float32(f(float64(v))) }
	}
	gelu := func(approx string) func(float32) float32 {
		f, err := floatUnaries["Gelu"](ir.Attrs{"approximate": ir.StringAttr(approx)})
		if err != nil {
			panic(err) // both approximations exist: a broken invariant
		}
		return round(f)
	}
	switch name {
	case "":
		return nil, nil
	case "relu":
		return round(numUnaries["Relu"]), nil
	case "gelu":
		return gelu("none"), nil
	case "gelu_tanh":
		return gelu("tanh"), nil
	case "sigmoid":
		return round(sigmoid), nil
	case "tanh":
		return round(math.Tanh), nil
	case "silu":
		// Mul(x, Sigmoid(x)): the sigmoid is rounded to float32 first, like the ONNX ops.
		return func(v float32) float32 { return v * float32(sigmoid(float64(v))) }, nil
	}
	return nil, fmt.Errorf("Dense: unknown activation %q (want one of %q)", name, ir.DenseActivations)
}
