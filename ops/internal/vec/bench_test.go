package vec

import (
	"math"
	"math/rand/v2"
	"testing"
)

func BenchmarkVec(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	x := make([]float32, 4096)
	for i := range x {
		x[i] = float32(r.NormFloat64() * 3)
	}
	y := make([]float32, len(x))
	for _, c := range []struct {
		name string
		f    func(dst, src []float32)
	}{{"Exp", Exp}, {"Erf", Erf}, {"Tanh", Tanh}, {"Sigmoid", Sigmoid}, {"Silu", Silu}, {"Gelu", Gelu}, {"GeluTanh", GeluTanh},
		// A softmax row of attention's length (T = 128 keys), and a long one.
		{"Softmax/128", func(dst, src []float32) {
			for i := 0; i+128 <= len(src); i += 128 {
				Softmax(dst[i:i+128], src[i:i+128])
			}
		}},
		{"Softmax/4096", Softmax}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				c.f(y, x)
			}
			b.ReportMetric(float64(len(x))*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gelem/s")
		})
	}
}

func BenchmarkRows(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	const n = 256
	x, y, g, be := randRow(r, n, 0), randRow(r, n, 0), randRow(r, n, 0), randRow(r, n, 0)
	acc := make([]int32, n)
	for i := range acc {
		acc[i] = r.Int32N(1 << 20)
	}
	dst := make([]float32, n)
	for _, impl := range Available() {
		SetImpl(impl)
		for _, c := range []struct {
			name string
			seg  int
			f    func(seg int)
		}{
			// The int8 GEMM hands its epilogue one panel (48 columns) at a time.
			{"DequantI32/48", 48, func(seg int) {
				for j := 0; j < n; j += seg {
					DequantI32(dst[j:min(j+seg, n)], acc[j:], acc[j:], g[j:], be[j:])
				}
			}},
			{"SkipLayerNormRow", n, func(int) {
				s, q := AddSumSq(dst, x, y, nil)
				mean := s / n
				Normalize(dst, dst, mean, 1/math.Sqrt(q/n-mean*mean+1e-5), g, be)
			}},
		} {
			b.Run(impl+"/"+c.name, func(b *testing.B) {
				for b.Loop() {
					c.f(c.seg)
				}
				b.ReportMetric(b.Elapsed().Seconds()*1e9/float64(b.N), "ns/row256")
				b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gelem/s")
			})
		}
	}
	SetImpl("")
}

func BenchmarkQuantizeU8(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	x := randRow(r, 128*256, 0)
	q := make([]uint8, len(x))
	for _, impl := range Available() {
		SetImpl(impl)
		b.Run(impl+"/MinMax", func(b *testing.B) {
			for b.Loop() {
				MinMax(x)
			}
			b.ReportMetric(float64(len(x))*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gelem/s")
		})
		b.Run(impl+"/QuantizeU8", func(b *testing.B) {
			for b.Loop() {
				QuantizeU8(q, x, 0.03, 128)
			}
			b.ReportMetric(float64(len(x))*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gelem/s")
		})
	}
	SetImpl("")
}
