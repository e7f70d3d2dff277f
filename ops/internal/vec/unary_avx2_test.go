package vec

import (
	"math"
	"slices"
	"testing"
)

var unaryFuncs = []struct {
	name string
	f    func(dst, src []float32)
}{
	{"Exp", Exp}, {"Erf", Erf}, {"Tanh", Tanh}, {"Sigmoid", Sigmoid}, {"Silu", Silu},
	{"Gelu", Gelu}, {"GeluTanh", GeluTanh},
}

// specials are inputs at the edges of the approximations: zeros, infinities, NaN, the
// clamps and saturations, and the denormal range of e^x.
func specials() []float32 {
	inf := float32(math.Inf(1))
	xs := []float32{0, float32(math.Copysign(0, -1)), inf, -inf, float32(math.NaN()),
		88.72, 88.73, 89, 89.5, -87.3, -87.4, -100, -103.9, -104, -104.5, -150, 1e30, -1e30,
		4, -4, 4.5, -4.5, 7.9988, -7.9988, 9, -9, 0.0004, -0.0004, 1e-38, -1e-38, 1e-45}
	for x := float32(-110); x <= 95; x += 0.37 {
		xs = append(xs, x)
	}
	return xs
}

// TestUnaryImpls runs every implementation of the math functions on awkward lengths
// (each element compared with the same element computed alone, so that tails are
// checked) and checks that nothing past dst's end is written.
func TestUnaryImpls(t *testing.T) {
	xs := append(specials(), sweep(-20, 20)[:5000]...)
	for _, impl := range Available() {
		t.Run(impl, func(t *testing.T) {
			defer SetImpl("")
			SetImpl(impl)
			for _, c := range unaryFuncs {
				for _, n := range []int{0, 1, 3, 7, 8, 9, 15, 16, 17, 63, 65, 1000} {
					src := xs[len(xs)-n-3:][:n]
					buf := make([]float32, n+16)
					for i := range buf {
						buf[i] = 12345
					}
					c.f(buf[:n], src)
					for i, x := range src {
						var one [1]float32
						c.f(one[:], []float32{x})
						if math.Float32bits(one[0]) != math.Float32bits(buf[i]) && !(one[0] != one[0] && buf[i] != buf[i]) {
							t.Fatalf("%s n=%d: [%d] = %v, alone %v", c.name, n, i, buf[i], one[0])
						}
					}
					for i, v := range buf[n:] {
						if v != 12345 {
							t.Fatalf("%s n=%d: wrote %v past the end at %d", c.name, n, v, n+i)
						}
					}
				}
			}
		})
	}
}

// TestAVX2MatchesAVX512 checks the claim of the AVX2 kernels: the same bits as the
// AVX-512 ones (NaN for NaN) over a dense sweep and the special values.
func TestAVX2MatchesAVX512(t *testing.T) {
	if !slices.Contains(Available(), "avx512") || !slices.Contains(Available(), "avx2") || !hasFMA {
		t.Skip("needs AVX-512 and AVX2+FMA")
	}
	defer SetImpl("")
	xs := append(specials(), sweep(-120, 100)...)
	for _, c := range unaryFuncs {
		a, b := make([]float32, len(xs)), make([]float32, len(xs))
		SetImpl("avx512")
		c.f(a, xs)
		SetImpl("avx2")
		c.f(b, xs)
		for i := range xs {
			if math.Float32bits(a[i]) != math.Float32bits(b[i]) && !(a[i] != a[i] && b[i] != b[i]) {
				t.Fatalf("%s(%v): avx2 %v (%#x), avx512 %v (%#x)", c.name, xs[i], b[i], math.Float32bits(b[i]), a[i], math.Float32bits(a[i]))
			}
		}
	}
}

// TestSoftmaxAVX2MatchesAVX512: Softmax and ExpSubSum (values and sums) give the same
// bits in both assembly implementations, on awkward lengths, without allocating.
func TestSoftmaxAVX2MatchesAVX512(t *testing.T) {
	if !slices.Contains(Available(), "avx512") || !slices.Contains(Available(), "avx2") || !hasFMA {
		t.Skip("needs AVX-512 and AVX2+FMA")
	}
	defer SetImpl("")
	for _, n := range []int{0, 1, 3, 7, 8, 9, 15, 16, 17, 63, 65, 1000} {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(math.Sin(float64(i)*1.7)) * 30
		}
		var ys [2][]float32
		var ss [2]float32
		for j, impl := range []string{"avx512", "avx2"} {
			SetImpl(impl)
			y, e := make([]float32, n), make([]float32, n)
			Softmax(y, x)
			ss[j] = ExpSubSum(e, x, 3)
			ys[j] = append(y, e...)
			if a := testing.AllocsPerRun(5, func() { Softmax(y, x); ExpSubSum(e, x, 3) }); a != 0 {
				t.Errorf("%s n=%d: %v allocations", impl, n, a)
			}
		}
		if math.Float32bits(ss[0]) != math.Float32bits(ss[1]) {
			t.Fatalf("n=%d: ExpSubSum sum avx512 %v, avx2 %v", n, ss[0], ss[1])
		}
		for i := range ys[0] {
			if math.Float32bits(ys[0][i]) != math.Float32bits(ys[1][i]) {
				t.Fatalf("n=%d: [%d] avx512 %v, avx2 %v", n, i, ys[0][i], ys[1][i])
			}
		}
	}
}
