//go:build !amd64 || purego

package vec

// asmAvailable is false: only the Go loops exist in this build.
const asmAvailable = false

func expAVX512(n int, dst, src *float32)      { panic("vec: no assembly") }
func erfAVX512(n int, dst, src *float32)      { panic("vec: no assembly") }
func tanhAVX512(n int, dst, src *float32)     { panic("vec: no assembly") }
func sigmoidAVX512(n int, dst, src *float32)  { panic("vec: no assembly") }
func siluAVX512(n int, dst, src *float32)     { panic("vec: no assembly") }
func geluAVX512(n int, dst, src *float32)     { panic("vec: no assembly") }
func geluTanhAVX512(n int, dst, src *float32) { panic("vec: no assembly") }

func expAVX2(n, mask int, dst, src *float32)      { panic("vec: no assembly") }
func erfAVX2(n, mask int, dst, src *float32)      { panic("vec: no assembly") }
func tanhAVX2(n, mask int, dst, src *float32)     { panic("vec: no assembly") }
func sigmoidAVX2(n, mask int, dst, src *float32)  { panic("vec: no assembly") }
func siluAVX2(n, mask int, dst, src *float32)     { panic("vec: no assembly") }
func geluAVX2(n, mask int, dst, src *float32)     { panic("vec: no assembly") }
func geluTanhAVX2(n, mask int, dst, src *float32) { panic("vec: no assembly") }

func maxAVX2(n int, src *float32) float32                         { panic("vec: no assembly") }
func expSubSumAVX2(n int, dst, src *float32, m float32) float32   { panic("vec: no assembly") }
func maxAVX512(n int, src *float32) float32                       { panic("vec: no assembly") }
func expSubSumAVX512(n int, dst, src *float32, m float32) float32 { panic("vec: no assembly") }

func minMaxAVX512(n int, src *float32) (lo, hi float32)                   { panic("vec: no assembly") }
func quantizeU8AVX512(n int, dst *uint8, src *float32, scale, zp float32) { panic("vec: no assembly") }

func dequantAddAVX512(n, mask int, dst *float32, acc, add *int32, scale, bias *float32) {
	panic("vec: no assembly")
}
func dequantAVX512(n, mask int, dst *float32, acc *int32, scale, bias *float32) {
	panic("vec: no assembly")
}
func sumSqAVX512(n, mask int, x *float32) (sum, sq float64) { panic("vec: no assembly") }
func addSumSqAVX512(n, mask int, dst, x, y *float32) (sum, sq float64) {
	panic("vec: no assembly")
}
func addBiasSumSqAVX512(n, mask int, dst, x, y, bias *float32) (sum, sq float64) {
	panic("vec: no assembly")
}
func normalizeAVX512(n, mask int, dst, src *float32, mean, inv float64, gamma, beta *float32) {
	panic("vec: no assembly")
}
func normalizeNoBiasAVX512(n, mask int, dst, src *float32, mean, inv float64, gamma *float32) {
	panic("vec: no assembly")
}

func dequantAddAVX2(n, mask int, dst *float32, acc, add *int32, scale, bias *float32) {
	panic("vec: no assembly")
}
func dequantAVX2(n, mask int, dst *float32, acc *int32, scale, bias *float32) {
	panic("vec: no assembly")
}
func sumSqAVX2(n, mask int, x *float32) (sum, sq float64) { panic("vec: no assembly") }
func addSumSqAVX2(n, mask int, dst, x, y *float32) (sum, sq float64) {
	panic("vec: no assembly")
}
func addBiasSumSqAVX2(n, mask int, dst, x, y, bias *float32) (sum, sq float64) {
	panic("vec: no assembly")
}
func normalizeAVX2(n, mask int, dst, src *float32, mean, inv float64, gamma, beta *float32) {
	panic("vec: no assembly")
}
func normalizeNoBiasAVX2(n, mask int, dst, src *float32, mean, inv float64, gamma *float32) {
	panic("vec: no assembly")
}

func transpose8AVX2(n int, dst *float32, ldd int, src *float32, lds int, scale float32) {
	panic("vec: no assembly")
}
func transpose6AVX2(n int, dst *float32, ldd int, src *float32, lds int, scale float32) {
	panic("vec: no assembly")
}
func scaleAVX2(n int, dst, src *float32, c float32) { panic("vec: no assembly") }
func maxExpSubSumRowsAVX512(rows, n int, x *float32, ld int, m, sum *float32) {
	panic("vec: no assembly")
}
func copy16AVX2(n int, dst, src *float32, lds int) { panic("vec: no assembly") }

func elemAddAVX512(n, mask int, dst, a, b *float32) { panic("vec: no assembly") }
func elemSubAVX512(n, mask int, dst, a, b *float32) { panic("vec: no assembly") }
func elemMulAVX512(n, mask int, dst, a, b *float32) { panic("vec: no assembly") }
func elemDivAVX512(n, mask int, dst, a, b *float32) { panic("vec: no assembly") }
func elemMaxAVX512(n, mask int, dst, a, b *float32) { panic("vec: no assembly") }
func elemMinAVX512(n, mask int, dst, a, b *float32) { panic("vec: no assembly") }
func elemReluAVX512(n, mask int, dst, a *float32)   { panic("vec: no assembly") }
func elemAddAVX2(n, mask int, dst, a, b *float32)   { panic("vec: no assembly") }
func elemSubAVX2(n, mask int, dst, a, b *float32)   { panic("vec: no assembly") }
func elemMulAVX2(n, mask int, dst, a, b *float32)   { panic("vec: no assembly") }
func elemDivAVX2(n, mask int, dst, a, b *float32)   { panic("vec: no assembly") }
func elemMaxAVX2(n, mask int, dst, a, b *float32)   { panic("vec: no assembly") }
func elemMinAVX2(n, mask int, dst, a, b *float32)   { panic("vec: no assembly") }
func elemReluAVX2(n, mask int, dst, a *float32)     { panic("vec: no assembly") }
