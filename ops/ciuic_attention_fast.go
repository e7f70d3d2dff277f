package ops

import (
	"fmt"
	"sync"

	"github.com/ciuic/ciuic/ir"
	"github.com/ciuic/ciuic/ops/internal/attn"
	"github.com/ciuic/ciuic/ops/internal/gemm"
)

// The fast ciuic.Attention runs each (batch, head) on the tiled attention engine shared
// with ciuic.SparseAttention (ops/internal/attn): blocks of queries against tiles of
// keys on the packed GEMM's microkernels, a streaming softmax in float32 (vec.Exp), and
// the microkernel tiles causality masks out skipped, so causal attention does about
// half the work of the full product.
//
// It agrees with the reference row kernel (ciuic_attention.go) to float32 rounding: the
// dot products are summed in the GEMM's order, the scale is applied to Q, and the
// softmax runs in float32. Work is split over groups of attn.GroupQ queries of one
// (batch, head); each is computed the same way whatever the split.
func init() {
	Register(ir.CiuicDomain, "Attention", fastAttentionKernel, ir.F32)
}

// ReferenceAttentionKernel is the row-by-row ciuic.Attention kernel, kept for tests.
var ReferenceAttentionKernel Kernel = attentionKernel

func fastAttentionKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	c := attnCalls.Get().(*attnCall)
	defer attnCalls.Put(c)
	if err := c.g.init(in, attrs); err != nil {
		return nil, fmt.Errorf("Attention: %v", err)
	}
	y := New(ir.F32, c.g.B, c.g.S, c.g.H*c.g.Dv)
	c.run(ctx, in, y)
	return one(y), nil
}

// attnCall is the state of one call, pooled along with the method value handed to
// ParallelFor (a closure would be allocated on every call).
type attnCall struct {
	g          attnGeom
	q, k, v, y []float32
	kern       *gemm.Kernel
	groups     int
	tasksFn    func(lo, hi int)
}

var attnCalls = sync.Pool{New: func() any {
	c := new(attnCall)
	c.tasksFn = c.tasks
	return c
}}

// attnWorkers holds the engine's scratch between calls.
var attnWorkers = attn.NewScratch[attnWorker](64)

type attnWorker struct {
	attn.Worker
	rows attnRows
}

func (c *attnCall) run(ctx *KernelContext, in []*Tensor, y *Tensor) {
	g := &c.g
	c.q, c.k, c.v, c.y = in[0].F32(), in[1].F32(), in[2].F32(), y.F32()
	c.kern = attn.Kernel()
	c.groups = (g.S + attn.GroupQ - 1) / attn.GroupQ
	ctx.ParallelFor(g.B*g.H*c.groups, 1, c.tasksFn)
	c.q, c.k, c.v, c.y, g.mask = nil, nil, nil, nil, nil // do not keep tensors alive in the pool
}

// tasks computes groups [lo, hi), a group being attn.GroupQ queries of one (batch, head).
func (c *attnCall) tasks(lo, hi int) {
	g := &c.g
	w := attnWorkers.Get()
	kld, vld := g.Hkv*g.D, g.Hkv*g.Dv // distance between keys (values) t and t+1
	if g.cache {
		kld, vld = g.D, g.Dv
	}
	for task := lo; task < hi; task++ {
		gr := task % c.groups
		h := (task / c.groups) % g.H
		b := task / (c.groups * g.H)
		kvh := h / (g.H / g.Hkv)
		w.rows = attnRows{g: g, b: b, h: h}
		head := attn.Head{S: g.S, T: g.T, D: g.D, Dv: g.Dv,
			Q: c.q[b*g.S*g.H*g.D+h*g.D:], LDQ: g.H * g.D,
			K: c.k[g.kRow(b, kvh, 0):], LDK: kld,
			V: c.v[g.vRow(b, kvh, 0):], LDV: vld,
			Y: c.y[b*g.S*g.H*g.Dv+h*g.Dv:], LDY: g.H * g.Dv,
			Scale: g.scale, Rows: &w.rows}
		s0 := gr * attn.GroupQ
		w.Run(c.kern, &head, s0, min(g.S, s0+attn.GroupQ))
	}
	w.rows.g = nil
	attnWorkers.Put(w)
}

// attnRows is the causal cut-off and mask of one (batch, head) as the engine asks for
// them.
type attnRows struct {
	g    *attnGeom
	b, h int
}

func (r *attnRows) Spans(dst []attn.Span, s int) []attn.Span {
	g := r.g
	visible := g.T // keys [0, visible) may be attended
	if g.causal {
		visible = max(0, min(g.T, s+g.T-g.S+1))
	}
	dst = dst[:0]
	if visible > 0 {
		dst = append(dst, attn.Span{Lo: 0, Hi: visible})
	}
	return dst
}

func (r *attnRows) Mask(x []float32, s, t0 int) {
	g := r.g
	ms := &g.maskStrides
	row, step := r.b*ms[0]+r.h*ms[1]+s*ms[2]+t0*ms[3], ms[3]
	if g.filtered {
		for j := range x {
			x[j] = g.applyMask(x[j], g.mask[row+j*step])
		}
		return
	}
	for j := range x {
		x[j] += g.mask[row+j*step]
	}
}

func (r *attnRows) Masked() bool { return r.g.mask != nil }
