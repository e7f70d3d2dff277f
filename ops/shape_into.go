package ops

import (
	"fmt"

	"github.com/ciuic/ciuic/ir"
)

// Into-variants of Split and Gather for f32: copies straight into the caller's
// tensors (the kernels build index lists and new tensors).

func init() {
	RegisterInto("", "Split", intoSplit, false, ir.F32)
	RegisterInto("", "Gather", intoGather, false, ir.F32)
}

// intoSplit copies consecutive pieces of x along axis into out. The piece sizes are
// the outputs' extents along axis (the plan's shapes, which type inference derived
// from split or num_outputs); they must tile x's dim exactly.
func intoSplit(ctx *KernelContext, in, out []*Tensor, attrs ir.Attrs) error {
	if len(in) == 0 || in[0] == nil || in[0].DType != ir.F32 {
		return fallbackInto(ctx, splitKernel, in, out, attrs)
	}
	x := in[0]
	axis, err := normAxis(attrs.Int("axis", 0), x.Rank())
	if err != nil {
		return fmt.Errorf("Split: %v", err)
	}
	total := 0
	for _, o := range out {
		if o == nil || o.DType != ir.F32 || o.Rank() != x.Rank() {
			return fallbackInto(ctx, splitKernel, in, out, attrs)
		}
		for d := range o.Shape {
			if d != axis && o.Shape[d] != x.Shape[d] {
				return fallbackInto(ctx, splitKernel, in, out, attrs)
			}
		}
		total += o.Shape[axis]
	}
	if total != x.Shape[axis] {
		return fallbackInto(ctx, splitKernel, in, out, attrs)
	}
	outer, inner := NumElems(x.Shape[:axis]), NumElems(x.Shape[axis+1:])
	xs, row := x.F32(), x.Shape[axis]*inner
	start := 0
	for _, o := range out {
		w := o.Shape[axis] * inner
		os := o.F32()
		for r := 0; r < outer; r++ {
			copy(os[r*w:(r+1)*w], xs[r*row+start:][:w])
		}
		start += w
	}
	return nil
}

// intoGather is Gather of f32 data with i64 or i32 indices.
func intoGather(ctx *KernelContext, in, out []*Tensor, attrs ir.Attrs) error {
	if len(in) < 2 || in[0] == nil || in[1] == nil || len(out) == 0 || out[0] == nil || in[0].DType != ir.F32 ||
		in[1].DType != ir.I64 && in[1].DType != ir.I32 {
		return fallbackInto(ctx, gatherKernel, in, out, attrs)
	}
	x, ind, y := in[0], in[1], out[0]
	axis, err := normAxis(attrs.Int("axis", 0), x.Rank())
	if err != nil {
		return fmt.Errorf("Gather: %v", err)
	}
	if y.DType != ir.F32 || y.Len() != NumElems(x.Shape[:axis])*ind.Len()*NumElems(x.Shape[axis+1:]) {
		return fallbackInto(ctx, gatherKernel, in, out, attrs)
	}
	dim := x.Shape[axis]
	outer, inner := NumElems(x.Shape[:axis]), NumElems(x.Shape[axis+1:])
	xs, ys := x.F32(), y.F32()
	n := ind.Len()
	at := func(i int) int64 {
		if ind.DType == ir.I64 {
			return Elems[int64](ind)[i]
		}
		return int64(Elems[int32](ind)[i])
	}
	for i := range n {
		if j := at(i); j < -int64(dim) || j >= int64(dim) {
			return fmt.Errorf("Gather: index %d out of range for dim of size %d", j, dim)
		}
	}
	for o := range outer {
		for i := range n {
			j := int(at(i))
			if j < 0 {
				j += dim
			}
			copy(ys[(o*n+i)*inner:][:inner], xs[(o*dim+j)*inner:][:inner])
		}
	}
	return nil
}
