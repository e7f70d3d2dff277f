package ops

import (
	"testing"

	"github.com/ciuic/ciuic/ir"
)

// TestNormIntoAllocs: the into-variants of LayerNormalization, ciuic.SkipLayerNorm and
// ciuic.RMSNorm allocate nothing per call, serially and when their rows are split by a
// parallel-for (a closure handed to it would be allocated on every call).
func TestNormIntoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	const rows, D = 128, 256
	x, skip, g, b := New(ir.F32, 1, rows, D), New(ir.F32, 1, rows, D), New(ir.F32, D), New(ir.F32, D)
	for i := range x.F32() {
		x.F32()[i], skip.F32()[i] = float32(i%7), float32(i%5)
	}
	for i := range D {
		g.F32()[i], b.F32()[i] = 1+float32(i%3), float32(i%2)
	}
	eps := ir.Attrs{"epsilon": ir.FloatAttr(1e-5)}
	cases := []struct {
		domain, op string
		in         []*Tensor
		nout       int
	}{
		{"", "LayerNormalization", []*Tensor{x, g, b}, 1},
		{ir.CiuicDomain, "SkipLayerNorm", []*Tensor{x, skip, g, b}, 2},
		{ir.CiuicDomain, "SkipLayerNorm", []*Tensor{x, skip, g, b, b}, 1},
		{ir.CiuicDomain, "RMSNorm", []*Tensor{x, g}, 1},
	}
	for _, c := range cases {
		into, _, ok := LookupInto(c.domain, c.op, ir.F32)
		if !ok {
			t.Fatalf("%s: no into-variant", c.op)
		}
		out := make([]*Tensor, c.nout)
		for i := range out {
			out[i] = New(ir.F32, 1, rows, D)
		}
		for _, par := range []func(int, int, func(int, int)){nil, reverseParallel} {
			ctx := &KernelContext{NumOutputs: c.nout, Parallel: par}
			run := func() {
				if err := into(ctx, c.in, out, eps); err != nil {
					t.Fatal(err)
				}
			}
			run()
			if n := testing.AllocsPerRun(20, run); n != 0 {
				t.Errorf("%s with %d outputs (parallel %v): %v allocations per call, want 0", c.op, c.nout, par != nil, n)
			}
		}
	}
}
