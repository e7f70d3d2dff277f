package vec

import (
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
	}{{"Exp", Exp}, {"Erf", Erf}, {"Tanh", Tanh}, {"Sigmoid", Sigmoid}, {"Gelu", Gelu}, {"GeluTanh", GeluTanh}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				c.f(y, x)
			}
			b.ReportMetric(float64(len(x))*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gelem/s")
		})
	}
}
