//go:build !amd64 || purego

package gemm

// asmAvailable is false: only the pure-Go kernels exist in this build.
const asmAvailable = false

func sgemmAVX512x8x48(k int, a, b, c *float32, ldc int, add int, bias *float32) {
	panic("gemm: no assembly")
}
func sgemmAVX512x8x16(k int, a, b, c *float32, ldc int, add int, bias *float32) {
	panic("gemm: no assembly")
}
func sgemmAVX512x8x32(k int, a, b, c *float32, ldc int, add int, bias *float32) {
	panic("gemm: no assembly")
}
func sgemmAVX2x6x16(k int, a, b, c *float32, ldc int, add int, bias *float32) {
	panic("gemm: no assembly")
}
func sgemvAVX512x48(k int, a, b *float32, ldb int, c *float32) { panic("gemm: no assembly") }
func sgemvAVX2x16(k int, a, b *float32, ldb int, c *float32)   { panic("gemm: no assembly") }
