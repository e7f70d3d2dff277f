package ops

import (
	"fmt"
	"sync"

	"github.com/ciuic/ciuic/ir"
	"github.com/ciuic/ciuic/ops/internal/gemm"
)

// Into-variants of the kernels a compiled plan runs most: f32 elementwise arithmetic,
// f32 unary functions, MatMul and ciuic.Dense. Each computes exactly what the op's
// registered kernel computes (TestIntoMatchesKernel checks it bit for bit); the
// difference is only where the result goes. Cases they do not cover (other dtypes,
// general broadcasting, batched weights) go through the allocating kernel and a copy.

func init() {
	for _, op := range []string{"Add", "Sub", "Mul", "Div"} {
		RegisterInto("", op, arithInto(op), true, ir.F32)
	}
	for name, fu := range floatUnaries {
		RegisterInto("", name, unaryInto(name, fu), true, ir.F32)
	}
	for name, f := range numUnaries {
		f := f
		RegisterInto("", name, unaryInto(name, func(ir.Attrs) (func(float64) float64, error) { return f, nil }), true, ir.F32)
	}
	RegisterInto("", "MatMul", matmulInto, false, ir.F32)
	RegisterInto(ir.CiuicDomain, "Dense", denseInto, false, ir.F32)
	// KVCacheUpdate writes its cache (input 0) and returns it (ops/llm_rope.go).
	RegisterUpdate(ir.CiuicDomain, "KVCacheUpdate", 0)
}

// serial reports whether a loop over n elements runs on the calling goroutine; only
// then can it avoid building a closure for the parallel-for (an allocation per call).
func serial(ctx *KernelContext, n, grain int) bool {
	return ctx == nil || ctx.Parallel == nil || n <= grain
}

