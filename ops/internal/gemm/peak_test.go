package gemm

import (
	"testing"
	"unsafe"
)

// BenchmarkMicroL1 runs the microkernel alone on L1-resident panels: the ceiling the
// blocked GEMM can reach on this core.
func BenchmarkMicroL1(b *testing.B) {
	for _, kern := range []*Kernel{kernAVX512, kernAVX2} {
		if !contains(Available(), kern.Name) {
			continue
		}
		b.Run(kern.Name, func(b *testing.B) {
			const kl = 128
			a := make([]float32, kern.MR*kl)
			p := make([]float32, kern.NR*kl)
			c := make([]float32, kern.MR*kern.NR)
			for b.Loop() {
				kern.micro(kl, unsafe.SliceData(a), unsafe.SliceData(p), unsafe.SliceData(c), kern.NR, 1, nil)
			}
			b.ReportMetric(2*float64(kern.MR*kern.NR*kl)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOPS")
		})
	}
}

func contains(s []string, x string) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}
