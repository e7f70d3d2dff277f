package text

import "github.com/ciuic/ciuic/ir"

// Ops registered for the tests only, through the same API a custom operator uses: no
// registered op takes a graph attribute yet, and none lives in a dotted domain.
func init() {
	same := func(n *ir.Node) ([]ir.Type, error) { return []ir.Type{n.Inputs[0].Type}, nil }
	ir.MustRegister(&ir.Schema{Domain: "test", Op: "Apply", MinInputs: 1, MaxInputs: 1, MinOutputs: 1, MaxOutputs: 1,
		Attrs: map[string]ir.AttrSpec{"body": {Kind: ir.AttrGraph, Required: true}}, Infer: same,
		Doc: "applies the body graph to its input"})
	ir.MustRegister(&ir.Schema{Domain: "com.example", Op: "Scale", MinInputs: 1, MaxInputs: 1, MinOutputs: 1, MaxOutputs: 1,
		Attrs: map[string]ir.AttrSpec{"factors": {Kind: ir.AttrFloats}}, Infer: same,
		Doc: "multiplies by factors"})
}
