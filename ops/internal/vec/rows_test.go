package vec

import (
	"math"
	"math/rand/v2"
	"testing"
	"unsafe"
)

var rowLens = []int{0, 1, 3, 15, 16, 17, 31, 48, 63, 65, 1000}

func randRow(r *rand.Rand, n int, off float64) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(off + r.NormFloat64()*3)
	}
	return x
}

// eachImpl runs f under every implementation and returns the results by name, so that
// tests can compare the implementations with each other.
func eachImpl[T any](t *testing.T, f func(t *testing.T) T) map[string]T {
	out := map[string]T{}
	for _, impl := range Available() {
		t.Run(impl, func(t *testing.T) {
			defer SetImpl("")
			if err := SetImpl(impl); err != nil {
				t.Fatal(err)
			}
			out[impl] = f(t)
		})
	}
	return out
}

// sameAcross fails unless every implementation's result equals the Go loops' bit for bit.
func sameAcross[T comparable](t *testing.T, what string, got map[string][]T) {
	t.Helper()
	ref := got["go"]
	for impl, g := range got {
		if len(g) != len(ref) {
			t.Fatalf("%s: %s gives %d values, go %d", what, impl, len(g), len(ref))
		}
		for i := range g {
			if g[i] != ref[i] {
				t.Fatalf("%s: %s[%d] = %v, go gives %v", what, impl, i, g[i], ref[i])
			}
		}
	}
}

func TestDequantI32(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, n := range rowLens {
		acc, add := make([]int32, n+1), make([]int32, n+1)
		for i := range acc {
			acc[i] = r.Int32N(1<<24) - 1<<23
			add[i] = r.Int32N(1<<20) - 1<<19
		}
		acc[0] = math.MaxInt32 // wraps around with a positive add, in both implementations
		add[0] = 5
		scale, bias := randRow(r, n+1, 0), randRow(r, n+1, 0)
		for i := range scale {
			scale[i] *= 1e-5
		}
		for _, withAdd := range []bool{false, true} {
			got := eachImpl(t, func(t *testing.T) []uint32 {
				a := add
				if !withAdd {
					a = nil
				}
				dst := make([]float32, n+1)
				dst[n] = 42 // past the end: must stay
				DequantI32(dst[:n], acc, a, scale, bias)
				// In place, over the sums' own memory.
				inPlace := append([]int32(nil), acc[:n]...)
				f := unsafeF32(inPlace)
				DequantI32(f, inPlace, a, scale, bias)
				bits := make([]uint32, 0, 2*n+1)
				for j, v := range dst[:n] {
					s := acc[j]
					if withAdd {
						s += add[j]
					}
					want := float32(float32(s)*scale[j]) + bias[j]
					if v != want || f[j] != want {
						t.Fatalf("n=%d add=%v: dst[%d] = %v (in place %v), want %v", n, withAdd, j, v, f[j], want)
					}
					bits = append(bits, math.Float32bits(v))
				}
				if dst[n] != 42 {
					t.Fatalf("n=%d: wrote past the end", n)
				}
				return bits
			})
			sameAcross(t, "DequantI32", got)
		}
	}
}

func TestRowStats(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range rowLens {
		for _, off := range []float64{0, 1000} {
			x, y, b := randRow(r, n, off), randRow(r, n, 0), randRow(r, n, 0)
			got := eachImpl(t, func(t *testing.T) []float64 {
				s, q := SumSq(x)
				ws, wq := 0.0, 0.0
				for _, v := range x {
					ws += float64(v)
					wq += float64(v) * float64(v)
				}
				if math.Abs(s-ws) > 1e-12*math.Abs(wq) || math.Abs(q-wq) > 1e-12*wq {
					t.Fatalf("n=%d: SumSq = %v, %v, want %v, %v", n, s, q, ws, wq)
				}
				out := []float64{s, q}
				for _, bias := range [][]float32{nil, b} {
					dst := make([]float32, n+1)
					dst[n] = 42
					s, q := AddSumSq(dst[:n], x, y, bias)
					for j := range x {
						want := x[j] + y[j]
						if bias != nil {
							want += bias[j]
						}
						if dst[j] != want {
							t.Fatalf("n=%d: AddSumSq dst[%d] = %v, want %v", n, j, dst[j], want)
						}
					}
					if dst[n] != 42 {
						t.Fatalf("n=%d: AddSumSq wrote past the end", n)
					}
					if ws, wq := SumSq(dst[:n]); s != ws || q != wq {
						t.Fatalf("n=%d: AddSumSq stats %v, %v, SumSq of its output %v, %v", n, s, q, ws, wq)
					}
					out = append(out, s, q)
				}
				return out
			})
			sameAcross(t, "SumSq/AddSumSq", got)
		}
	}
}

func TestNormalize(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, n := range rowLens {
		x, g, b := randRow(r, n, 2), randRow(r, n, 0), randRow(r, n, 0)
		mean, inv := 1.75, 0.37
		for _, beta := range [][]float32{nil, b} {
			got := eachImpl(t, func(t *testing.T) []float32 {
				dst := make([]float32, n+1)
				dst[n] = 42
				Normalize(dst[:n], x, mean, inv, g, beta)
				for j, v := range x {
					want := (float64(v) - mean) * inv * float64(g[j])
					if beta != nil {
						want += float64(beta[j])
					}
					if d := math.Abs(float64(dst[j]) - want); d > 1e-7*math.Abs(want)+1e-12 {
						t.Fatalf("n=%d: dst[%d] = %v, want %v", n, j, dst[j], want)
					}
				}
				if dst[n] != 42 {
					t.Fatalf("n=%d: Normalize wrote past the end", n)
				}
				in := append([]float32(nil), x...)
				Normalize(in, in, mean, inv, g, beta)
				for j := range in {
					if in[j] != dst[j] {
						t.Fatalf("n=%d: in place [%d] = %v, want %v", n, j, in[j], dst[j])
					}
				}
				return dst[:n]
			})
			sameAcross(t, "Normalize", got)
		}
	}
}

func unsafeF32(a []int32) []float32 {
	return unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(a))), len(a))
}
