// Package ops produces ciuic's kernels: the Tensor type they compute on, a registry of
// kernels keyed by (domain, op, dtype), and a reference kernel for every ONNX op that
// ciuic knows, following the ONNX operator specification (attributes, defaults,
// numpy-style broadcasting, edge cases).
//
// The reference kernels are written for clarity and correctness first; faster kernels
// (SIMD, pre-packed weights) register under the same keys later and are tested against
// them. Kernels know nothing about graphs: they take tensors and attributes and return
// tensors. They never modify their inputs, and an output may share its data with an
// input (Reshape, Squeeze, Identity return views), so the caller must treat every
// tensor as immutable once produced.
//
// Results never depend on how ParallelFor splits work: each output element is computed
// by the same sequence of operations whatever the split, so outputs are bit-identical
// for any number of workers.
//
// # Fast kernels
//
// Registered after the reference ones (matmul_fast.go, vec_register.go), on CPU-specific
// code chosen at run time (x/sys/cpu) with pure-Go fallbacks (the purego build tag, or
// SetGemmImpl/SetGemmInt8Impl/SetVecImpl and CIUIC_GEMM, CIUIC_GEMM_INT8, CIUIC_VEC):
//
//   - f32 MatMul, Gemm, ciuic.Dense: packed GEMM (AVX-512 8×48, AVX2 6×16 tiles), GEMV
//     for one row, fused bias and activation. Constant weights are packed once: Prepack,
//     called by exec.NewSession; PackB/PackBTransposed and Gemm for direct use.
//   - Exp, Erf, Tanh, Sigmoid, Gelu (f32) and the GEMM epilogues: float32 approximations
//     (package internal/vec, AVX-512 and AVX2+FMA, bit-identical to each other) within
//     1e-6 relative of the float64 reference;
//     Softmax on the last axis with them. LayerNormalization, ciuic.SkipLayerNorm and
//     ciuic.RMSNorm: vector row kernels (internal/vec, AVX-512 and AVX2) with float64
//     statistics in a fixed lane order, within 1e-5 relative of the reference (not bit
//     for bit: a different summation order); kernel and into-variant share them.
//   - ciuic.Attention and ciuic.SparseAttention: one tiled engine (internal/attn) on the
//     GEMM microkernels, streaming softmax, tiles no query keeps skipped.
//   - Int8: an exact u8×s8→s32 GEMM (AVX-512 VNNI VPDPBUSD; AVX2 widening to 16 bits
//     and VPMADDWD, never VPMADDUBSW's saturating pair sums; Go elsewhere) behind
//     MatMulInteger (identical to the reference) and ciuic.DenseInt8, whose dequantizing
//     epilogue is a vector kernel (vec.DequantI32). DynamicQuantizeLinear and
//     DequantizeLinear have vector kernels with the reference's exact results.
//
// The int8 GEMM for quantized layers:
//
//	w, _ := ops.PackInt8(ctx, wTensor) // i8 or u8 [K, N], once (or ops.Prepack)
//	y, _ := ops.GemmInt8(ctx, a, aScale, aZero, w, wScales, wZeros, bias, "gelu")
//	// a: u8 [..., K]; wScales, wZeros: len 1 or N (wZeros nil: symmetric weights)
//	// y = act(float32(Σ(a-aZero)(w-wZero)) · (aScale·wScales[n]) + bias[n]), f32 [..., N]
//	q, _ := ops.GemmInt8Requant(ctx, a, aScale, aZero, w, wScales, wZeros, bias, yScale, yZero, ir.U8)
package ops
