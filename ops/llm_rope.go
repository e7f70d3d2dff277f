package ops

import (
	"fmt"
	"math"

	"github.com/ciuic/ciuic/ir"
)

// Kernels of the language-model ops of ir/ops_llm.go (docs/ops.md).

func init() {
	Register(ir.CiuicDomain, "RoPE", ropeKernel, ir.F32)
	RegisterInto(ir.CiuicDomain, "RoPE", ropeInto, true, ir.F32)
	Register(ir.CiuicDomain, "KVCacheUpdate", kvCacheUpdateKernel, ir.F32)
	RegisterInto(ir.CiuicDomain, "KVCacheUpdate", kvCacheUpdateInto, true, ir.F32)
}

// position reads a pos input: an integer scalar or 1-element tensor, non-negative.
func position(t *Tensor) (int, error) {
	if t == nil || t.Len() != 1 {
		return 0, fmt.Errorf("pos must hold one integer, got %v", t)
	}
	var p int64
	switch d := t.Data.(type) {
	case []int64:
		p = d[0]
	case []int32:
		p = int64(d[0])
	default:
		return 0, fmt.Errorf("pos must be i32 or i64, got %s", t.DType)
	}
	if p < 0 || p > math.MaxInt32 {
		return 0, fmt.Errorf("pos %d out of range", p)
	}
	return int(p), nil
}

// ciuic.RoPE(X[S, H·D], pos) {head_size: D, theta} rotates, in each head of row s, the
// pairs (2i, 2i+1) by the angle (pos+s)·freq_i with freq_i = 1/theta^(2i/D):
//
//	x'[2i] = x[2i]·cos - x[2i+1]·sin,  x'[2i+1] = x[2i]·sin + x[2i+1]·cos
//
// This is llama2.c's RoPE step for step in float32: freq = 1/powf(theta, 2i/D), the
// angle pos·freq in float32, cosf and sinf (here float64 functions rounded once).
// Only D/2 angles exist per row, so they are computed once per row, not per head.
func ropeKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 2); err != nil {
		return nil, err
	}
	y := New(ir.F32, in[0].Shape...)
	if err := ropeInto(ctx, in, []*Tensor{y}, attrs); err != nil {
		return nil, err
	}
	return one(y), nil
}

// ropeInto is RoPE into out[0], which may be X itself (each pair is read before it is
// written).
func ropeInto(ctx *KernelContext, in, out []*Tensor, attrs ir.Attrs) error {
	if err := need(in, 2); err != nil {
		return err
	}
	x, y := in[0], out[0]
	pos, err := position(in[1])
	if err != nil {
		return fmt.Errorf("RoPE: %v", err)
	}
	D := int(attrs.Int("head_size", 0))
	if x.Rank() != 2 || D <= 0 || D%2 != 0 || x.Shape[1]%D != 0 || x.DType != ir.F32 {
		return fmt.Errorf("RoPE: X %s%v does not split into heads of even size %d", x.DType, x.Shape, D)
	}
	if y.DType != ir.F32 || !sameShape(y.Shape, x.Shape) {
		return fmt.Errorf("RoPE: output %s%v, want f32%v", y.DType, y.Shape, x.Shape)
	}
	theta := float64(attrs.Float("theta", 10000))
	S, W := x.Shape[0], x.Shape[1]
	xs, ys := x.F32(), y.F32()
	var fbuf, cbuf [64]float32 // head sizes up to 128 without allocating
	freq, cs := fbuf[:0], cbuf[:0]
	if D > len(cbuf) {
		freq, cs = make([]float32, 0, D/2), make([]float32, 0, D)
	}
	freq, cs = freq[:D/2], cs[:D]
	for i := range freq {
		freq[i] = 1 / float32(math.Pow(theta, float64(float32(2*i)/float32(D))))
	}
	for s := range S {
		p := float32(pos + s)
		for i, f := range freq {
			a := float64(p * f)
			cs[2*i], cs[2*i+1] = float32(math.Cos(a)), float32(math.Sin(a))
		}
		ropeRow(xs[s*W:][:W], ys[s*W:][:W], cs)
	}
	return nil
}

// ropeRow rotates one row, head after head, with the interleaved cos/sin table cs of
// one head.
func ropeRow(x, y, cs []float32) {
	D := len(cs)
	for h := 0; h+D <= len(x); h += D {
		xh, yh := x[h:h+D], y[h:h+D]
		for i := 0; i+1 < D; i += 2 {
			c, s := cs[i], cs[i+1]
			v0, v1 := xh[i], xh[i+1]
			yh[i] = v0*c - v1*s
			yh[i+1] = v0*s + v1*c
		}
	}
}

// ciuic.KVCacheUpdate(Cache[T, W], New[S, W], pos) copies New into rows pos..pos+S-1 of
// Cache and returns Cache itself: the cache is session state, updated in place, and
// its output aliases input 0 (the one exception to "kernels never modify their
// inputs", declared by the op's schema).
func kvCacheUpdateKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 3); err != nil {
		return nil, err
	}
	c, x := in[0], in[1]
	pos, err := position(in[2])
	if err != nil {
		return nil, fmt.Errorf("KVCacheUpdate: %v", err)
	}
	if c.Rank() != 2 || x.Rank() != 2 || c.Shape[1] != x.Shape[1] || c.DType != x.DType {
		return nil, fmt.Errorf("KVCacheUpdate: New %s%v does not fit Cache %s%v", x.DType, x.Shape, c.DType, c.Shape)
	}
	T, S, W := c.Shape[0], x.Shape[0], c.Shape[1]
	if pos+S > T {
		return nil, fmt.Errorf("KVCacheUpdate: positions %d..%d are past the cache's %d", pos, pos+S-1, T)
	}
	copy(c.F32()[pos*W:(pos+S)*W], x.F32())
	return one(c), nil
}

// kvCacheUpdateInto is KVCacheUpdate into out[0]. When out[0] is the cache itself (an
// executor that keeps the cache as state passes it back) only the new rows are written;
// into any other buffer, the whole updated cache is.
func kvCacheUpdateInto(ctx *KernelContext, in, out []*Tensor, attrs ir.Attrs) error {
	if err := need(in, 3); err != nil {
		return err
	}
	c, y := in[0], out[0]
	if y.DType != c.DType || !sameShape(y.Shape, c.Shape) || c.DType != ir.F32 {
		return fmt.Errorf("KVCacheUpdate: output %s%v, want %s%v", y.DType, y.Shape, c.DType, c.Shape)
	}
	if ys, cs := y.F32(), c.F32(); len(cs) > 0 && &ys[0] != &cs[0] {
		copy(ys, cs)
	}
	_, err := kvCacheUpdateKernel(ctx, []*Tensor{y, in[1], in[2]}, attrs)
	return err
}
