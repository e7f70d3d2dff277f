package ops

import (
	"fmt"

	"github.com/ciuic/ciuic/ir"
)

// ciuic.Attention (the fast kernel of ciuic_attention_fast.go) into the caller's
// tensor: the same computation writing Y where it lives; in steady state (its scratch
// pooled) it allocates nothing.

func init() {
	RegisterInto(ir.CiuicDomain, "Attention", attentionInto, false, ir.F32)
}

func attentionInto(ctx *KernelContext, in, out []*Tensor, attrs ir.Attrs) error {
	c := attnCalls.Get().(*attnCall)
	defer attnCalls.Put(c)
	if err := c.g.init(in, attrs); err != nil {
		return fmt.Errorf("Attention: %v", err)
	}
	g := &c.g
	if len(out) == 0 || out[0] == nil || out[0].DType != ir.F32 || out[0].Rank() != 3 ||
		out[0].Shape[0] != g.B || out[0].Shape[1] != g.S || out[0].Shape[2] != g.H*g.Dv {
		return fmt.Errorf("Attention: output is not f32[%d %d %d]", g.B, g.S, g.H*g.Dv)
	}
	c.run(ctx, in, out[0])
	return nil
}
