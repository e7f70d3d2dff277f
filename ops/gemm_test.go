package ops

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"sync"
	"testing"

	"github.com/ciuic/ciuic/ir"
)

// eachGemmImpl runs f under every fp32 GEMM implementation this machine has (AVX-512,
// AVX2, pure Go), so the fallback is tested as well as the assembly.
func eachGemmImpl(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	defer SetGemmImpl("")
	for _, name := range GemmImpls() {
		if err := SetGemmImpl(name); err != nil {
			t.Fatal(err)
		}
		t.Run(name, f)
	}
}

func gemmRand(r *rand.Rand, shape ...int) *Tensor {
	t := New(ir.F32, shape...)
	for i := range t.F32() {
		t.F32()[i] = r.Float32()*2 - 1
	}
	return t
}

// assertClose checks got against want elementwise within 1e-5 relative (plus a small
// absolute term for values near zero, scaled by the length of the sums).
func assertClose(t *testing.T, what string, got, want *Tensor, k int) {
	t.Helper()
	if !sameShape(got.Shape, want.Shape) {
		t.Fatalf("%s: shape %v, want %v", what, got.Shape, want.Shape)
	}
	g, w := got.F32(), want.F32()
	abs := 2e-6 * math.Sqrt(float64(max(k, 1)))
	for i := range w {
		d := math.Abs(float64(g[i]) - float64(w[i]))
		if d > 1e-5*math.Abs(float64(w[i]))+abs || math.IsNaN(float64(g[i])) {
			t.Fatalf("%s: element %d = %v, want %v", what, i, g[i], w[i])
		}
	}
}

// workers simulates the executor's ParallelFor with a given chunk count.
func workers(chunks int) *KernelContext {
	return &KernelContext{Parallel: func(n, grain int, fn func(lo, hi int)) {
		size := max(grain, (n+chunks-1)/chunks)
		var wg sync.WaitGroup
		for lo := 0; lo < n; lo += size {
			wg.Add(1)
			go func(lo int) { defer wg.Done(); fn(lo, min(n, lo+size)) }(lo)
		}
		wg.Wait()
	}}
}

func TestFastMatMulMatchesReference(t *testing.T) {
	shapes := [][2][]int{
		{{1, 1}, {1, 1}}, {{3, 17}, {17, 3}}, {{17, 63}, {63, 65}}, {{65, 64}, {64, 15}},
		{{1, 255}, {255, 1000}}, {{63, 1}, {1, 17}}, {{15, 1000}, {1000, 17}},
		{{256}, {256, 33}}, {{2, 5, 256}, {256}}, {{7}, {7}},
		{{2, 3, 17, 40}, {40, 65}},               // shared weight: one big GEMM
		{{2, 1, 17, 40}, {3, 40, 9}},             // both batches broadcast
		{{4, 1, 33}, {4, 33, 70}},                // batched GEMV (M = 1)
		{{1, 17, 64}, {3, 2, 64, 19}},            // A broadcast over B's batch
		{{3, 0, 5}, {5, 4}}, {{3, 5, 0}, {0, 4}}, // empty
	}
	eachGemmImpl(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(1, 2))
		k, _ := Lookup("", "MatMul", ir.F32)
		for _, s := range shapes {
			a, b := gemmRand(r, s[0]...), gemmRand(r, s[1]...)
			want, err := ReferenceMatMulKernel(nil, []*Tensor{a, b}, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, ctx := range []*KernelContext{nil, workers(3)} {
				got, err := k(ctx, []*Tensor{a, b}, nil)
				if err != nil {
					t.Fatalf("%v x %v: %v", s[0], s[1], err)
				}
				assertClose(t, fmt.Sprintf("%v x %v", s[0], s[1]), got[0], want[0], s[0][len(s[0])-1])
			}
		}
		if _, err := k(nil, []*Tensor{gemmRand(r, 2, 3), gemmRand(r, 4, 2)}, nil); err == nil {
			t.Fatal("inner dim mismatch accepted")
		}
		if _, err := k(nil, []*Tensor{gemmRand(r, 2, 2, 3), gemmRand(r, 3, 3, 2)}, nil); err == nil {
			t.Fatal("batch mismatch accepted")
		}
	})
}

