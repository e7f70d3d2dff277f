package ops

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"weak"

	"github.com/ciuic/ciuic/ir"
	"github.com/ciuic/ciuic/ops/internal/gemm"
	"github.com/ciuic/ciuic/ops/internal/vec"
)

// ReferenceMatMulKernel and ReferenceGemmKernel are the portable reference kernels the
// fast ones replace, kept for tests and for comparison.
var (
	ReferenceMatMulKernel Kernel = matmulKernel
	ReferenceGemmKernel   Kernel = gemmKernel
)

// GemmImpl names the fp32 GEMM implementation in use: "avx512", "avx2" or "go".
func GemmImpl() string { return gemm.Impl() }

// GemmImpls lists the implementations this CPU and build can run, best first. Building
// with the purego tag leaves only "go".
func GemmImpls() []string { return gemm.Available() }

// SetGemmImpl forces an implementation ("" = best available), for tests and benchmarks.
// The environment variable CIUIC_GEMM does the same at start-up. Matrices packed before
// a switch are repacked on use.
func SetGemmImpl(name string) error { return gemm.SetImpl(name) }

// PackedMatrix is a constant K×N fp32 right-hand operand packed once for the GEMM
// microkernels. It is safe for concurrent use.
type PackedMatrix struct {
	K, N int
	p    *gemm.Packed
}

// PackB packs b (f32, 2-D, K×N) for Gemm. Pack constant weights once per session.
func PackB(ctx *KernelContext, b *Tensor) (*PackedMatrix, error) {
	if b.DType != ir.F32 || b.Rank() != 2 {
		return nil, fmt.Errorf("PackB: want a 2-D f32 matrix, got %s%v", b.DType, b.Shape)
	}
	K, N := b.Shape[0], b.Shape[1]
	return pack(ctx, b.F32(), K, N, N, false), nil
}

// PackBTransposed packs the matrix whose transpose is bt (f32, N×K), as Gemm's
// transB=1 and PyTorch's Linear weights store it.
func PackBTransposed(ctx *KernelContext, bt *Tensor) (*PackedMatrix, error) {
	if bt.DType != ir.F32 || bt.Rank() != 2 {
		return nil, fmt.Errorf("PackBTransposed: want a 2-D f32 matrix, got %s%v", bt.DType, bt.Shape)
	}
	N, K := bt.Shape[0], bt.Shape[1]
	return pack(ctx, bt.F32(), K, N, K, true), nil
}

// packs counts the matrices packed so far, by Prepack or per call (GemmPacks).
var packs atomic.Int64

// GemmPacks is how many weight matrices (f32 for the GEMM, 8-bit for the int8 GEMM)
// have been packed in this process, by Prepack or for a single call: a test of a session checks with it that constant
// weights are packed once, at session creation, and never by a run.
func GemmPacks() int64 { return packs.Load() }

// pack packs b (see gemm.PackB) and counts it.
func pack(ctx *KernelContext, b []float32, K, N, ldb int, trans bool) *PackedMatrix {
	packs.Add(1)
	return &PackedMatrix{K: K, N: N, p: gemm.PackB(par(ctx), b, K, N, ldb, trans)}
}

// Bytes is the memory the packed matrix holds.
func (m *PackedMatrix) Bytes() int { return m.p.Bytes() }

// prepacked maps constant tensors (by identity, weakly) to their packed form.
var prepacked sync.Map // weak.Pointer[Tensor] -> *PackedMatrix

// Prepack declares t (a 2-D f32 K×N matrix) constant for as long as it lives and packs
// it once: every later MatMul, Gemm or Dense call that gets this very *Tensor as its
// right operand uses the packed form instead of packing per call. The executor calls it
// at session creation for the constant right operands of MatMul/Gemm/Dense nodes. It is
// a no-op for tensors that are not 2-D. 8-bit (i8, u8) matrices are packed for the
// int8 GEMM (MatMulInteger, ciuic.DenseInt8, GemmInt8 through packedInt8For).
func Prepack(ctx *KernelContext, t *Tensor) error {
	if t != nil && t.Rank() == 2 && (t.DType == ir.I8 || t.DType == ir.U8) {
		return prepackInt8(ctx, t)
	}
	if t == nil || t.DType != ir.F32 || t.Rank() != 2 {
		return nil
	}
	p, err := PackB(ctx, t)
	if err != nil {
		return err
	}
	key := weak.Make(t)
	if _, loaded := prepacked.Swap(key, p); !loaded {
		runtime.AddCleanup(t, func(k weak.Pointer[Tensor]) { prepacked.Delete(k) }, key)
	}
	return nil
}

