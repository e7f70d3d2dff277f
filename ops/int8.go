package ops

import (
	"fmt"
	"math"
	"runtime"
	"strings"
	"sync"
	"unsafe"
	"weak"

	"github.com/ciuic/ciuic/ir"
	"github.com/ciuic/ciuic/ops/internal/gemm"
	"github.com/ciuic/ciuic/ops/internal/vec"
)

// Int8 GEMM API (for passes/quantize and the integer kernels).
//
// The product is exact: acc[i][j] = Σ_k (A[i][k] - aZero) · (W[k][j] - wZero[j]) in
// int32, with A u8 and W s8 (or u8: see PackInt8), computed by the VNNI kernel
// (AVX-512 VPDPBUSD) where the CPU has it and by Go otherwise; the zero points are
// folded in afterwards from W's column sums and A's row sums. The epilogue then either
// dequantizes,
//
//	GemmInt8:        y[i][j] = act(float32(acc) · (aScale · wScale[j]) + bias[j])   (f32)
//
// (the scale product rounded to float32 first, as onnxruntime's MatMulInteger -> Cast ->
// Mul(scale) -> Add(bias) computes it), or requantizes,
//
//	GemmInt8Requant: q[i][j] = saturate(roundHalfEven(y[i][j] / yScale) + yZero)       (u8 or s8)
//
// Typical use: pack the constant weight once (PackInt8, or Prepack for a graph
// constant), quantize the activations (DynamicQuantizeLinear or a calibrated scale),
// call GemmInt8.

// GemmInt8Impl names the int8 GEMM implementation in use: "vnni" or "go".
func GemmInt8Impl() string { return gemm.ImplI8() }

// GemmInt8Impls lists the int8 implementations this CPU and build can run, best first.
func GemmInt8Impls() []string { return gemm.AvailableI8() }

// SetGemmInt8Impl forces an int8 implementation ("" = best), for tests and benchmarks;
// CIUIC_GEMM_INT8 does the same at start-up. Matrices packed before a switch are
// repacked on use by the kernels that find them through Prepack.
func SetGemmInt8Impl(name string) error { return gemm.SetImplI8(name) }

// PackedInt8 is a K×N 8-bit weight matrix packed for the int8 GEMM, with its column
// sums. Safe for concurrent use.
type PackedInt8 struct {
	K, N int
	// flip is set for u8 weights: the kernel multiplies u8 by s8, so u8 weights are
	// stored as w-128 (s8) and their zero points shift by -128 to match.
	flip bool
	p    *gemm.PackedI8
}

// Bytes is the memory the packed matrix holds.
func (w *PackedInt8) Bytes() int { return w.p.Bytes() }

// PackInt8 packs w (i8 or u8, 2-D K×N) for GemmInt8 and MatMulInteger.
func PackInt8(ctx *KernelContext, w *Tensor) (*PackedInt8, error) {
	if w.Rank() != 2 {
		return nil, fmt.Errorf("PackInt8: want a 2-D matrix, got %v", w.Shape)
	}
	K, N := w.Shape[0], w.Shape[1]
	switch w.DType {
	case ir.I8:
		return PackInt8Slice(ctx, Elems[int8](w), K, N), nil
	case ir.U8:
		packs.Add(1)
		return &PackedInt8{K: K, N: N, flip: true, p: gemm.PackI8Rows(par(ctx), Elems[uint8](w), K, N, true)}, nil
	}
	return nil, fmt.Errorf("PackInt8: want i8 or u8, got %s", w.DType)
}

// PackInt8Slice packs s8 weights given row-major (K×N, element (k, j) at w[k*N+j]).
func PackInt8Slice(ctx *KernelContext, w []int8, K, N int) *PackedInt8 {
	packs.Add(1)
	b := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(w))), len(w))
	return &PackedInt8{K: K, N: N, p: gemm.PackI8Rows(par(ctx), b, K, N, false)}
}

// prepackedI8 maps constant 8-bit tensors (weakly, by identity) to their packed form.
var prepackedI8 sync.Map // weak.Pointer[Tensor] -> *PackedInt8

func prepackInt8(ctx *KernelContext, t *Tensor) error {
	p, err := PackInt8(ctx, t)
	if err != nil {
		return err
	}
	key := weak.Make(t)
	if _, loaded := prepackedI8.Swap(key, p); !loaded {
		runtime.AddCleanup(t, func(k weak.Pointer[Tensor]) { prepackedI8.Delete(k) }, key)
	}
	return nil
}

