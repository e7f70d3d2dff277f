package gemm

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

func refMulI8(a []uint8, b []int8, M, K, N int) []int32 {
	c := make([]int32, M*N)
	for i := 0; i < M; i++ {
		for k := 0; k < K; k++ {
			av := int32(a[i*K+k])
			for j := 0; j < N; j++ {
				c[i*N+j] += av * int32(b[k*N+j])
			}
		}
	}
	return c
}

func TestMulI8(t *testing.T) {
	defer SetImplI8("")
	dims := []int{1, 2, 3, 15, 17, 63, 65, 1000}
	for _, impl := range AvailableI8() {
		t.Run(impl, func(t *testing.T) {
			SetImplI8(impl)
			r := rand.New(rand.NewPCG(1, 1))
			for i, M := range dims {
				K, N := dims[(i+3)%len(dims)], dims[(i+6)%len(dims)]
				a := make([]uint8, M*K)
				b := make([]int8, K*N)
				for x := range a {
					a[x] = uint8(r.IntN(256))
				}
				for x := range b {
					b[x] = int8(r.IntN(256) - 128)
				}
				// Extremes: 255·-128 sums, the case that saturates VPMADDUBSW.
				a[0], b[0] = 255, -128
				want := refMulI8(a, b, M, K, N)
				for _, split := range []int{1, 3} {
					p := PackI8(chunks(split), K, N, func(k, j int) int8 { return b[k*N+j] })
					for j := 0; j < N; j++ {
						s := int32(0)
						for k := 0; k < K; k++ {
							s += int32(b[k*N+j])
						}
						if p.ColSum[j] != s {
							t.Fatalf("ColSum[%d] = %d, want %d", j, p.ColSum[j], s)
						}
					}
					c := make([]int32, M*N)
					seen := make([]int, M*N)
					MulI8(chunks(split), AI8{Data: a, M: M, LD: K}, p, c, N, func(i, j0 int, row []int32) {
						for j := range row {
							seen[i*N+j0+j]++
						}
					})
					for x := range want {
						if c[x] != want[x] {
							t.Fatalf("%dx%dx%d split %d: C[%d] = %d, want %d", M, K, N, split, x, c[x], want[x])
						}
						if seen[x] != 1 {
							t.Fatalf("%dx%dx%d: epilogue saw element %d %d times", M, K, N, x, seen[x])
						}
					}
				}
			}
		})
	}
}

// chunks is a Parallel that runs n items as `count` sequential chunks.
func chunks(count int) Parallel {
	return func(n, grain int, fn func(lo, hi int)) {
		size := max(grain, (n+count-1)/count)
		for lo := 0; lo < n; lo += size {
			fn(lo, min(n, lo+size))
		}
	}
}

func BenchmarkMulI8(b *testing.B) {
	defer SetImplI8("")
	for _, impl := range AvailableI8() {
		for _, s := range [][3]int{{128, 1024, 1024}, {1, 1024, 1024}} {
			M, K, N := s[0], s[1], s[2]
			b.Run(fmt.Sprintf("%s/%dx%dx%d", impl, M, K, N), func(b *testing.B) {
				SetImplI8(impl)
				a := make([]uint8, M*K)
				w := make([]int8, K*N)
				for i := range a {
					a[i] = uint8(i * 7)
				}
				for i := range w {
					w[i] = int8(i * 13)
				}
				p := PackI8(nil, K, N, func(k, j int) int8 { return w[k*N+j] })
				c := make([]int32, M*N)
				for b.Loop() {
					MulI8(nil, AI8{Data: a, M: M, LD: K}, p, c, N, nil)
				}
				b.ReportMetric(2*float64(M*N*K)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GOPS")
			})
		}
	}
}

// BenchmarkMicroI8L1 runs the int8 microkernel alone on L1-resident panels.
func BenchmarkMicroI8L1(b *testing.B) {
	if !contains(AvailableI8(), "vnni") {
		b.Skip("no VNNI")
	}
	const kg = 64
	k := kernI8VNNI
	a := make([]uint8, k.MR*4*kg)
	p := make([]int8, k.NR*4*kg)
	c := make([]int32, k.MR*k.NR)
	for b.Loop() {
		k.micro(kg, &a[0], &p[0], &c[0], k.NR, 1)
	}
	b.ReportMetric(2*float64(k.MR*k.NR*4*kg)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GOPS")
}
