package ops

import (
	"fmt"
	"math"

	"github.com/ciuic/ciuic/ir"
)

func init() {
	Register(ir.CiuicDomain, "CachedAttention", cachedAttentionKernel, ir.F32)
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
	q, k, v := in[0], in[1], in[2]
	pos, err := position(in[3])
	if err != nil {
		return nil, fmt.Errorf("CachedAttention: %v", err)
	}
	H := int(attrs.Int("num_heads", 0))
	Hkv := int(attrs.Int("kv_num_heads", int64(H)))
	if q.Rank() != 2 || k.Rank() != 2 || v.Rank() != 2 || H <= 0 || Hkv <= 0 || H%Hkv != 0 ||
		q.Shape[1]%H != 0 || k.Shape[1]%Hkv != 0 || v.Shape[1]%Hkv != 0 || k.Shape[0] != v.Shape[0] {
		return nil, fmt.Errorf("CachedAttention: Q %v, K %v, V %v do not split into %d query and %d key/value heads", q.Shape, k.Shape, v.Shape, H, Hkv)
	}
	S, T := q.Shape[0], k.Shape[0]
	D, Dv := q.Shape[1]/H, v.Shape[1]/Hkv
	if k.Shape[1]/Hkv != D {
		return nil, fmt.Errorf("CachedAttention: Q head size %d differs from K head size %d", D, k.Shape[1]/Hkv)
	}
	if pos+S > T {
		return nil, fmt.Errorf("CachedAttention: positions %d..%d are past the cache's %d", pos, pos+S-1, T)
	}
	scale := attrs.Float("scale", 0)
	if !attrs.Has("scale") {
		scale = float32(1 / math.Sqrt(float64(D)))
	}
	y := New(ir.F32, S, H*Dv)
	qs, ks, vs, ys := q.F32(), k.F32(), v.F32(), y.F32()
	group := H / Hkv
	kw, vw := Hkv*D, Hkv*Dv
	work := func(lo, hi int) {
		att := make([]float32, pos+S)
		for r := lo; r < hi; r++ {
			s, h := r/H, r%H
			n := pos + s + 1 // visible positions
			qrow := qs[s*H*D+h*D:][:D]
			koff, voff := (h/group)*D, (h/group)*Dv
			a := att[:n]
			for t := range a {
				krow := ks[t*kw+koff:][:D]
				var dot float32
				for i, qv := range qrow {
					dot += qv * krow[i]
				}
				a[t] = dot * scale
			}
			softmax32(a)
			out := ys[s*H*Dv+h*Dv:][:Dv]
			for t, w := range a {
				vrow := vs[t*vw+voff:][:Dv]
				for i, vv := range vrow {
					out[i] += w * vv
				}
			}
		}
	}
	ctx.ParallelFor(S*H, max(1, (1<<14)/max(1, (pos+S)*(D+Dv))), work)
	return one(y), nil
}

// softmax32 is llama2.c's softmax in place: float32, maximum subtracted, exponentials
// summed in order.
func softmax32(x []float32) {
	m := x[0]
	for _, v := range x[1:] {
		m = max(m, v)
	}
	var sum float32
	for i, v := range x {
		e := float32(math.Exp(float64(v - m)))
		x[i] = e
		sum += e
	}
	for i := range x {
		x[i] /= sum
	}
}
