package ops

import (
	"fmt"
	"math"

	"github.com/ciuic/ciuic/ir"
)

func init() {
	Register(ir.CiuicDomain, "Attention", attentionKernel, ir.F32)
}

// attnGeom is the geometry of one ciuic.Attention call.
type attnGeom struct {
	B, S, T       int // batch, query length, key length
	H, Hkv, D, Dv int // query heads, key/value heads, head sizes of Q/K and of V
	scale         float32
	causal        bool
	mask          []float32 // nil: no mask
	maskStrides   [4]int    // strides of the mask broadcast to [B, H, S, T]
	filter        float32   // with filtered: score·m − (1−m)·filter instead of score + m
	filtered      bool
	cache         bool // K and V are [B, Hkv, T, D] (a KV cache) rather than [B, T, Hkv·D]
}

// kRow is the offset of key t of batch b, kv head kvh, in K; likewise vRow in V.
func (g *attnGeom) kRow(b, kvh, t int) int {
	if g.cache {
		return ((b*g.Hkv+kvh)*g.T + t) * g.D
	}
	return (b*g.T+t)*g.Hkv*g.D + kvh*g.D
}

func (g *attnGeom) vRow(b, kvh, t int) int {
	if g.cache {
		return ((b*g.Hkv+kvh)*g.T + t) * g.Dv
	}
	return (b*g.T+t)*g.Hkv*g.Dv + kvh*g.Dv
}

// applyMask combines a scaled score with mask value m.
func (g *attnGeom) applyMask(score, m float32) float32 {
	if g.filtered {
		return score*m - (1-m)*g.filter
	}
	return score + m
}

// ciuic.Attention(Q[B, S, H·D], K[B, T, Hkv·D], V[B, T, Hkv·Dv], Mask?) computes, per
// batch and head h (using key/value head h / (H/Hkv)),
//
//	softmax(Q·Kᵀ·scale + Mask)·V
//
// with the output laid out [B, S, H·Dv]. Each score is the float32 dot product summed in
// order, times scale, plus the mask, all in float32, as MatMul, Mul and Add would compute
// it; the softmax is that of the Softmax kernel (float64, row maximum subtracted), except
// that a row with every position masked (-inf, or causal) gives zeros, not NaN. Causal
// attention lets query s see keys t <= s + (T - S), so the last query sees every key.
// Query rows are independent and each is computed the same way whatever the split.
func attentionKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	g, err := attentionGeom(in, attrs)
	if err != nil {
		return nil, fmt.Errorf("Attention: %v", err)
	}
	q, k, v := in[0].F32(), in[1].F32(), in[2].F32()
	y := New(ir.F32, g.B, g.S, g.H*g.Dv)
	ys := y.F32()
	rows := g.B * g.H * g.S
	grain := max(1, (1<<15)/max(1, g.T*(g.D+g.Dv)))
	ctx.ParallelFor(rows, grain, func(lo, hi int) {
		p := make([]float64, g.T)
		for r := lo; r < hi; r++ {
			g.row(q, k, v, ys, r, p)
		}
	})
	return one(y), nil
}

func attentionGeom(in []*Tensor, attrs ir.Attrs) (*attnGeom, error) {
	g := new(attnGeom)
	if err := g.init(in, attrs); err != nil {
		return nil, err
	}
	return g, nil
}

