package ops

import (
	"fmt"
	"math"
	"sync"
	"weak"

	"github.com/ciuic/ciuic/ir"
	"github.com/ciuic/ciuic/ops/internal/vec"
)

// Fast kernels on the int8 GEMM: ONNX MatMulInteger and DynamicQuantizeLinear (u8),
// with results identical to the reference kernels of quant.go, and the fast path of
// ciuic.DenseInt8 (installed with SetInt8Gemm). Registered in vec_register.go.

// fastMatMulIntegerKernel computes MatMulInteger exactly through the int8 GEMM for a
// 2-D B with scalar or per-column zero point and a scalar (or, for a 2-D A, per-row)
// A zero point. s8 A is moved to u8 (a+128, zero point +128); u8 B is packed as s8
// (PackInt8). Other layouts go to the reference kernel.
func fastMatMulIntegerKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 2); err != nil {
		return nil, err
	}
	a, b, azp, bzp := in[0], in[1], input(in, 2), input(in, 3)
	int8ish := func(t *Tensor) bool { return t.DType == ir.U8 || t.DType == ir.I8 }
	if !int8ish(a) || !int8ish(b) || a.Rank() < 1 || b.Rank() != 2 || a.Shape[a.Rank()-1] != b.Shape[0] {
		return matMulIntegerKernel(ctx, in, attrs)
	}
	K, N := b.Shape[0], b.Shape[1]
	M := NumElems(a.Shape[:a.Rank()-1])
	if azp != nil && (azp.DType != a.DType || !(azp.Len() == 1 || a.Rank() == 2 && azp.Rank() == 1 && azp.Len() == M)) {
		return matMulIntegerKernel(ctx, in, attrs)
	}
	if bzp != nil && (bzp.DType != b.DType || !(bzp.Len() == 1 || bzp.Rank() == 1 && bzp.Len() == N)) {
		return matMulIntegerKernel(ctx, in, attrs)
	}
	zeros := func(t *Tensor) []int32 {
		if t == nil {
			return nil
		}
		z := make([]int32, t.Len())
		for i := range z {
			if t.DType == ir.U8 {
				z[i] = int32(Elems[uint8](t)[i])
			} else {
				z[i] = int32(Elems[int8](t)[i])
			}
		}
		return z
	}
	aZero := zeros(azp)
	if aZero == nil {
		aZero = []int32{0}
	}
	ad := []uint8(nil)
	if a.DType == ir.U8 {
		ad = Elems[uint8](a)
	} else {
		ad = make([]uint8, a.Len())
		for i, v := range Elems[int8](a) {
			ad[i] = uint8(v) ^ 0x80
		}
		for i := range aZero {
			aZero[i] += 128
		}
	}
	w, err := packedInt8For(ctx, b)
	if err != nil {
		return nil, fmt.Errorf("MatMulInteger: %v", err)
	}
	shape := append(append([]int{}, a.Shape[:a.Rank()-1]...), N)
	y := New(ir.I32, shape...)
	if y.Len() == 0 {
		return one(y), nil
	}
	o := &int8Product{a: ad, M: M, K: K, aZero: aZero, w: w, wZero: zeros(bzp)}
	o.run(ctx, Elems[int32](y), nil)
	return one(y), nil
}

// fastDynQuantKernel is DynamicQuantizeLinear for f32: the same arithmetic as the
// reference (scale and division in float32, round half to even), without converting
// the input to float64, in parallel.
func fastDynQuantKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	if in[0].DType != ir.F32 {
		return dynQuantKernel(ctx, in, attrs)
	}
	xs := in[0].F32()
	// Min and max are exact, so combining chunks in any order gives the same range.
	const grain = 1 << 15
	nchunks := (len(xs) + grain - 1) / grain
	los, his := make([]float32, nchunks), make([]float32, nchunks)
	ctx.ParallelFor(nchunks, 1, func(c0, c1 int) {
		for c := c0; c < c1; c++ {
			lo, hi := vec.MinMax(xs[c*grain : min(len(xs), (c+1)*grain)])
			los[c], his[c] = min(lo, 0), max(hi, 0)
		}
	})
	lo, hi := 0.0, 0.0
	for c := range los {
		lo, hi = min(lo, float64(los[c])), max(hi, float64(his[c]))
	}
	scale := float32(hi-lo) / 255
	zp := 0.0
	if scale != 0 {
		zp = min(max(math.RoundToEven(float64(float32(-lo)/scale)), 0), 255)
	}
	q := make([]uint8, len(xs))
	if scale != 0 {
		ctx.ParallelFor(len(xs), elemGrain, func(l, h int) { vec.QuantizeU8(q[l:h], xs[l:h], scale, int32(zp)) })
	}
	return []*Tensor{MustFromSlice(in[0].Shape, q), Scalar(scale), Scalar(uint8(zp))}, nil
}

