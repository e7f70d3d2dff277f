package sparse

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ciuic/ciuic/ir"
	"github.com/ciuic/ciuic/ops"
)

// BenchmarkAttention compares ciuic.SparseAttention with a causal window of 256 against
// dense ciuic.Attention computing the same thing with a banded -inf mask [1, 1, n, n]
// (the graph the rewrite replaces), 8 heads of 64, batch 1, over all CPUs:
//
//	sparse      the registered tiled kernel (packed GEMM on tiles, streaming softmax)
//	sparse-rows the plain-Go row kernel
//	dense       the registered ciuic.Attention (packed GEMM, 64-query blocks of scores)
//	dense-ref   ciuic.Attention's reference row kernel (skipped at 16384: minutes per call)
//
// Metrics: ns/op (wall); cpu-ms/op, CPU time of all threads per call (steadier on a
// shared machine); alloc-MB, what the kernel allocates per call (output and scratch);
// mask-MB, the mask dense attention needs as an input; heap-inuse-MB, the heap after the
// last call (inputs, mask and live scratch).
//
//	go test ./ops/sparse -run NONE -bench Attention -benchtime=3x
func BenchmarkAttention(b *testing.B) {
	const H, D, W = 8, 64, 256
	for _, n := range []int{1024, 4096, 16384} {
		r := rand.New(rand.NewPCG(1, uint64(n)))
		q, k, v := randTensor(r, 1, n, H*D), randTensor(r, 1, n, H*D), randTensor(r, 1, n, H*D)
		pat := Pattern{Causal: true, WindowLeft: W - 1, WindowRight: 0}
		attrs := pat.Attrs()
		attrs["num_heads"] = ir.IntAttr(H)
		for _, c := range []struct {
			name string
			k    ops.Kernel
		}{{"sparse", tiledKernel}, {"sparse-rows", kernel}} {
			b.Run(fmt.Sprintf("%s/n=%d", c.name, n), func(b *testing.B) {
				run(b, func() error {
					_, err := c.k(cpus(), []*ops.Tensor{q, k, v}, attrs)
					return err
				}, 0)
			})
		}
		var mask *ops.Tensor
		fast, _ := ops.Lookup(ir.CiuicDomain, "Attention", ir.F32)
		for _, c := range []struct {
			name string
			k    ops.Kernel
		}{{"dense", fast}, {"dense-ref", ops.ReferenceAttentionKernel}} {
			b.Run(fmt.Sprintf("%s/n=%d", c.name, n), func(b *testing.B) {
				if c.name == "dense-ref" && n > 4096 {
					b.Skip("minutes per call")
				}
				if mask == nil {
					mask = patternMask(pat, 1, n, n)
				}
				run(b, func() error {
					_, err := c.k(cpus(), []*ops.Tensor{q, k, v, mask}, ir.Attrs{"num_heads": ir.IntAttr(H)})
					return err
				}, int64(mask.Len()*4))
			})
		}
	}
}

func run(b *testing.B, f func() error, maskBytes int64) {
	b.ReportAllocs()
	var before, after runtime.MemStats
	var ru0, ru1 syscall.Rusage
	runtime.GC()
	runtime.ReadMemStats(&before)
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	for b.Loop() {
		if err := f(); err != nil {
			b.Fatal(err)
		}
	}
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	runtime.ReadMemStats(&after)
	// CPU time (user + system, all threads) is steadier than wall time on a shared machine.
	cpu := time.Duration(ru1.Utime.Nano()-ru0.Utime.Nano()+ru1.Stime.Nano()-ru0.Stime.Nano()) / time.Duration(b.N)
	b.ReportMetric(float64(cpu)/1e6, "cpu-ms/op")
	b.ReportMetric(float64(after.HeapInuse)/(1<<20), "heap-inuse-MB")
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(b.N)/(1<<20), "alloc-MB")
	b.ReportMetric(float64(maskBytes)/(1<<20), "mask-MB")
}

// cpus is a KernelContext that splits work as the executor does: at most four chunks
// per CPU, GOMAXPROCS goroutines taking them in turn.
func cpus() *ops.KernelContext {
	workers := runtime.GOMAXPROCS(0)
	return &ops.KernelContext{NumOutputs: 1, Parallel: func(n, grain int, fn func(lo, hi int)) {
		chunks := min((n+grain-1)/grain, 4*workers)
		size := (n + chunks - 1) / chunks
		var next atomic.Int64
		var wg sync.WaitGroup
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					lo := int(next.Add(1)-1) * size
					if lo >= n {
						return
					}
					fn(lo, min(n, lo+size))
				}
			}()
		}
		wg.Wait()
	}}
}

// BenchmarkGPT is one causal attention node of the benchmark GPT (gpt4l_d256: batch 1,
// 128 tokens, 4 heads of 64) on one thread, the shape issue 6 measures.
//
//	go test ./ops/sparse -run NONE -bench GPT -cpu 1
func BenchmarkGPT(b *testing.B) {
	const S, H, D = 128, 4, 64
	r := rand.New(rand.NewPCG(3, 4))
	q, k, v := randTensor(r, 1, S, H*D), randTensor(r, 1, S, H*D), randTensor(r, 1, S, H*D)
	attrs := Pattern{Causal: true, WindowLeft: -1, WindowRight: -1}.Attrs()
	attrs["num_heads"] = ir.IntAttr(H)
	in := []*ops.Tensor{q, k, v}
	ctx := &ops.KernelContext{}
	b.Run("sparse", func(b *testing.B) {
		run(b, func() error {
			_, err := tiledKernel(ctx, in, attrs)
			return err
		}, 0)
	})
	into, _, _ := ops.LookupInto(Domain, Op, ir.F32)
	if into == nil {
		return
	}
	b.Run("sparse-into", func(b *testing.B) {
		out := []*ops.Tensor{ops.New(ir.F32, 1, S, H*D)}
		run(b, func() error { return into(ctx, in, out, attrs) }, 0)
	})
}
