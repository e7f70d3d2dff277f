package ops

import (
	"fmt"
	"math"
	"sync"

	"github.com/ciuic/ciuic/ir"
	"github.com/ciuic/ciuic/ops/internal/vec"
)

func init() {
	Register(ir.CiuicDomain, "CachedAttention", cachedAttentionKernel, ir.F32)
	RegisterInto(ir.CiuicDomain, "CachedAttention", cachedAttentionInto, false, ir.F32)
}

// ciuic.CachedAttention(Q[S, H·D], K[T, Hkv·D], V[T, Hkv·Dv], pos) {num_heads: H,
// kv_num_heads: Hkv, scale} computes, for query row s (at position pos+s) and head h
// (reading key/value head h/(H/Hkv)),
//
//	softmax over t in [0, pos+s] of (Q[s]·K[t]·scale), then the weighted sum of V[t]
//
// K and V are the caches that ciuic.KVCacheUpdate filled; rows past pos+s are never
// read. The arithmetic is llama2.c's, in float32: each score is a dot product summed in
// order, times scale; the softmax subtracts the row maximum, sums exponentials in
// order and divides; the output accumulates weight·V[t] over t in order.
func cachedAttentionKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 4); err != nil {
		return nil, err
	}
	q, v := in[0], in[2]
	H := int(attrs.Int("num_heads", 0))
	Hkv := int(attrs.Int("kv_num_heads", int64(H)))
	if q.Rank() != 2 || v.Rank() != 2 || H <= 0 || Hkv <= 0 || v.Shape[1]%Hkv != 0 {
		return nil, fmt.Errorf("CachedAttention: Q %v, V %v do not split into %d query and %d key/value heads", q.Shape, v.Shape, H, Hkv)
	}
	y := New(ir.F32, q.Shape[0], H*(v.Shape[1]/Hkv))
	if err := cachedAttentionInto(ctx, in, []*Tensor{y}, attrs); err != nil {
		return nil, err
	}
	return one(y), nil
}

// cachedAttentionInto is CachedAttention into out[0] (not Q: rows of Q are read after
// other heads' outputs are written).
func cachedAttentionInto(ctx *KernelContext, in, out []*Tensor, attrs ir.Attrs) error {
	if err := need(in, 4); err != nil {
		return err
	}
	q, k, v := in[0], in[1], in[2]
	pos, err := position(in[3])
	if err != nil {
		return fmt.Errorf("CachedAttention: %v", err)
	}
	H := int(attrs.Int("num_heads", 0))
	Hkv := int(attrs.Int("kv_num_heads", int64(H)))
	if q.Rank() != 2 || k.Rank() != 2 || v.Rank() != 2 || H <= 0 || Hkv <= 0 || H%Hkv != 0 ||
		q.Shape[1]%H != 0 || k.Shape[1]%Hkv != 0 || v.Shape[1]%Hkv != 0 || k.Shape[0] != v.Shape[0] {
		return fmt.Errorf("CachedAttention: Q %v, K %v, V %v do not split into %d query and %d key/value heads", q.Shape, k.Shape, v.Shape, H, Hkv)
	}
	S, T := q.Shape[0], k.Shape[0]
	D, Dv := q.Shape[1]/H, v.Shape[1]/Hkv
	if k.Shape[1]/Hkv != D {
		return fmt.Errorf("CachedAttention: Q head size %d differs from K head size %d", D, k.Shape[1]/Hkv)
	}
	if pos+S > T {
		return fmt.Errorf("CachedAttention: positions %d..%d are past the cache's %d", pos, pos+S-1, T)
	}
	scale := attrs.Float("scale", 0)
	if !attrs.Has("scale") {
		scale = float32(1 / math.Sqrt(float64(D)))
	}
	y := out[0]
	if y.DType != ir.F32 || y.Rank() != 2 || y.Shape[0] != S || y.Shape[1] != H*Dv {
		return fmt.Errorf("CachedAttention: output %s%v, want f32[%d %d]", y.DType, y.Shape, S, H*Dv)
	}
	window := int(attrs.Int("window", 0))
	if window < 0 {
		return fmt.Errorf("CachedAttention: window %d is negative", window)
	}
	a := attnArgs{q: q.F32(), k: k.F32(), v: v.F32(), y: y.F32(), H: H, Hkv: Hkv, D: D, Dv: Dv, pos: pos, scale: scale, window: window}
	// One work item is one query row and one key/value head with the query heads that
	// share it: each cache row is loaded once for the whole group.
	items := S * Hkv
	grain := max(1, (1<<14)/max(1, (pos+S)*(D+Dv)*H/Hkv))
	if serial(ctx, items, grain) { // no closure: it would be an allocation per call
		a.run(0, items)
		return nil
	}
	ctx.ParallelFor(items, grain, a.run)
	return nil
}

