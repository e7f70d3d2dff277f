package ops

import (
	"math/rand/v2"
	"testing"

	"github.com/ciuic/ciuic/ir"
)

// benchFused runs the into-variant of FusedElementwise on one worker over inputs of
// 1M float32 elements each (SetBytes counts the inputs read and the output written).
func benchFused(b *testing.B, expr string, nin int) {
	r := rand.New(rand.NewPCG(9, 9))
	const n = 1 << 20
	in := make([]*Tensor, nin)
	for i := range in {
		in[i] = randF32(r, n)
	}
	out := []*Tensor{New(ir.F32, n)}
	into, _, _ := LookupInto(ir.CiuicDomain, "FusedElementwise", ir.F32)
	attrs := ir.Attrs{"expr": ir.StringAttr(expr)}
	ctx := &KernelContext{NumOutputs: 1}
	b.SetBytes(int64(4 * n * (nin + 1)))
	for b.Loop() {
		if err := into(ctx, in, out, attrs); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFusedSiluAdd(b *testing.B) { benchFused(b, "Add(Mul(x0, Sigmoid(x0)), x1)", 2) }
func BenchmarkFusedArith(b *testing.B)   { benchFused(b, "Sub(Mul(Add(x0, x1), x2), x3)", 4) }
func BenchmarkFusedMaxRelu(b *testing.B) { benchFused(b, "Relu(Max(x0, x1))", 2) }