// packedInt8For returns t's prepacked form (packed for the current kernel), or packs
// it for this call.
func packedInt8For(ctx *KernelContext, t *Tensor) (*PackedInt8, error) {
	if v, ok := prepackedI8.Load(weak.Make(t)); ok {
		p := v.(*PackedInt8)
		if p.p.Kernel() == gemm.ImplI8() {
			return p, nil
		}
		if err := prepackInt8(ctx, t); err != nil {
			return nil, err
		}
		return packedInt8For(ctx, t)
	}
	return PackInt8(ctx, t)
}

// int8Product is one exact integer product: A (u8, M×K row-major) with zero points
// aZero (len 1 or M) times w with zero points wZero (nil, len 1 or N; in w's dtype).
type int8Product struct {
	a     []uint8
	M, K  int
	aZero []int32
	w     *PackedInt8
	wZero []int32
}

// run computes acc = Σ (a - aZero)(w - wZero) into c (M×N int32, row-major) and, with
// deq, dequantizes each finished row segment into deq.y (c may be deq.y's memory:
// asInt32); without deq, c holds the exact sums.
//
// Σ(a-za)(w-zw) = Σaw - za·Σ_k w + zw·(K·za - Σ_k a): with one za the first two
// corrections are per column and precomputed (colAdd); the last is per row and column
// and only there when some zw != 0. Without zw, with one activation scale and zero
// point or one per row, gemm.MulI8Dequant corrects, scales and biases each tile as it
// stores it, and activates the finished blocks in place.
func (o *int8Product) run(ctx *KernelContext, c []int32, deq *dequantF32) {
	j := int8Jobs.Get().(*int8Job)
	j.o, j.hasDeq = *o, deq != nil
	if deq != nil {
		j.deq = *deq // a copy: deq stays on the caller's stack
	}
	a, d := gemm.AI8{Data: o.a, M: o.M, LD: o.K}, &j.deq
	switch j.prepare() {
	case epiTensor:
		gemm.MulI8Dequant(par(ctx), a, o.w.p, c, o.w.N,
			&gemm.DequantI8{Y: d.y, ColAdd: j.colAdd, Scale: j.scale, Bias: j.bias, Act: d.act})
	case epiRows:
		gemm.MulI8Dequant(par(ctx), a, o.w.p, c, o.w.N, &gemm.DequantI8{Y: d.y, ColAdd: o.w.p.ColSum,
			Scale: j.scales, Bias: j.bias, RowZero: j.rowZero, RowScale: d.aScale, Act: d.act})
	default:
		gemm.MulI8(par(ctx), a, o.w.p, c, o.w.N, j.slowEpi)
	}
	j.o, j.deq = int8Product{}, dequantF32{} // drop the caller's data before pooling the job
	int8Jobs.Put(j)
}

// int8Job is one int8Product.run call: its per-column and per-row terms and its
// epilogues, pooled so that a call in steady state allocates nothing (the epilogues
// are method values, bound once when the job is made).
type int8Job struct {
	o             int8Product
	deq           dequantF32
	hasDeq, anyWZ bool
	zw, colAdd    []int32   // w's zero points in the packed (s8) domain; -za·Σw + zw·K·za for one za
	rowSum        []int32   // Σ_k a per row, when some zw != 0
	rowZero       []int32   // -aZero per row, for epiRows
	scale, bias   []float32 // aScale·wScale[j] for one aScale (else nil); the bias or zeros
	scales, zeros []float32 // the job's own memory behind scale and bias
	slowEpi       gemm.EpilogueI8
}

var int8Jobs = sync.Pool{New: func() any {
	j := &int8Job{}
	j.slowEpi = j.slowSegment
	return j
}}