func TestFastGemmOp(t *testing.T) {
	eachGemmImpl(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(3, 4))
		k, _ := Lookup("", "Gemm", ir.F32)
		for _, c := range []struct {
			M, K, N        int
			transA, transB int64
			bias           []int
			alpha          float32
		}{
			{17, 63, 65, 0, 0, []int{65}, 1}, {1, 1000, 3, 0, 1, []int{1, 3}, 1}, {64, 17, 15, 1, 1, nil, 1},
			{65, 64, 17, 1, 0, []int{17}, 1}, {5, 6, 7, 0, 0, []int{5, 7}, 1}, {5, 6, 7, 0, 0, []int{7}, 0.5},
		} {
			as, bs := []int{c.M, c.K}, []int{c.K, c.N}
			if c.transA != 0 {
				as = []int{c.K, c.M}
			}
			if c.transB != 0 {
				bs = []int{c.N, c.K}
			}
			in := []*Tensor{gemmRand(r, as...), gemmRand(r, bs...)}
			if c.bias != nil {
				in = append(in, gemmRand(r, c.bias...))
			}
			attrs := ir.Attrs{"transA": ir.IntAttr(c.transA), "transB": ir.IntAttr(c.transB), "alpha": ir.FloatAttr(c.alpha)}
			want, err := ReferenceGemmKernel(nil, in, attrs)
			if err != nil {
				t.Fatal(err)
			}
			got, err := k(workers(2), in, attrs)
			if err != nil {
				t.Fatal(err)
			}
			assertClose(t, fmt.Sprintf("%+v", c), got[0], want[0], c.K)
		}
	})
}

// TestGemmEpilogues checks Gemm's fused bias and activations against MatMul, Add and the
// reference unary kernels.
func TestGemmEpilogues(t *testing.T) {
	unary := map[string]func(x *Tensor) ([]*Tensor, error){
		"relu": func(x *Tensor) ([]*Tensor, error) { return Run("", "Relu", []*Tensor{x}, nil, 1) },
		"gelu": func(x *Tensor) ([]*Tensor, error) { return Run("", "Gelu", []*Tensor{x}, nil, 1) },
		"gelu_tanh": func(x *Tensor) ([]*Tensor, error) {
			return Run("", "Gelu", []*Tensor{x}, ir.Attrs{"approximate": ir.StringAttr("tanh")}, 1)
		},
		"sigmoid": func(x *Tensor) ([]*Tensor, error) { return Run("", "Sigmoid", []*Tensor{x}, nil, 1) },
		"tanh":    func(x *Tensor) ([]*Tensor, error) { return Run("", "Tanh", []*Tensor{x}, nil, 1) },
		"silu": func(x *Tensor) ([]*Tensor, error) {
			s, err := Run("", "Sigmoid", []*Tensor{x}, nil, 1)
			if err != nil {
				return nil, err
			}
			return Run("", "Mul", []*Tensor{x, s[0]}, nil, 1)
		},
	}
	eachGemmImpl(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(5, 6))
		for _, M := range []int{1, 3, 65} {
			x, w, bias := gemmRand(r, 2, M, 100), gemmRand(r, 100, 47), gemmRand(r, 47)
			mm, _ := MatMul(nil, x, w)
			sum, _ := Run("", "Add", []*Tensor{mm, bias}, nil, 1)
			p, err := PackB(nil, w)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Gemm(workers(2), x, p, bias, "")
			if err != nil {
				t.Fatal(err)
			}
			assertClose(t, "bias", got, sum[0], 100)
			for act, f := range unary {
				want, err := f(sum[0])
				if err != nil {
					t.Fatal(err)
				}
				got, err := Gemm(workers(2), x, p, bias, act)
				if err != nil {
					t.Fatal(err)
				}
				assertClose(t, fmt.Sprintf("M=%d %s", M, act), got, want[0], 100)
			}
		}
		if _, err := Gemm(nil, gemmRand(r, 2, 5), mustPack(t, gemmRand(r, 5, 3)), nil, "swish"); err == nil {
			t.Fatal("unknown activation accepted")
		}
		if _, err := Gemm(nil, gemmRand(r, 2, 4), mustPack(t, gemmRand(r, 5, 3)), nil, ""); err == nil {
			t.Fatal("K mismatch accepted")
		}
		if _, err := Gemm(nil, gemmRand(r, 2, 5), mustPack(t, gemmRand(r, 5, 3)), gemmRand(r, 4), ""); err == nil {
			t.Fatal("bad bias accepted")
		}
	})
}

