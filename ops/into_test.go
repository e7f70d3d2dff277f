package ops

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ciuic/ciuic/ir"
)

// TestIntoMatchesKernel: every into-variant writes exactly what its op's kernel returns,
// bit for bit, into a buffer full of garbage (NaN), serially and with a parallel-for
// that runs chunks in reverse order; and, for the kernels registered as in place, also
// when each output is the very buffer of an input of its shape.
func TestIntoMatchesKernel(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	rt := func(shape ...int) *Tensor {
		x := New(ir.F32, shape...)
		for i := range x.F32() {
			x.F32()[i] = float32(rng.NormFloat64())
		}
		return x
	}
	attn := ir.Attrs{"num_heads": ir.IntAttr(4), "causal": ir.IntAttr(1)}
	mask := rt(1, 1, 70, 70)
	mask.F32()[3] = -1e30
	type tcase struct {
		domain, op string
		in         []*Tensor
		attrs      ir.Attrs
		nout       int
	}
	cases := []tcase{
		{"", "Add", []*Tensor{rt(3, 70, 64), rt(3, 70, 64)}, nil, 1},
		{"", "Sub", []*Tensor{rt(3, 70, 64), rt(64)}, nil, 1},
		{"", "Mul", []*Tensor{rt(1, 64), rt(3, 70, 64)}, nil, 1},
		{"", "Div", []*Tensor{rt(5, 7), rt(5, 1)}, nil, 1}, // general broadcast: falls back
		// More than elemGrain elements: the parallel-for splits them.
		{"", "Add", []*Tensor{rt(3, 100, 65), rt(3, 100, 65)}, nil, 1},
		{"", "Sub", []*Tensor{rt(3, 100, 65), rt(100, 65)}, nil, 1},
		{"", "Mul", []*Tensor{rt(65), rt(3, 100, 65)}, nil, 1},
		{"", "Gelu", []*Tensor{rt(200, 101)}, ir.Attrs{"approximate": ir.StringAttr("tanh")}, 1},
		{"", "Relu", []*Tensor{rt(200, 101)}, nil, 1},
		{"", "Abs", []*Tensor{rt(200, 101)}, nil, 1},
		{"", "Tanh", []*Tensor{rt(300, 100)}, nil, 1},
		{"", "Sigmoid", []*Tensor{rt(3, 5)}, nil, 1},
		{"", "MatMul", []*Tensor{rt(2, 33, 40), rt(40, 24)}, nil, 1},
		{ir.CiuicDomain, "Dense", []*Tensor{rt(70, 40), rt(40, 24), rt(24)}, ir.Attrs{"activation": ir.StringAttr("gelu")}, 1},
		{ir.CiuicDomain, "SkipLayerNorm", []*Tensor{rt(2, 70, 64), rt(2, 70, 64), rt(64), rt(64)}, ir.Attrs{"epsilon": ir.FloatAttr(1e-5)}, 2},
		{ir.CiuicDomain, "SkipLayerNorm", []*Tensor{rt(2, 70, 64), rt(2, 70, 64), rt(64), nil, rt(64)}, nil, 1},
		{ir.CiuicDomain, "SkipLayerNorm", []*Tensor{rt(2, 7, 16), rt(7, 16), rt(16)}, nil, 2},         // Skip a suffix of X
		{ir.CiuicDomain, "SkipLayerNorm", []*Tensor{rt(1, 7, 16), rt(7, 16), rt(16), rt(16)}, nil, 1}, // X's layout
		{ir.CiuicDomain, "SkipLayerNorm", []*Tensor{rt(2, 7, 16), rt(2, 1, 16), rt(16)}, nil, 2},      // other broadcast: falls back
		{ir.CiuicDomain, "RMSNorm", []*Tensor{rt(70, 64), rt(64)}, nil, 1},
		{ir.CiuicDomain, "RMSNorm", []*Tensor{rt(300, 17), rt(17)}, nil, 1},
		{ir.CiuicDomain, "RMSNorm", []*Tensor{rt(3, 1), rt(1)}, nil, 1},
		{ir.CiuicDomain, "SkipLayerNorm", []*Tensor{rt(300, 15), rt(300, 15), rt(15), rt(15), rt(15)}, nil, 2},
		{ir.CiuicDomain, "SkipLayerNorm", []*Tensor{rt(65, 63), rt(65, 63), rt(63)}, nil, 1},
		{"", "LayerNormalization", []*Tensor{rt(2, 70, 64), rt(64), rt(64)}, nil, 1},
		// Enough rows that the parallel-for splits them (chunks of rowChunk elements).
		{"", "LayerNormalization", []*Tensor{rt(1000, 33), rt(33), rt(33)}, nil, 1},
		{ir.CiuicDomain, "SkipLayerNorm", []*Tensor{rt(600, 63), rt(600, 63), rt(63), rt(63), rt(63)}, nil, 2},
		{ir.CiuicDomain, "SkipLayerNorm", []*Tensor{rt(3, 200, 65), rt(200, 65), rt(65)}, nil, 1},
		{ir.CiuicDomain, "RMSNorm", []*Tensor{rt(300, 65), rt(65)}, nil, 1},
		{"", "LayerNormalization", []*Tensor{rt(300, 17), rt(17)}, ir.Attrs{"epsilon": ir.FloatAttr(1e-3)}, 1}, // no bias
		{"", "LayerNormalization", []*Tensor{rt(65, 63), rt(1, 63), rt(63)}, nil, 1},
		{"", "LayerNormalization", []*Tensor{rt(3, 1), rt(1), rt(1)}, nil, 1},
		{"", "LayerNormalization", []*Tensor{rt(15), rt(15), rt(15)}, nil, 1},
		{"", "LayerNormalization", []*Tensor{rt(5, 3, 16), rt(3, 16)}, ir.Attrs{"axis": ir.IntAttr(1)}, 1}, // two axes: falls back
		{"", "LayerNormalization", []*Tensor{rt(70, 64), rt(64), rt(64)}, nil, 3},                          // Mean and InvStdDev: falls back
		{ir.CiuicDomain, "FusedElementwise", []*Tensor{rt(3, 70, 64), rt(64)}, ir.Attrs{"expr": ir.StringAttr("Mul(x0, Sigmoid(Add(x0, x1)))")}, 1},
		{ir.CiuicDomain, "FusedElementwise", []*Tensor{rt(3, 70, 64), rt(3, 70, 64)}, ir.Attrs{"expr": ir.StringAttr("Sub(x1, Tanh(x0))")}, 1},
		{ir.CiuicDomain, "Attention", []*Tensor{rt(1, 70, 64), rt(1, 70, 64), rt(1, 70, 64)}, attn, 1},
		{ir.CiuicDomain, "Attention", []*Tensor{rt(1, 70, 64), rt(1, 70, 64), rt(1, 70, 64), mask}, ir.Attrs{"num_heads": ir.IntAttr(2)}, 1},
		{"", "Split", []*Tensor{rt(1, 70, 96), MustFromSlice([]int{3}, []int64{32, 16, 48})}, ir.Attrs{"axis": ir.IntAttr(-1)}, 3},
		{"", "Split", []*Tensor{rt(6, 5)}, ir.Attrs{"num_outputs": ir.IntAttr(2)}, 2},
		{"", "Split", []*Tensor{rt(700, 3, 17), MustFromSlice([]int{2}, []int64{1, 2})}, ir.Attrs{"axis": ir.IntAttr(1)}, 2}, // rows split by the parallel-for
		{"", "Gather", []*Tensor{rt(50, 16), MustFromSlice([]int{2, 3}, []int64{0, 49, -1, 7, 7, 3})}, nil, 1},
		{"", "Gather", []*Tensor{rt(4, 6, 3), MustFromSlice([]int{2}, []int32{5, -6})}, ir.Attrs{"axis": ir.IntAttr(1)}, 1},
	}
	for _, c := range cases {
		name := fmt.Sprintf("%s%v", c.op, shapesOf(c.in))
		t.Run(name, func(t *testing.T) {
			dt := c.in[0].DType
			k, ok := Lookup(c.domain, c.op, dt)
			into, inPlace, okInto := LookupInto(c.domain, c.op, dt)
			if !ok || !okInto {
				t.Fatalf("kernel %v, into-variant %v", ok, okInto)
			}
			want, err := k(&KernelContext{NumOutputs: c.nout}, c.in, c.attrs)
			if err != nil {
				t.Fatal(err)
			}
			for _, par := range []func(int, int, func(int, int)){nil, reverseParallel} {
				ctx := &KernelContext{NumOutputs: c.nout, Parallel: par}
				out := make([]*Tensor, c.nout)
				for i := range out {
					out[i] = garbage(want[i])
				}
				if err := into(ctx, c.in, out, c.attrs); err != nil {
					t.Fatal(err)
				}
				for i := range out {
					requireBits(t, fmt.Sprintf("output %d", i), out[i], want[i])
				}
				if !inPlace {
					continue
				}
				// In place: output i over the i-th input of its shape.
				in := make([]*Tensor, len(c.in))
				used := map[int]bool{}
				for i, o := range want {
					for j, x := range c.in {
						if x != nil && !used[j] && x.DType == o.DType && sameShape(x.Shape, o.Shape) {
							used[j] = true
							out[i] = x.Clone()
							in[j] = out[i]
							break
						}
					}
				}
				for j, x := range c.in {
					if in[j] == nil {
						in[j] = x
					}
				}
				if err := into(ctx, in, out, c.attrs); err != nil {
					t.Fatal(err)
				}
				for i := range out {
					requireBits(t, fmt.Sprintf("in place, output %d", i), out[i], want[i])
				}
			}
		})
	}
}