// fastDenseInt8 is ciuic.DenseInt8's product on the int8 GEMM (see SetInt8Gemm), the
// dequantization, bias and activation fused. W is DenseInt8's constant weight (its
// contract: the same tensor on every call), so it is packed on first use and kept.
func fastDenseInt8(ctx *KernelContext, o *Int8Operands) (bool, error) {
	if _, ok := prepackedI8.Load(weak.Make(o.W)); !ok {
		if err := prepackInt8(ctx, o.W); err != nil {
			return false, err
		}
	}
	w, err := packedInt8For(ctx, o.W)
	if err != nil {
		return false, err
	}
	N := w.N
	if w.flip || w.K != o.K || len(o.Y) != o.M*N {
		return false, nil
	}
	deq, err := newDequant(o.Y, N, o.AScale, o.WScale, o.Bias, o.Act)
	if err != nil {
		return false, err
	}
	p := int8Product{a: o.A, M: o.M, K: o.K, aZero: o.AZero, w: w}
	p.run(ctx, asInt32(o.Y), &deq)
	return true, nil
}

// fastDenseInt8Kernel is ciuic.DenseInt8 by fastDenseInt8Into, into a new tensor.
func fastDenseInt8Kernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	x, w, ok := denseInt8Fast(in, attrs)
	if !ok {
		return denseInt8Kernel(ctx, in, attrs)
	}
	y := New(ir.F32, append(append([]int{}, x.Shape[:x.Rank()-1]...), w.Shape[1])...)
	if err := fastDenseInt8Into(ctx, in, []*Tensor{y}, attrs); err != nil {
		return nil, err
	}
	return one(y), nil
}

// denseInt8Fast reports whether fastDenseInt8Into handles these operands: f32 X, a
// 2-D i8 W, per-tensor or per-column scales, an optional bias, X quantized per tensor
// (dynamically or with a given u8 grid) or per row, a known activation.
func denseInt8Fast(in []*Tensor, attrs ir.Attrs) (x, w *Tensor, ok bool) {
	if len(in) < 3 || in[0] == nil || in[1] == nil || in[2] == nil {
		return nil, nil, false
	}
	x, w, ws, b := in[0], in[1], in[2], input(in, 3)
	xs, xz := input(in, 4), input(in, 5)
	mode := attrs.String("x_quant", "")
	ok = x.DType == ir.F32 && x.Rank() > 0 && w.DType == ir.I8 && w.Rank() == 2 && ws.DType == ir.F32 &&
		x.Shape[x.Rank()-1] == w.Shape[0] && (ws.Len() == 1 || ws.Len() == w.Shape[1]) &&
		(b == nil || b.DType == ir.F32 && b.Len() == w.Shape[1]) &&
		(xs == nil && xz == nil || xs != nil && xz != nil && xs.DType == ir.F32 && xs.Len() == 1 && xz.DType == ir.U8 && xz.Len() == 1) &&
		(mode == "" || mode == "tensor" || mode == "row")
	_, known := activations[attrs.String("activation", "")]
	return x, w, ok && known
}

// denseInt8Scratch is one fastDenseInt8Into call's memory (the quantized X and its
// scales and zero points), pooled: a call in steady state allocates nothing.
type denseInt8Scratch struct {
	a      []uint8
	aScale []float32
	aZero  []int32
	o      Int8Operands
	x      []float32        // the call's X, for quantRows and quantAll
	rows   func(lo, hi int) // quantRows, bound once
	all    func(lo, hi int) // quantAll, bound once
}

var denseInt8Scratches = sync.Pool{New: func() any {
	s := new(denseInt8Scratch)
	s.rows, s.all = s.quantRows, s.quantAll
	return s
}}

