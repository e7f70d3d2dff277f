package passes

import (
	"fmt"

	"github.com/ciuic/ciuic/ir"
	"github.com/ciuic/ciuic/ops"
)

// foldConstants evaluates nodes whose inputs are all constants, and Shape/Size of values
// whose shapes are static, replacing them by constants. A result larger than
// Config.FoldMaxBytes is not materialised: folding must never blow up a model (Expand of a
// scalar to a huge shape stays a node).
func foldConstants(c *Context, g *ir.Graph) error {
	for i := 0; i < len(g.Nodes); i++ {
		n := g.Nodes[i]
		outs, err := foldNode(n, c.FoldMaxBytes)
		if err != nil {
			return fmt.Errorf("%s: %w", n.Ref(), err)
		}
		if outs == nil || anyOutput(g, n) {
			continue
		}
		for k, o := range n.Outputs {
			if o == nil {
				continue
			}
			if !outs[k].Type().Equal(o.Type) {
				return fmt.Errorf("%s: folded %s has type %s, node says %s", n.Ref(), o, outs[k].Type(), o.Type)
			}
			cv := g.AddConst(o.Name+"_folded", outs[k])
			g.ReplaceAllUses(o, cv)
		}
		g.RemoveNode(n)
		i--
		c.Count("folded", 1)
	}
	c.Count("removed constants", g.RemoveUnusedConsts())
	// Constants make more shapes known downstream (a Reshape's target, say).
	return inferShapes(c, g)
}

// foldNode returns the constant outputs of n, or nil if n cannot or should not be folded.
func foldNode(n *ir.Node, maxBytes int64) ([]*ir.Tensor, error) {
	for _, a := range n.Attrs {
		if a.Kind == ir.AttrGraph {
			return nil, nil
		}
	}
	switch n.Op {
	case "Shape", "Size":
		if n.Domain == "" {
			return foldShape(n), nil
		}
	}
	if len(n.Inputs) == 0 && n.Op != "Constant" {
		return nil, nil
	}
	for _, in := range n.Inputs {
		if in != nil && in.Const == nil {
			return nil, nil
		}
	}
	for _, o := range n.Outputs {
		if o == nil {
			continue
		}
		if size := o.Type.Shape.NumElements(); size < 0 || size*int64(max(o.Type.DType.Size(), 1)) > maxBytes {
			return nil, nil
		}
	}
	return evalNode(n)
}

func foldShape(n *ir.Node) []*ir.Tensor {
	dims, ok := n.Inputs[0].Type.Shape.Ints()
	if !ok {
		return nil
	}
	if n.Op == "Size" {
		size := int64(1)
		for _, d := range dims {
			size *= d
		}
		return []*ir.Tensor{ir.NewTensorI64(nil, []int64{size})}
	}
	start, end := ir.ShapeRange(n, len(dims))
	return []*ir.Tensor{ir.NewTensorI64([]int64{int64(end - start)}, dims[start:end])}
}

// evalNode runs the reference kernel of n on its constant inputs. It is the narrow
// evaluator through which passes may compute values; nothing else in passes runs kernels.
func evalNode(n *ir.Node) ([]*ir.Tensor, error) {
	in := make([]*ops.Tensor, len(n.Inputs))
	dt := ir.Invalid
	for i, v := range n.Inputs {
		if v == nil {
			continue
		}
		t, err := ops.FromIR(v.Const)
		if err != nil {
			return nil, err
		}
		in[i] = t
		if dt == ir.Invalid {
			dt = v.Type.DType
		}
	}
	if _, ok := ops.Lookup(n.Domain, n.Op, dt); !ok {
		return nil, nil // no kernel: leave the node for the runtime to report
	}
	outs, err := ops.Run(n.Domain, n.Op, in, n.Attrs, len(n.Outputs))
	if err != nil {
		return nil, err
	}
	res := make([]*ir.Tensor, len(n.Outputs))
	for k := range n.Outputs {
		if n.Outputs[k] == nil {
			continue
		}
		if k >= len(outs) || outs[k] == nil {
			return nil, nil
		}
		res[k] = outs[k].ToIR()
	}
	return res, nil
}
