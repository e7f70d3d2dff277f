package ir

import (
	"strings"
	"testing"
)

// mlp builds x:f32[N,4] -> MatMul(w:4x3) -> Add(b) -> Relu -> y.
func mlp() *Graph {
	g := NewGraph("mlp")
	x := g.AddInput("x", f32("N", 4))
	w := g.AddConst("w", NewTensorF32([]int64{4, 3}, make([]float32, 12)))
	b := g.AddConst("b", NewTensorF32([]int64{3}, []float32{1, 2, 3}))
	h := g.NewNode("MatMul", []*Value{x, w}, nil, "h").Outputs[0]
	a := g.NewNode("Add", []*Value{h, b}, nil, "a").Outputs[0]
	y := g.NewNode("Relu", []*Value{a}, nil, "y").Outputs[0]
	g.Outputs = []*Value{y}
	if err := InferTypes(g); err != nil {
		panic(err)
	}
	return g
}

func TestVerifyOK(t *testing.T) {
	g := mlp()
	if err := Verify(g); err != nil {
		t.Fatal(err)
	}
	if got := g.Outputs[0].Type.String(); got != "f32[N, 3]" {
		t.Errorf("y type %s", got)
	}
}

func TestVerifyFindsEverything(t *testing.T) {
	g := mlp()
	// Wrong declared type, a use before definition, an unknown op and a missing output, all at once.
	g.Nodes[1].Outputs[0].Type = f32("N", 5)
	g.Nodes[0], g.Nodes[1] = g.Nodes[1], g.Nodes[0]
	bad := g.NewNode("Frobnicate", []*Value{g.Inputs[0]}, nil, "z")
	_ = bad
	g.Outputs = append(g.Outputs, &Value{Name: "ghost"})
	err := Verify(g)
	if err == nil {
		t.Fatal("no error")
	}
	list, ok := err.(ErrorList)
	if !ok {
		t.Fatalf("error is %T, want ErrorList", err)
	}
	want := []string{
		"node Add defining %a: input 0 (%h) is used before its definition by MatMul defining %h",
		"node Add defining %a: output %a has type f32[N, 5], inferred f32[N, 3]",
		"node Frobnicate defining %z: unknown op Frobnicate",
		"value %ghost: graph output is not defined",
	}
	got := err.Error()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("missing %q in:\n%s", w, got)
		}
	}
	if len(list) < len(want) {
		t.Errorf("%d errors, want at least %d", len(list), len(want))
	}
}

func TestInferTypesDeclaredMismatch(t *testing.T) {
	g := NewGraph("g")
	x := g.AddInput("x", f32(2, 3))
	n := g.NewNode("Relu", []*Value{x}, nil, "y")
	n.Outputs[0].Type = f32(2, 4)
	err := InferTypes(g)
	if err == nil || !strings.Contains(err.Error(), "output %y declared f32[2, 4], inferred f32[2, 3]") {
		t.Fatalf("got %v", err)
	}
	// An unknown declared dim is refined, not an error.
	g2 := NewGraph("g")
	x2 := g2.AddInput("x", f32(2, 3))
	n2 := g2.NewNode("Relu", []*Value{x2}, nil, "y")
	n2.Outputs[0].Type = f32(2, "?")
	if err := InferTypes(g2); err != nil {
		t.Fatal(err)
	}
	if got := n2.Outputs[0].Type.String(); got != "f32[2, 3]" {
		t.Errorf("refined to %s", got)
	}
}

func TestGraphEditingKeepsUses(t *testing.T) {
	g := mlp()
	relu := g.Nodes[2]
	add := g.Nodes[1]
	// Bypass Relu: y reads a directly.
	g.ReplaceAllUses(relu.Outputs[0], add.Outputs[0])
	g.RemoveNode(relu)
	if err := Verify(g); err != nil {
		t.Fatal(err)
	}
	if g.Outputs[0] != add.Outputs[0] || g.Outputs[0].Name != "y" {
		t.Errorf("output is %v", g.Outputs[0])
	}
	if n := len(g.Inputs[0].Uses()); n != 1 {
		t.Errorf("x has %d uses", n)
	}
}

func TestSortTopological(t *testing.T) {
	g := mlp()
	g.Nodes[0], g.Nodes[2] = g.Nodes[2], g.Nodes[0]
	if err := g.SortTopological(); err != nil {
		t.Fatal(err)
	}
	if err := Verify(g); err != nil {
		t.Fatal(err)
	}
	ops := []string{}
	for _, n := range g.Nodes {
		ops = append(ops, n.Op)
	}
	if strings.Join(ops, ",") != "MatMul,Add,Relu" {
		t.Errorf("order %v", ops)
	}
	// A cycle is reported.
	g.SetInput(g.Nodes[0], 0, g.Nodes[2].Outputs[0])
	if err := g.SortTopological(); err == nil || !strings.Contains(err.Error(), "cycle") {
		t.Errorf("cycle not found: %v", err)
	}
}

func TestShapeAndDType(t *testing.T) {
	if s := S("N", 128, "?").String(); s != "[N, 128, ?]" {
		t.Error(s)
	}
	for _, d := range AllDTypes() {
		if p, ok := ParseDType(d.String()); !ok || p != d {
			t.Errorf("dtype %v does not round-trip", d)
		}
	}
	for _, f := range []float32{0, 1, -2.5, 65504, 6.1035156e-05, 5.9604645e-08} {
		if got := F16ToF32(F32ToF16(f)); got != f {
			t.Errorf("f16 round trip %v -> %v", f, got)
		}
	}
}
