package exec

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/ciuic/ciuic/ir"
	"github.com/ciuic/ciuic/ops"
)

// mlpGraph builds the measurement graphs on x: f32[128, 384]: four MLPs
// (384 -> 1536 -> Relu -> 384) either side by side on x and concatenated (branches),
// or one after another (a chain with the same work and no parallel branches).
func mlpGraph(tb testing.TB, branches bool) *ir.Graph {
	const m, d, h = 128, 384, 1536
	rng := rand.New(rand.NewPCG(1, 2))
	weight := func(rows, cols int) []float32 {
		w := make([]float32, rows*cols)
		for i := range w {
			w[i] = float32(rng.NormFloat64() / 20)
		}
		return w
	}
	g := ir.NewGraph("mlps")
	x := g.AddInput("x", ir.T(ir.F32, ir.StaticShape(m, d)))
	var outs []*ir.Value
	cur := x
	for i := 0; i < 4; i++ {
		w1 := g.AddConst(fmt.Sprintf("w1_%d", i), ir.NewTensorF32([]int64{d, h}, weight(d, h)))
		w2 := g.AddConst(fmt.Sprintf("w2_%d", i), ir.NewTensorF32([]int64{h, d}, weight(h, d)))
		in := x
		if !branches {
			in = cur
		}
		mm := g.NewNode("MatMul", []*ir.Value{in, w1}, nil).Outputs[0]
		r := g.NewNode("Relu", []*ir.Value{mm}, nil).Outputs[0]
		cur = g.NewNode("MatMul", []*ir.Value{r, w2}, nil).Outputs[0]
		outs = append(outs, cur)
	}
	if branches {
		cur = g.NewNode("Concat", outs, ir.Attrs{"axis": ir.IntAttr(1)}).Outputs[0]
	}
	g.Outputs = []*ir.Value{cur}
	if err := ir.InferTypes(g); err != nil {
		tb.Fatal(err)
	}
	return g
}

func benchMLP(b *testing.B, branches bool) {
	for _, op := range []string{"MatMul", "Relu", "Concat"} {
		if _, ok := ops.Lookup("", op, ir.F32); !ok {
			b.Skipf("no %s kernel yet", op)
		}
	}
	g := mlpGraph(b, branches)
	for _, workers := range []int{1, 2} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			s, err := NewSession(g, Options{Workers: workers})
			if err != nil {
				b.Fatal(err)
			}
			in, _ := s.RandomInputs(1, nil)
			for b.Loop() {
				if _, err := s.Run(context.Background(), in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkBranches measures inter-op parallelism (plus intra-op, since MatMul splits
// its rows): compare workers=1 with workers=2.
func BenchmarkBranches(b *testing.B) { benchMLP(b, true) }

// BenchmarkChain has the same work with no independent branches: only intra-op
// parallelism can help.
func BenchmarkChain(b *testing.B) { benchMLP(b, false) }
