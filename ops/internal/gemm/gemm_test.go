package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
)

// forEachImpl runs f under every implementation this machine has.
func forEachImpl(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	defer SetImpl("")
	for _, name := range Available() {
		if err := SetImpl(name); err != nil {
			t.Fatal(err)
		}
		t.Run(name, f)
	}
}

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = r.Float32()*2 - 1
	}
	return s
}

// naive is the float64 reference.
func naive(M, N, K int, a []float32, lda int, transA bool, b []float32, ldb int, transB bool) []float64 {
	c := make([]float64, M*N)
	for i := 0; i < M; i++ {
		for j := 0; j < N; j++ {
			var s float64
			for k := 0; k < K; k++ {
				var av, bv float32
				if transA {
					av = a[k*lda+i]
				} else {
					av = a[i*lda+k]
				}
				if transB {
					bv = b[j*ldb+k]
				} else {
					bv = b[k*ldb+j]
				}
				s += float64(av) * float64(bv)
			}
			c[i*N+j] = s
		}
	}
	return c
}

func checkClose(t *testing.T, what string, got []float32, want []float64, K int) {
	t.Helper()
	// Inputs are in [-1, 1]: the float32 error of a K-term sum is well inside K·2⁻²³·√K.
	tol := 1e-5 * math.Max(1, math.Sqrt(float64(K)))
	for i := range want {
		if d := math.Abs(float64(got[i]) - want[i]); d > tol*math.Max(1, math.Abs(want[i])) || math.IsNaN(float64(got[i])) {
			t.Fatalf("%s: element %d = %v, want %v (diff %g)", what, i, got[i], want[i], d)
		}
	}
}

// splitPar simulates a worker pool that runs chunks of the given size concurrently.
func splitPar(size int) Parallel {
	return func(n, grain int, fn func(lo, hi int)) {
		var wg sync.WaitGroup
		for lo := 0; lo < n; lo += size {
			wg.Add(1)
			go func(lo int) { defer wg.Done(); fn(lo, min(n, lo+size)) }(lo)
		}
		wg.Wait()
	}
}

var sizes = []int{1, 3, 15, 17, 63, 64, 65}

func TestMulShapes(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(1, 2))
		for _, M := range sizes {
			for _, N := range sizes {
				for _, K := range []int{1, 3, 17, 64, 300, 1000} {
					for _, tr := range []bool{false, true} {
						a := randSlice(r, M*K)
						b := randSlice(r, K*N)
						lda, ldb := K, N
						if tr {
							lda, ldb = M, K
						}
						p := PackB(nil, b, K, N, ldb, tr)
						c := make([]float32, M*N)
						Mul(nil, A{Data: a, M: M, LD: lda, Trans: tr}, p, C{Data: c, LD: N}, nil)
						checkClose(t, fmt.Sprintf("M=%d N=%d K=%d trans=%v", M, N, K, tr), c, naive(M, N, K, a, lda, tr, b, ldb, tr), K)
					}
				}
			}
		}
	})
}

func TestMulRows(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(3, 4))
		for _, N := range []int{1, 3, 17, 32, 63, 65, 1000} {
			for _, K := range []int{1, 3, 17, 255} {
				x, b := randSlice(r, K), randSlice(r, K*N)
				out := make([]float32, N)
				MulRows(splitPar(2), x, b, K, N, N, out, nil)
				checkClose(t, fmt.Sprintf("N=%d K=%d", N, K), out, naive(1, N, K, x, K, false, b, N, false), K)
			}
		}
	})
}

func TestEpilogue(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(5, 6))
		relu := func(x []float32) {
			for i, v := range x {
				x[i] = max(v, 0)
			}
		}
		for _, M := range []int{1, 3, 15, 17, 63, 65} {
			for _, N := range []int{1, 3, 16, 17, 32, 47, 48, 49, 64, 80, 97} { // 16, 32, 64, 80: the narrow AVX-512 kernels store into C
				// 600 is more than one pass over K: the bias comes with the last one.
				for _, K := range []int{17, 600} {
					for _, tr := range []bool{false, true} {
						a, b, bias := randSlice(r, M*K), randSlice(r, K*N), randSlice(r, N)
						lda := K
						if tr {
							lda = M
						}
						p := PackB(nil, b, K, N, N, false)
						what := fmt.Sprintf("M=%d N=%d K=%d trans=%v", M, N, K, tr)
						c := make([]float32, M*N)
						Mul(nil, A{Data: a, M: M, LD: lda, Trans: tr}, p, C{Data: c, LD: N}, &Epilogue{Bias: bias, Act: relu})
						want := naive(M, N, K, a, lda, tr, b, N, false)
						for i := range want {
							want[i] = math.Max(0, want[i]+float64(bias[i%N]))
						}
						checkClose(t, what, c, want, K)

						// The kernels' bias is the same two float32 roundings as adding it
						// to the product afterwards.
						twoPass := make([]float32, M*N)
						Mul(serialChunks, A{Data: a, M: M, LD: lda, Trans: tr}, p, C{Data: twoPass, LD: N}, nil)
						for i := range twoPass {
							twoPass[i] = max(twoPass[i]+bias[i%N], 0)
						}
						bitsEqual(t, what, c, twoPass)
					}
				}
			}
		}
	})
}

