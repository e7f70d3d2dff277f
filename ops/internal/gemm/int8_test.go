package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"unsafe"
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

// i8Shapes are the awkward sizes of the int8 tests, and shapes whose last 48-column
// panel is 16 or 32 wide (the narrow VNNI kernels) with K long enough for several
// passes over k.
func i8Shapes() [][3]int {
	dims := []int{1, 2, 3, 15, 17, 63, 65, 1000}
	var s [][3]int
	for i, M := range dims {
		s = append(s, [3]int{M, dims[(i+3)%len(dims)], dims[(i+6)%len(dims)]})
	}
	return append(s, [3]int{16, 1000, 64}, [3]int{24, 700, 80}, [3]int{17, 257, 256}, [3]int{16, 255, 80}, [3]int{8, 4, 16})
}

func randI8(r *rand.Rand, M, K, N int) ([]uint8, []int8) {
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
	return a, b
}

func TestMulI8(t *testing.T) {
	defer SetImplI8("")
	for _, impl := range AvailableI8() {
		t.Run(impl, func(t *testing.T) {
			SetImplI8(impl)
			r := rand.New(rand.NewPCG(1, 1))
			for _, s := range i8Shapes() {
				M, K, N := s[0], s[1], s[2]
				a, b := randI8(r, M, K, N)
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

// MulI8Dequant gives the bits of the exact product dequantized by the Go formula, in
// place and into a separate Y, with the activation applied exactly once per element.
func TestMulI8Dequant(t *testing.T) {
	defer SetImplI8("")
	for _, impl := range AvailableI8() {
		t.Run(impl, func(t *testing.T) {
			SetImplI8(impl)
			r := rand.New(rand.NewPCG(2, 2))
			for _, s := range i8Shapes() {
				M, K, N := s[0], s[1], s[2]
				a, b := randI8(r, M, K, N)
				ref := refMulI8(a, b, M, K, N)
				colAdd, scale, bias := make([]int32, N), make([]float32, N), make([]float32, N)
				for j := range N {
					colAdd[j] = int32(r.IntN(1<<20) - 1<<19)
					scale[j] = float32(r.NormFloat64()) * 1e-4
					bias[j] = float32(r.NormFloat64())
				}
				scale[0], bias[0] = -0.5, 0 // -0 products plus +0
				rowZero, rowScale := make([]int32, M), make([]float32, M)
				for i := range M {
					rowZero[i] = -int32(r.IntN(256))
					rowScale[i] = float32(r.ExpFloat64()) * 1e-2
				}
				p := PackI8(nil, K, N, func(k, j int) int8 { return b[k*N+j] })
				for _, perRow := range []bool{false, true} {
					want := make([]float32, M*N)
					for x, v := range ref {
						i, j := x/N, x%N
						if perRow {
							want[x] = 2 * (float32(float32(v+rowZero[i]*colAdd[j])*float32(rowScale[i]*scale[j])) + bias[j])
						} else {
							want[x] = 2 * (float32(float32(v+colAdd[j])*scale[j]) + bias[j])
						}
					}
					d := DequantI8{ColAdd: colAdd, Scale: scale, Bias: bias}
					if perRow {
						d.RowZero, d.RowScale = rowZero, rowScale
					}
					for _, split := range []int{1, 3} {
						for _, inPlace := range []bool{true, false} {
							c := make([]int32, M*N)
							y := make([]float32, M*N)
							if inPlace {
								y = unsafe.Slice((*float32)(unsafe.Pointer(&c[0])), len(c))
							}
							double := func(v []float32) {
								for i := range v {
									v[i] *= 2
								}
							}
							d.Y, d.Act = y, double
							MulI8Dequant(chunks(split), AI8{Data: a, M: M, LD: K}, p, c, N, &d)
							for x := range want {
								if math.Float32bits(y[x]) != math.Float32bits(want[x]) {
									t.Fatalf("%dx%dx%d split %d in place %v per row %v: Y[%d] = %g, want %g", M, K, N, split, inPlace, perRow, x, y[x], want[x])
								}
							}
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
		// The gpt4l (d=256) shapes: QKV, MLP up, MLP down.
		for _, s := range [][3]int{{128, 1024, 1024}, {128, 256, 768}, {128, 256, 1024}, {128, 1024, 256}, {1, 1024, 1024}} {
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

// BenchmarkMicroI8L1 runs the int8 microkernels alone on L1-resident panels.
func BenchmarkMicroI8L1(b *testing.B) {
	if !contains(AvailableI8(), "vnni") {
		b.Skip("no VNNI")
	}
	const kg = 64
	for _, k := range []struct {
		name   string
		mr, nr int
		micro  func(kg int, a *uint8, lda int, b *int8, c *int32, ldc int, add int, y *float32, colAdd *int32, scale, bias *float32, rowZero *int32, rowScale *float32)
	}{{"8x48", 8, 48, igemmVNNI8x48}, {"8x48r", 8, 48, igemmVNNI8x48r}, {"8x32", 8, 32, igemmVNNI8x32}} {
		b.Run(k.name, func(b *testing.B) {
			a := make([]uint8, k.mr*4*kg) // packed, or 8 rows of 4·kg bytes

			p := make([]int8, 48*4*kg)
			c := make([]int32, k.mr*k.nr)
			for b.Loop() {
				k.micro(kg, &a[0], 4*kg, &p[0], &c[0], k.nr, 1, nil, nil, nil, nil, nil, nil)
			}
			b.ReportMetric(2*float64(k.mr*k.nr*4*kg)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GOPS")
		})
	}
}
