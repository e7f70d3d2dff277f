package ops

import (
	"fmt"
	"math"

	"github.com/ciuic/ciuic/ir"
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
// statistics are accumulated in float64 exactly as in the LayerNormalization kernel, so
// the result equals LayerNormalization(Add(Add(X, Skip), Bias)) bit for bit.
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
	ctx.ParallelFor(rows, max(1, 4096/max(D, 1)), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			srow, xrow := ss[r*D:][:D], xs[r*D:][:D]
			if skipIdx == nil { // Skip's rows repeat: a contiguous row, no index array
				krow := ks[(r*D)%skipLen:][:D]
				for j := range srow {
					srow[j] = xrow[j] + krow[j]
				}
			} else {
				for j := range srow {
					srow[j] = xrow[j] + ks[skipIdx[r*D+j]]
				}
			}
			if bias != nil {
				for j := range srow {
					srow[j] += bias[j]
				}
			}
			mean, inv := meanInvStd(srow, eps)
			yrow := ys[r*D:][:D]
			if beta == nil {
				for j, v := range srow {
					yrow[j] = float32((float64(v) - mean) * inv * float64(gamma[j]))
				}
				continue
			}
			for j, v := range srow {
				yrow[j] = float32((float64(v)-mean)*inv*float64(gamma[j]) + float64(beta[j]))
			}
		}
	})
	if ctx.numOutputs() > 1 {
		return []*Tensor{y, sum}, nil
	}
	return one(y), nil
}

// meanInvStd returns the mean of row and 1/sqrt(variance + eps), accumulated in float64
// in the order of the LayerNormalization kernel.
func meanInvStd(row []float32, eps float64) (mean, inv float64) {
	// Four running sums, so the additions do not wait on each other (a single float64
	// chain runs at one add per four cycles); combined in a fixed order.
	var s [4]float64
	j := 0
	for ; j+4 <= len(row); j += 4 {
		s[0] += float64(row[j])
		s[1] += float64(row[j+1])
		s[2] += float64(row[j+2])
		s[3] += float64(row[j+3])
	}
	for ; j < len(row); j++ {
		s[0] += float64(row[j])
	}
	mean = ((s[0] + s[1]) + (s[2] + s[3])) / float64(len(row))
	var q [4]float64
	j = 0
	for ; j+4 <= len(row); j += 4 {
		d0, d1, d2, d3 := float64(row[j])-mean, float64(row[j+1])-mean, float64(row[j+2])-mean, float64(row[j+3])-mean
		q[0] += d0 * d0
		q[1] += d1 * d1
		q[2] += d2 * d2
		q[3] += d3 * d3
	}
	for ; j < len(row); j++ {
		d := float64(row[j]) - mean
		q[0] += d * d
	}
	sq := (q[0] + q[1]) + (q[2] + q[3])
	return mean, 1 / math.Sqrt(sq/float64(len(row))+eps)
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
