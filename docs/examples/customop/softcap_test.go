package customop_test

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/ciuic/ciuic/docs/examples/customop"
	"github.com/ciuic/ciuic/exec"
	"github.com/ciuic/ciuic/frontend/text"
	"github.com/ciuic/ciuic/ir"
	"github.com/ciuic/ciuic/ops"
	"github.com/ciuic/ciuic/passes"
)

// The op written in the model language, optimised at -O2 and run by the executor: every
// stage knows it from the import alone.
func TestSoftcapEndToEnd(t *testing.T) {
	g, err := text.Parse("softcap.ciu", []byte(`graph logits(x: f32[N, 4]) -> (y) {
  @two: f32[] = 2.0
  %y = example.Softcap(Mul(%x, @two)) {cap: 5.0}
}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := passes.Run(g, passes.Config{Level: 2, VerifyEach: true}); err != nil {
		t.Fatal(err)
	}
	s, err := exec.NewSession(g, exec.Options{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	in := []float32{-100, -3, -0.5, 0, 0.25, 1, 4, 1e6}
	out, err := s.Run(context.Background(), map[string]*ops.Tensor{"x": ops.MustFromSlice([]int{2, 4}, in)})
	if err != nil {
		t.Fatal(err)
	}
	for i, x := range in {
		want := float32(5 * math.Tanh(float64(2*x)/5))
		if got := out["y"].F32()[i]; got != want {
			t.Errorf("softcap(2·%g) = %g, want %g", x, got, want)
		}
	}
	if got := out["y"].F32()[7]; got != 5 {
		t.Errorf("large inputs cap at %g, want 5", got)
	}
}

// The schema reports mistakes as errors at the node, and f64 has its own kernel.
func TestSoftcapSchema(t *testing.T) {
	for src, want := range map[string]string{
		`graph g(x: i64[3]) -> (y) { %y = example.Softcap(%x) {cap: 1.0} }`:  "X must be f32 or f64, got i64",
		`graph g(x: f32[3]) -> (y) { %y = example.Softcap(%x) {cap: -1.0} }`: "cap must be positive",
		`graph g(x: f32[3]) -> (y) { %y = example.Softcap(%x) }`:             "cap",
	} {
		if _, err := text.Parse("g.ciu", []byte(src)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want %q", src, err, want)
		}
	}
	y, err := ops.Run(customop.Domain, "Softcap", []*ops.Tensor{ops.MustFromSlice([]int{2}, []float64{1, -1})}, ir.Attrs{"cap": ir.FloatAttr(2)}, 1)
	if err != nil || math.Abs(ops.Elems[float64](y[0])[0]-2*math.Tanh(0.5)) > 1e-15 {
		t.Errorf("f64 kernel: %v, %v", y, err)
	}
	if c, ok := ops.Cost(customop.Domain, "Softcap", []ir.Type{ir.T(ir.F32, ir.StaticShape(10, 10))}, nil); !ok || c != 2000 {
		t.Errorf("cost = %v, %v; want 2000", c, ok)
	}
}
