package sparse

import (
	"fmt"
	"sync"

	"github.com/ciuic/ciuic/ir"
	"github.com/ciuic/ciuic/ops"
	"github.com/ciuic/ciuic/ops/internal/attn"
	"github.com/ciuic/ciuic/ops/internal/gemm"
)

// The tiled kernel is the one registered: the streaming softmax of kernel (kernel.go)
// applied to tiles of queries and keys on ciuic's packed-GEMM microkernels, through the
// attention engine shared with ciuic.Attention (ops/internal/attn: blocks of queries,
// tiles of keys, microkernel tiles no row keeps skipped). Work is split into groups of
// attn.GroupQ queries of one (batch, head), each packing the keys its queries reach once;
// memory per worker is a block of scores and the group's packed keys and values: bounded
// by the window for window patterns, at most linear in T otherwise. The blocking depends
// only on the group, never on the split, so results do not depend on the worker count.
// This uses ops/internal, which an operator outside ciuic cannot import; its
// registration uses only the public API.

func init() {
	ops.RegisterInto(Domain, Op, tiledInto, false, ir.F32)
}

func tiledKernel(ctx *ops.KernelContext, in []*ops.Tensor, attrs ir.Attrs) ([]*ops.Tensor, error) {
	c := calls.Get().(*call)
	defer calls.Put(c)
	if err := c.g.init(in, attrs); err != nil {
		return nil, fmt.Errorf("SparseAttention: %v", err)
	}
	y := ops.New(ir.F32, c.g.B, c.g.S, c.g.H*c.g.Dv)
	c.run(ctx, in, y)
	return []*ops.Tensor{y}, nil
}

// tiledInto is tiledKernel writing into the caller's tensor; in steady state (its
// scratch pooled) it allocates nothing.
func tiledInto(ctx *ops.KernelContext, in, out []*ops.Tensor, attrs ir.Attrs) error {
	c := calls.Get().(*call)
	defer calls.Put(c)
	if err := c.g.init(in, attrs); err != nil {
		return fmt.Errorf("SparseAttention: %v", err)
	}
	g := &c.g
	if len(out) == 0 || out[0] == nil || out[0].DType != ir.F32 || out[0].Rank() != 3 ||
		out[0].Shape[0] != g.B || out[0].Shape[1] != g.S || out[0].Shape[2] != g.H*g.Dv {
		return fmt.Errorf("SparseAttention: output is not f32[%d %d %d]", g.B, g.S, g.H*g.Dv)
	}
	c.run(ctx, in, out[0])
	return nil
}

// call is the state of one call, pooled along with the method value handed to
// ParallelFor (a closure would be allocated on every call).
type call struct {
	g          geom
	q, k, v, y []float32
	kern       *gemm.Kernel
	groups     int
	tasksFn    func(lo, hi int)
}

var calls = sync.Pool{New: func() any {
	c := new(call)
	c.tasksFn = c.tasks
	return c
}}

// workers holds the engine's scratch between calls.
var workers = attn.NewScratch[tileWorker](64)

type tileWorker struct {
	attn.Worker
	rows headRows
}

func (c *call) run(ctx *ops.KernelContext, in []*ops.Tensor, y *ops.Tensor) {
	g := &c.g
	c.q, c.k, c.v, c.y = in[0].F32(), in[1].F32(), in[2].F32(), y.F32()
	c.kern = attn.Kernel()
	c.groups = (g.S + attn.GroupQ - 1) / attn.GroupQ
	ctx.ParallelFor(g.B*g.H*c.groups, 1, c.tasksFn)
	c.q, c.k, c.v, c.y, g.mask = nil, nil, nil, nil, nil // do not keep tensors alive in the pool
}

// tasks computes groups [lo, hi), a group being attn.GroupQ queries of one (batch, head).
func (c *call) tasks(lo, hi int) {
	g := &c.g
	w := workers.Get()
	for task := lo; task < hi; task++ {
		gr := task % c.groups
		h := (task / c.groups) % g.H
		b := task / (c.groups * g.H)
		kvh := h / (g.H / g.Hkv)
		w.rows.g, w.rows.b, w.rows.h = g, b, h
		ldq, ldk, ldv := g.H*g.D, g.Hkv*g.D, g.Hkv*g.Dv
		head := attn.Head{S: g.S, T: g.T, D: g.D, Dv: g.Dv,
			Q: c.q[b*g.S*ldq+h*g.D:], LDQ: ldq,
			K: c.k[b*g.T*ldk+kvh*g.D:], LDK: ldk,
			V: c.v[b*g.T*ldv+kvh*g.Dv:], LDV: ldv,
			Y: c.y[b*g.S*g.H*g.Dv+h*g.Dv:], LDY: g.H * g.Dv,
			Scale: g.scale, Rows: &w.rows}
		s0 := gr * attn.GroupQ
		w.Run(c.kern, &head, s0, min(g.S, s0+attn.GroupQ))
	}
	w.rows.g = nil
	workers.Put(w)
}

// headRows is the pattern and mask of one (batch, head) as the engine asks for them.
type headRows struct {
	g    *geom
	b, h int
}

func (r *headRows) Spans(dst []attn.Span, s int) []attn.Span {
	g := r.g
	return g.pat.Spans(dst, r.h, s+g.T-g.S, g.T)
}

func (r *headRows) Mask(x []float32, s, t0 int) {
	g := r.g
	row, step := r.b*g.ms[0]+r.h*g.ms[1]+s*g.ms[2]+t0*g.ms[3], g.ms[3]
	for j := range x {
		x[j] += g.mask[row+j*step]
	}
}

func (r *headRows) Masked() bool { return r.g.mask != nil }
