package ops

import (
	"fmt"
	"math"

	"github.com/ciuic/ciuic/ir"
	"github.com/ciuic/ciuic/ops/internal/vec"
)

func init() {
	Register(ir.CiuicDomain, "SkipLayerNorm", skipLayerNormKernel, ir.F32)
	Register(ir.CiuicDomain, "RMSNorm", rmsNormKernel, ir.F32)
}

// lastDimParam checks that t is an f32 vector of d elements and returns its data (nil for
// an omitted input).
func lastDimParam(op, name string, t *Tensor, d int) ([]float32, error) {
	if t == nil {
		return nil, nil
	}
	if t.DType != ir.F32 {
		return nil, fmt.Errorf("%s: %s is %s, want f32", op, name, t.DType)
	}
	if t.Rank() != 1 || t.Shape[0] != d {
		return nil, fmt.Errorf("%s: %s %v must be [%d], the last dim of X", op, name, t.Shape, d)
	}
	return t.F32(), nil
}

// ciuic.SkipLayerNorm(X, Skip, Gamma, Beta?, Bias?) {epsilon}: s = X + Skip (+ Bias) in
// float32, y = LayerNormalization(s) over the last dim with scale Gamma and bias Beta.
// Output 0 is y, the optional output 1 is s. The sums are float32 additions and the
// normalization is the fast LayerNormalization kernel's (LayerNormRow's vec row
// kernels, the sum formed in the same pass as its statistics), so the result equals
// LayerNormalization(Add(Add(X, Skip), Bias)) bit for bit.
func skipLayerNormKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	const op = "SkipLayerNorm"
	if err := need(in, 3); err != nil {
		return nil, err
	}
	x, skip := in[0], in[1]
	if x.DType != ir.F32 || skip.DType != ir.F32 {
		return nil, fmt.Errorf("%s: X and Skip must be f32, got %s and %s", op, x.DType, skip.DType)
	}
	if x.Rank() == 0 {
		return nil, fmt.Errorf("%s: X must have rank >= 1", op)
	}
	if s, err := broadcastShapes(x.Shape, skip.Shape); err != nil || !sameShape(s, x.Shape) {
		return nil, fmt.Errorf("%s: Skip %v does not broadcast to X %v", op, skip.Shape, x.Shape)
	}
	D := x.Shape[x.Rank()-1]
	gamma, err := lastDimParam(op, "Gamma", in[2], D)
	if err != nil {
		return nil, err
	}
	beta, err := lastDimParam(op, "Beta", input(in, 3), D)
	if err != nil {
		return nil, err
	}
	bias, err := lastDimParam(op, "Bias", input(in, 4), D)
	if err != nil {
		return nil, err
	}
	eps := float64(attrs.Float("epsilon", 1e-5))

	xs, ks := x.F32(), skip.F32()
	// Skip is read at skipIdx[i], or at i modulo its length when it has X's shape or
	// broadcasts along leading dims only (a positional table added to every batch).
	var skipIdx []int
	if !suffixOf(skip.Shape, x.Shape) {
		skipIdx = bcastIndex(x.Shape, skip.Shape)
	}
	skipLen := max(1, len(ks))
	y, sum := New(ir.F32, x.Shape...), New(ir.F32, x.Shape...)
	ys, ss := y.F32(), sum.F32()
	rows := NumElems(x.Shape[:x.Rank()-1])
	ctx.ParallelFor(rows, rowGrain(D), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			srow, xrow := ss[r*D:][:D], xs[r*D:][:D]
			var sum, sq float64
			if skipIdx == nil { // Skip's rows repeat: a contiguous row, no index array
				sum, sq = vec.AddSumSq(srow, xrow, ks[(r*D)%skipLen:][:D], bias)
			} else {
				for j := range srow {
					srow[j] = xrow[j] + ks[skipIdx[r*D+j]]
				}
				if bias != nil {
					for j := range srow {
						srow[j] += bias[j]
					}
				}
				sum, sq = vec.SumSq(srow)
			}
			mean, inv := rowMeanInv(sum, sq, D, eps)
			vec.Normalize(ys[r*D:][:D], srow, mean, inv, gamma, beta)
		}
	})
	if ctx.numOutputs() > 1 {
		return []*Tensor{y, sum}, nil
	}
	return one(y), nil
}

// ciuic.RMSNorm(X, Scale) {epsilon}: y = X / sqrt(mean(X², last dim) + epsilon) * Scale,
// accumulated in float64 and rounded once.
func rmsNormKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	const op = "RMSNorm"
	if err := need(in, 2); err != nil {
		return nil, err
	}
	x := in[0]
	if x.DType != ir.F32 {
		return nil, fmt.Errorf("%s: X is %s, want f32", op, x.DType)
	}
	if x.Rank() == 0 {
		return nil, fmt.Errorf("%s: X must have rank >= 1", op)
	}
	D := x.Shape[x.Rank()-1]
	scale, err := lastDimParam(op, "Scale", in[1], D)
	if err != nil {
		return nil, err
	}
	eps := float64(attrs.Float("epsilon", 1e-5))
	y := New(ir.F32, x.Shape...)
	xs, ys := x.F32(), y.F32()
	rows := NumElems(x.Shape[:x.Rank()-1])
	ctx.ParallelFor(rows, max(1, 4096/max(D, 1)), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			xrow, yrow := xs[r*D:][:D], ys[r*D:][:D]
			sq := 0.0
			for _, v := range xrow {
				sq += float64(v) * float64(v)
			}
			inv := 1 / math.Sqrt(sq/float64(D)+eps)
			for j, v := range xrow {
				yrow[j] = float32(float64(v) * inv * float64(scale[j]))
			}
		}
	})
	return one(y), nil
}