func mustPack(t *testing.T, w *Tensor) *PackedMatrix {
	p, err := PackB(nil, w)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPrepack: a prepacked weight gives the same bits as packing per call, including
// after the implementation is switched.
func TestPrepack(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	x, w := gemmRand(r, 33, 70), gemmRand(r, 70, 50)
	k, _ := Lookup("", "MatMul", ir.F32)
	before, _ := k(nil, []*Tensor{x, w}, nil)
	if err := Prepack(nil, w); err != nil {
		t.Fatal(err)
	}
	if packedFor(nil, w) == nil {
		t.Fatal("Prepack did not register the tensor")
	}
	after, _ := k(nil, []*Tensor{x, w}, nil)
	assertBits(t, "prepacked", after[0], before[0])
	eachGemmImpl(t, func(t *testing.T) {
		got, _ := k(nil, []*Tensor{x, w}, nil)
		want, _ := ReferenceMatMulKernel(nil, []*Tensor{x, w}, nil)
		assertClose(t, "prepacked after switch", got[0], want[0], 70)
	})
}

func assertBits(t *testing.T, what string, got, want *Tensor) {
	t.Helper()
	g, w := got.F32(), want.F32()
	if len(g) != len(w) {
		t.Fatalf("%s: %d elements, want %d", what, len(g), len(w))
	}
	for i := range g {
		if math.Float32bits(g[i]) != math.Float32bits(w[i]) {
			t.Fatalf("%s: element %d = %v, want %v (bit-identical)", what, i, g[i], w[i])
		}
	}
}

// TestGemmDeterministic: results are bit-identical for any number of workers.
func TestGemmDeterministic(t *testing.T) {
	eachGemmImpl(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(9, 10))
		k, _ := Lookup("", "MatMul", ir.F32)
		for _, s := range [][2][]int{{{1, 700}, {700, 900}}, {{130, 600}, {600, 500}}, {{6, 40, 64}, {6, 64, 40}}} {
			a, b := gemmRand(r, s[0]...), gemmRand(r, s[1]...)
			first, _ := k(nil, []*Tensor{a, b}, nil)
			for _, n := range []int{1, 2, 3, 8} {
				got, err := k(workers(n), []*Tensor{a, b}, nil)
				if err != nil {
					t.Fatal(err)
				}
				assertBits(t, fmt.Sprintf("%v x %v, %d workers", s[0], s[1], n), got[0], first[0])
			}
		}
	})
}

// TestFastKernelsRegistered guards the init order: the fast kernels must be the ones
// the registry hands out for f32.
func TestFastKernelsRegistered(t *testing.T) {
	for op, want := range map[string]Kernel{"MatMul": fastMatMulKernel, "Gemm": fastGemmKernel} {
		k, ok := Lookup("", op, ir.F32)
		if !ok || reflect.ValueOf(k).Pointer() != reflect.ValueOf(want).Pointer() {
			t.Errorf("%s/f32: the registry does not hand out the fast kernel", op)
		}
	}
}
