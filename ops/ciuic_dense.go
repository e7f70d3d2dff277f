package ops

import (
	"fmt"
	"math"
	"strings"

	"github.com/ciuic/ciuic/ir"
	"github.com/ciuic/ciuic/ops/internal/gemm"
)

// Reference kernels of the ciuic domain (docs/ops.md). They register through Register,
// the same public API a user's custom operator uses.

func init() {
	Register(ir.CiuicDomain, "Dense", denseKernel, ir.F32)
}

// ciuic.Dense(X[..., K], W[K, N], B[N]?) {activation} = act(X @ W + B).
//
// It runs on the packed GEMM (DenseInto): W's panels come from Prepack (done once per
// session for constant weights) or are packed per call, and the bias and activation are
// applied to each output tile as it is finished, with the float32 approximations of
// package vec for the activations (1e-6 relative). Results agree with MatMul, Add and
// the activation's reference kernel within 1e-5 relative, and do not depend on the
// worker count.
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
	shape := append(append([]int{}, x.Shape[:x.Rank()-1]...), N)
	y := New(ir.F32, shape...)
	if err := DenseInto(ctx, x, w, b, attrs.String("activation", ""), y.F32()); err != nil {
		return nil, err
	}
	return one(y), nil
}

// DenseInto computes ciuic.Dense into y (len M·N, row-major): y = act(x·w + b) for x
// f32 [..., K], w f32 [K, N] (prepacked if Prepack was called on it), b f32 [N] or nil.
// Kernels writing into a caller's buffer call it to get exactly denseKernel's result.
func DenseInto(ctx *KernelContext, x, w, b *Tensor, act string, y []float32) error {
	K, N := w.Shape[0], w.Shape[1]
	M := NumElems(x.Shape[:x.Rank()-1])
	if len(y) != M*N {
		return fmt.Errorf("Dense: output has %d elements, want %d", len(y), M*N)
	}
	epi, err := epilogue(b, act, N)
	if err != nil {
		return fmt.Errorf("Dense: %v", strings.TrimPrefix(err.Error(), "Gemm: "))
	}
	if M == 0 || N == 0 {
		return nil
	}
	p := packedFor(ctx, w)
	if p == nil {
		p = pack(ctx, w.F32(), K, N, N, false)
	}
	gemm.Mul(par(ctx), gemm.A{Data: x.F32(), M: M, LD: K}, p.p, gemm.C{Data: y, LD: N}, orNil(&epi))
	return nil
}

// denseRows and denseEpilogue are the reference Dense, kept for comparison: the
// matrix product of rows [lo, hi) summed over k in order in float32, then the bias and
// the activation in float64 as MatMul, Add and the activation's ONNX op compute them.

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