func shapesOf(in []*Tensor) [][]int {
	var s [][]int
	for _, t := range in {
		if t != nil {
			s = append(s, t.Shape)
		}
	}
	return s
}

// garbage is a tensor like t full of NaNs (of t's dtype, for f32 and f64).
func garbage(t *Tensor) *Tensor {
	g := New(t.DType, t.Shape...)
	switch d := g.Data.(type) {
	case []float32:
		for i := range d {
			d[i] = float32(math.NaN())
		}
	case []float64:
		for i := range d {
			d[i] = math.NaN()
		}
	}
	return g
}

func requireBits(t *testing.T, what string, got, want *Tensor) {
	t.Helper()
	if got.DType != want.DType || !sameShape(got.Shape, want.Shape) {
		t.Fatalf("%s: %s%v, kernel gives %s%v", what, got.DType, got.Shape, want.DType, want.Shape)
	}
	g, w := got.F32(), want.F32()
	for i := range w {
		if math.Float32bits(g[i]) != math.Float32bits(w[i]) {
			t.Fatalf("%s[%d] = %v, kernel gives %v", what, i, g[i], w[i])
		}
	}
}

// TestIntoErrors: an into-variant refuses what its kernel refuses.
func TestIntoErrors(t *testing.T) {
	x := New(ir.F32, 4, 3)
	into, _, _ := LookupInto("", "Gather", ir.F32)
	err := into(nil, []*Tensor{x, MustFromSlice([]int{1}, []int64{4})}, []*Tensor{New(ir.F32, 1, 3)}, nil)
	if err == nil {
		t.Error("Gather with index 4 of 4 rows: no error")
	}
	into, _, _ = LookupInto(ir.CiuicDomain, "SkipLayerNorm", ir.F32)
	err = into(nil, []*Tensor{x, x, New(ir.F32, 2)}, []*Tensor{New(ir.F32, 4, 3)}, nil)
	if err == nil {
		t.Error("SkipLayerNorm with a Gamma of the wrong size: no error")
	}
}

