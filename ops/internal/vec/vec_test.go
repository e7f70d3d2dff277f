package vec

import (
	"math"
	"testing"
)

// sweep returns every float32 step of 1e-4 over [lo, hi], plus small magnitudes down
// to 1e-30 of both signs.
func sweep(lo, hi float64) []float32 {
	var xs []float32
	for x := lo; x <= hi; x += 1e-4 {
		xs = append(xs, float32(x))
	}
	for e := 1e-30; e < 1; e *= 1.37 {
		xs = append(xs, float32(e), float32(-e))
	}
	return xs
}

// maxRelErr applies f to xs and returns the worst |f(x) - want(x)| / max(|want(x)|, floor).
func maxRelErr(f func(dst, src []float32), want func(float64) float64, xs []float32, floor float64) (float64, float32) {
	got := make([]float32, len(xs))
	f(got, xs)
	worst, at := 0.0, float32(0)
	for i, x := range xs {
		w := want(float64(x))
		d := math.Abs(float64(got[i])-w) / max(math.Abs(w), floor)
		if d > worst || math.IsNaN(d) {
			worst, at = d, x
		}
	}
	return worst, at
}

func TestAccuracy(t *testing.T) {
	for _, impl := range Available() {
		t.Run(impl, func(t *testing.T) {
			defer SetImpl("")
			SetImpl(impl)
			testAccuracy(t)
		})
	}
}

func testAccuracy(t *testing.T) {
	gelu := func(x float64) float64 { return 0.5 * x * (1 + math.Erf(x/math.Sqrt2)) }
	geluTanh := func(x float64) float64 {
		// 0.5·x·(1 + tanh(u)) written without the cancellation for x << 0.
		return x / (1 + math.Exp(-2*math.Sqrt(2/math.Pi)*(x+0.044715*x*x*x)))
	}
	sig := func(x float64) float64 { return 1 / (1 + math.Exp(-x)) }
	for _, c := range []struct {
		name   string
		f      func(dst, src []float32)
		want   func(float64) float64
		lo, hi float64
		floor  float64 // relative error below |want| = floor is measured absolutely
		tol    float64
	}{
		{"Exp", Exp, math.Exp, -87, 88, 0, 3e-7},
		{"Erf", Erf, math.Erf, -6, 6, 0, 1e-6},
		{"Tanh", Tanh, math.Tanh, -12, 12, 0, 1e-6},
		{"Sigmoid", Sigmoid, sig, -80, 30, 0, 1e-6},
		{"Silu", Silu, func(x float64) float64 { return x * sig(x) }, -80, 30, 0, 1e-6},
		// Gelu's 1+erf cancels for x << 0: below |Gelu| = 1 the error is absolute.
		{"Gelu", Gelu, gelu, -10, 10, 1, 1.5e-6},
		// In the tail e^(-2u) amplifies the float32 rounding of u = c(x+0.044715x³) by |2u|.
		{"GeluTanh", GeluTanh, geluTanh, -10, 10, 1e-6, 3e-6},
	} {
		worst, at := maxRelErr(c.f, c.want, sweep(c.lo, c.hi), c.floor)
		t.Logf("%s: max relative error %.3g at %g", c.name, worst, at)
		if worst > c.tol {
			t.Errorf("%s: max relative error %.3g at %g, want <= %g", c.name, worst, at, c.tol)
		}
	}
}

func TestSpecial(t *testing.T) {
	for _, impl := range Available() {
		t.Run(impl, func(t *testing.T) {
			defer SetImpl("")
			SetImpl(impl)
			testSpecial(t)
		})
	}
}

