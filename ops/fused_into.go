package ops

import (
	"fmt"

	"github.com/ciuic/ciuic/ir"
)

// ciuic.FusedElementwise into the caller's tensor. The fused program reads block
// [b, e) of every full-size input before its last step writes block [b, e) of the
// output, element by element, so the output may be the buffer of a full-size input
// that dies at the node (in place).

func init() {
	RegisterInto(ir.CiuicDomain, "FusedElementwise", fusedInto, true, ir.F32, ir.F64)
}

func fusedInto(ctx *KernelContext, in, out []*Tensor, attrs ir.Attrs) error {
	const op = "FusedElementwise"
	if len(in) == 0 || len(out) == 0 || out[0] == nil || !attrs.Has("expr") {
		return fallbackInto(ctx, fusedKernel, in, out, attrs)
	}
	for _, t := range in {
		if t == nil || t.DType != out[0].DType {
			return fallbackInto(ctx, fusedKernel, in, out, attrs)
		}
	}
	prog, err := compileFused(attrs.String("expr", ""), len(in))
	if err != nil {
		return fmt.Errorf("%s: %v", op, err)
	}
	o := out[0]
	// The output shape is the broadcast of the inputs'; the plan gives it, so only check
	// that every input broadcasts to it (rank no larger, each dim 1 or equal).
	for _, t := range in {
		if t.Rank() > o.Rank() {
			return fallbackInto(ctx, fusedKernel, in, out, attrs)
		}
		for k, d := range t.Shape {
			if od := o.Shape[o.Rank()-t.Rank()+k]; d != 1 && d != od {
				return fallbackInto(ctx, fusedKernel, in, out, attrs)
			}
		}
	}
	switch o.DType {
	case ir.F32:
		runFused[float32](ctx, prog, o, in)
	case ir.F64:
		runFused[float64](ctx, prog, o, in)
	default:
		return fallbackInto(ctx, fusedKernel, in, out, attrs)
	}
	return nil
}
