package ir

import (
	"math"
	"strings"
	"testing"
)

func TestPrintGraph(t *testing.T) {
	g := NewGraph("mlp")
	g.WeightsFile = "mlp.safetensors"
	x := g.AddInput("x", T(F32, S("N", 784)))
	w := g.AddConst("fc1.weight", NewTensorF32([]int64{784, 128}, make([]float32, 784*128)))
	shape := g.AddConst("shape", NewTensorI64([]int64{2}, []int64{0, -1}))
	scale := g.AddConst("scale", NewTensorF32(nil, []float32{0.125}))
	strs := g.AddConst("labels", &Tensor{DType: String, Shape: []int64{2}, Strings: []string{"cat", "dog\n"}})
	h := g.NewNode("MatMul", []*Value{x, w}, nil, "h")
	h.Outputs[0].Type = T(F32, S("N", 128))
	odd := g.NewNode("Mul", []*Value{h.Outputs[0], scale}, nil, "onnx::Mul_7")
	odd.Outputs[0].Type = T(F32, S("N", 128))
	odd.Name = "/enc/Mul"
	odd.Group = "fused0"
	sp := &Node{Op: "Split", Inputs: []*Value{odd.Outputs[0], shape}, Attrs: Attrs{"axis": IntAttr(1)},
		Outputs: []*Value{{Name: "q", Type: T(F32, S("N", "?"))}, nil}}
	g.AddNode(sp)
	d := &Node{Op: "Dense", Domain: "ciuic", Inputs: []*Value{sp.Outputs[0], nil, strs},
		Outputs: []*Value{{Name: "y"}}, Attrs: Attrs{
			"activation": StringAttr("relu"),
			"alpha":      FloatAttr(1),
			"floats":     FloatsAttr(0.5, float32(math.Inf(-1))),
			"ints":       IntsAttr(),
			"strs":       StringsAttr("a", "b"),
			"t":          TensorAttr(NewTensorF32([]int64{2}, []float32{1, 2.5})),
			"s":          TensorAttr(NewTensorI64(nil, []int64{7})),
		}}
	g.AddNode(d)
	g.Outputs = []*Value{d.Outputs[0]}
	want := `graph mlp(x: f32[N, 784]) -> (y) {
  weights "mlp.safetensors"
  @fc1.weight: f32[784, 128]
  @shape: i64[2] = [0, -1]
  @scale: f32[] = 0.125
  @labels: string[2] = ["cat", "dog\n"]
  %h: f32[N, 128] = MatMul(%x, @fc1.weight)
  %"onnx::Mul_7": f32[N, 128] = Mul(%h, @scale) [name: "/enc/Mul", group: "fused0"]
  %q: f32[N, ?], _ = Split(%"onnx::Mul_7", @shape) {axis: 1}
  %y = ciuic.Dense(%q, _, @labels) {activation: "relu", alpha: 1.0, floats: [0.5, -inf], ints: [], s: i64[] 7, strs: ["a", "b"], t: f32[2] [1.0, 2.5]}
}
`
	if got := Print(g); got != want {
		t.Errorf("Print:\n%s\nwant:\n%s", got, want)
	}
	if g.String() != Print(g) {
		t.Error("String differs from Print")
	}
}

func TestPrintNestedGraph(t *testing.T) {
	body := NewGraph("body")
	v := body.AddInput("v", T(F32, S(3)))
	r := body.NewNode("Neg", []*Value{v}, nil, "r")
	r.Outputs[0].Type = T(F32, S(3))
	body.Outputs = []*Value{r.Outputs[0]}

	g := NewGraph("outer")
	x := g.AddInput("x", T(F32, S(3)))
	n := g.NewNode("Apply", []*Value{x}, Attrs{"body": GraphAttr(body)}, "y")
	n.Domain = "test"
	n.Outputs[0].Type = T(F32, S(3))
	g.Outputs = n.Outputs
	want := `graph outer(x: f32[3]) -> (y: f32[3]) {
  %y: f32[3] = test.Apply(%x) {body: graph body(v: f32[3]) -> (r: f32[3]) {
    %r: f32[3] = Neg(%v)
  }}
}
`
	if got := Print(g); got != want {
		t.Errorf("Print:\n%s\nwant:\n%s", got, want)
	}
}

func TestPrintConstData(t *testing.T) {
	f16 := &Tensor{DType: F16, Shape: []int64{2}, Data: []byte{0x00, 0x38, 0x00, 0xbe}} // 0.5, -1.5
	b := &Tensor{DType: Bool, Shape: []int64{2}, Data: []byte{1, 0}}
	u64 := &Tensor{DType: U64, Shape: nil, Data: []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}
	f64 := &Tensor{DType: F64, Shape: []int64{1}, Data: make([]byte, 8)}
	for _, tc := range []struct {
		t    *Tensor
		want string
	}{
		{f16, "@c: f16[2] = [0.5, -1.5]"},
		{b, "@c: bool[2] = [true, false]"},
		{u64, "@c: u64[] = 18446744073709551615"},
		{f64, "@c: f64[1] = [0.0]"},
		{NewTensorF32([]int64{17}, make([]float32, 17)), "@c: f32[17]"},
		{NewTensorI64([]int64{4, 4}, make([]int64, 16)), "@c: i64[4, 4] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]"},
	} {
		g := NewGraph("g")
		g.AddConst("c", tc.t)
		got := Print(g)
		if !strings.Contains(got, "\n  "+tc.want+"\n") {
			t.Errorf("%s%v: got\n%s\nwant line %q", tc.t.DType, tc.t.Shape, got, tc.want)
		}
	}
}

func TestFormatFloat32(t *testing.T) {
	for _, tc := range []struct {
		f    float32
		want string
	}{
		{1, "1.0"}, {0.125, "0.125"}, {-3, "-3.0"}, {1e-5, "1e-05"}, {1e30, "1e+30"}, {100, "100.0"},
		{float32(math.Inf(1)), "inf"}, {float32(math.Inf(-1)), "-inf"}, {float32(math.NaN()), "nan"},
		{0.1, "0.1"}, {float32(math.Copysign(0, -1)), "-0.0"}, {16777216, "1.6777216e+07"},
	} {
		if got := FormatFloat32(tc.f); got != tc.want {
			t.Errorf("FormatFloat32(%v) = %q, want %q", tc.f, got, tc.want)
		}
	}
}

func TestPrintName(t *testing.T) {
	for name, want := range map[string]string{
		"x": "x", "fc1.weight": "fc1.weight", "_h": "_h", "_": `"_"`, "": `""`,
		"onnx::MatMul_12": `"onnx::MatMul_12"`, "/enc/Add_output_0": `"/enc/Add_output_0"`,
		"1x": `"1x"`, "a b": `"a b"`, "é": `"é"`,
	} {
		if got := PrintName(name); got != want {
			t.Errorf("PrintName(%q) = %s, want %s", name, got, want)
		}
	}
}
