package ops

import (
	"fmt"
	"math"

	"github.com/ciuic/ciuic/ir"
	"github.com/ciuic/ciuic/ops/internal/gemm"
	"github.com/ciuic/ciuic/ops/internal/vec"
)

// The fast ciuic.Attention computes each (batch, head) as two packed GEMMs around a
// vectorised softmax, over blocks of queries so the score matrix held at once is at most
// attnBlock×T:
//
//	P = softmax(Q_h·K_hᵀ·scale + mask)   (gemm.Mul with K_h packed as Bᵀ, then vec.Exp)
//	Y_h = P·V_h                          (gemm.Mul with V_h packed)
//
// It agrees with the reference row kernel (ciuic_attention.go) to float32 rounding: the
// dot products are summed in the GEMM's order and the softmax runs in float32. Work is
// split over (batch, head) pairs; each pair is computed the same way whatever the split.
func init() {
	Register(ir.CiuicDomain, "Attention", fastAttentionKernel, ir.F32)
}

// attnBlock is the number of query rows whose scores are held at once.
const attnBlock = 64

// ReferenceAttentionKernel is the row-by-row ciuic.Attention kernel, kept for tests.
var ReferenceAttentionKernel Kernel = attentionKernel

func fastAttentionKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	g, err := attentionGeom(in, attrs)
	if err != nil {
		return nil, fmt.Errorf("Attention: %v", err)
	}
	q, k, v := in[0].F32(), in[1].F32(), in[2].F32()
	y := New(ir.F32, g.B, g.S, g.H*g.Dv)
	ys := y.F32()
	pairs := g.B * g.H
	ctx.ParallelFor(pairs, 1, func(lo, hi int) {
		scores := make([]float32, min(attnBlock, g.S)*g.T)
		for pair := lo; pair < hi; pair++ {
			g.head(q, k, v, ys, pair/g.H, pair%g.H, scores)
		}
	})
	return one(y), nil
}

// head computes the output of one (batch, head) pair into y.
func (g *attnGeom) head(q, k, v, y []float32, b, h int, scores []float32) {
	kvh := h / (g.H / g.Hkv)
	kld, vld := g.Hkv*g.D, g.Hkv*g.Dv // distance between keys (values) t and t+1
	if g.cache {
		kld, vld = g.D, g.Dv
	}
	kp := gemm.PackB(nil, k[g.kRow(b, kvh, 0):], g.D, g.T, kld, true)   // Kᵀ: D×T
	vp := gemm.PackB(nil, v[g.vRow(b, kvh, 0):], g.T, g.Dv, vld, false) // V: T×Dv
	for s0 := 0; s0 < g.S; s0 += attnBlock {
		rows := min(attnBlock, g.S-s0)
		sc := scores[:rows*g.T]
		qa := gemm.A{Data: q[(b*g.S+s0)*g.H*g.D+h*g.D:], M: rows, LD: g.H * g.D}
		gemm.Mul(nil, qa, kp, gemm.C{Data: sc, LD: g.T}, nil)
		for i := 0; i < rows; i++ {
			g.softmaxRow(sc[i*g.T:][:g.T], b, h, s0+i)
		}
		ya := gemm.A{Data: sc, M: rows, LD: g.T}
		gemm.Mul(nil, ya, vp, gemm.C{Data: y[(b*g.S+s0)*g.H*g.Dv+h*g.Dv:], LD: g.H * g.Dv}, nil)
	}
}

// softmaxRow turns one row of raw scores into attention weights in place: scale, mask,
// causal cut-off, then softmax; a row with nothing visible becomes zeros.
func (g *attnGeom) softmaxRow(row []float32, b, h, s int) {
	visible := g.T
	if g.causal {
		visible = max(0, min(g.T, s+g.T-g.S+1))
	}
	mx := float32(math.Inf(-1))
	if g.mask != nil {
		mrow := b*g.maskStrides[0] + h*g.maskStrides[1] + s*g.maskStrides[2]
		for t := 0; t < visible; t++ {
			row[t] = g.applyMask(row[t]*g.scale, g.mask[mrow+t*g.maskStrides[3]])
			mx = max(mx, row[t])
		}
	} else {
		for t := 0; t < visible; t++ {
			row[t] *= g.scale
			mx = max(mx, row[t])
		}
	}
	clear(row[visible:])
	if math.IsInf(float64(mx), -1) || visible == 0 {
		clear(row)
		return
	}
	if math.IsInf(float64(mx), 1) {
		mx = 0
	}
	w := row[:visible]
	for t := range w {
		w[t] -= mx
	}
	vec.Exp(w, w)
	var sum float32
	for _, e := range w {
		sum += e
	}
	inv := 1 / sum
	for t := range w {
		w[t] *= inv
	}
}
