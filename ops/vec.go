package ops

import "github.com/ciuic/ciuic/ops/internal/vec"

// VecImpl names the implementation of the vectorised float32 math (exp, erf, tanh,
// sigmoid, Gelu; used by the fast unary, Softmax and normalization kernels and by the
// GEMM epilogues): "avx512", "avx2" (only the row kernels of the int8 dequantization
// and the normalizations in assembly) or "go".
func VecImpl() string { return vec.Impl() }

// VecImpls lists the implementations this CPU and build can run, best first.
func VecImpls() []string { return vec.Available() }

// SetVecImpl forces an implementation ("" = best available), for tests and benchmarks;
// the environment variable CIUIC_VEC does the same at start-up.
func SetVecImpl(name string) error { return vec.SetImpl(name) }

// QuantizeU8Into sets q[i] = saturate(roundHalfEven(x[i] / scale) + zp) to [0, 255] with
// the division in float32 (ONNX QuantizeLinear's u8 rule, bit for bit; AVX-512 where
// available): the activation quantization of the int8 GEMM. scale must not be 0.
func QuantizeU8Into(q []uint8, x []float32, scale float32, zp int32) { vec.QuantizeU8(q, x, scale, zp) }

// MinMaxF32 returns the minimum and maximum of x (+Inf, -Inf if x is empty;
// unspecified with NaNs), for dynamic quantization ranges.
func MinMaxF32(x []float32) (lo, hi float32) { return vec.MinMax(x) }
