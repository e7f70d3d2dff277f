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

// run computes acc = Σ (a - aZero)(w - wZero) into c (M×N int32, row-major) and hands
// each finished row segment (row i, columns [j0, j0+len(acc))) to epi.
//
// Σ(a-za)(w-zw) = Σaw - za·Σ_k w + zw·(K·za - Σ_k a): with one za the first two
// corrections are per column and precomputed (colAdd); the last is per row and column
// and only there when some zw != 0.
//
// fast, if not nil, is the dequantization that epi does, given as data: when the
// corrections are per column only (one za, no zw), run applies corrections, scales,
// bias and activation in one pass over each segment instead of calling epi.
func (o *int8Product) run(ctx *KernelContext, c []int32, epi func(i, j0 int, acc []int32), fast *dequantF32) {
	w := o.w
	N, K := w.N, o.K
	zw := make([]int32, N) // w's zero points in the packed (s8) domain
	anyWZ := false
	for j := range zw {
		switch len(o.wZero) {
		case 0:
		case 1:
			zw[j] = o.wZero[0]
		default:
			zw[j] = o.wZero[j]
		}
		if w.flip {
			zw[j] -= 128
		}
		anyWZ = anyWZ || zw[j] != 0
	}
	var rowSum []int32
	if anyWZ {
		rowSum = make([]int32, o.M)
		for i := range rowSum {
			s := int32(0)
			for _, v := range o.a[i*K:][:K] {
				s += int32(v)
			}
			rowSum[i] = s
		}
	}
	var colAdd []int32 // -za·Σw + zw·K·za, for a single za
	if len(o.aZero) == 1 {
		za := o.aZero[0]
		colAdd = make([]int32, N)
		for j := range colAdd {
			colAdd[j] = -za*w.p.ColSum[j] + zw[j]*int32(K)*za
		}
	}
	if fast != nil && fast.scale != nil && colAdd != nil && !anyWZ {
		gemm.MulI8(par(ctx), gemm.AI8{Data: o.a, M: o.M, LD: K}, w.p, c, N, func(i, j0 int, acc []int32) {
			n := len(acc)
			row := fast.y[i*N+j0:][:n]
			ca, s, b := colAdd[j0:][:n], fast.scale[j0:][:n], fast.bias[j0:][:n]
			for j, v := range acc {
				row[j] = float32(v+ca[j])*s[j] + b[j]
			}
			if fast.act != nil {
				fast.act(row)
			}
		})
		return
	}
	gemm.MulI8(par(ctx), gemm.AI8{Data: o.a, M: o.M, LD: K}, w.p, c, N, func(i, j0 int, acc []int32) {
		n := len(acc)
		if colAdd != nil {
			for j, v := range colAdd[j0:][:n] {
				acc[j] += v
			}
		} else {
			za := o.aZero[i]
			for j, s := range w.p.ColSum[j0:][:n] {
				acc[j] += -za*s + zw[j0+j]*int32(K)*za
			}
		}
		if anyWZ {
			rs := rowSum[i]
			for j, z := range zw[j0:][:n] {
				acc[j] -= z * rs
			}
		}
		if epi != nil {
			epi(i, j0, acc)
		}
	})
}

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

// dequantF32 is the f32 epilogue as data, for int8Product.run's fused loop.
type dequantF32 struct {
	y     []float32
	scale []float32 // aScale·wScale[j] per column; nil with per-row aScale
	bias  []float32 // never nil (zeros)
	act   func([]float32)
}

// dequantEpilogue returns the f32 epilogue y = act(float32(acc)·(aScale[i]·wScale[j]) + bias[j])
// (bias may be nil), as a function and as data. With one aScale the products
// aScale·wScale[j] are computed once.
func dequantEpilogue(y []float32, N int, aScale, wScale []float32, bias []float32, act string) (func(i, j0 int, acc []int32), *dequantF32, error) {
	f, ok := activations[act]
	if !ok {
		return nil, nil, fmt.Errorf("unknown activation %q (want one of %q)", act, ir.DenseActivations)
	}
	if bias != nil && len(bias) != N {
		return nil, nil, fmt.Errorf("bias has %d elements, want %d", len(bias), N)
	}
	if bias == nil {
		bias = make([]float32, N) // adding +0 leaves every value (and -0 + +0 is +0, as the reference's sum)
	}
	var scale []float32
	if len(aScale) == 1 {
		scale = make([]float32, N)
		for j := range scale {
			sw := wScale[0]
			if len(wScale) > 1 {
				sw = wScale[j]
			}
			scale[j] = aScale[0] * sw
		}
	}
	return func(i, j0 int, acc []int32) {
		n := len(acc)
		row := y[i*N+j0:][:n]
		var s []float32
		if scale != nil {
			s = scale[j0:][:n]
		} else { // per-row activation scales
			var buf [64]float32 // a segment is at most one panel (NR <= 48) wide
			s = buf[:n]
			for j := range s {
				sw := wScale[0]
				if len(wScale) > 1 {
					sw = wScale[j0+j]
				}
				s[j] = aScale[i] * sw
			}
		}
		b := bias[j0:][:n]
		for j, v := range acc {
			row[j] = float32(v)*s[j] + b[j]
		}
		if f != nil {
			f(row)
		}
	}, &dequantF32{y: y, scale: scale, bias: bias, act: f}, nil
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
	epi, fast, err := dequantEpilogue(ys, w.N, []float32{aScale}, wScales, bs, act)
	if err != nil {
		return nil, fmt.Errorf("GemmInt8: %v", err)
	}
	o := &int8Product{a: ad, M: M, K: w.K, aZero: []int32{int32(aZero)}, w: w, wZero: wZeros}
	o.run(ctx, asInt32(ys), epi, fast)
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