// TestElementwiseIntoAllocs: elementwise into-variants allocate nothing per call, also
// when the parallel-for splits their elements.
func TestElementwiseIntoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	x, y, b := New(ir.F32, 128, 1024), New(ir.F32, 128, 1024), New(ir.F32, 1024)
	for _, c := range []struct {
		op string
		in []*Tensor
	}{
		{"Add", []*Tensor{x, y}}, {"Sub", []*Tensor{x, b}}, {"Mul", []*Tensor{b, x}},
		{"Gelu", []*Tensor{x}}, {"Tanh", []*Tensor{x}}, {"Relu", []*Tensor{x}},
	} {
		into, _, ok := LookupInto("", c.op, ir.F32)
		if !ok {
			t.Fatalf("%s: no into-variant", c.op)
		}
		out := []*Tensor{New(ir.F32, 128, 1024)}
		for _, par := range []func(int, int, func(int, int)){nil, reverseParallel} {
			ctx := &KernelContext{NumOutputs: 1, Parallel: par}
			run := func() {
				if err := into(ctx, c.in, out, nil); err != nil {
					t.Fatal(err)
				}
			}
			if n := testing.AllocsPerRun(10, run); n != 0 {
				t.Errorf("%s%v (parallel %v): %v allocations per call, want 0", c.op, shapesOf(c.in), par != nil, n)
			}
		}
	}
}
