package ops

import (
	"github.com/ciuic/ciuic/ir"
	"github.com/ciuic/ciuic/ops/internal/vec"
)

// Into-variants of ciuic.SkipLayerNorm and ciuic.RMSNorm: the arithmetic of
// ciuic_norm.go and vec_kernels.go, row by row, into the caller's tensors. Both work one row at a time
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

// rows computes rows [lo, hi) with the arithmetic of skipLayerNormKernel. Without a
// sum output the sum is formed in y's row and normalised there.
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
		sum, sq := vec.AddSumSq(srow, xrow, krow, s.bias)
		mean, inv := rowMeanInv(sum, sq, D, s.eps)
		vec.Normalize(yrow, srow, mean, inv, s.gamma, s.beta)
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
		RMSNormRow(s.ys[r*D:][:D], s.xs[r*D:][:D], s.scale, s.eps)
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