func testSpecial(t *testing.T) {
	in := []float32{float32(math.Inf(1)), float32(math.Inf(-1)), 100, -100, 0}
	out := make([]float32, len(in))
	Exp(out, in)
	if !math.IsInf(float64(out[0]), 1) || out[1] != 0 || !math.IsInf(float64(out[2]), 1) || out[3] > 1e-40 || out[4] != 1 {
		t.Errorf("Exp%v = %v", in, out)
	}
	Tanh(out, in)
	if out[0] < 0.9999997 || out[1] > -0.9999997 || out[2] < 0.9999997 || out[3] > -0.9999997 || out[4] != 0 {
		t.Errorf("Tanh%v = %v", in, out)
	}
	Sigmoid(out, in)
	if out[0] != 1 || out[1] != 0 || out[4] != 0.5 {
		t.Errorf("Sigmoid%v = %v", in, out)
	}
	nan := []float32{float32(math.NaN())}
	Exp(nan[:1:1], nan)
	if !math.IsNaN(float64(nan[0])) {
		t.Errorf("Exp(NaN) = %v", nan[0])
	}
}

func TestSoftmax(t *testing.T) {
	for _, impl := range Available() {
		t.Run(impl, func(t *testing.T) {
			defer SetImpl("")
			SetImpl(impl)
			for _, n := range []int{1, 3, 15, 16, 17, 63, 65, 1000} {
				x := make([]float32, n)
				for i := range x {
					x[i] = float32(math.Sin(float64(i)*1.7)) * 20
				}
				m := math.Inf(-1)
				for _, v := range x {
					m = max(m, float64(v))
				}
				sum := 0.0
				for _, v := range x {
					sum += math.Exp(float64(v) - m)
				}
				y := make([]float32, n)
				Softmax(y, x)
				for i, v := range x {
					want := math.Exp(float64(v)-m) / sum
					if d := math.Abs(float64(y[i]) - want); d > 1e-6*want+1e-12 {
						t.Fatalf("n=%d: y[%d] = %v, want %v", n, i, y[i], want)
					}
				}
			}
			y := make([]float32, 20)
			x := make([]float32, 20)
			x[3] = float32(math.NaN())
			Softmax(y, x)
			if !math.IsNaN(float64(y[0])) {
				t.Errorf("a NaN in the row: y[0] = %v, want NaN", y[0])
			}
			x[3] = float32(math.Inf(1))
			Softmax(y, x)
			if y[3] == y[3] || y[0] != 0 { // as the reference: Inf/Inf at the Inf, 0 elsewhere
				t.Errorf("row with +Inf: %v, want [0 0 0 NaN]", y[:4])
			}
		})
	}
}

func TestQuantizeU8(t *testing.T) {
	x := make([]float32, 1000)
	for i := range x {
		x[i] = float32(i-500) / 7 // many exact halves after the division below
	}
	x[3], x[4], x[5] = float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN())
	for _, impl := range Available() {
		t.Run(impl, func(t *testing.T) {
			defer SetImpl("")
			SetImpl(impl)
			for _, n := range []int{1, 15, 16, 17, 1000} {
				for _, c := range []struct {
					scale float32
					zp    int32
				}{{1.0 / 14, 128}, {0.5, 0}, {0.0390625, 255}} {
					got := make([]uint8, n)
					QuantizeU8(got, x[:n], c.scale, c.zp)
					for i, v := range x[:n] {
						q := min(max(math.RoundToEven(float64(v/c.scale))+float64(c.zp), 0), 255)
						if q != q {
							q = 0
						}
						if got[i] != uint8(q) {
							t.Fatalf("n=%d scale %v zp %d: q(%v) = %d, want %d", n, c.scale, c.zp, v, got[i], uint8(q))
						}
					}
				}
				lo, hi := MinMax(x[6:max(6, n)])
				wlo, whi := float32(math.Inf(1)), float32(math.Inf(-1))
				for _, v := range x[6:max(6, n)] {
					wlo, whi = min(wlo, v), max(whi, v)
				}
				if lo != wlo || hi != whi {
					t.Fatalf("n=%d: MinMax = %v, %v, want %v, %v", n, lo, hi, wlo, whi)
				}
			}
		})
	}
}
