// Package customop is an example of an operator defined outside ciuic: example.Softcap,
// Gemma 2's logit soft-capping y = cap · tanh(x / cap). Importing the package registers
// it, like a database/sql driver:
//
//	import _ "github.com/ciuic/ciuic/docs/examples/customop"
//
// after which the .ciu parser, the verifier, the passes and the executor all know
//
//	%y = example.Softcap(%x) {cap: 30.0}
//
// docs/custom-ops.md walks through this file.
package customop

import (
	"fmt"
	"math"

	"github.com/ciuic/ciuic/ir"
	"github.com/ciuic/ciuic/ops"
)

// Domain is the example's op domain: custom ops pick their own, never "" (ONNX) or "ciuic".
const Domain = "example"

func init() {
	// 1. The schema: arity, attributes, and type/shape inference with its error messages.
	ir.MustRegister(&ir.Schema{
		Domain: Domain, Op: "Softcap",
		MinInputs: 1, MaxInputs: 1, MinOutputs: 1, MaxOutputs: 1,
		Attrs: map[string]ir.AttrSpec{"cap": {Kind: ir.AttrFloat, Required: true}},
		Infer: func(n *ir.Node) ([]ir.Type, error) {
			x := n.Inputs[0].Type
			if x.DType != ir.F32 && x.DType != ir.F64 {
				return nil, fmt.Errorf("X must be f32 or f64, got %s", x.DType)
			}
			if c := n.Attrs.Float("cap", 0); !(c > 0) {
				return nil, fmt.Errorf("cap must be positive, got %g", c)
			}
			return []ir.Type{x}, nil // same dtype and shape as X
		},
		Doc: "cap · tanh(X / cap)",
	})
	// 2. Kernels, one per dtype of the first input.
	ops.Register(Domain, "Softcap", softcap[float32], ir.F32)
	ops.Register(Domain, "Softcap", softcap[float64], ir.F64)
	// 3. Optionally, a cost estimate in flops (the executor does not read it yet).
	ops.RegisterCost(Domain, "Softcap", func(in []ir.Type, _ ir.Attrs) float64 {
		n := in[0].Shape.NumElements() // -1 with symbolic dims
		return 20 * float64(n)         // a tanh is about 20 flops
	})
}

// softcap is the kernel for one float type. Elements are independent, so any split of the
// work gives the same bits.
func softcap[T float32 | float64](ctx *ops.KernelContext, in []*ops.Tensor, attrs ir.Attrs) ([]*ops.Tensor, error) {
	c := float64(attrs.Float("cap", 0))
	if !(c > 0) {
		return nil, fmt.Errorf("Softcap: cap must be positive, got %g", c)
	}
	x := in[0]
	y := ops.New(x.DType, x.Shape...)
	xs, ys := ops.Elems[T](x), ops.Elems[T](y)
	ctx.ParallelFor(len(xs), 1<<14, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			ys[i] = T(c * math.Tanh(float64(xs[i])/c))
		}
	})
	return []*ops.Tensor{y}, nil
}
