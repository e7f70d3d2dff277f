package gemm

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkMul reports GFLOPS for each implementation on one thread (nil Parallel).
func BenchmarkMul(b *testing.B) {
	defer SetImpl("")
	for _, impl := range Available() {
		for _, s := range [][3]int{{128, 1024, 1024}, {1, 1024, 1024}, {1024, 1024, 1024}, {128, 768, 3072}, {128, 3072, 768}} {
			M, K, N := s[0], s[1], s[2]
			if impl == "go" && M == 1024 {
				continue
			}
			b.Run(fmt.Sprintf("%s/%dx%dx%d", impl, M, K, N), func(b *testing.B) {
				SetImpl(impl)
				r := rand.New(rand.NewPCG(1, 1))
				a, w := randSlice(r, M*K), randSlice(r, K*N)
				p := PackB(nil, w, K, N, N, false)
				c := make([]float32, M*N)
				b.ResetTimer()
				for b.Loop() {
					Mul(nil, A{Data: a, M: M, LD: K}, p, C{Data: c, LD: N}, nil)
				}
				b.ReportMetric(2*float64(M*N*K)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOPS")
			})
		}
	}
}

// BenchmarkMulBias measures the small products of a transformer (M = 128) with a bias
// epilogue, on one thread: the epilogue's share is largest there.
func BenchmarkMulBias(b *testing.B) {
	for _, s := range [][3]int{{128, 256, 256}, {128, 256, 768}, {128, 1024, 256}} {
		M, K, N := s[0], s[1], s[2]
		b.Run(fmt.Sprintf("%dx%dx%d", M, K, N), func(b *testing.B) {
			r := rand.New(rand.NewPCG(1, 1))
			a, w, bias := randSlice(r, M*K), randSlice(r, K*N), randSlice(r, N)
			p := PackB(nil, w, K, N, N, false)
			c := make([]float32, M*N)
			epi := &Epilogue{Bias: bias}
			for b.Loop() {
				Mul(nil, A{Data: a, M: M, LD: K}, p, C{Data: c, LD: N}, epi)
			}
			b.ReportMetric(2*float64(M*N*K)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOPS")
		})
	}
}
