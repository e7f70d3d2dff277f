package passes

import (
	"fmt"
	"sort"
	"strings"

	"github.com/ciuic/ciuic/ir"
)

// inferShapes re-infers every node's output types in order, refining dims that earlier
// stages left unknown (after folding, a Reshape's shape input may have become constant).
func inferShapes(c *Context, g *ir.Graph) error {
	var errs ir.ErrorList
	for _, n := range g.Nodes {
		ts, err := ir.InferNode(n)
		if err != nil {
			errs = append(errs, &ir.Error{Node: n, Msg: err.Error()})
			continue
		}
		for i, o := range n.Outputs {
			if o == nil || o.Type.Equal(ts[i]) {
				continue
			}
			if moreKnown(ts[i], o.Type) {
				o.Type = ts[i]
				c.Count("refined", 1)
				continue
			}
			if !moreKnown(o.Type, ts[i]) {
				errs = append(errs, &ir.Error{Node: n, Msg: fmt.Sprintf("output %s has type %s, inferred %s", o, o.Type, ts[i])})
			}
		}
	}
	return errs.Err()
}

// moreKnown reports whether a is b with some unknown dims of b made known.
func moreKnown(a, b ir.Type) bool {
	if a.DType != b.DType || len(a.Shape) != len(b.Shape) {
		return false
	}
	for i := range a.Shape {
		if b.Shape[i].IsUnknown() {
			continue
		}
		if a.Shape[i] != b.Shape[i] {
			return false
		}
	}
	return true
}

// deadCode removes nodes whose outputs nothing reads and that are not graph outputs, and
// constants that nothing reads.
func deadCode(c *Context, g *ir.Graph) error {
	nodes := len(g.Nodes)
	removeDead(g)
	c.Count("removed nodes", nodes-len(g.Nodes))
	c.Count("removed constants", g.RemoveUnusedConsts())
	return nil
}

// removeDead deletes dead nodes, walking backwards so chains die in one sweep.
func removeDead(g *ir.Graph) {
	outputs := map[*ir.Value]bool{}
	for _, o := range g.Outputs {
		outputs[o] = true
	}
	for i := len(g.Nodes) - 1; i >= 0; i-- {
		n := g.Nodes[i]
		live := false
		for _, o := range n.Outputs {
			if o != nil && (len(o.Uses()) > 0 || outputs[o]) {
				live = true
			}
		}
		if !live {
			g.RemoveNode(n)
		}
	}
}

// cse merges nodes with the same op, attributes and inputs, and constants with the same
// data, keeping the first.
func cse(c *Context, g *ir.Graph) error {
	// Constants first, so that nodes reading equal constants become equal too.
	seenConst := map[string]*ir.Value{}
	for _, v := range g.Consts {
		key := constKey(v.Const)
		if first, ok := seenConst[key]; ok && !isOutput(g, v) {
			g.ReplaceAllUses(v, first)
			c.Count("merged constants", 1)
			continue
		}
		seenConst[key] = v
	}
	g.RemoveUnusedConsts()
	seen := map[string]*ir.Node{}
	for i := 0; i < len(g.Nodes); i++ {
		n := g.Nodes[i]
		key, ok := nodeKey(n)
		if !ok {
			continue
		}
		first, dup := seen[key]
		if !dup {
			seen[key] = n
			continue
		}
		if anyOutput(g, n) {
			continue
		}
		for k, o := range n.Outputs {
			if o != nil {
				g.ReplaceAllUses(o, first.Outputs[k])
			}
		}
		g.RemoveNode(n)
		i--
		c.Count("merged nodes", 1)
	}
	return nil
}

func constKey(t *ir.Tensor) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s%v:", t.DType, t.Shape)
	if t.DType == ir.String {
		fmt.Fprintf(&b, "%q", t.Strings)
	} else {
		b.Write(t.Data)
	}
	return b.String()
}

// nodeKey identifies what a node computes. Nodes with subgraphs are never merged.
func nodeKey(n *ir.Node) (string, bool) {
	var b strings.Builder
	fmt.Fprintf(&b, "%s.%s/%d(", n.Domain, n.Op, len(n.Outputs))
	for _, in := range n.Inputs {
		fmt.Fprintf(&b, "%p,", in)
	}
	b.WriteString("){")
	names := n.Attrs.Names()
	sort.Strings(names)
	for _, name := range names {
		a := n.Attrs[name]
		switch a.Kind {
		case ir.AttrGraph:
			return "", false
		case ir.AttrTensor:
			fmt.Fprintf(&b, "%s=%s;", name, constKey(a.Tensor))
		default:
			fmt.Fprintf(&b, "%s=%v|%v|%q|%v|%v|%q;", name, a.Int, a.Float, a.Str, a.Ints, a.Floats, a.Strs)
		}
	}
	b.WriteString("}")
	return b.String(), true
}

func isOutput(g *ir.Graph, v *ir.Value) bool {
	for _, o := range g.Outputs {
		if o == v {
			return true
		}
	}
	return false
}

func anyOutput(g *ir.Graph, n *ir.Node) bool {
	for _, o := range n.Outputs {
		if o != nil && isOutput(g, o) {
			return true
		}
	}
	return false
}