func fallbackInto(ctx *KernelContext, k Kernel, in, out []*Tensor, attrs ir.Attrs) error {
	res, err := k(ctx, in, attrs)
	if err != nil {
		return err
	}
	for i, o := range out {
		if o != nil && i < len(res) && res[i] != nil {
			if err := CopyInto(o, res[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

// suffixOf reports whether small broadcasts along leading dims only: its shape, leading
// 1s removed, is the tail of shape.
func suffixOf(small, shape []int) bool {
	for len(small) > 0 && small[0] == 1 {
		small = small[1:]
	}
	if len(small) > len(shape) {
		return false
	}
	return sameShape(small, shape[len(shape)-len(small):])
}

func arithInto(op string) KernelInto {
	f := arithFn[float32](op)
	ref := binaryKernel(op)
	return func(ctx *KernelContext, in, out []*Tensor, attrs ir.Attrs) error {
		if err := need(in, 2); err != nil {
			return err
		}
		a, b, o := in[0], in[1], out[0]
		if a.DType != ir.F32 || b.DType != ir.F32 || o.DType != ir.F32 {
			return fallbackInto(ctx, ref, in, out, attrs)
		}
		x, y, z := a.F32(), b.F32(), o.F32()
		n := len(z)
		// The parallel loop: all operands full (0), y (1) or x (2) repeated along leading dims.
		bcast := 0
		switch {
		case sameShape(a.Shape, o.Shape) && sameShape(b.Shape, o.Shape):
			if serial(ctx, n, elemGrain) {
				for i := range z {
					z[i] = f(x[i], y[i])
				}
				return nil
			}
		case sameShape(a.Shape, o.Shape) && len(y) > 0 && suffixOf(b.Shape, o.Shape):
			nb := len(y)
			if serial(ctx, n, elemGrain) {
				for i := 0; i < n; i += nb {
					zr, xr := z[i:i+nb], x[i:i+nb]
					for j := range zr {
						zr[j] = f(xr[j], y[j])
					}
				}
				return nil
			}
			bcast = 1
		case sameShape(b.Shape, o.Shape) && len(x) > 0 && suffixOf(a.Shape, o.Shape):
			na := len(x)
			if serial(ctx, n, elemGrain) {
				for i := 0; i < n; i += na {
					zr, yr := z[i:i+na], y[i:i+na]
					for j := range zr {
						zr[j] = f(x[j], yr[j])
					}
				}
				return nil
			}
			bcast = 2
		default:
			return fallbackInto(ctx, ref, in, out, attrs)
		}
		j := elemJobs.Get().(*elemJob)
		j.x, j.y, j.z, j.arith = x, y, z, f
		j.run(ctx, n, [...]func(lo, hi int){j.arithFn, j.arithYFn, j.arithXFn}[bcast])
		return nil
	}
}

// elemJob is one call of an elementwise into-variant whose elements the parallel-for
// splits: its operands, and the method values of its loops made once when the pool
// creates the job (a closure handed to the parallel-for would be allocated on every
// call).
type elemJob struct {
	x, y, z []float32
	arith   func(a, b float32) float32
	unary   func(float64) float64
	vecf    func(dst, src []float32)

	arithFn, arithXFn, arithYFn, unaryFn, vecFn func(lo, hi int)
}

var elemJobs = sync.Pool{New: func() any {
	j := new(elemJob)
	j.arithFn, j.arithXFn, j.arithYFn = j.arithAll, j.arithBcastX, j.arithBcastY
	j.unaryFn, j.vecFn = j.unaryAll, j.vecAll
	return j
}}

// run runs loop (one of j's loops) over n elements in chunks of elemGrain and puts j
// back in the pool, keeping no tensor alive there.
func (j *elemJob) run(ctx *KernelContext, n int, loop func(lo, hi int)) {
	ctx.ParallelFor(n, elemGrain, loop)
	j.x, j.y, j.z, j.arith, j.unary, j.vecf = nil, nil, nil, nil, nil, nil
	elemJobs.Put(j)
}

func (j *elemJob) arithAll(lo, hi int) {
	x, y, z, f := j.x, j.y, j.z, j.arith
	for i := lo; i < hi; i++ {
		z[i] = f(x[i], y[i])
	}
}

// arithBcastY is arithAll with y repeated along the leading dims (len(y) divides n).
func (j *elemJob) arithBcastY(lo, hi int) {
	x, y, z, f, nb := j.x, j.y, j.z, j.arith, len(j.y)
	for i := lo; i < hi; i++ {
		z[i] = f(x[i], y[i%nb])
	}
}

// arithBcastX is arithAll with x repeated along the leading dims.
func (j *elemJob) arithBcastX(lo, hi int) {
	x, y, z, f, na := j.x, j.y, j.z, j.arith, len(j.x)
	for i := lo; i < hi; i++ {
		z[i] = f(x[i%na], y[i])
	}
}

func (j *elemJob) unaryAll(lo, hi int) {
	x, z, f := j.x, j.z, j.unary
	for i := lo; i < hi; i++ {
		z[i] = float32(f(float64(x[i])))
	}
}

func (j *elemJob) vecAll(lo, hi int) { j.vecf(j.z[lo:hi], j.x[lo:hi]) }

func unaryInto(name string, fu floatUnary) KernelInto {
	return func(ctx *KernelContext, in, out []*Tensor, attrs ir.Attrs) error {
		if err := need(in, 1); err != nil {
			return err
		}
		x, o := in[0], out[0]
		if x.DType != ir.F32 || o.DType != ir.F32 || !sameShape(x.Shape, o.Shape) {
			k, _ := Lookup("", name, x.DType)
			if k == nil {
				return fmt.Errorf("%s: no kernel for %s", name, x.DType)
			}
			return fallbackInto(ctx, k, in, out, attrs)
		}
		f, err := fu(attrs)
		if err != nil {
			return err
		}
		xs, zs := x.F32(), o.F32()
		if serial(ctx, len(zs), elemGrain) {
			for i, v := range xs {
				zs[i] = float32(f(float64(v)))
			}
			return nil
		}
		j := elemJobs.Get().(*elemJob)
		j.x, j.z, j.unary = xs, zs, f
		j.run(ctx, len(zs), j.unaryFn)
		return nil
	}
}

// matmulInto is FastMatMul's single-weight path (one K×N matrix for the whole batch,
// packed once) writing into out; the other shapes go through FastMatMul and a copy.
func matmulInto(ctx *KernelContext, in, out []*Tensor, attrs ir.Attrs) error {
	if err := need(in, 2); err != nil {
		return err
	}
	a, b, o := in[0], in[1], out[0]
	if a.DType != ir.F32 || b.DType != ir.F32 || a.Rank() < 2 || b.Rank() != 2 || o.DType != ir.F32 {
		return fallbackInto(ctx, fastMatMulKernel, in, out, attrs)
	}
	K, N := b.Shape[0], b.Shape[1]
	r := a.Rank()
	if a.Shape[r-1] != K || o.Rank() != r || o.Shape[r-1] != N || !sameShape(o.Shape[:r-1], a.Shape[:r-1]) {
		return fallbackInto(ctx, fastMatMulKernel, in, out, attrs)
	}
	if o.Len() == 0 {
		return nil
	}
	p := packedFor(ctx, b)
	if p == nil {
		p = &PackedMatrix{K: K, N: N, p: gemm.PackB(par(ctx), b.F32(), K, N, N, false)}
	}
	M := a.Len() / max(1, K)
	if K == 0 {
		M = o.Len() / max(1, N)
	}
	gemm.Mul(par(ctx), gemm.A{Data: a.F32(), M: M, LD: K}, p.p, gemm.C{Data: o.F32(), LD: N}, nil)
	return nil
}

// denseInto is denseKernel writing into out (through DenseInto).
func denseInto(ctx *KernelContext, in, out []*Tensor, attrs ir.Attrs) error {
	if err := need(in, 2); err != nil {
		return err
	}
	x, w, b, y := in[0], in[1], input(in, 2), out[0]
	ok := x.DType == ir.F32 && w.DType == ir.F32 && (b == nil || b.DType == ir.F32) && y.DType == ir.F32 &&
		w.Rank() == 2 && x.Rank() > 0 && x.Shape[x.Rank()-1] == w.Shape[0] &&
		(b == nil || b.Rank() == 1 && b.Shape[0] == w.Shape[1]) &&
		y.Rank() == x.Rank() && y.Shape[y.Rank()-1] == w.Shape[1] && sameShape(y.Shape[:y.Rank()-1], x.Shape[:x.Rank()-1])
	if !ok {
		return fallbackInto(ctx, denseKernel, in, out, attrs)
	}
	return DenseInto(ctx, x, w, b, attrs.String("activation", ""), y.F32())
}
