package ops

import (
	"fmt"
	"sync"

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
	j := splitJobs.Get().(*splitJob)
	j.xs, j.out, j.axis, j.inner = x.F32(), out, axis, NumElems(x.Shape[axis+1:])
	j.row = x.Shape[axis] * j.inner
	ctx.ParallelFor(NumElems(x.Shape[:axis]), max(1, copyChunk/max(j.row, 1)), j.fn)
	j.xs, j.out = nil, nil // keep no tensor alive in the pool
	splitJobs.Put(j)
	return nil
}

// copyChunk is the smallest chunk of copying worth handing to another worker (Split's
// rows), in elements: a copy moves several elements per nanosecond, so this is a few
// µs. gpt4l's 4 Splits of [128, 768] with two workers: 76 µs serially, 47 µs in chunks
// of 32K elements (45 µs with one worker: the rows the other core wrote are slow to
// read), medians of warm runs of the plan.
const copyChunk = 1 << 15

// splitJob is one Split call, pooled along with the method value handed to the
// parallel-for (a closure would be allocated on every call).
type splitJob struct {
	xs          []float32
	out         []*Tensor
	axis, inner int
	row         int // x's elements per outer row
	fn          func(lo, hi int)
}

var splitJobs = sync.Pool{New: func() any {
	j := new(splitJob)
	j.fn = j.rows
	return j
}}

// rows copies the pieces of x's outer rows [lo, hi) (the dims before axis) into the
// outputs.
func (j *splitJob) rows(lo, hi int) {
	start := 0
	for _, o := range j.out {
		w := o.Shape[j.axis] * j.inner
		os := o.F32()
		for r := lo; r < hi; r++ {
			copy(os[r*w:(r+1)*w], j.xs[r*j.row+start:][:w])
		}
		start += w
	}
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
