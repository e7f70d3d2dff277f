package onnx

import (
	"testing"

	"github.com/ciuic/ciuic/frontend/onnx/onnxpb"
	"github.com/ciuic/ciuic/ir"
)

func constI64(out string, v int64) *onnxpb.NodeProto {
	t := &onnxpb.TensorProto{DataType: int32(onnxpb.TensorProto_INT64), Int64Data: []int64{v}}
	return &onnxpb.NodeProto{OpType: "Constant", Output: []string{out},
		Attribute: []*onnxpb.AttributeProto{{Name: "value", Type: onnxpb.AttributeProto_TENSOR, T: t}}}
}

// TestDuplicateConstantLastWins: a Constant output defined twice is read from its last
// definition wherever the reader is, as ONNX Runtime does (gpt2_past depends on it).
func TestDuplicateConstantLastWins(t *testing.T) {
	g := &onnxpb.GraphProto{
		Name:   "dup",
		Input:  []*onnxpb.ValueInfoProto{vi("x", tensorType(onnxpb.TensorProto_INT64))},
		Output: []*onnxpb.ValueInfoProto{vi("y", tensorType(onnxpb.TensorProto_INT64))},
		Node: []*onnxpb.NodeProto{
			constI64("k", 12),
			node("Div", []string{"x", "k"}, []string{"y"}),
			constI64("k", 2), // the replacement a model editor appended
		},
	}
	gr, err := Read(model(13, g), "dup.onnx", "", Options{})
	if err != nil {
		t.Fatal(err)
	}
	div := gr.Nodes[0]
	if c := div.Inputs[1].Const; c == nil || c.Int64s()[0] != 2 {
		t.Fatalf("Div reads %v, want the last definition (2)", div.Inputs[1])
	}
}

// TestMSFTLowering: com.microsoft ops are typed, then lowered onto ciuic and ONNX ops.
func TestMSFTLowering(t *testing.T) {
	f32 := onnxpb.TensorProto_FLOAT
	g := &onnxpb.GraphProto{
		Name: "msft",
		Input: []*onnxpb.ValueInfoProto{vi("x", tensorType(f32, 1, 3, 4)), vi("s", tensorType(f32, 1, 3, 4)),
			vi("gamma", tensorType(f32, 4)), vi("w", tensorType(f32, 4, 12)), vi("b", tensorType(f32, 12)),
			vi("mask", tensorType(onnxpb.TensorProto_INT32, 1, 3))},
		Output: []*onnxpb.ValueInfoProto{vi("y", tensorType(f32, 1, 3, 4))},
		Node: []*onnxpb.NodeProto{
			{OpType: "SkipLayerNormalization", Domain: "com.microsoft", Input: []string{"x", "s", "gamma"}, Output: []string{"ln"}},
			{OpType: "Attention", Domain: "com.microsoft", Input: []string{"ln", "w", "b", "mask"}, Output: []string{"a"},
				Attribute: []*onnxpb.AttributeProto{intAttr("num_heads", 2)}},
			{OpType: "FastGelu", Domain: "com.microsoft", Input: []string{"a", "gamma"}, Output: []string{"y"}},
		},
	}
	gr, err := Read(model(17, g, &onnxpb.OperatorSetIdProto{Domain: "com.microsoft", Version: 1}), "msft.onnx", "", Options{})
	if err != nil {
		t.Fatal(err)
	}
	ops := map[string]int{}
	for _, n := range gr.Nodes {
		if n.Domain == ir.MSFTDomain {
			t.Errorf("%s was not lowered", n.OpName())
		}
		ops[n.OpName()]++
	}
	for _, want := range []string{"ciuic.SkipLayerNorm", "ciuic.Attention", "MatMul", "Split", "Gelu"} {
		if ops[want] != 1 {
			t.Errorf("%d %s nodes, want 1 (ops: %v)", ops[want], want, ops)
		}
	}
	if y := gr.Outputs[0]; y.Name != "y" || y.Def.Op != "Gelu" || y.Def.Attrs.String("approximate", "") != "tanh" {
		t.Errorf("output %s is defined by %v", y.Name, y.Def)
	}
}
