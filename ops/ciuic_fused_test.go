package ops

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ciuic/ciuic/ir"
	"github.com/ciuic/ciuic/ops/internal/vec"
)

// TestFusedElementwiseVec checks the f32 steps that run as package vec's kernels (every
// binary op, Relu, the fast unary ops) against the ops run one by one, on lengths
// around the kernels' blocks of 16 and the fused blocks of 256, under every vec
// implementation (the assembly ones and the Go loops), with full-size, row, column and
// scalar inputs, through the kernel and the into-variant.
func TestFusedElementwiseVec(t *testing.T) {
	exprs := []string{
		"Add(Mul(x0, Sigmoid(x0)), x1)",
		"Sub(Mul(Add(x0, x1), x2), x3)",
		"Relu(Max(Div(x0, x1), Min(x3, x2)))",
		"Min(Max(x1, x0), Relu(x3))",
		"Gelu(Sub(Tanh(x0), Erf(Div(x1, x3))))",
		"Mul(Exp(Min(x0, x2)), Neg(x1))",
	}
	for _, impl := range vec.Available() {
		t.Run(impl, func(t *testing.T) {
			defer vec.SetImpl("")
			if err := vec.SetImpl(impl); err != nil {
				t.Fatal(err)
			}
			r := rand.New(rand.NewPCG(11, 11))
			for _, n := range []int{0, 1, 3, 15, 16, 17, 63, 65, 257, 1000} {
				// Full-size inputs; then a [3, n] output with a row, a scalar and a column.
				for _, shapes := range [][][]int{{{n}, {n}, {n}, {n}}, {{3, n}, {n}, {}, {3, 1}}} {
					in := make([]*Tensor, len(shapes))
					for i, s := range shapes {
						in[i] = specialF32(r, s...)
					}
					for _, expr := range exprs {
						checkFused(t, expr, in)
					}
				}
			}
		})
	}
}

// specialF32 is randF32 with zeros of both signs, infinities and NaNs mixed in.
func specialF32(r *rand.Rand, shape ...int) *Tensor {
	x := randF32(r, shape...)
	for i := range x.F32() {
		switch r.IntN(20) {
		case 0:
			x.F32()[i] = 0
		case 1:
			x.F32()[i] = float32(math.Copysign(0, -1))
		case 2:
			x.F32()[i] = float32(math.NaN())
		case 3:
			x.F32()[i] = float32(math.Inf(1 - 2*r.IntN(2)))
		}
	}
	return x
}

// checkFused compares FusedElementwise {expr} on in, through the kernel and through
// the into-variant (in place over x0 too), with the ops run one by one.
func checkFused(t *testing.T, expr string, in []*Tensor) {
	t.Helper()
	e, err := ir.ParseExpr(expr, len(in))
	if err != nil {
		t.Fatal(err)
	}
	want := fusedRef(t, e, in)
	attrs := ir.Attrs{"expr": ir.StringAttr(expr)}
	got := runCiuic(t, "FusedElementwise", attrs, 1, in...)[0]
	if !sameShape(got.Shape, want.Shape) {
		want = mustRun(t, "Expand", nil, want, i64(sh(got.Rank()), toI64(got.Shape)...))
	}
	if !sameBits(got, want) {
		t.Fatalf("%s on %v: got %v, want %v", expr, shapesOf(in), got, want)
	}
	into, _, _ := LookupInto(ir.CiuicDomain, "FusedElementwise", ir.F32)
	out := garbage(got)
	if err := into(&KernelContext{NumOutputs: 1}, in, []*Tensor{out}, attrs); err != nil {
		t.Fatal(err)
	}
	if !sameBits(out, want) {
		t.Fatalf("%s on %v (into): got %v, want %v", expr, shapesOf(in), out, want)
	}
	if sameShape(in[0].Shape, got.Shape) { // in place over x0
		x0 := in[0].Clone()
		inPlace := append([]*Tensor{x0}, in[1:]...)
		if err := into(&KernelContext{NumOutputs: 1}, inPlace, []*Tensor{x0}, attrs); err != nil {
			t.Fatal(err)
		}
		if !sameBits(x0, want) {
			t.Fatalf("%s on %v (in place): got %v, want %v", expr, shapesOf(in), x0, want)
		}
	}
}

func toI64(s []int) []int64 {
	v := make([]int64, len(s))
	for i, d := range s {
		v[i] = int64(d)
	}
	return v
}

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

// TestFusedIntoAllocs: the into-variant allocates nothing, serial or split, with
// full-size, row, column and scalar inputs.
func TestFusedIntoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	x, row, col := New(ir.F32, 64, 1024), New(ir.F32, 1024), New(ir.F32, 64, 1)
	into, _, _ := LookupInto(ir.CiuicDomain, "FusedElementwise", ir.F32)
	attrs := ir.Attrs{"expr": ir.StringAttr("Add(Mul(x0, Sigmoid(Sub(x1, x2))), Relu(x3))")}
	in := []*Tensor{x, row, col, Scalar[float32](2)}
	out := []*Tensor{New(ir.F32, 64, 1024)}
	for _, par := range []func(int, int, func(int, int)){nil, reverseParallel} {
		ctx := &KernelContext{NumOutputs: 1, Parallel: par}
		run := func() {
			if err := into(ctx, in, out, attrs); err != nil {
				t.Fatal(err)
			}
		}
		if n := testing.AllocsPerRun(20, run); n != 0 {
			t.Errorf("parallel %v: %v allocations per call, want 0", par != nil, n)
		}
	}
}
