package ops

import "github.com/ciuic/ciuic/ir"

// The fast kernels of vec_kernels.go and int8_kernels.go take over from the reference
// ones: Register replaces, so this must run after the init functions of unary.go,
// norm.go, quant.go, quant_dense.go, ciuic_norm.go and kernels_into.go. Init functions run in file-name
// order, which is why the registration lives in this file (named vec_register.go).
// The reference kernels stay reachable as ReferenceKernel(domain, op).
func init() {
	for name := range vecUnaries {
		Register("", name, vecUnaryKernel(name), ir.F32)
		RegisterInto("", name, vecUnaryInto(name), true, ir.F32)
	}
	Register("", "Softmax", fastSoftmaxKernel, ir.F32)
	Register("", "LayerNormalization", fastLayerNormKernel, ir.F32)
	Register(ir.CiuicDomain, "RMSNorm", fastRMSNormKernel, ir.F32)
	Register("", "MatMulInteger", fastMatMulIntegerKernel, ir.U8, ir.I8)
	Register("", "DynamicQuantizeLinear", fastDynQuantKernel, ir.F32)
	Register("", "DequantizeLinear", fastDequantKernel, ir.I8, ir.U8)
	RegisterInto("", "DequantizeLinear", fastDequantInto, false, ir.I8, ir.U8)
	SetInt8Gemm(fastDenseInt8)
	Register(ir.CiuicDomain, "DenseInt8", fastDenseInt8Kernel, ir.F32)
	RegisterInto(ir.CiuicDomain, "DenseInt8", fastDenseInt8Into, false, ir.F32)
}

// ReferenceKernel returns the portable reference kernel a fast kernel of this package
// replaced (for op's f32 or 8-bit inputs), for tests and comparisons; ok is false for
// ops without a fast replacement.
func ReferenceKernel(domain, op string) (k Kernel, ok bool) {
	switch {
	case domain == "" && vecUnaries[op] != nil:
		return floatUnaryKernel(op, floatUnaries[op]), true
	case domain == "" && op == "Softmax":
		return softmaxKernel(false), true
	case domain == "" && op == "LayerNormalization":
		return layerNormKernel, true
	case domain == ir.CiuicDomain && op == "RMSNorm":
		return rmsNormKernel, true
	case domain == "" && op == "MatMulInteger":
		return matMulIntegerKernel, true
	case domain == "" && op == "DynamicQuantizeLinear":
		return dynQuantKernel, true
	case domain == "" && op == "DequantizeLinear":
		return dequantizeKernel, true
	case domain == ir.CiuicDomain && op == "DenseInt8":
		return denseInt8Kernel, true
	case domain == "" && op == "MatMul":
		return matmulKernel, true
	case domain == "" && op == "Gemm":
		return gemmKernel, true
	}
	return nil, false
}
