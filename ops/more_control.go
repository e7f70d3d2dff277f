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

func init() {
	Register("", "Scan", scanKernel)
}

// scanKernel runs the body once per step over slices of the scan inputs.
func scanKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	body := attrs["body"].Graph
	if body == nil {
		return nil, fmt.Errorf("Scan: needs a body graph")
	}
	m := int(attrs.Int("num_scan_inputs", 0))
	k := len(body.Inputs)
	st := k - m
	caps := ir.Captures(body)
	if m < 1 || st < 0 || len(in) != k+len(caps) {
		return nil, fmt.Errorf("Scan: %d inputs for a body of %d inputs and %d captured values", len(in), k, len(caps))
	}
	dirs, _ := attrs.Ints("scan_input_directions")
	odirs, _ := attrs.Ints("scan_output_directions")
	axes := make([]int, m)
	L := -1
	for j := 0; j < m; j++ {
		a, err := ir.ScanAxis(attrs, "scan_input_axes", j, in[st+j].Rank())
		if err != nil {
			return nil, fmt.Errorf("Scan: %v", err)
		}
		axes[j] = a
		if l := in[st+j].Shape[a]; L < 0 {
			L = l
		} else if l != L {
			return nil, fmt.Errorf("Scan: scan inputs have lengths %d and %d", L, l)
		}
	}
	state := append([]*Tensor{}, in[:st]...)
	nOut := len(body.Outputs) - st
	steps := make([][]*Tensor, nOut)
	for t := 0; t < L; t++ {
		env := map[*ir.Value]*Tensor{}
		for i, v := range caps {
			env[v] = in[k+i]
		}
		for i := 0; i < st; i++ {
			env[body.Inputs[i]] = state[i]
		}
		for j := 0; j < m; j++ {
			idx := t
			if j < len(dirs) && dirs[j] != 0 {
				idx = L - 1 - t
			}
			env[body.Inputs[st+j]] = selectAxis(in[st+j], axes[j], []int{idx}).squeeze(axes[j])
		}
		outs, err := RunGraph(body, env)
		if err != nil {
			return nil, fmt.Errorf("Scan: step %d: %v", t, err)
		}
		copy(state, outs[:st])
		for i := 0; i < nOut; i++ {
			steps[i] = append(steps[i], outs[st+i])
		}
	}
	res := append([]*Tensor{}, state...)
	for i := 0; i < nOut; i++ {
		if L == 0 {
			return nil, fmt.Errorf("Scan: empty scan inputs are not supported")
		}
		s := steps[i]
		if i < len(odirs) && odirs[i] != 0 {
			for a, b := 0, len(s)-1; a < b; a, b = a+1, b-1 {
				s[a], s[b] = s[b], s[a]
			}
		}
		a, err := ir.ScanAxis(attrs, "scan_output_axes", i, s[0].Rank()+1)
		if err != nil {
			return nil, fmt.Errorf("Scan: %v", err)
		}
		res = append(res, stack(s, a))
	}
	return res, nil
}

// squeeze drops dim a (of size 1) from t, sharing its data.
func (t *Tensor) squeeze(a int) *Tensor {
	s := append(append([]int{}, t.Shape[:a]...), t.Shape[a+1:]...)
	return &Tensor{DType: t.DType, Shape: s, Data: t.Data}
}

// stack joins same-shaped tensors along a new axis a.
func stack(ts []*Tensor, a int) *Tensor {
	shape := ts[0].Shape
	outer, inner := NumElems(shape[:a]), NumElems(shape[a:])
	out := append(append(append([]int{}, shape[:a]...), len(ts)), shape[a:]...)
	y := New(ts[0].DType, out...)
	for o := 0; o < outer; o++ {
		for i, t := range ts {
			copyElems(y.Data, (o*len(ts)+i)*inner, t.Data, o*inner, inner)
		}
	}
	return y
}
