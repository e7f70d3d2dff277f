package ops

import (
	"fmt"

	"github.com/ciuic/ciuic/ir"
)

func init() {
	Register("", "MatMul", matmulKernel, numericTypes...)
	Register("", "Gemm", gemmKernel, numericTypes...)
}

func matmulKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 2); err != nil {
		return nil, err
	}
	out, err := MatMul(ctx, in[0], in[1])
	if err != nil {
		return nil, err
	}
	return one(out), nil
}

// MatMul multiplies like numpy.matmul: the last two dims are the matrices, leading dims
// broadcast, and a 1-D operand is a row (a) or column (b) vector whose dim is dropped
// from the result.
func MatMul(ctx *KernelContext, a, b *Tensor) (*Tensor, error) {
	if err := sameDType("MatMul", a, b); err != nil {
		return nil, err
	}
	if a.Rank() == 0 || b.Rank() == 0 {
		return nil, fmt.Errorf("MatMul: operands must have rank >= 1, got %v and %v", a.Shape, b.Shape)
	}
	if a.DType == ir.F16 || a.DType == ir.BF16 {
		return viaF32(a.DType, func(t ...*Tensor) (*Tensor, error) { return MatMul(ctx, t[0], t[1]) }, a, b)
	}
	mm, err := matmulShape(a, b)
	if err != nil {
		return nil, err
	}
	M, K, N, batch, abatch, bbatch, shape := mm.M, mm.K, mm.N, mm.batch, mm.abatch, mm.bbatch, mm.shape
	out, err := newTensor(a.DType, shape)
	if err != nil {
		return nil, err
	}
	ai, bi := bcastIndex(batch, abatch), bcastIndex(batch, bbatch)
	g := mmGeom{M: M, K: K, N: N, aIdx: ai, bIdx: bi}
	switch a.DType {
	case ir.F32:
		matmulT(ctx, g, a.F32(), b.F32(), out.F32())
	case ir.F64:
		matmulT(ctx, g, Elems[float64](a), Elems[float64](b), Elems[float64](out))
	case ir.I8:
		matmulT(ctx, g, Elems[int8](a), Elems[int8](b), Elems[int8](out))
	case ir.I16:
		matmulT(ctx, g, Elems[int16](a), Elems[int16](b), Elems[int16](out))
	case ir.I32:
		matmulT(ctx, g, Elems[int32](a), Elems[int32](b), Elems[int32](out))
	case ir.I64:
		matmulT(ctx, g, Elems[int64](a), Elems[int64](b), Elems[int64](out))
	case ir.U8:
		matmulT(ctx, g, Elems[uint8](a), Elems[uint8](b), Elems[uint8](out))
	case ir.U16:
		matmulT(ctx, g, Elems[uint16](a), Elems[uint16](b), Elems[uint16](out))
	case ir.U32:
		matmulT(ctx, g, Elems[uint32](a), Elems[uint32](b), Elems[uint32](out))
	case ir.U64:
		matmulT(ctx, g, Elems[uint64](a), Elems[uint64](b), Elems[uint64](out))
	default:
		return nil, fmt.Errorf("MatMul: unsupported dtype %s", a.DType)
	}
	return out, nil
}

// mmGeom describes a batched matmul: batch item i multiplies a's matrix aIdx[i] (M×K)
// by b's matrix bIdx[i] (K×N).
type mmGeom struct {
	M, K, N    int
	aIdx, bIdx []int
}

// matmulT splits rows across workers; each output element is accumulated over k in
// order whatever the split, so results do not depend on the worker count.
func matmulT[T Number](ctx *KernelContext, g mmGeom, a, b, c []T) {
	M, K, N := g.M, g.K, g.N
	rows := len(g.aIdx) * M
	grain := max(1, (1<<16)/max(1, K*N))
	ctx.ParallelFor(rows, grain, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			bi, i := r/M, r%M
			arow := a[(g.aIdx[bi]*M+i)*K:][:K]
			bm := b[g.bIdx[bi]*K*N:]
			crow := c[r*N:][:N]
			for j := range crow {
				crow[j] = 0
			}
			for k, av := range arow {
				brow := bm[k*N:][:N]
				for j, bv := range brow {
					crow[j] += av * bv
				}
			}
		}
	})
}

// Gemm: Y = alpha * A' * B' + beta * C, with A' = transA ? Aᵀ : A (likewise B), and C
// optional and broadcast to (M, N).
func gemmKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 2); err != nil {
		return nil, err
	}
	a, b, c := in[0], in[1], input(in, 2)
	if a.Rank() != 2 || b.Rank() != 2 {
		return nil, fmt.Errorf("Gemm: A and B must be 2-D, got %v and %v", a.Shape, b.Shape)
	}
	if attrs.Int("transA", 0) != 0 {
		a = Transpose(a, []int{1, 0})
	}
	if attrs.Int("transB", 0) != 0 {
		b = Transpose(b, []int{1, 0})
	}
	y, err := MatMul(ctx, a, b)
	if err != nil {
		return nil, fmt.Errorf("Gemm: %v", err)
	}
	if alpha := attrs.Float("alpha", 1); alpha != 1 {
		s, _ := Cast(Scalar(alpha), y.DType)
		if y, err = arith(ctx, "Mul", y, s); err != nil {
			return nil, err
		}
	}
	if c != nil {
		if shape, err := broadcastShapes(y.Shape, c.Shape); err != nil || !sameShape(shape, y.Shape) {
			return nil, fmt.Errorf("Gemm: C %v does not broadcast to %v", c.Shape, y.Shape)
		}
		if beta := attrs.Float("beta", 1); beta != 1 {
			s, _ := Cast(Scalar(beta), c.DType)
			if c, err = arith(ctx, "Mul", c, s); err != nil {
				return nil, err
			}
		}
		if y, err = arith(ctx, "Add", y, c); err != nil {
			return nil, fmt.Errorf("Gemm: %v", err)
		}
	}
	return one(y), nil
}

// mmShape is the geometry of a numpy.matmul: a [..., M, K] times b [..., K, N], 1-D
// operands promoted, batch dims broadcast; shape is the output's.
type mmShape struct {
	M, K, N                      int
	batch, abatch, bbatch, shape []int
}

func matmulShape(a, b *Tensor) (mmShape, error) {
	as, bs := a.Shape, b.Shape
	if len(as) == 1 {
		as = []int{1, as[0]}
	}
	if len(bs) == 1 {
		bs = []int{bs[0], 1}
	}
	m := mmShape{M: as[len(as)-2], K: as[len(as)-1], N: bs[len(bs)-1]}
	if K2 := bs[len(bs)-2]; m.K != K2 {
		return m, fmt.Errorf("MatMul: inner dims differ: %v x %v", a.Shape, b.Shape)
	}
	m.abatch, m.bbatch = as[:len(as)-2], bs[:len(bs)-2]
	batch, err := broadcastShapes(m.abatch, m.bbatch)
	if err != nil {
		return m, fmt.Errorf("MatMul: batch dims of %v and %v: %v", a.Shape, b.Shape, err)
	}
	m.batch = batch
	m.shape = append([]int{}, batch...)
	if a.Rank() > 1 {
		m.shape = append(m.shape, m.M)
	}
	if b.Rank() > 1 {
		m.shape = append(m.shape, m.N)
	}
	return m, nil
}
