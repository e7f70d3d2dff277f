//go:build !amd64 || purego

package gemm

func igemmVNNI8x48(kg int, a *uint8, lda int, b *int8, c *int32, ldc int, add int, y *float32, colAdd *int32, scale, bias *float32, rowZero *int32, rowScale *float32) {
	panic("gemm: no assembly")
}
func igemmVNNI8x48r(kg int, a *uint8, lda int, b *int8, c *int32, ldc int, add int, y *float32, colAdd *int32, scale, bias *float32, rowZero *int32, rowScale *float32) {
	panic("gemm: no assembly")
}
func igemmVNNI8x32(kg int, a *uint8, lda int, b *int8, c *int32, ldc int, add int, y *float32, colAdd *int32, scale, bias *float32, rowZero *int32, rowScale *float32) {
	panic("gemm: no assembly")
}
func igemmVNNI8x32r(kg int, a *uint8, lda int, b *int8, c *int32, ldc int, add int, y *float32, colAdd *int32, scale, bias *float32, rowZero *int32, rowScale *float32) {
	panic("gemm: no assembly")
}
func igemmVNNI8x16(kg int, a *uint8, lda int, b *int8, c *int32, ldc int, add int, y *float32, colAdd *int32, scale, bias *float32, rowZero *int32, rowScale *float32) {
	panic("gemm: no assembly")
}
func igemmVNNI8x16r(kg int, a *uint8, lda int, b *int8, c *int32, ldc int, add int, y *float32, colAdd *int32, scale, bias *float32, rowZero *int32, rowScale *float32) {
	panic("gemm: no assembly")
}
func igemvVNNI48(kg int, a *uint8, b *int8, c *int32)                     { panic("gemm: no assembly") }
func igemmAVX2x6x8(kg int, a *uint8, b *int8, c *int32, ldc int, add int) { panic("gemm: no assembly") }