// quantAll quantizes elements [lo, hi) of s.x with the one scale and zero point.
func (s *denseInt8Scratch) quantAll(lo, hi int) {
	quantU8(s.a[lo:hi], s.x[lo:hi], s.aScale[0], s.aZero[0])
}

// quantRows quantizes rows [lo, hi) of s.x, each over its own range.
func (s *denseInt8Scratch) quantRows(lo, hi int) {
	K := s.o.K
	for r := lo; r < hi; r++ {
		row := s.x[r*K:][:K]
		l, h := vec.MinMax(row)
		s.aScale[r], s.aZero[r] = dynScale(min(l, 0), max(h, 0))
		quantU8(s.a[r*K:][:K], row, s.aScale[r], s.aZero[r])
	}
}

// quantU8 is vec.QuantizeU8 with DynamicQuantizeLinear's rule for an all-zero input
// (scale 0: every q is 0).
func quantU8(q []uint8, v []float32, scale float32, zp int32) {
	if scale == 0 {
		clear(q)
		return
	}
	vec.QuantizeU8(q, v, scale, zp)
}

// fastDenseInt8Into is ciuic.DenseInt8 with X quantized by the vec kernels (the same
// values as quant_dense.go's loops: float32 division, round half to even, float32
// zero-point add, saturation) and the product by fastDenseInt8, into out[0]. Anything
// it does not recognise goes to denseInt8Kernel, which also reports the errors.
func fastDenseInt8Into(ctx *KernelContext, in, out []*Tensor, attrs ir.Attrs) error {
	x, w, ok := denseInt8Fast(in, attrs)
	if !ok || len(out) == 0 || out[0] == nil {
		return fallbackInto(ctx, denseInt8Kernel, in, out, attrs)
	}
	y := out[0]
	K, N := w.Shape[0], w.Shape[1]
	if y.DType != ir.F32 || y.Rank() != x.Rank() || y.Shape[y.Rank()-1] != N || !sameShape(y.Shape[:y.Rank()-1], x.Shape[:x.Rank()-1]) {
		return fallbackInto(ctx, denseInt8Kernel, in, out, attrs)
	}
	ws, b, xs, xz := in[2], input(in, 3), input(in, 4), input(in, 5)
	M := NumElems(x.Shape[:x.Rank()-1])
	xd := x.F32()
	sc := denseInt8Scratches.Get().(*denseInt8Scratch)
	defer denseInt8Scratches.Put(sc)
	a := resized(sc.a, len(xd))
	sc.a = a
	sc.x = xd
	perRow := xs == nil && attrs.String("x_quant", "") == "row"
	nz := 1
	if perRow {
		nz = M
	}
	aScale, aZero := resized(sc.aScale, nz), resized(sc.aZero, nz)
	sc.aScale, sc.aZero = aScale, aZero
	switch {
	case xs != nil:
		aScale[0], aZero[0] = xs.F32()[0], int32(Elems[uint8](xz)[0])
	case perRow:
		sc.o.K = K
		if grain := max(1, 4096/max(K, 1)); serial(ctx, M, grain) {
			sc.quantRows(0, M)
		} else {
			ctx.ParallelFor(M, grain, sc.rows)
		}
	default:
		l, h := vec.MinMax(xd)
		aScale[0], aZero[0] = dynScale(min(l, 0), max(h, 0))
	}
	if !perRow {
		if serial(ctx, len(xd), elemGrain) {
			sc.quantAll(0, len(xd))
		} else {
			ctx.ParallelFor(len(xd), elemGrain, sc.all)
		}
	}
	sc.x = nil
	sc.o = Int8Operands{A: a, M: M, K: K, AScale: aScale, AZero: aZero, W: w, WScale: ws.F32(),
		Act: attrs.String("activation", ""), Y: y.F32()}
	if b != nil {
		sc.o.Bias = b.F32()
	}
	done, err := fastDenseInt8(ctx, &sc.o)
	sc.o = Int8Operands{} // drop the caller's data before pooling
	if err != nil {
		return fmt.Errorf("DenseInt8: %v", err)
	}
	if !done {
		return fallbackInto(ctx, denseInt8Kernel, in, out, attrs)
	}
	return nil
}