// init sets every field of g from the inputs and attributes, allocating nothing unless
// it fails (the into-variant reuses a pooled g).
func (g *attnGeom) init(in []*Tensor, attrs ir.Attrs) error {
	if err := need(in, 3); err != nil {
		return err
	}
	q, k, v, m := in[0], in[1], in[2], input(in, 3)
	for i, t := range [...]*Tensor{q, k, v, m} {
		if t != nil && t.DType != ir.F32 {
			return fmt.Errorf("input %d is %s, want f32", i, t.DType)
		}
	}
	if q.Rank() != 3 || k.Rank() != v.Rank() || (k.Rank() != 3 && k.Rank() != 4) {
		return fmt.Errorf("Q must be [batch, seq, hidden] and K, V [batch, seq, hidden] or [batch, kv_heads, seq, head], got %v, %v, %v", q.Shape, k.Shape, v.Shape)
	}
	h := attrs.Int("num_heads", 0)
	hkv := attrs.Int("kv_num_heads", h)
	if h <= 0 || hkv <= 0 || h%hkv != 0 {
		return fmt.Errorf("num_heads %d must be positive and a multiple of kv_num_heads %d", h, hkv)
	}
	*g = attnGeom{B: q.Shape[0], S: q.Shape[1], H: int(h), Hkv: int(hkv), causal: attrs.Int("causal", 0) != 0, cache: k.Rank() == 4}
	if q.Shape[2]%g.H != 0 {
		return fmt.Errorf("Q hidden size %d is not divisible by num_heads %d", q.Shape[2], g.H)
	}
	g.D = q.Shape[2] / g.H
	var kHidden, vHidden int
	if g.cache {
		if k.Shape[1] != g.Hkv || v.Shape[1] != g.Hkv || k.Shape[3] != g.D {
			return fmt.Errorf("K %v and V %v must be [batch, %d, T, %d]", k.Shape, v.Shape, g.Hkv, g.D)
		}
		g.T, kHidden, vHidden = k.Shape[2], k.Shape[3]*g.Hkv, v.Shape[3]*g.Hkv
		if v.Shape[2] != g.T {
			return fmt.Errorf("key lengths of K %v and V %v disagree", k.Shape, v.Shape)
		}
	} else {
		g.T, kHidden, vHidden = k.Shape[1], k.Shape[2], v.Shape[2]
		if v.Shape[1] != g.T {
			return fmt.Errorf("key lengths of K %v and V %v disagree", k.Shape, v.Shape)
		}
	}
	if k.Shape[0] != g.B || v.Shape[0] != g.B {
		return fmt.Errorf("batch sizes of Q %v, K %v, V %v disagree", q.Shape, k.Shape, v.Shape)
	}
	if kHidden != g.Hkv*g.D {
		return fmt.Errorf("K hidden size %d is not kv_num_heads %d times the head size %d", kHidden, g.Hkv, g.D)
	}
	if vHidden%g.Hkv != 0 {
		return fmt.Errorf("V hidden size %d is not divisible by kv_num_heads %d", vHidden, g.Hkv)
	}
	g.Dv = vHidden / g.Hkv
	if attrs.Has("mask_filter") {
		g.filtered, g.filter = true, attrs.Float("mask_filter", 0)
	}
	g.scale = attrs.Float("scale", 0)
	if !attrs.Has("scale") {
		g.scale = float32(1 / math.Sqrt(float64(g.D)))
	}
	if m != nil {
		// Strides of the mask broadcast to [B, H, S, T]: 0 along its dims of size 1.
		full := [4]int{g.B, g.H, g.S, g.T}
		if m.Rank() > 4 {
			return fmt.Errorf("mask %v does not broadcast to [batch, heads, S, T] = %v", m.Shape, full)
		}
		stride := 1
		for i := m.Rank() - 1; i >= 0; i-- {
			d, j := m.Shape[i], 4-m.Rank()+i
			if d != 1 && d != full[j] {
				return fmt.Errorf("mask %v does not broadcast to [batch, heads, S, T] = %v", m.Shape, full)
			}
			if d != 1 {
				g.maskStrides[j] = stride
			}
			stride *= d
		}
		g.mask = m.F32()
	}
	return nil
}

// row computes output row r, r indexing (batch, head, query) in that order, into y
// (zeroed). p is scratch of T elements.
func (g *attnGeom) row(q, k, v, y []float32, r int, p []float64) {
	s := r % g.S
	h := (r / g.S) % g.H
	b := r / (g.S * g.H)
	kvh := h / (g.H / g.Hkv)
	qrow := q[(b*g.S+s)*g.H*g.D+h*g.D:][:g.D]
	visible := g.T // keys [0, visible) may be attended
	if g.causal {
		visible = max(0, min(g.T, s+g.T-g.S+1))
	}
	var mrow int
	if g.mask != nil {
		mrow = b*g.maskStrides[0] + h*g.maskStrides[1] + s*g.maskStrides[2]
	}
	m := math.Inf(-1)
	for t := 0; t < visible; t++ {
		krow := k[g.kRow(b, kvh, t):][:g.D]
		var dot float32
		for d, qv := range qrow {
			dot += qv * krow[d]
		}
		sc := dot * g.scale
		if g.mask != nil {
			sc = g.applyMask(sc, g.mask[mrow+t*g.maskStrides[3]])
		}
		p[t] = float64(sc)
		m = max(m, p[t])
	}
	out := y[(b*g.S+s)*g.H*g.Dv+h*g.Dv:][:g.Dv]
	if math.IsInf(m, -1) {
		return // every key masked: no weights to spread, the row stays zero
	}
	if math.IsInf(m, 1) {
		m = 0 // as the Softmax kernel does
	}
	sum := 0.0
	for t := 0; t < visible; t++ {
		sum += math.Exp(p[t] - m)
	}
	for t := 0; t < visible; t++ {
		w := float32(math.Exp(p[t]-m) / sum)
		vrow := v[g.vRow(b, kvh, t):][:g.Dv]
		for j, vv := range vrow {
			out[j] += w * vv
		}
	}
}
