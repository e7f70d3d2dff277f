package passes

import (
	"context"
	"math"
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

// runGraph runs g on inputs with one worker; nil if a kernel is missing.
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

// randomInputs makes seeded inputs for g (exec's generator), every symbolic dim bound to 3.
func randomInputs(g *ir.Graph, seed uint64) map[string]*ops.Tensor {
	s, err := exec.NewSession(g, exec.Options{Workers: 1})
	if err != nil {
		return nil
	}
	dims := map[string]int{}
	for _, v := range g.Inputs {
		for _, d := range v.Type.Shape {
			if d.Name != "" {
				dims[d.Name] = 3
			}
		}
	}
	in, err := s.RandomInputs(seed, dims)
	if err != nil {
		return nil
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
