package passes

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ciuic/ciuic/exec"
	"github.com/ciuic/ciuic/frontend/text"
	"github.com/ciuic/ciuic/ir"
	"github.com/ciuic/ciuic/ops"
)

// checkEquivalent runs the unoptimised graph (its printed text) and the optimised graph g
// on the same seeded random inputs and requires outputs within 1e-4 relative.
func checkEquivalent(t *testing.T, before string, g *ir.Graph) {
	t.Helper()
	g0, err := text.Parse("before.ciu", []byte(before))
	if err != nil {
		t.Fatalf("reparse: %v", err)
	}
	inputs := randomInputs(g0, 1)
	want := runGraph(t, g0, inputs)
	got := runGraph(t, g, inputs)
	if want == nil || got == nil {
		return // a kernel is missing; the golden text is still checked
	}
	for i := range want {
		if err := closeEnough(want[i], got[i], 1e-4); err != nil {
			t.Errorf("output %s differs after optimisation: %v", g.Outputs[i].Name, err)
		}
	}
}

func runGraph(t *testing.T, g *ir.Graph, inputs map[string]*ops.Tensor) []*ops.Tensor {
	t.Helper()
	s, err := exec.NewSession(g, exec.Options{Workers: 1})
	if err != nil {
		t.Logf("not run: %v", err)
		return nil
	}
	outs, err := s.RunOrdered(context.Background(), inputs)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return outs
}

// randomInputs makes seeded inputs for g, binding every symbolic dim to 3.
func randomInputs(g *ir.Graph, seed uint64) map[string]*ops.Tensor {
	r := rand.New(rand.NewPCG(seed, 7))
	in := map[string]*ops.Tensor{}
	for _, v := range g.Inputs {
		shape := make([]int, len(v.Type.Shape))
		for i, d := range v.Type.Shape {
			shape[i] = 3
			if d.IsStatic() {
				shape[i] = int(d.Size)
			}
		}
		t := ops.New(v.Type.DType, shape...)
		switch v.Type.DType {
		case ir.F32:
			for i := range t.F32() {
				t.F32()[i] = float32(r.NormFloat64())
			}
		case ir.I64:
			for i, x := range ops.Elems[int64](t) {
				_ = x
				ops.Elems[int64](t)[i] = int64(r.IntN(3))
			}
		case ir.Bool:
			for i := range ops.Elems[bool](t) {
				ops.Elems[bool](t)[i] = r.IntN(2) == 1
			}
		}
		in[v.Name] = t
	}
	return in
}

func closeEnough(a, b *ops.Tensor, rel float64) error {
	if a.DType != ir.F32 || b.DType != ir.F32 {
		if !ops.Equal(a, b) {
			return errorf("%v != %v", a, b)
		}
		return nil
	}
	scale := 0.0
	for _, x := range a.F32() {
		scale = math.Max(scale, math.Abs(float64(x)))
	}
	return ops.AllClose(a, b, rel, rel*math.Max(scale, 1e-6))
}
