package conformance

import (
	"strings"

	"github.com/ciuic/ciuic/ir"
	"github.com/ciuic/ciuic/ops"
)

// maxFoldElems bounds the constants specialize creates: shape computations are small,
// and a large folded tensor would only duplicate work the run does anyway.
const maxFoldElems = 1 << 16

// specialize makes g, imported without verification, static for one set of inputs, for
// models whose output shapes depend on values rather than types: a Reshape to the
// result of Shape(x) arithmetic, a Reduce whose axes are an input. The IR types every
// value statically, so ciuic computes those values before inference, as ONNX Runtime's
// shape inference does at run time. Inputs named in consts become constants holding the
// given data; then, in node order, each node is typed and, if its value is known (all
// inputs constant, or Shape/Size of a statically shaped value), evaluated by its kernel
// and replaced by a constant. Finally the graph is inferred and verified as the importer
// would. It returns the names of the inputs it turned into constants.
func specialize(g *ir.Graph, consts map[string]*ir.Tensor) ([]string, error) {
	var bound []string
	inputs := g.Inputs[:0]
	for _, v := range g.Inputs {
		t, ok := consts[v.Name]
		if !ok {
			inputs = append(inputs, v)
			continue
		}
		c := g.AddConst(v.Name+"_value", t)
		g.ReplaceAllUses(v, c)
		bound = append(bound, v.Name)
	}
	g.Inputs = inputs
	for _, n := range append([]*ir.Node(nil), g.Nodes...) {
		ts, err := ir.InferNode(n)
		if err != nil {
			continue // InferTypes below reports it
		}
		for i, o := range n.Outputs {
			if o != nil && !o.Type.IsValid() {
				o.Type = ts[i]
			}
		}
		if !foldable(g, n) {
			continue
		}
		in := make([]*ops.Tensor, len(n.Inputs))
		ok := true
		for i, v := range n.Inputs {
			switch {
			case v == nil:
			case v.Const != nil:
				if in[i], err = ops.FromIR(v.Const); err != nil {
					ok = false
				}
			default: // Shape or Size of a static shape: only the shape matters
				shape := make([]int, len(v.Type.Shape))
				for k, d := range v.Type.Shape {
					shape[k] = int(d.Size)
				}
				if ops.NumElems(shape) > maxFoldElems*16 {
					ok = false
					break
				}
				in[i] = ops.New(v.Type.DType, shape...)
			}
		}
		if !ok {
			continue
		}
		outs, err := ops.Run(n.Domain, n.Op, in, n.Attrs, len(n.Outputs))
		if err != nil || len(outs) < len(n.Outputs) {
			continue
		}
		for i, o := range n.Outputs {
			if o != nil && (outs[i] == nil || outs[i].Len() > maxFoldElems) {
				ok = false
			}
		}
		if !ok {
			continue
		}
		for i, o := range n.Outputs {
			if o != nil {
				g.ReplaceAllUses(o, g.AddConst(o.Name+"_folded", outs[i].ToIR()))
			}
		}
		g.RemoveNode(n)
	}
	g.RemoveUnusedConsts()
	if err := ir.InferTypes(g); err != nil {
		return bound, err
	}
	return bound, ir.Verify(g)
}

// foldable reports whether n's outputs can be computed before the run: no subgraphs,
// no randomness, no graph outputs (their names must stay), and every input constant,
// except that Shape and Size only need their input's static shape.
func foldable(g *ir.Graph, n *ir.Node) bool {
	if n.Domain != "" || strings.HasPrefix(n.Op, "Random") || n.Op == "Bernoulli" || n.Op == "Multinomial" {
		return false
	}
	for _, name := range n.Attrs.Names() {
		if n.Attrs[name].Kind == ir.AttrGraph {
			return false
		}
	}
	for _, o := range n.Outputs {
		if o == nil {
			continue
		}
		if !o.Type.IsValid() {
			return false
		}
		for _, out := range g.Outputs {
			if out == o {
				return false
			}
		}
	}
	if (n.Op == "Shape" || n.Op == "Size") && len(n.Inputs) == 1 && n.Inputs[0] != nil {
		t := n.Inputs[0].Type
		if !t.IsValid() || t.DType == ir.String {
			return false
		}
		for _, d := range t.Shape {
			if !d.IsStatic() {
				return false
			}
		}
		return true
	}
	if len(n.Inputs) == 0 {
		return false
	}
	for _, v := range n.Inputs {
		if v != nil && v.Const == nil {
			return false
		}
	}
	return true
}
