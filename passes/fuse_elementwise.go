package passes

import (
	"fmt"

	"github.com/ciuic/ciuic/ir"
)

// fuseElementwise merges trees of elementwise ops into one ciuic.FusedElementwise, which
// makes one pass over memory instead of one per op:
//
//	%a = Mul(%x, %s); %b = Add(%a, %y); %c = Relu(%b)   ->   %c = FusedElementwise(%x, %s, %y) {expr: "Relu(Add(Mul(x0, x1), x2))"}
//
// A node joins its reader's tree when its output has that one reader, is not a graph
// output, and has the reader's full output shape (so no work is repeated by broadcasting).
func fuseElementwise(c *Context, g *ir.Graph) error {
	fused := 0
	for i := len(g.Nodes) - 1; i >= 0; i-- {
		if i >= len(g.Nodes) {
			continue
		}
		root := g.Nodes[i]
		if !fusibleElementwise(root) {
			continue
		}
		t := &ewTree{g: g, shape: root.Outputs[0].Type.Shape, leaf: map[*ir.Value]int{}}
		expr := t.build(root)
		if t.nodes < 2 {
			continue
		}
		n := &ir.Node{Domain: ir.CiuicDomain, Op: "FusedElementwise", Inputs: t.leaves, Group: c.NewGroup(),
			Attrs: ir.Attrs{"expr": ir.StringAttr(expr)}, Outputs: []*ir.Value{{Name: root.Outputs[0].Name + "_fused"}}}
		ts, err := ir.InferNode(n)
		if err != nil || !ts[0].Equal(root.Outputs[0].Type) {
			continue // e.g. a leaf shape that broadcasts differently; leave the chain
		}
		n.Outputs[0].Type = ts[0]
		g.InsertBefore(root, n)
		c.Fired(n, "elementwise fused %d nodes into %s", t.nodes, expr)
		g.ReplaceAllUses(root.Outputs[0], n.Outputs[0])
		adoptName(g, root.Outputs[0], n.Outputs[0])
		removeDead(g)
		fused++
		i = min(i, len(g.Nodes))
	}
	c.Count("fused chains", fused)
	return nil
}

func fusibleElementwise(n *ir.Node) bool {
	if n.Domain != "" || len(n.Outputs) != 1 || n.Outputs[0] == nil || n.Outputs[0].Type.DType != ir.F32 {
		return false
	}
	if arity, ok := ir.ElementwiseOps[n.Op]; !ok || arity != len(n.Inputs) {
		return false
	}
	for _, in := range n.Inputs {
		if in == nil || in.Type.DType != ir.F32 {
			return false
		}
	}
	if n.Op == "Gelu" { // the exact (erf) form only
		return n.Attrs.String("approximate", "none") == "none" && len(n.Attrs) <= 1
	}
	return len(n.Attrs) == 0
}

type ewTree struct {
	g      *ir.Graph
	shape  ir.Shape
	leaves []*ir.Value
	leaf   map[*ir.Value]int
	nodes  int
}

func (t *ewTree) build(n *ir.Node) string {
	t.nodes++
	args := ""
	for k, in := range n.Inputs {
		if k > 0 {
			args += ", "
		}
		if d := in.Def; d != nil && fusibleElementwise(d) && len(in.Uses()) == 1 && !isOutput(t.g, in) && in.Type.Shape.Equal(t.shape) && !hasUnknown(in.Type.Shape) {
			args += t.build(d)
			continue
		}
		idx, ok := t.leaf[in]
		if !ok {
			idx = len(t.leaves)
			t.leaf[in] = idx
			t.leaves = append(t.leaves, in)
		}
		args += fmt.Sprintf("x%d", idx)
	}
	return n.Op + "(" + args + ")"
}

func hasUnknown(s ir.Shape) bool {
	for _, d := range s {
		if d.IsUnknown() {
			return true
		}
	}
	return false
}