// fastDequantKernel is DequantizeLinear of i8 or u8 to f32 with a scalar or per-axis
// scale and zero point: y = float32(x - zp)·scale in float32. That is the reference's
// float64 (x - zp)·scale rounded to float32, bit for bit: x - zp has at most 9
// significant bits and scale 24, so the float64 product is exact and both round the
// exact product once. Blocked quantization and other dtypes go to the reference kernel.
func fastDequantKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 2); err != nil {
		return nil, err
	}
	if !fastDequantOK(in, attrs) {
		return dequantizeKernel(ctx, in, attrs)
	}
	y := New(ir.F32, in[0].Shape...)
	dequantRows(ctx, in, y, attrs)
	return one(y), nil
}

// fastDequantOK reports whether the vector path handles these operands: i8/u8 data,
// a scalar or per-axis f32 scale of the right length, a matching zero point.
func fastDequantOK(in []*Tensor, attrs ir.Attrs) bool {
	x, s, zp := in[0], in[1], input(in, 2)
	if x.DType != ir.I8 && x.DType != ir.U8 || s.DType != ir.F32 || s.Rank() > 1 || attrs.Int("block_size", 0) != 0 ||
		zp != nil && (zp.DType != x.DType || zp.Len() != s.Len() || zp.Rank() > 1) {
		return false
	}
	if s.Len() != 1 {
		axis, err := normAxis(attrs.Int("axis", 1), x.Rank())
		if err != nil || x.Shape[axis] != s.Len() {
			return false
		}
	}
	return true
}

// fastDequantInto is DequantizeLinear into out[0] (f32, x's shape), for a weight table
// kept in int8 and dequantized on every run: y = float32(q - zero) * scale, with the
// reference's float32 arithmetic. It allocates nothing (the row loop is a method value
// of a pooled job).
func fastDequantInto(ctx *KernelContext, in, out []*Tensor, attrs ir.Attrs) error {
	if err := need(in, 2); err != nil {
		return err
	}
	if !fastDequantOK(in, attrs) {
		return fallbackInto(ctx, dequantizeKernel, in, out, attrs)
	}
	x, y := in[0], out[0]
	if y.DType != ir.F32 || !sameShape(y.Shape, x.Shape) {
		return fmt.Errorf("DequantizeLinear: output is %s%v, want f32%v", y.DType, y.Shape, x.Shape)
	}
	dequantRows(ctx, in, y, attrs)
	return nil
}

// dequantRows computes y for operands fastDequantOK accepted.
func dequantRows(ctx *KernelContext, in []*Tensor, y *Tensor, attrs ir.Attrs) {
	x, s, zp := in[0], in[1], input(in, 2)
	C, inner := 1, x.Len()
	if s.Len() != 1 {
		axis, _ := normAxis(attrs.Int("axis", 1), x.Rank())
		C, inner = s.Len(), NumElems(x.Shape[axis+1:])
	}
	if inner == 0 {
		return
	}
	j := dequantJobs.Get().(*dequantJob)
	j.x, j.zp, j.scale, j.y, j.C, j.inner = x, zp, s.F32(), y.F32(), C, inner
	rows := x.Len() / inner // (outer, channel) pairs, each a contiguous run of inner elements
	ctx.ParallelFor(rows, max(1, elemGrain/inner), j.rowsFn)
	j.x, j.zp, j.scale, j.y = nil, nil, nil, nil
	dequantJobs.Put(j)
}

type dequantJob struct {
	x, zp    *Tensor
	scale, y []float32
	C, inner int
	rowsFn   func(lo, hi int) // j.rows, bound once
}

var dequantJobs = sync.Pool{New: func() any {
	j := new(dequantJob)
	j.rowsFn = j.rows
	return j
}}

func (j *dequantJob) rows(lo, hi int) {
	inner := j.inner
	for r := lo; r < hi; r++ {
		c := r % j.C
		f, zc := j.scale[c], int32(0)
		if j.zp != nil {
			if j.zp.DType == ir.U8 {
				zc = int32(Elems[uint8](j.zp)[c])
			} else {
				zc = int32(Elems[int8](j.zp)[c])
			}
		}
		out := j.y[r*inner:][:inner]
		if j.x.DType == ir.U8 {
			for i, q := range Elems[uint8](j.x)[r*inner:][:inner] {
				out[i] = float32(int32(q)-zc) * f
			}
		} else {
			for i, q := range Elems[int8](j.x)[r*inner:][:inner] {
				out[i] = float32(int32(q)-zc) * f
			}
		}
	}
}
