package ops

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/ciuic/ciuic/ir"
)

// BenchmarkGemm reports GFLOPS of the registered f32 MatMul (weights prepacked, as a
// session does) for each implementation at 1 and 2 threads, on the shapes and
// the MatMul shapes of ../shared/bench (the MLP 768/3072 layers, gpt4l_d256's).
func BenchmarkGemm(b *testing.B) {
	defer SetGemmImpl("")
	shapes := [][3]int{ // M, K, N
		{128, 1024, 1024}, {1, 1024, 1024}, {1024, 1024, 1024},
		{128, 768, 3072}, {128, 3072, 768}, // mlp_*_m128_768_3072
		{128, 256, 1024}, {128, 1024, 256}, {128, 256, 512}, // gpt4l_d256 MLP and LM head
	}
	k, _ := Lookup("", "MatMul", ir.F32)
	for _, impl := range GemmImpls() {
		for _, s := range shapes {
			for _, threads := range []int{1, 2} {
				M, K, N := s[0], s[1], s[2]
				if impl == "go" && (M*K*N > 1<<28 || threads > 1) {
					continue
				}
				b.Run(fmt.Sprintf("%s/%dx%dx%d/t%d", impl, M, K, N, threads), func(b *testing.B) {
					SetGemmImpl(impl)
					r := rand.New(rand.NewPCG(1, 1))
					x, w := gemmRand(r, M, K), gemmRand(r, K, N)
					if err := Prepack(nil, w); err != nil {
						b.Fatal(err)
					}
					ctx := &KernelContext{}
					if threads > 1 {
						ctx = workers(threads)
					}
					for b.Loop() {
						if _, err := k(ctx, []*Tensor{x, w}, nil); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(2*float64(M*N*K)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOPS")
				})
			}
		}
	}
}

// BenchmarkDenseGelu is one MLP layer with its fused epilogue: the cost of the bias and
// exact-erf Gelu pass on top of the GEMM.
func BenchmarkDenseGelu(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	x, w, bias := gemmRand(r, 128, 768), gemmRand(r, 768, 3072), gemmRand(r, 3072)
	p, _ := PackB(nil, w)
	for _, act := range []string{"", "gelu"} {
		b.Run("act="+act, func(b *testing.B) {
			for b.Loop() {
				Gemm(nil, x, p, bias, act)
			}
			b.ReportMetric(2*128*768*3072*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOPS")
		})
	}
}

// BenchmarkGemmInt8 reports GOPS (2 per multiply-add) of GemmInt8 (weights prepacked,
// dequantizing epilogue) for each int8 implementation, and of the MatMulInteger kernel.
func BenchmarkGemmInt8(b *testing.B) {
	defer SetGemmInt8Impl("")
	for _, impl := range GemmInt8Impls() {
		for _, s := range [][3]int{{128, 1024, 1024}, {1, 1024, 1024}, {128, 768, 3072}} {
			for _, threads := range []int{1, 2} {
				M, K, N := s[0], s[1], s[2]
				if impl == "go" && threads > 1 {
					continue
				}
				b.Run(fmt.Sprintf("%s/%dx%dx%d/t%d", impl, M, K, N, threads), func(b *testing.B) {
					SetGemmInt8Impl(impl)
					r := rand.New(rand.NewPCG(1, 1))
					a, wt := randInt8Tensor(r, ir.U8, M, K), randInt8Tensor(r, ir.I8, K, N)
					w, _ := PackInt8(nil, wt)
					ctx := &KernelContext{}
					if threads > 1 {
						ctx = workers(threads)
					}
					for b.Loop() {
						if _, err := GemmInt8(ctx, a, 0.01, 128, w, []float32{0.02}, nil, nil, ""); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(2*float64(M*N*K)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GOPS")
				})
			}
		}
	}
	b.Run("MatMulInteger/128x1024x1024/reference", func(b *testing.B) {
		r := rand.New(rand.NewPCG(1, 1))
		a, w := randInt8Tensor(r, ir.U8, 128, 1024), randInt8Tensor(r, ir.I8, 1024, 1024)
		for b.Loop() {
			matMulIntegerKernel(nil, []*Tensor{a, w}, nil)
		}
		b.ReportMetric(2*128*1024*1024*float64(b.N)/b.Elapsed().Seconds()/1e9, "GOPS")
	})
}

// BenchmarkRowOps reports elements per second of the fast Softmax, LayerNormalization and
// Gelu kernels and of the reference ones, on one thread (rows of the MLP and attention).
func BenchmarkRowOps(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	for _, shape := range [][2]int{{128, 3072}, {512, 128}} {
		x := gemmRand(r, shape[0], shape[1])
		scale, bias := gemmRand(r, shape[1]), gemmRand(r, shape[1])
		for _, c := range []struct {
			op string
			in []*Tensor
		}{{"Softmax", []*Tensor{x}}, {"LayerNormalization", []*Tensor{x, scale, bias}}, {"Gelu", []*Tensor{x}}} {
			fast, _ := Lookup("", c.op, ir.F32)
			ref, _ := ReferenceKernel("", c.op)
			for _, k := range []struct {
				name string
				k    Kernel
			}{{"fast", fast}, {"reference", ref}} {
				b.Run(fmt.Sprintf("%s/%dx%d/%s", c.op, shape[0], shape[1], k.name), func(b *testing.B) {
					for b.Loop() {
						if _, err := k.k(nil, c.in, nil); err != nil {
							b.Fatal(err)
						}
					}
					b.ReportMetric(float64(x.Len())*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gelem/s")
				})
			}
		}
	}
}
