package ops

import (
	"fmt"

	"github.com/ciuic/ciuic/ir"
)

func init() {
	Register("", "If", ifKernel)
}

// ifKernel runs the chosen branch node by node with the registered kernels. Inputs
// after cond are the values the branches capture, in ir.Captures order.
func ifKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	c, err := in[0].Floats()
	if err != nil || len(c) != 1 {
		return nil, fmt.Errorf("If: cond must be a single bool")
	}
	then, els := attrs["then_branch"].Graph, attrs["else_branch"].Graph
	if then == nil || els == nil {
		return nil, fmt.Errorf("If: needs then_branch and else_branch")
	}
	caps := ir.Captures(then, els)
	if len(in)-1 != len(caps) {
		return nil, fmt.Errorf("If: %d captured inputs for %d captured values", len(in)-1, len(caps))
	}
	env := map[*ir.Value]*Tensor{}
	for i, v := range caps {
		env[v] = in[1+i]
	}
	g := els
	if c[0] != 0 {
		g = then
	}
	return RunGraph(g, env)
}

// RunGraph evaluates g's nodes in order with the registered kernels, serially. env
// holds the tensors of g's inputs and of values g reads from enclosing graphs; it is
// extended with every value computed. It returns g's outputs.
func RunGraph(g *ir.Graph, env map[*ir.Value]*Tensor) ([]*Tensor, error) {
	get := func(v *ir.Value) (*Tensor, error) {
		if t, ok := env[v]; ok {
			return t, nil
		}
		if v.Const != nil {
			t, err := FromIR(v.Const)
			if err != nil {
				return nil, err
			}
			env[v] = t
			return t, nil
		}
		return nil, fmt.Errorf("graph %s: value %s has no tensor", g.Name, v.Name)
	}
	for _, n := range g.Nodes {
		ins := make([]*Tensor, len(n.Inputs))
		for i, v := range n.Inputs {
			if v == nil {
				continue
			}
			t, err := get(v)
			if err != nil {
				return nil, err
			}
			ins[i] = t
		}
		outs, err := Run(n.Domain, n.Op, ins, n.Attrs, len(n.Outputs))
		if err != nil {
			return nil, fmt.Errorf("graph %s: node %s: %v", g.Name, n.OpName(), err)
		}
		for i, o := range n.Outputs {
			if o != nil && i < len(outs) {
				env[o] = outs[i]
			}
		}
	}
	res := make([]*Tensor, len(g.Outputs))
	for i, v := range g.Outputs {
		t, err := get(v)
		if err != nil {
			return nil, err
		}
		res[i] = t
	}
	return res, nil
}
