package ops

import "github.com/ciuic/ciuic/ops/internal/vec"

// VecImpl names the implementation of the vectorised float32 math (exp, erf, tanh,
// sigmoid, Gelu; used by the fast unary, Softmax and normalization kernels and by the
// GEMM epilogues): "avx512" or "go".
func VecImpl() string { return vec.Impl() }

// VecImpls lists the implementations this CPU and build can run, best first.
func VecImpls() []string { return vec.Available() }

// SetVecImpl forces an implementation ("" = best available), for tests and benchmarks;
// the environment variable CIUIC_VEC does the same at start-up.
func SetVecImpl(name string) error { return vec.SetImpl(name) }
