package ir

import "fmt"

// If runs one of two subgraphs. The ONNX importer makes every value a branch reads
// from the enclosing graphs an explicit input after cond (in the order Captures lists
// them), so that the scheduler sees the dependency and the kernel gets the tensor.
func init() {
	MustRegister(&Schema{Op: "If", MinInputs: 1, MaxInputs: Variadic, MinOutputs: 1, MaxOutputs: Variadic,
		Attrs: map[string]AttrSpec{"then_branch": {Kind: AttrGraph, Required: true}, "else_branch": {Kind: AttrGraph, Required: true}},
		Infer: inferIf, Doc: "outputs of then_branch if cond else of else_branch; inputs: cond, captured values"})
}

// Captures lists the values that nodes of gs read but that none of gs defines (as an
// input, constant or node output), in order of first use.
func Captures(gs ...*Graph) []*Value {
	own := map[*Value]bool{}
	for _, g := range gs {
		for _, v := range g.Inputs {
			own[v] = true
		}
		for _, v := range g.Consts {
			own[v] = true
		}
		for _, n := range g.Nodes {
			for _, o := range n.Outputs {
				own[o] = true
			}
		}
	}
	var out []*Value
	seen := map[*Value]bool{}
	for _, g := range gs {
		for _, n := range g.Nodes {
			for _, v := range n.Inputs {
				if v != nil && !own[v] && !seen[v] && v.Const == nil {
					seen[v] = true
					out = append(out, v)
				}
			}
		}
		for _, v := range g.Outputs {
			if !own[v] && !seen[v] && v.Const == nil {
				seen[v] = true
				out = append(out, v)
			}
		}
	}
	return out
}

func inferIf(n *Node) ([]Type, error) {
	if c := inType(n, 0); c.DType != Bool || c.Shape.NumElements() > 1 {
		return nil, fmt.Errorf("cond must be a single bool, got %s", c)
	}
	then, els := n.Attrs["then_branch"].Graph, n.Attrs["else_branch"].Graph
	if then == nil || els == nil {
		return nil, fmt.Errorf("needs then_branch and else_branch graphs")
	}
	branches := []*Graph{then, els}
	if c, ok := ConstInts(n.Inputs[0]); ok && len(c) == 1 {
		// A constant cond (a static shape test in an expanded function) picks the
		// branch; the other may not even type-check for these shapes.
		if c[0] != 0 {
			branches = []*Graph{then, then}
		} else {
			branches = []*Graph{els, els}
		}
		then, els = branches[0], branches[1]
	}
	for _, g := range branches {
		if err := InferTypes(g); err != nil {
			return nil, fmt.Errorf("branch %s: %v", g.Name, err)
		}
		if len(g.Outputs) != len(n.Outputs) {
			return nil, fmt.Errorf("branch %s has %d outputs for %d", g.Name, len(g.Outputs), len(n.Outputs))
		}
	}
	out := make([]Type, len(n.Outputs))
	for i := range out {
		a, b := then.Outputs[i].Type, els.Outputs[i].Type
		if a.DType != b.DType {
			return nil, fmt.Errorf("output %d is %s in one branch and %s in the other", i, a.DType, b.DType)
		}
		t := Type{DType: a.DType, Shape: a.Shape.Clone()}
		if len(a.Shape) != len(b.Shape) {
			return nil, fmt.Errorf("output %d has rank %d in one branch and %d in the other", i, len(a.Shape), len(b.Shape))
		}
		for k := range t.Shape {
			if !dimEqual(a.Shape[k], b.Shape[k]) {
				t.Shape[k] = Unknown()
			}
		}
		out[i] = t
	}
	return out, nil
}

// Scan (opset 9+) runs body once per slice of its scan inputs, threading N state
// values: inputs are N initial states, then num_scan_inputs scanned tensors, then the
// captured values (as for If); outputs are the N final states, then the body's
// per-iteration outputs stacked along scan_output_axes.
func init() {
	MustRegister(&Schema{Op: "Scan", MinInputs: 1, MaxInputs: Variadic, MinOutputs: 1, MaxOutputs: Variadic,
		Attrs: map[string]AttrSpec{"body": {Kind: AttrGraph, Required: true}, "num_scan_inputs": {Kind: AttrInt, Required: true},
			"scan_input_axes": {Kind: AttrInts}, "scan_input_directions": {Kind: AttrInts},
			"scan_output_axes": {Kind: AttrInts}, "scan_output_directions": {Kind: AttrInts}},
		Infer: inferScan, Doc: "loop body over slices of the scan inputs, carrying state"})
}

// ScanAxis returns attribute list name's entry i (default 0), normalised for rank.
func ScanAxis(attrs Attrs, name string, i, rank int) (int, error) {
	v, _ := attrs.Ints(name)
	a := int64(0)
	if i < len(v) {
		a = v[i]
	}
	return NormAxis(a, rank)
}

func inferScan(n *Node) ([]Type, error) {
	body := n.Attrs["body"].Graph
	if body == nil {
		return nil, fmt.Errorf("needs a body graph")
	}
	m := int(n.Attrs.Int("num_scan_inputs", 0))
	k := len(body.Inputs)
	st := k - m
	if m < 1 || st < 0 || len(n.Inputs) < k {
		return nil, fmt.Errorf("body takes %d inputs, %d of them scanned, but Scan has %d inputs", k, m, len(n.Inputs))
	}
	seq := Unknown()
	for i := 0; i < k; i++ {
		t := inType(n, i)
		if i >= st {
			a, err := ScanAxis(n.Attrs, "scan_input_axes", i-st, len(t.Shape))
			if err != nil {
				return nil, err
			}
			if i == st {
				seq = t.Shape[a]
			}
			s := append(t.Shape[:a:a].Clone(), t.Shape[a+1:]...)
			t = Type{DType: t.DType, Shape: s}
		}
		body.Inputs[i].Type = t
	}
	if err := InferTypes(body); err != nil {
		return nil, fmt.Errorf("body: %v", err)
	}
	if len(body.Outputs) != len(n.Outputs) {
		return nil, fmt.Errorf("body has %d outputs for %d", len(body.Outputs), len(n.Outputs))
	}
	out := make([]Type, len(n.Outputs))
	for i, o := range body.Outputs {
		if i < st {
			out[i] = o.Type
			continue
		}
		a, err := ScanAxis(n.Attrs, "scan_output_axes", i-st, len(o.Type.Shape)+1)
		if err != nil {
			return nil, err
		}
		s := append(append(o.Type.Shape[:a:a].Clone(), seq), o.Type.Shape[a:]...)
		out[i] = Type{DType: o.Type.DType, Shape: s}
	}
	return out, nil
}
