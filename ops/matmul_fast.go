package ops

import "github.com/ciuic/ciuic/ir"

// The fast f32 MatMul and Gemm (gemm.go) take over from the reference kernels of
// matmul.go: Register replaces, so this must run after matmul.go's init. Init functions
// run in file-name order, which is why this file is named matmul_fast.go. The reference
// kernels stay reachable as ReferenceMatMulKernel, ReferenceGemmKernel and MatMul.
func init() {
	Register("", "MatMul", fastMatMulKernel, ir.F32)
	Register("", "Gemm", fastGemmKernel, ir.F32)
}