// run computes work items [lo, hi).
func (a *attnArgs) run(lo, hi int) {
	S := len(a.q) / (a.H * a.D)
	buf := attnScratch.Get().(*[]float32)
	if need := (a.pos + S) * (a.H / a.Hkv); cap(*buf) < need {
		*buf = make([]float32, need)
	}
	for r := lo; r < hi; r++ {
		a.group(r/a.Hkv, r%a.Hkv, *buf)
	}
	attnScratch.Put(buf)
}

var attnScratch = sync.Pool{New: func() any { return new([]float32) }}

type attnArgs struct {
	q, k, v, y         []float32
	H, Hkv, D, Dv, pos int
	scale              float32
	window             int // > 0: a query sees only the last window positions (sliding window)
}

// first is the first visible cache row for a query that sees rows [0, n).
func (a *attnArgs) first(n int) int {
	if a.window > 0 && n > a.window {
		return n - a.window
	}
	return 0
}

// group computes the output of query row s for the query heads of key/value head g;
// buf is scratch of at least (pos+s+1)·group floats.
func (a *attnArgs) group(s, g int, buf []float32) {
	G := a.H / a.Hkv
	if G == 2 && a.D == 8 && a.Dv == 8 {
		a.pair8(s, g, buf)
		return
	}
	n := a.pos + s + 1 // rows 0..n-1 are causally visible, from lo on within the window
	lo := a.first(n)
	D, Dv := a.D, a.Dv
	kw, vw := a.Hkv*D, a.Hkv*Dv
	h0 := g * G
	for j := range G {
		qrow := a.q[s*a.H*D+(h0+j)*D:][:D]
		sc := buf[j*n:][lo:n]
		koff := g * D
		for t := range sc {
			kr := a.k[(lo+t)*kw+koff:][:D]
			var dot float32
			for i, qv := range qrow {
				dot += qv * kr[i]
			}
			sc[t] = dot * a.scale
		}
		softmax32(sc)
		out := a.y[s*a.H*Dv+(h0+j)*Dv:][:Dv]
		voff := g * Dv
		clear(out) // out may hold an earlier result (into-variant)
		for t, w := range sc {
			vr := a.v[(lo+t)*vw+voff:][:Dv]
			for i, vv := range vr {
				out[i] += w * vv
			}
		}
	}
}

// pair8 is group for two query heads per key/value head and heads of 8 (stories260K's
// shape), with each key and value row loaded once for both heads and the loops
// unrolled. The arithmetic per head is group's.
func (a *attnArgs) pair8(s, g int, buf []float32) {
	n := a.pos + s + 1
	lo := a.first(n)
	kw := a.Hkv * 8
	h0 := 2 * g
	qa := a.q[s*a.H*8+h0*8:][:16]
	sa, sb := buf[lo:n], buf[n+lo:2*n]
	k := a.k[(lo*kw)+g*8:]
	for t := range sa {
		kr := k[t*kw:][:8]
		k0, k1, k2, k3, k4, k5, k6, k7 := kr[0], kr[1], kr[2], kr[3], kr[4], kr[5], kr[6], kr[7]
		sa[t] = (qa[0]*k0 + qa[1]*k1 + qa[2]*k2 + qa[3]*k3 + qa[4]*k4 + qa[5]*k5 + qa[6]*k6 + qa[7]*k7) * a.scale
		sb[t] = (qa[8]*k0 + qa[9]*k1 + qa[10]*k2 + qa[11]*k3 + qa[12]*k4 + qa[13]*k5 + qa[14]*k6 + qa[15]*k7) * a.scale
	}
	softmax32(sa)
	softmax32(sb)
	v := a.v[(lo*kw)+g*8:]
	for j, sc := range [2][]float32{sa, sb} {
		var o0, o1, o2, o3, o4, o5, o6, o7 float32
		for t, w := range sc {
			vr := v[t*kw:][:8]
			o0 += w * vr[0]
			o1 += w * vr[1]
			o2 += w * vr[2]
			o3 += w * vr[3]
			o4 += w * vr[4]
			o5 += w * vr[5]
			o6 += w * vr[6]
			o7 += w * vr[7]
		}
		out := a.y[s*a.H*8+(h0+j)*8:][:8]
		out[0], out[1], out[2], out[3], out[4], out[5], out[6], out[7] = o0, o1, o2, o3, o4, o5, o6, o7
	}
}

// softmax32 is llama2.c's softmax in place: float32, maximum subtracted, exponentials
// summed in order, each divided by the sum. The exponentials are vec.Exp's (AVX-512
// where available; within 2e-7 relative of expf).
func softmax32(x []float32) {
	m := x[0]
	for _, v := range x[1:] {
		m = max(m, v)
	}
	for i := range x {
		x[i] -= m
	}
	vec.Exp(x, x)
	var sum float32
	for _, v := range x {
		sum += v
	}
	for i := range x {
		x[i] /= sum
	}
}
