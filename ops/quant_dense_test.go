package ops

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/ciuic/ciuic/ir"
)

// DenseInt8 with unit scales computes the exact integer product: it must equal
// MatMulInteger's i32 result for every element (sums stay below 2^24, exact in f32).
func TestDenseInt8ExactIntegers(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	const M, K, N = 7, 33, 19
	const zp = 37
	xq := make([]uint8, M*K)
	x := make([]float32, M*K)
	for i := range xq {
		xq[i] = uint8(r.IntN(256))
		x[i] = float32(int(xq[i]) - zp) // quantizes to xq exactly with scale 1, zero point zp
	}
	w := make([]int8, K*N)
	for i := range w {
		w[i] = int8(r.IntN(255) - 127)
	}
	wt := MustFromSlice([]int{K, N}, w)
	ref, err := Run("", "MatMulInteger", []*Tensor{MustFromSlice([]int{M, K}, xq), wt, Scalar(uint8(zp))}, nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Run(ir.CiuicDomain, "DenseInt8", []*Tensor{MustFromSlice([]int{M, K}, x), wt, Scalar(float32(1)), nil, Scalar(float32(1)), Scalar(uint8(zp))}, nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := Elems[int32](ref[0])
	for i, v := range got[0].F32() {
		if int32(v) != want[i] || float32(want[i]) != v {
			t.Fatalf("element %d: DenseInt8 %v, MatMulInteger %d", i, v, want[i])
		}
	}
}

// Dynamic DenseInt8 agrees bit for bit with onnxruntime's pattern run on the reference
// kernels: DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul(x_scale · w_scale) -> Add(bias).
func TestDenseInt8MatchesORTPattern(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	const M, K, N = 5, 40, 12
	x := make([]float32, M*K)
	for i := range x {
		x[i] = float32(r.NormFloat64()) + 0.3
	}
	w := make([]int8, K*N)
	for i := range w {
		w[i] = int8(r.IntN(255) - 127)
	}
	bias := make([]float32, N)
	for i := range bias {
		bias[i] = float32(r.NormFloat64())
	}
	xt, wt, ws, bt := MustFromSlice([]int{M, K}, x), MustFromSlice([]int{K, N}, w), Scalar(float32(0.0123)), MustFromSlice([]int{N}, bias)
	dq, err := Run("", "DynamicQuantizeLinear", []*Tensor{xt}, nil, 3)
	if err != nil {
		t.Fatal(err)
	}
	acc, err := Run("", "MatMulInteger", []*Tensor{dq[0], wt, dq[2]}, nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	f, _ := Cast(acc[0], ir.F32)
	scale := dq[1].F32()[0] * ws.F32()[0]
	got, err := Run(ir.CiuicDomain, "DenseInt8", []*Tensor{xt, wt, ws, bt}, ir.Attrs{"x_quant": ir.StringAttr("tensor")}, 1)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range got[0].F32() {
		want := f.F32()[i]*scale + bias[i%N]
		if v != want {
			t.Fatalf("element %d: DenseInt8 %v, pattern %v", i, v, want)
		}
	}
	// Per-row quantization has one scale per row: a row of large values must not
	// coarsen the others.
	for i := 0; i < K; i++ {
		x[i] *= 1000
	}
	row, err := Run(ir.CiuicDomain, "DenseInt8", []*Tensor{xt, wt, ws, bt}, ir.Attrs{"x_quant": ir.StringAttr("row")}, 1)
	if err != nil {
		t.Fatal(err)
	}
	tensor, err := Run(ir.CiuicDomain, "DenseInt8", []*Tensor{xt, wt, ws, bt}, ir.Attrs{"x_quant": ir.StringAttr("tensor")}, 1)
	if err != nil {
		t.Fatal(err)
	}
	exact, _ := Run("", "MatMul", []*Tensor{xt, mustCast(t, wt)}, nil, 1)
	var rowErr, tensorErr float64
	for i := N; i < M*N; i++ { // rows after the first
		want := exact[0].F32()[i]*0.0123 + bias[i%N]
		rowErr += sq(row[0].F32()[i] - want)
		tensorErr += sq(tensor[0].F32()[i] - want)
	}
	if rowErr*100 > tensorErr {
		t.Errorf("per-row squared error %g is not far below per-tensor %g", rowErr, tensorErr)
	}
}

func sq(x float32) float64 { return float64(x) * float64(x) }

func mustCast(t *testing.T, x *Tensor) *Tensor {
	c, err := Cast(x, ir.F32)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestDenseInt8Errors(t *testing.T) {
	x := New(ir.F32, 2, 3)
	w := New(ir.I8, 4, 2)
	if _, err := Run(ir.CiuicDomain, "DenseInt8", []*Tensor{x, w, Scalar(float32(1))}, nil, 1); err == nil {
		t.Error("K mismatch accepted")
	}
	w = New(ir.I8, 3, 2)
	if _, err := Run(ir.CiuicDomain, "DenseInt8", []*Tensor{x, w, New(ir.F32, 3)}, nil, 1); err == nil {
		t.Error("WScale of the wrong length accepted")
	}
}

// The fast DenseInt8 (into-variant and kernel) equals the reference kernel bit for bit
// without an activation or with Relu (the dequantization is the same float32 multiply
// and add), on awkward shapes, every quantization mode, every vec and int8 GEMM
// implementation, serially and in parallel.
func TestDenseInt8FastMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	ref, _ := ReferenceKernel(ir.CiuicDomain, "DenseInt8")
	into, _, ok := LookupInto(ir.CiuicDomain, "DenseInt8", ir.F32)
	if !ok {
		t.Fatal("DenseInt8 has no into-variant")
	}
	eachVecImpl(t, func(t *testing.T) {
		eachInt8Impl(t, func(t *testing.T) {
			for _, s := range [][3]int{{1, 15, 17}, {3, 64, 63}, {17, 33, 100}, {65, 17, 1}, {40, 256, 96}} {
				M, K, N := s[0], s[1], s[2]
				x := New(ir.F32, M, K)
				for i := range x.F32() {
					x.F32()[i] = float32(r.NormFloat64()) + 0.2
				}
				w := randInt8Tensor(r, ir.I8, K, N)
				for _, c := range []struct {
					name string
					in   []*Tensor
					a    ir.Attrs
				}{
					{"dynamic", []*Tensor{x, w, Scalar(float32(0.01))}, nil},
					{"rows, bias, per-column scales", []*Tensor{x, w, gemmRand(r, N), gemmRand(r, N)}, ir.Attrs{"x_quant": ir.StringAttr("row")}},
					{"grid, relu", []*Tensor{x, w, Scalar(float32(0.02)), gemmRand(r, N), Scalar(float32(0.03)), Scalar(uint8(120))}, ir.Attrs{"activation": ir.StringAttr("relu")}},
				} {
					want, err := ref(nil, c.in, c.a)
					if err != nil {
						t.Fatal(err)
					}
					got, err := Run(ir.CiuicDomain, "DenseInt8", c.in, c.a, 1)
					if err != nil {
						t.Fatal(err)
					}
					requireBits(t, fmt.Sprintf("%v %s kernel", s, c.name), got[0], want[0])
					for _, ctx := range []*KernelContext{nil, workers(3)} {
						y := garbage(want[0])
						if err := into(ctx, c.in, []*Tensor{y}, c.a); err != nil {
							t.Fatal(err)
						}
						requireBits(t, fmt.Sprintf("%v %s into", s, c.name), y, want[0])
					}
				}
			}
		})
	})
}

// In steady state the into-variant of DenseInt8 allocates nothing, serially or with a
// parallel-for (its loops are method values bound once).
func TestDenseInt8IntoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop items")
	}
	r := rand.New(rand.NewPCG(9, 9))
	const M, K, N = 64, 512, 96 // large enough for the parallel-for to split X
	x := New(ir.F32, M, K)
	for i := range x.F32() {
		x.F32()[i] = float32(r.NormFloat64())
	}
	w := randInt8Tensor(r, ir.I8, K, N)
	into, _, _ := LookupInto(ir.CiuicDomain, "DenseInt8", ir.F32)
	y := New(ir.F32, M, N)
	for _, c := range []struct {
		name string
		in   []*Tensor
		a    ir.Attrs
	}{
		{"dynamic gelu", []*Tensor{x, w, Scalar(float32(0.01)), gemmRand(r, N)}, ir.Attrs{"activation": ir.StringAttr("gelu")}},
		{"rows", []*Tensor{x, w, gemmRand(r, N)}, ir.Attrs{"x_quant": ir.StringAttr("row")}},
	} {
		out := []*Tensor{y}
		for _, ctx := range []*KernelContext{nil, {Parallel: reverseParallel}} {
			run := func() {
				if err := into(ctx, c.in, out, c.a); err != nil {
					t.Fatal(err)
				}
			}
			run()
			if n := testing.AllocsPerRun(20, run); n != 0 {
				t.Errorf("%s (parallel %v): %v allocations per call", c.name, ctx != nil, n)
			}
		}
	}
}

// BenchmarkDenseInt8 reports GOPS (2 per multiply-add) of the fast DenseInt8 into-variant
// (dynamic quantization of X, int8 GEMM, dequantization, bias, Gelu) on one thread, at
// the MLP shapes of a d=256 transformer.
func BenchmarkDenseInt8(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	into, _, _ := LookupInto(ir.CiuicDomain, "DenseInt8", ir.F32)
	for _, s := range [][3]int{{128, 256, 1024}, {128, 1024, 256}, {128, 256, 256}} {
		M, K, N := s[0], s[1], s[2]
		x := gemmRand(r, M, K)
		in := []*Tensor{x, randInt8Tensor(r, ir.I8, K, N), gemmRand(r, N), gemmRand(r, N)}
		out := []*Tensor{New(ir.F32, M, N)}
		for _, act := range []string{"", "gelu", "row"} {
			a := ir.Attrs{"activation": ir.StringAttr(act)}
			if act == "row" { // X quantized per row, as the attention output projection is
				a = ir.Attrs{"x_quant": ir.StringAttr("row")}
			}
			b.Run(fmt.Sprintf("%dx%dx%d/%s", M, K, N, act), func(b *testing.B) {
				for b.Loop() {
					if err := into(nil, in, out, a); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(2*float64(M*N*K)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GOPS")
				b.ReportMetric(b.Elapsed().Seconds()*1e6/float64(b.N), "µs/op")
			})
		}
	}
}

// The fast DequantizeLinear equals the reference (float64) kernel bit for bit.
func TestDequantizeLinearFastMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	fast, _ := Lookup("", "DequantizeLinear", ir.I8)
	ref, _ := ReferenceKernel("", "DequantizeLinear")
	into, _, ok := LookupInto("", "DequantizeLinear", ir.I8)
	if !ok {
		t.Fatal("DequantizeLinear has no into-variant for i8")
	}
	for _, shape := range [][]int{{1}, {3, 17}, {2, 15, 65}, {63, 4}} {
		for _, dt := range []ir.DType{ir.I8, ir.U8} {
			x := randInt8Tensor(r, dt, shape...)
			for axis := -1; axis < len(shape); axis++ {
				C := 1
				if axis >= 0 {
					C = shape[axis]
				}
				scale := gemmRand(r, C)
				scale.F32()[0] = -0.0371 // a negative scale turns zeros into -0
				zp := randInt8Tensor(r, dt, C)
				for _, in := range [][]*Tensor{{x, scale}, {x, scale, zp}} {
					attrs := ir.Attrs{"axis": ir.IntAttr(int64(max(axis, 0)))}
					want, err := ref(nil, in, attrs)
					if err != nil {
						t.Fatal(err)
					}
					got, err := fast(workers(3), in, attrs)
					if err != nil {
						t.Fatal(err)
					}
					name := fmt.Sprintf("%s%v axis %d, %d inputs", dt, shape, axis, len(in))
					requireBits(t, name, got[0], want[0])
					// The into-variant (a plan's int8 tables) writes the same bits and
					// allocates nothing.
					out, ctx := []*Tensor{garbage(want[0])}, workers(3)
					run := func() {
						if err := into(ctx, in, out, attrs); err != nil {
							t.Fatal(err)
						}
					}
					run()
					requireBits(t, name+" (into)", out[0], want[0])
					if n := testing.AllocsPerRun(10, run); n != 0 && !raceEnabled {
						t.Errorf("%s: into-variant made %v allocations per call", name, n)
					}
				}
			}
		}
	}
}

// GatherInt8's into-variant writes what its kernel returns and allocates nothing.
func TestGatherInt8Into(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	tab, sc := randInt8Tensor(r, ir.I8, 50, 17), gemmRand(r, 50)
	into, _, ok := LookupInto(ir.CiuicDomain, "GatherInt8", ir.I8)
	if !ok {
		t.Fatal("GatherInt8 has no into-variant")
	}
	for _, idx := range []*Tensor{
		MustFromSlice([]int{2, 3}, []int64{0, 49, -1, 7, 7, 3}),
		MustFromSlice([]int{4}, []int32{5, -50, 12, 0}),
	} {
		in := []*Tensor{tab, sc, idx}
		want, err := Run(ir.CiuicDomain, "GatherInt8", in, nil, 1)
		if err != nil {
			t.Fatal(err)
		}
		out := []*Tensor{garbage(want[0])}
		run := func() {
			if err := into(nil, in, out, nil); err != nil {
				t.Fatal(err)
			}
		}
		run()
		requireBits(t, fmt.Sprintf("GatherInt8 %v", idx.Shape), out[0], want[0])
		if n := testing.AllocsPerRun(20, run); n != 0 && !raceEnabled {
			t.Errorf("GatherInt8 %v: %v allocations per call", idx.Shape, n)
		}
	}
	bad := []*Tensor{tab, sc, MustFromSlice([]int{1}, []int64{50})}
	if err := into(nil, bad, []*Tensor{New(ir.F32, 1, 17)}, nil); err == nil {
		t.Error("index 50 of 50 rows: no error")
	}
}