// resized returns s with length n, reusing its memory when it is large enough.
func resized[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

// prepare computes the job's per-column and per-row terms and returns the epilogue
// that applies.
func (j *int8Job) prepare() int {
	o, w := &j.o, j.o.w
	N, K := w.N, o.K
	j.zw = resized(j.zw, N)
	j.anyWZ = false
	for c := range j.zw {
		z := int32(0)
		switch len(o.wZero) {
		case 0:
		case 1:
			z = o.wZero[0]
		default:
			z = o.wZero[c]
		}
		if w.flip {
			z -= 128
		}
		j.zw[c] = z
		j.anyWZ = j.anyWZ || z != 0
	}
	if j.anyWZ {
		j.rowSum = resized(j.rowSum, o.M)
		for i := range j.rowSum {
			s := int32(0)
			for _, v := range o.a[i*K:][:K] {
				s += int32(v)
			}
			j.rowSum[i] = s
		}
	}
	oneZA := len(o.aZero) == 1
	if oneZA {
		za := o.aZero[0]
		j.colAdd = resized(j.colAdd, N)
		for c := range j.colAdd {
			j.colAdd[c] = -za*w.p.ColSum[c] + j.zw[c]*int32(K)*za
		}
	}
	d := &j.deq
	if !j.hasDeq {
		return epiSlow
	}
	j.bias = d.bias
	if j.bias == nil {
		// Adding +0 leaves every value (and -0 + +0 is +0, as the reference's sum).
		j.zeros = resized(j.zeros, N)
		clear(j.zeros)
		j.bias = j.zeros
	}
	j.scale = nil
	j.scales = resized(j.scales, N)
	for c := range j.scales {
		sw := d.wScale[0]
		if len(d.wScale) > 1 {
			sw = d.wScale[c]
		}
		if len(d.aScale) == 1 {
			sw *= d.aScale[0]
		}
		j.scales[c] = sw
	}
	if len(d.aScale) == 1 {
		j.scale = j.scales
	}
	switch {
	case j.anyWZ:
		return epiSlow
	case j.scale != nil:
		if oneZA {
			return epiTensor
		}
		return epiSlow
	case len(d.aScale) == o.M: // j.scales holds wScale: the kernel multiplies by aScale[i]
		j.rowZero = resized(j.rowZero, o.M)
		for i := range j.rowZero {
			j.rowZero[i] = -o.aZero[min(i, len(o.aZero)-1)]
		}
		return epiRows
	}
	return epiSlow
}

// The epilogues of an int8 product (int8Job.prepare).
const (
	epiSlow   = iota // int32 sums corrected and dequantized in Go (slowSegment)
	epiTensor        // one activation scale and zero point, no weight zero points: in the kernel
	epiRows          // per-row activation scales and zero points, no weight zero points: in the kernel
)

// asInt32 views a float32 slice's memory as int32: the int8 GEMM writes its sums into
// the f32 output and the epilogue converts each segment in place.
func asInt32(f []float32) []int32 {
	return unsafe.Slice((*int32)(unsafe.Pointer(unsafe.SliceData(f))), len(f))
}

func u8Operand(a *Tensor, K int) ([]uint8, int, error) {
	if a.DType != ir.U8 || a.Rank() < 1 || a.Shape[a.Rank()-1] != K {
		return nil, 0, fmt.Errorf("A must be u8 [..., %d], got %s%v", K, a.DType, a.Shape)
	}
	return Elems[uint8](a), NumElems(a.Shape[:a.Rank()-1]), nil
}

func perChannel(name string, v []float32, n int) error {
	if len(v) != 1 && len(v) != n {
		return fmt.Errorf("%s has %d elements, want 1 or %d", name, len(v), n)
	}
	return nil
}

// dequantF32 is the f32 epilogue y = act(float32(acc)·(aScale[i]·wScale[j]) + bias[j])
// of an int8 product with N columns: aScale len 1 or M, wScale len 1 or N, bias nil or
// len N, act one of the Dense activations (nil: none).
type dequantF32 struct {
	y              []float32
	N              int
	aScale, wScale []float32
	bias           []float32
	act            func([]float32)
}

// newDequant checks act and bias and returns the epilogue.
func newDequant(y []float32, N int, aScale, wScale []float32, bias []float32, act string) (dequantF32, error) {
	f, ok := activations[act]
	if !ok {
		return dequantF32{}, fmt.Errorf("unknown activation %q (want one of %q)", act, ir.DenseActivations)
	}
	if bias != nil && len(bias) != N {
		return dequantF32{}, fmt.Errorf("bias has %d elements, want %d", len(bias), N)
	}
	return dequantF32{y: y, N: N, aScale: aScale, wScale: wScale, bias: bias, act: f}, nil
}

// slowSegment applies the zero-point corrections to a segment and, with a dequantF32,
// dequantizes it.
func (j *int8Job) slowSegment(i, j0 int, acc []int32) {
	o := &j.o
	n := len(acc)
	if j.colAdd != nil && len(o.aZero) == 1 {
		for c, v := range j.colAdd[j0:][:n] {
			acc[c] += v
		}
	} else {
		za, K := o.aZero[i], int32(o.K)
		for c, s := range o.w.p.ColSum[j0:][:n] {
			acc[c] += -za*s + j.zw[j0+c]*K*za
		}
	}
	if j.anyWZ {
		rs := j.rowSum[i]
		for c, z := range j.zw[j0:][:n] {
			acc[c] -= z * rs
		}
	}
	d := &j.deq
	if !j.hasDeq {
		return
	}
	row := d.y[i*d.N+j0:][:n]
	s := j.scale
	if s != nil {
		s = s[j0:]
	} else { // per-row activation scales
		var buf [64]float32 // a segment is at most one panel (NR <= 48) wide
		s = buf[:n]
		for c := range s {
			sw := d.wScale[0]
			if len(d.wScale) > 1 {
				sw = d.wScale[j0+c]
			}
			s[c] = d.aScale[i] * sw
		}
	}
	vec.DequantI32(row, acc, nil, s, j.bias[j0:])
	if d.act != nil {
		d.act(row)
	}
}

// GemmInt8 computes y = act(float32(Σ (a - aZero)(w - wZero)) · (aScale · wScale[j]) + bias)
// for a (u8, [..., K]), a packed w (K×N), per-tensor (len 1) or per-output-channel
// (len N) wScales and wZeros (nil: symmetric weights), an optional bias (f32 [N]) and
// act, one of ir.DenseActivations. The result is f32 [..., N] and does not depend on
// ctx's worker count.
func GemmInt8(ctx *KernelContext, a *Tensor, aScale float32, aZero uint8, w *PackedInt8, wScales []float32, wZeros []int32, bias *Tensor, act string) (*Tensor, error) {
	ad, M, err := u8Operand(a, w.K)
	if err != nil {
		return nil, fmt.Errorf("GemmInt8: %v", err)
	}
	if err := perChannel("wScales", wScales, w.N); err != nil {
		return nil, fmt.Errorf("GemmInt8: %v", err)
	}
	if wZeros != nil && len(wZeros) != 1 && len(wZeros) != w.N {
		return nil, fmt.Errorf("GemmInt8: wZeros has %d elements, want 1 or %d", len(wZeros), w.N)
	}
	var bs []float32
	if bias != nil {
		if bias.DType != ir.F32 {
			return nil, fmt.Errorf("GemmInt8: bias must be f32, got %s", bias.DType)
		}
		bs = bias.F32()
	}
	y := New(ir.F32, append(append([]int{}, a.Shape[:a.Rank()-1]...), w.N)...)
	ys := y.F32()
	deq, err := newDequant(ys, w.N, []float32{aScale}, wScales, bs, act)
	if err != nil {
		return nil, fmt.Errorf("GemmInt8: %v", err)
	}
	o := &int8Product{a: ad, M: M, K: w.K, aZero: []int32{int32(aZero)}, w: w, wZero: wZeros}
	o.run(ctx, asInt32(ys), &deq)
	return y, nil
}

// GemmInt8Requant is GemmInt8 without activation, requantized to yType (ir.U8 or
// ir.I8): q = saturate(roundHalfEven(y / yScale) + yZero), the division in float32 as
// ONNX QuantizeLinear does it.
func GemmInt8Requant(ctx *KernelContext, a *Tensor, aScale float32, aZero uint8, w *PackedInt8, wScales []float32, wZeros []int32, bias *Tensor, yScale float32, yZero int32, yType ir.DType) (*Tensor, error) {
	lo, hi, err := qrange(yType)
	if err != nil || (yType != ir.U8 && yType != ir.I8) {
		return nil, fmt.Errorf("GemmInt8Requant: output must be u8 or i8, got %s", yType)
	}
	if yScale == 0 {
		return nil, fmt.Errorf("GemmInt8Requant: zero output scale")
	}
	f, err := GemmInt8(ctx, a, aScale, aZero, w, wScales, wZeros, bias, "")
	if err != nil {
		return nil, fmt.Errorf("GemmInt8Requant: %v", strings.TrimPrefix(err.Error(), "GemmInt8: "))
	}
	fs := f.F32()
	q := New(yType, f.Shape...)
	ctx.ParallelFor(len(fs), 1<<14, func(l, h int) {
		for i := l; i < h; i++ {
			v := min(max(math.RoundToEven(float64(fs[i]/yScale))+float64(yZero), lo), hi)
			if yType == ir.U8 {
				Elems[uint8](q)[i] = uint8(v)
			} else {
				Elems[int8](q)[i] = int8(v)
			}
		}
	})
	return q, nil
}