// packedFor returns the prepacked form of t, if any, packed for the current kernel.
func packedFor(ctx *KernelContext, t *Tensor) *PackedMatrix {
	v, ok := prepacked.Load(weak.Make(t))
	if !ok {
		return nil
	}
	p := v.(*PackedMatrix)
	if p.p.Kernel() != gemm.Impl() { // the implementation was switched (tests): repack
		if err := Prepack(ctx, t); err != nil {
			return nil
		}
		return packedFor(ctx, t)
	}
	return p
}

func par(ctx *KernelContext) gemm.Parallel {
	if ctx == nil || ctx.Parallel == nil {
		return nil
	}
	// The executor's parallel-for itself, not the method value ctx.ParallelFor (which
	// allocates on every call); gemm's run does ParallelFor's serial shortcut.
	return gemm.Parallel(ctx.Parallel)
}

// Gemm computes act(x·w + bias) for x (f32, [..., K]), a packed w (K×N) and an optional
// bias (f32, [N]); the result is [..., N]. act is one of ir.DenseActivations: "", "relu",
// "gelu", "gelu_tanh", "sigmoid", "tanh", "silu". Bias and activation are applied to each
// output tile as it is finished (no second pass over the output). This is the fast path
// of ciuic.Dense; results do not depend on ctx's worker count.
func Gemm(ctx *KernelContext, x *Tensor, w *PackedMatrix, bias *Tensor, act string) (*Tensor, error) {
	if x.DType != ir.F32 || x.Rank() < 1 {
		return nil, fmt.Errorf("Gemm: X must be f32 with rank >= 1, got %s%v", x.DType, x.Shape)
	}
	K := x.Shape[x.Rank()-1]
	if K != w.K {
		return nil, fmt.Errorf("Gemm: X %v has %d columns, W is %dx%d", x.Shape, K, w.K, w.N)
	}
	epi, err := epilogue(bias, act, w.N)
	if err != nil {
		return nil, err
	}
	shape := append(append([]int{}, x.Shape[:x.Rank()-1]...), w.N)
	out := New(ir.F32, shape...)
	M := x.Len() / max(1, K)
	if K == 0 {
		M = NumElems(x.Shape[:x.Rank()-1])
	}
	gemm.Mul(par(ctx), gemm.A{Data: x.F32(), M: M, LD: K}, w.p, gemm.C{Data: out.F32(), LD: w.N}, orNil(&epi))
	return out, nil
}

// GemmTensor is Gemm with an unpacked w (f32, K×N): it uses w's prepacked form if
// Prepack was called on it, else packs it for this call.
func GemmTensor(ctx *KernelContext, x, w, bias *Tensor, act string) (*Tensor, error) {
	p := packedFor(ctx, w)
	if p == nil {
		var err error
		if p, err = PackB(ctx, w); err != nil {
			return nil, fmt.Errorf("Gemm: W: %v", err)
		}
	}
	return Gemm(ctx, x, p, bias, act)
}

// epilogue is returned by value and passed to gemm.Mul as orNil(&epi): gemm.Mul does
// not keep the pointer, so the Epilogue stays on the caller's stack.
func epilogue(bias *Tensor, act string, n int) (gemm.Epilogue, error) {
	var epi gemm.Epilogue
	if bias != nil {
		if bias.DType != ir.F32 || bias.Len() != n {
			return gemm.Epilogue{}, fmt.Errorf("Gemm: bias must be f32 with %d elements, got %s%v", n, bias.DType, bias.Shape)
		}
		epi.Bias = bias.F32()
	}
	f, ok := activations[act]
	if !ok {
		return gemm.Epilogue{}, fmt.Errorf("Gemm: unknown activation %q (want one of %q)", act, ir.DenseActivations)
	}
	epi.Act = f
	return epi, nil
}

// orNil is epi for gemm.Mul: nil when there is nothing to apply.
func orNil(epi *gemm.Epilogue) *gemm.Epilogue {
	if epi.Bias == nil && epi.Act == nil {
		return nil
	}
	return epi
}

// activations are the Dense epilogues, in place on one row segment: the float32
// approximations of package vec (1e-6 relative; see its tests), so that the epilogue
// costs a fraction of the GEMM.
var activations = map[string]func([]float32){
	"":          nil,
	"relu":      func(x []float32) { vec.Relu(x, x) },
	"gelu":      func(x []float32) { vec.Gelu(x, x) },
	"gelu_tanh": func(x []float32) { vec.GeluTanh(x, x) },
	"sigmoid":   func(x []float32) { vec.Sigmoid(x, x) },
	"tanh":      func(x []float32) { vec.Tanh(x, x) },
	"silu":      func(x []float32) { vec.Silu(x, x) },
}

func fastMatMulKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 2); err != nil {
		return nil, err
	}
	out, err := FastMatMul(ctx, in[0], in[1])
	if err != nil {
		return nil, err
	}
	return one(out), nil
}

// FastMatMul is MatMul (numpy.matmul semantics, batch broadcasting) through the packed
// GEMM for f32; other dtypes go to the reference MatMul.
func FastMatMul(ctx *KernelContext, a, b *Tensor) (*Tensor, error) {
	if a.DType != ir.F32 || b.DType != ir.F32 || a.Rank() == 0 || b.Rank() == 0 {
		return MatMul(ctx, a, b)
	}
	mm, err := matmulShape(a, b)
	if err != nil {
		return nil, err
	}
	M, K, N, batch, abatch, bbatch, shape := mm.M, mm.K, mm.N, mm.batch, mm.abatch, mm.bbatch, mm.shape
	out := New(ir.F32, shape...)
	if out.Len() == 0 {
		return out, nil
	}
	ad, bd, cd := a.F32(), b.F32(), out.F32()
	nb := NumElems(batch)
	if NumElems(bbatch) == 1 && b.Rank() == 2 {
		// One weight matrix for the whole batch: a single (batch·M)×K GEMM. A's batch
		// broadcasts only if it is the full batch, so its rows are contiguous.
		if NumElems(abatch) == nb {
			p := packedFor(ctx, b)
			if p == nil {
				p = pack(ctx, bd, K, N, N, false)
			}
			gemm.Mul(par(ctx), gemm.A{Data: ad, M: nb * M, LD: K}, p.p, gemm.C{Data: cd, LD: N}, nil)
			return out, nil
		}
	}
	ai, bi := bcastIndex(batch, abatch), bcastIndex(batch, bbatch)
	item := func(i int, pr gemm.Parallel) {
		x := ad[ai[i]*M*K:][:M*K]
		w := bd[bi[i]*K*N:][:K*N]
		c := cd[i*M*N:][:M*N]
		if M == 1 {
			gemm.MulRows(pr, x, w, K, N, N, c, nil)
			return
		}
		p := gemm.PackB(pr, w, K, N, N, false)
		gemm.Mul(pr, gemm.A{Data: x, M: M, LD: K}, p, gemm.C{Data: c, LD: N}, nil)
	}
	if nb == 1 {
		item(0, par(ctx))
		return out, nil
	}
	// Many small products (attention heads): one worker per batch item.
	ctx.ParallelFor(nb, max(1, (1<<18)/max(1, 2*M*N*K)), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			item(i, nil)
		}
	})
	return out, nil
}

// fastGemmKernel is ONNX Gemm for f32: alpha = beta = 1 with C a bias row (the Linear
// layer of exported models) goes through the packed GEMM; anything else falls back to
// the reference kernel.
func fastGemmKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 2); err != nil {
		return nil, err
	}
	a, b, c := in[0], in[1], input(in, 2)
	transA, transB := attrs.Int("transA", 0) != 0, attrs.Int("transB", 0) != 0
	simple := a.Rank() == 2 && b.Rank() == 2 && attrs.Float("alpha", 1) == 1 && attrs.Float("beta", 1) == 1 &&
		(c == nil || c.DType == ir.F32 && (c.Rank() == 1 || c.Rank() == 2 && c.Shape[0] == 1))
	if !simple {
		return gemmKernel(ctx, in, attrs)
	}
	M, K := a.Shape[0], a.Shape[1]
	if transA {
		M, K = K, M
	}
	K2, N := b.Shape[0], b.Shape[1]
	if transB {
		K2, N = N, K2
	}
	if K != K2 || (c != nil && c.Len() != N) {
		return gemmKernel(ctx, in, attrs) // its error messages
	}
	var p *PackedMatrix
	if !transB {
		p = packedFor(ctx, b)
	}
	if p == nil {
		ldb := N
		if transB {
			ldb = K
		}
		p = pack(ctx, b.F32(), K, N, ldb, transB)
	}
	var epi gemm.Epilogue
	if c != nil {
		epi.Bias = c.F32()
	}
	out := New(ir.F32, M, N)
	lda := K
	if transA {
		lda = M
	}
	gemm.Mul(par(ctx), gemm.A{Data: a.F32(), M: M, LD: lda, Trans: transA}, p.p, gemm.C{Data: out.F32(), LD: N}, orNil(&epi))
	return one(out), nil
}
