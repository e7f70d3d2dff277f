package ops

import (
	"math"

	"github.com/ciuic/ciuic/ir"
)

// Into-variants of ciuic.SkipLayerNorm and ciuic.RMSNorm: the arithmetic of
// ciuic_norm.go, row by row, into the caller's tensors. Both work one row at a time
// and read a row of every input before writing that row of an output, so each output
// may be the buffer of an input of its shape that dies at the node (in place).

func init() {
	RegisterInto(ir.CiuicDomain, "SkipLayerNorm", skipLayerNormInto, true, ir.F32)
	RegisterInto(ir.CiuicDomain, "RMSNorm", rmsNormInto, true, ir.F32)
}

// skipLN is one SkipLayerNorm call's operands.
type skipLN struct {
	xs, ks, gamma, beta, bias []float32
	ys, ss                    []float32 // ss nil: the sum is not an output
	D                         int
	eps                       float64
}

// rows computes rows [lo, hi). Without a sum output the sum is formed in y's row and
// normalised there, element by element, with the same float64 arithmetic.
func (s *skipLN) rows(lo, hi int) {
	D := s.D
	for r := lo; r < hi; r++ {
		// Skip is X's shape or a suffix of it (a positional table added to every batch
		// row): its row for X's row r is r modulo its own rows.
		xrow, krow, yrow := s.xs[r*D:][:D], s.ks[(r*D)%len(s.ks):][:D], s.ys[r*D:][:D]
		srow := yrow
		if s.ss != nil {
			srow = s.ss[r*D:][:D]
		}
		for j := range srow {
			v := xrow[j] + krow[j]
			if s.bias != nil {
				v += s.bias[j]
			}
			srow[j] = v
		}
		mean, inv := meanInvStd(srow, s.eps)
		for j, v := range srow {
			t := (float64(v) - mean) * inv * float64(s.gamma[j])
			if s.beta != nil {
				t += float64(s.beta[j])
			}
			yrow[j] = float32(t)
		}
	}
}

func skipLayerNormInto(ctx *KernelContext, in, out []*Tensor, attrs ir.Attrs) error {
	if len(in) < 3 || in[0] == nil || in[1] == nil || len(out) == 0 || out[0] == nil {
		return fallbackInto(ctx, skipLayerNormKernel, in, out, attrs)
	}
	x, skip, y := in[0], in[1], out[0]
	var sum *Tensor
	if len(out) > 1 {
		sum = out[1]
	}
	if x.DType != ir.F32 || skip.DType != ir.F32 || x.Rank() == 0 || skip.Rank() == 0 || !suffixOf(skip.Shape, x.Shape) ||
		skip.Len() == 0 || skip.Shape[skip.Rank()-1] != x.Shape[x.Rank()-1] ||
		y.DType != ir.F32 || !sameShape(y.Shape, x.Shape) || sum != nil && (sum.DType != ir.F32 || !sameShape(sum.Shape, x.Shape)) {
		return fallbackInto(ctx, skipLayerNormKernel, in, out, attrs) // other broadcasts, errors
	}
	const op = "SkipLayerNorm"
	D := x.Shape[x.Rank()-1]
	gamma, err := lastDimParam(op, "Gamma", in[2], D)
	if err != nil {
		return err
	}
	beta, err := lastDimParam(op, "Beta", input(in, 3), D)
	if err != nil {
		return err
	}
	bias, err := lastDimParam(op, "Bias", input(in, 4), D)
	if err != nil {
		return err
	}
	if gamma == nil {
		return fallbackInto(ctx, skipLayerNormKernel, in, out, attrs)
	}
	s := skipLN{xs: x.F32(), ks: skip.F32(), gamma: gamma, beta: beta, bias: bias, ys: y.F32(), D: D,
		eps: float64(attrs.Float("epsilon", 1e-5))}
	if sum != nil {
		s.ss = sum.F32()
	}
	rows := NumElems(x.Shape[:x.Rank()-1])
	grain := max(1, 4096/max(D, 1))
	if serial(ctx, rows, grain) {
		s.rows(0, rows)
		return nil
	}
	p := s // only the parallel path lets the operands escape into a closure
	ctx.ParallelFor(rows, grain, p.rows)
	return nil
}

// rmsN is one RMSNorm call's operands.
type rmsN struct {
	xs, ys, scale []float32
	D             int
	eps           float64
}

func (s *rmsN) rows(lo, hi int) {
	D := s.D
	for r := lo; r < hi; r++ {
		xrow, yrow := s.xs[r*D:][:D], s.ys[r*D:][:D]
		sq := 0.0
		for _, v := range xrow {
			sq += float64(v) * float64(v)
		}
		inv := 1 / math.Sqrt(sq/float64(D)+s.eps)
		for j, v := range xrow {
			yrow[j] = float32(float64(v) * inv * float64(s.scale[j]))
		}
	}
}

func rmsNormInto(ctx *KernelContext, in, out []*Tensor, attrs ir.Attrs) error {
	if len(in) < 2 || in[0] == nil || in[1] == nil || len(out) == 0 || out[0] == nil {
		return fallbackInto(ctx, rmsNormKernel, in, out, attrs)
	}
	x, y := in[0], out[0]
	if x.DType != ir.F32 || x.Rank() == 0 || y.DType != ir.F32 || !sameShape(y.Shape, x.Shape) {
		return fallbackInto(ctx, rmsNormKernel, in, out, attrs)
	}
	D := x.Shape[x.Rank()-1]
	scale, err := lastDimParam("RMSNorm", "Scale", in[1], D)
	if err != nil {
		return err
	}
	s := rmsN{xs: x.F32(), ys: y.F32(), scale: scale, D: D, eps: float64(attrs.Float("epsilon", 1e-5))}
	rows := NumElems(x.Shape[:x.Rank()-1])
	grain := max(1, 4096/max(D, 1))
	if serial(ctx, rows, grain) {
		s.rows(0, rows)
		return nil
	}
	p := s
	ctx.ParallelFor(rows, grain, p.rows)
	return nil
}
