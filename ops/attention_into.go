package ops

import (
	"sync"

	"github.com/ciuic/ciuic/ir"
)

// ciuic.Attention (the fast kernel of ciuic_attention_fast.go) into the caller's
// tensor: the same per-(batch, head) GEMMs and softmax, writing Y where it lives.

func init() {
	RegisterInto(ir.CiuicDomain, "Attention", attentionInto, false, ir.F32)
}

func attentionInto(ctx *KernelContext, in, out []*Tensor, attrs ir.Attrs) error {
	g, err := attentionGeom(in, attrs)
	if err != nil || len(out) == 0 || out[0] == nil {
		return fallbackInto(ctx, fastAttentionKernel, in, out, attrs) // reports the error
	}
	y := out[0]
	if y.DType != ir.F32 || !sameShape(y.Shape, []int{g.B, g.S, g.H * g.Dv}) {
		return fallbackInto(ctx, fastAttentionKernel, in, out, attrs)
	}
	q, k, v, ys := in[0].F32(), in[1].F32(), in[2].F32(), y.F32()
	ctx.ParallelFor(g.B*g.H, 1, func(lo, hi int) {
		buf := scoresPool.Get().(*[]float32)
		if n := min(attnBlock, g.S) * g.T; cap(*buf) < n {
			*buf = make([]float32, n)
		}
		for pair := lo; pair < hi; pair++ {
			g.head(q, k, v, ys, pair/g.H, pair%g.H, (*buf)[:min(attnBlock, g.S)*g.T])
		}
		scoresPool.Put(buf)
	})
	return nil
}

// scoresPool holds score blocks (every element is written before it is read), so
// that a plan's runs do not allocate one per call.
var scoresPool = sync.Pool{New: func() any { return new([]float32) }}