func bitsEqual(t *testing.T, what string, got, want []float32) {
	t.Helper()
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s: element %d = %v, want %v", what, i, got[i], want[i])
		}
	}
}

// serialChunks runs fn over chunks of grain items in order, allocating nothing.
func serialChunks(n, grain int, fn func(lo, hi int)) {
	for lo := 0; lo < n; lo += grain {
		fn(lo, min(n, lo+grain))
	}
}

// TestMulAllocs: in steady state a product allocates nothing, with or without a
// parallel-for (the executor's stores the function it gets: no closure per call).
func TestMulAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	forEachImpl(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(9, 10))
		const M, N, K = 40, 100, 70
		a, b, bias := randSlice(r, M*K), randSlice(r, K*N), randSlice(r, N)
		p := PackB(nil, b, K, N, N, false)
		c := make([]float32, M*N)
		epi := &Epilogue{Bias: bias, Act: func(x []float32) {}}
		a8, c32 := make([]uint8, M*K), make([]int32, M*N)
		p8 := PackI8(nil, K, N, func(k, j int) int8 { return int8(k - j) })
		epi8 := func(i, j0 int, c []int32) {}
		for _, par := range []Parallel{nil, serialChunks} {
			for _, tc := range []struct {
				name string
				f    func()
			}{
				{"Mul", func() { Mul(par, A{Data: a, M: M, LD: K}, p, C{Data: c, LD: N}, epi) }},
				{"gemv", func() { Mul(par, A{Data: a, M: 1, LD: K}, p, C{Data: c, LD: N}, epi) }},
				{"gemv transposed", func() { Mul(par, A{Data: a, M: 1, LD: M, Trans: true}, p, C{Data: c, LD: N}, epi) }},
				{"MulRows", func() { MulRows(par, a[:K], b, K, N, N, c[:N], epi) }},
				{"MulI8", func() { MulI8(par, AI8{Data: a8, M: M, LD: K}, p8, c32, N, epi8) }},
				{"MulI8 gemv", func() { MulI8(par, AI8{Data: a8, M: 2, LD: K}, p8, c32, N, epi8) }},
			} {
				tc.f()
				if n := testing.AllocsPerRun(20, tc.f); n != 0 {
					t.Errorf("%s (parallel %v): %v allocations per call", tc.name, par != nil, n)
				}
			}
		}
	})
}

// TestDeterministicSplit: the bits of C do not depend on how the work is split.
func TestDeterministicSplit(t *testing.T) {
	forEachImpl(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(7, 8))
		for _, M := range []int{1, 130, 600} {
			N, K := 700, 1100
			a, b := randSlice(r, M*K), randSlice(r, K*N)
			var first []float32
			for _, par := range []Parallel{nil, splitPar(1), splitPar(2), splitPar(3)} {
				c := make([]float32, M*N)
				Mul(par, A{Data: a, M: M, LD: K}, PackB(par, b, K, N, N, false), C{Data: c, LD: N}, nil)
				if first == nil {
					first = c
					continue
				}
				for i := range c {
					if math.Float32bits(c[i]) != math.Float32bits(first[i]) {
						t.Fatalf("M=%d: element %d differs between splits: %v vs %v", M, i, c[i], first[i])
					}
				}
			}
		}
	})
}

func TestSetImpl(t *testing.T) {
	if err := SetImpl("nonsense"); err == nil {
		t.Fatal("SetImpl(nonsense) succeeded")
	}
	if Impl() != Available()[0] {
		t.Fatalf("Impl = %s, want %s", Impl(), Available()[0])
	}
}
