package onnx

import (
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/ciuic/ciuic/frontend/onnx/onnxpb"
	"github.com/ciuic/ciuic/ir"
)

// Helpers that build small ModelProtos.

func tensorType(code onnxpb.TensorProto_DataType, dims ...any) *onnxpb.TypeProto {
	shape := &onnxpb.TensorShapeProto{}
	for _, d := range dims {
		dim := &onnxpb.TensorShapeProto_Dimension{}
		switch d := d.(type) {
		case int:
			dim.Value = &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: int64(d)}
		case string:
			dim.Value = &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: d}
		}
		shape.Dim = append(shape.Dim, dim)
	}
	return &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{ElemType: int32(code), Shape: shape}}}
}

func vi(name string, t *onnxpb.TypeProto) *onnxpb.ValueInfoProto {
	return &onnxpb.ValueInfoProto{Name: name, Type: t}
}

func node(op string, in, out []string, attrs ...*onnxpb.AttributeProto) *onnxpb.NodeProto {
	return &onnxpb.NodeProto{OpType: op, Input: in, Output: out, Attribute: attrs, Name: op + "_" + out[0]}
}

func intsAttr(name string, v ...int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: name, Type: onnxpb.AttributeProto_INTS, Ints: v}
}

func intAttr(name string, v int64) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: name, Type: onnxpb.AttributeProto_INT, I: v}
}

func model(opset int64, g *onnxpb.GraphProto, extra ...*onnxpb.OperatorSetIdProto) []byte {
	m := &onnxpb.ModelProto{IrVersion: 8, Graph: g, OpsetImport: append([]*onnxpb.OperatorSetIdProto{{Version: opset}}, extra...)}
	b, err := proto.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}

// TestUnsupportedReport checks that every unsupported op and dtype is listed in one error.
func TestUnsupportedReport(t *testing.T) {
	g := &onnxpb.GraphProto{
		Name:   "g",
		Input:  []*onnxpb.ValueInfoProto{vi("a", tensorType(onnxpb.TensorProto_FLOAT, 2, 2)), vi("x", tensorType(onnxpb.TensorProto_COMPLEX64, 2))},
		Output: []*onnxpb.ValueInfoProto{vi("d", nil)},
		Node: []*onnxpb.NodeProto{
			{OpType: "FusedMatMul", Domain: "com.microsoft", Input: []string{"a", "a"}, Output: []string{"b"}},
			{OpType: "FusedMatMul", Domain: "com.microsoft", Input: []string{"b", "a"}, Output: []string{"c"}},
			{OpType: "ImageDecoder", Input: []string{"c"}, Output: []string{"d"}},
			{OpType: "Relu", Input: []string{"a"}, Output: []string{"e"}},
		},
	}
	_, err := Read(model(11, g, &onnxpb.OperatorSetIdProto{Domain: "com.microsoft", Version: 1}), "model.onnx", "", Options{})
	want := `model.onnx: 3 unsupported ops: com.microsoft.FusedMatMul (opset 1) x2, ImageDecoder (opset 11) x1; unsupported dtypes: complex64 (tensor "x")`
	if err == nil || err.Error() != want {
		t.Fatalf("got error\n%v\nwant\n%s", err, want)
	}
	var ue *UnsupportedError
	if !errors.As(err, &ue) || len(ue.Ops) != 2 || ue.Ops[0].Count != 2 {
		t.Errorf("error is %#v", err)
	}
}

func f32raw(vs ...float32) []byte {
	b := make([]byte, 0, 4*len(vs))
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	return b
}

// addModel is y = x + w with w an initializer given by init.
func addModel(init *onnxpb.TensorProto) []byte {
	init.Name = "w"
	return model(17, &onnxpb.GraphProto{
		Name:        "add",
		Input:       []*onnxpb.ValueInfoProto{vi("x", tensorType(onnxpb.TensorProto_FLOAT, 2))},
		Output:      []*onnxpb.ValueInfoProto{vi("y", tensorType(onnxpb.TensorProto_FLOAT, 2))},
		Initializer: []*onnxpb.TensorProto{init},
		Node:        []*onnxpb.NodeProto{node("Add", []string{"x", "w"}, []string{"y"})},
	})
}

func external(location string, offset, length string) *onnxpb.TensorProto {
	t := &onnxpb.TensorProto{DataType: int32(onnxpb.TensorProto_FLOAT), Dims: []int64{2}, DataLocation: onnxpb.TensorProto_EXTERNAL}
	t.ExternalData = append(t.ExternalData, &onnxpb.StringStringEntryProto{Key: "location", Value: location})
	if offset != "" {
		t.ExternalData = append(t.ExternalData, &onnxpb.StringStringEntryProto{Key: "offset", Value: offset})
	}
	if length != "" {
		t.ExternalData = append(t.ExternalData, &onnxpb.StringStringEntryProto{Key: "length", Value: length})
	}
	return t
}

// TestExternalData reads weights from a file beside the model and refuses paths that
// lead outside the model's folder.
func TestExternalData(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "model")
	os.Mkdir(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "w.bin"), append([]byte{9, 9, 9, 9}, f32raw(1.5, -2)...), 0o644)
	os.WriteFile(filepath.Join(root, "secret.bin"), f32raw(7, 7), 0o644)
	os.Symlink(filepath.Join(root, "secret.bin"), filepath.Join(dir, "link.bin"))

	g, err := Read(addModel(external("w.bin", "4", "8")), "m.onnx", dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := g.Lookup("w").Const.Float32s(); got[0] != 1.5 || got[1] != -2 {
		t.Errorf("w = %v, want [1.5 -2]", got)
	}
	for _, tc := range []struct {
		location, offset, length, want string
	}{
		{"../secret.bin", "", "", "outside the model's folder"},
		{filepath.Join(root, "secret.bin"), "", "", "outside the model's folder"},
		{"sub/../../secret.bin", "", "", "outside the model's folder"},
		{"link.bin", "", "", "link.bin"}, // os.Root refuses the escaping symlink
		{"missing.bin", "", "", "missing.bin"},
		{"w.bin", "8", "", "need 8 at offset 8"},
		{"w.bin", "0", "4", "length 4, want 8"},
		{"w.bin", "-1", "", "bad offset"},
		{"", "", "", "no location"},
	} {
		_, err := Read(addModel(external(tc.location, tc.offset, tc.length)), "m.onnx", dir, Options{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("location %q offset %q length %q: got %v, want error containing %q", tc.location, tc.offset, tc.length, err, tc.want)
		}
	}
	if _, err := Read(addModel(external("w.bin", "4", "8")), "m.onnx", "", Options{}); err == nil || !strings.Contains(err.Error(), "folder is not known") {
		t.Errorf("external data without a folder: got %v", err)
	}
}

// TestTypedFields decodes the typed repeated fields of TensorProto per ONNX's packing rules.
func TestTypedFields(t *testing.T) {
	for _, tc := range []struct {
		name string
		t    *onnxpb.TensorProto
		want ir.DType
		data []byte
	}{
		{"f32", &onnxpb.TensorProto{DataType: 1, Dims: []int64{2}, FloatData: []float32{1, 2}}, ir.F32, f32raw(1, 2)},
		{"f16 in int32_data", &onnxpb.TensorProto{DataType: 10, Dims: []int64{2}, Int32Data: []int32{0x3c00, 0xc000}}, ir.F16, []byte{0x00, 0x3c, 0x00, 0xc0}},
		{"bf16 in int32_data", &onnxpb.TensorProto{DataType: 16, Dims: []int64{1}, Int32Data: []int32{0x3f80}}, ir.BF16, []byte{0x80, 0x3f}},
		{"bool", &onnxpb.TensorProto{DataType: 9, Dims: []int64{3}, Int32Data: []int32{1, 0, 1}}, ir.Bool, []byte{1, 0, 1}},
		{"i8", &onnxpb.TensorProto{DataType: 3, Dims: []int64{2}, Int32Data: []int32{-1, 5}}, ir.I8, []byte{0xff, 5}},
		{"u16", &onnxpb.TensorProto{DataType: 4, Dims: []int64{1}, Int32Data: []int32{0x1234}}, ir.U16, []byte{0x34, 0x12}},
		{"i64", &onnxpb.TensorProto{DataType: 7, Dims: []int64{1}, Int64Data: []int64{-2}}, ir.I64, []byte{0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
		{"u32 in uint64_data", &onnxpb.TensorProto{DataType: 12, Dims: []int64{1}, Uint64Data: []uint64{7}}, ir.U32, []byte{7, 0, 0, 0}},
		{"f64", &onnxpb.TensorProto{DataType: 11, Dims: []int64{1}, DoubleData: []float64{1}}, ir.F64, []byte{0, 0, 0, 0, 0, 0, 0xf0, 0x3f}},
		{"raw", &onnxpb.TensorProto{DataType: 6, Dims: []int64{1}, RawData: []byte{1, 2, 3, 4}}, ir.I32, []byte{1, 2, 3, 4}},
		{"scalar", &onnxpb.TensorProto{DataType: 1, FloatData: []float32{3}}, ir.F32, f32raw(3)},
	} {
		r := &tensorReader{}
		got, err := r.lower(tc.t)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if got.DType != tc.want || string(got.Data) != string(tc.data) || got.Check() != nil {
			t.Errorf("%s: got %s %v %x, want %s %x", tc.name, got.DType, got.Shape, got.Data, tc.want, tc.data)
		}
	}
	r := &tensorReader{}
	s, err := r.lower(&onnxpb.TensorProto{DataType: 8, Dims: []int64{2}, StringData: [][]byte{[]byte("a"), []byte("bc")}})
	if err != nil || len(s.Strings) != 2 || s.Strings[1] != "bc" {
		t.Errorf("string tensor: %v %v", s, err)
	}
}

// TestMalformed feeds broken models: each must be an error naming the problem, never a panic.
func TestMalformed(t *testing.T) {
	good := addModel(&onnxpb.TensorProto{DataType: 1, Dims: []int64{2}, FloatData: []float32{1, 2}})
	if _, err := Read(good, "m.onnx", "", Options{}); err != nil {
		t.Fatalf("good model: %v", err)
	}
	withGraph := func(f func(g *onnxpb.GraphProto)) []byte {
		var m onnxpb.ModelProto
		proto.Unmarshal(good, &m)
		f(m.Graph)
		b, _ := proto.Marshal(&m)
		return b
	}
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"truncated", good[:len(good)-7], "not a valid ONNX model"},
		{"garbage", []byte("\xff\xff\xff\xff garbage"), "not a valid ONNX model"},
		{"empty", nil, "no graph"},
		{"raw_data length", addModel(&onnxpb.TensorProto{DataType: 1, Dims: []int64{2}, RawData: []byte{1, 2, 3}}), "3 bytes of raw data, want 8"},
		{"typed count", addModel(&onnxpb.TensorProto{DataType: 1, Dims: []int64{2}, FloatData: []float32{1}}), "1 elements, want 2"},
		{"negative dim", addModel(&onnxpb.TensorProto{DataType: 1, Dims: []int64{-2}}), "negative dimension"},
		{"huge dims", addModel(&onnxpb.TensorProto{DataType: 1, Dims: []int64{1 << 40, 1 << 40}}), "too large"},
		{"undefined input", withGraph(func(g *onnxpb.GraphProto) { g.Node[0].Input[0] = "nope" }), `input "nope" is not defined`},
		{"undefined output", withGraph(func(g *onnxpb.GraphProto) { g.Output[0].Name = "nope" }), `graph output "nope" is not defined`},
		{"duplicate attribute", withGraph(func(g *onnxpb.GraphProto) {
			g.Node[0].Attribute = []*onnxpb.AttributeProto{intAttr("a", 1), intAttr("a", 2)}
		}), `attribute "a" given twice`},
		{"sparse attribute", withGraph(func(g *onnxpb.GraphProto) {
			g.Node[0].Attribute = []*onnxpb.AttributeProto{{Name: "s", Type: onnxpb.AttributeProto_SPARSE_TENSOR, SparseTensor: &onnxpb.SparseTensorProto{}}}
		}), "sparse tensor attributes are not supported"},
		{"sparse initializer", withGraph(func(g *onnxpb.GraphProto) { g.SparseInitializer = []*onnxpb.SparseTensorProto{{}} }), "sparse initializers are not supported"},
		{"input without type", withGraph(func(g *onnxpb.GraphProto) { g.Input[0].Type = nil }), `input "x" has no element type`},
		{"bad attribute", withGraph(func(g *onnxpb.GraphProto) { g.Node[0].Attribute = []*onnxpb.AttributeProto{intAttr("axis", 1)} }), `has no attribute "axis"`},
		{"declared conflict", withGraph(func(g *onnxpb.GraphProto) { g.Output[0].Type = tensorType(onnxpb.TensorProto_FLOAT, 3) }), `value "y" is declared f32[3] but infers to f32[2]`},
	} {
		_, err := Read(tc.data, "m.onnx", "", Options{})
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "m.onnx: ") {
			t.Errorf("%s: got %v, want error containing %q", tc.name, err, tc.want)
		}
	}
}

// TestOldOpsets checks that attributes of old opsets become inputs and that Softmax
// before opset 13 keeps its flatten-to-2-D meaning.
func TestOldOpsets(t *testing.T) {
	g := &onnxpb.GraphProto{
		Name:   "old",
		Input:  []*onnxpb.ValueInfoProto{vi("x", tensorType(onnxpb.TensorProto_FLOAT, "N", 3, 4))},
		Output: []*onnxpb.ValueInfoProto{vi("s1", nil), vi("s2", nil), vi("u", nil), vi("r", nil), vi("p", nil), vi("c", nil)},
		Node: []*onnxpb.NodeProto{
			node("Softmax", []string{"x"}, []string{"s1"}),                     // axis 1 of 3: flattens
			node("Softmax", []string{"x"}, []string{"s2"}, intAttr("axis", 2)), // last axis: plain
			node("Unsqueeze", []string{"x"}, []string{"u"}, intsAttr("axes", 0)),
			node("ReduceSum", []string{"x"}, []string{"r"}, intsAttr("axes", 1), intAttr("keepdims", 0)),
			node("Pad", []string{"x"}, []string{"p"}, intsAttr("pads", 0, 0, 1, 0, 0, 1)),
			{OpType: "Clip", Name: "clip", Input: []string{"x"}, Output: []string{"c"}, Attribute: []*onnxpb.AttributeProto{{Name: "min", Type: onnxpb.AttributeProto_FLOAT, F: 0}}},
		},
	}
	gr, err := Read(model(10, g), "old.onnx", "", Options{})
	if err != nil {
		t.Fatal(err)
	}
	ops := map[string]int{}
	for _, n := range gr.Nodes {
		ops[n.Op]++
	}
	if ops["Flatten"] != 1 || ops["Reshape"] != 1 || ops["Softmax"] != 2 {
		t.Errorf("ops = %v, want one Softmax flattened and one plain", ops)
	}
	for _, name := range []string{"u", "r", "p", "c"} {
		n := gr.Lookup(name).Def
		if len(n.Inputs) < 2 || n.Inputs[1] == nil || !n.Inputs[1].IsConst() || len(n.Attrs) > 1 {
			t.Errorf("%s: inputs %v attrs %v, want the attribute as a constant input", n.Op, n.Inputs, n.Attrs)
		}
	}
	wantTypes := map[string]string{"s1": "f32[N, 3, 4]", "s2": "f32[N, 3, 4]", "u": "f32[1, N, 3, 4]", "r": "f32[N, 4]", "p": "f32[N, 3, 6]"}
	for name, want := range wantTypes {
		if got := gr.Lookup(name).Type.String(); got != want {
			t.Errorf("%s: type %s, want %s", name, got, want)
		}
	}
}

// TestRoundTrip checks that Read(Write(g)) prints the same as g.
func TestRoundTrip(t *testing.T) {
	paths := []string{filepath.Join(sharedDir(t, "testdata/models"), "mnist", "mnist.onnx"),
		filepath.Join(sharedDir(t, "testdata/models"), "ort-transformers", "gpt2_megatron.onnx")}
	nodeDir := sharedDir(t, "testdata/onnx-node")
	for _, test := range []string{"test_if", "test_loop11", "test_split_variable_parts_1d_opset18", "test_cast_FLOAT_to_FLOAT16"} {
		paths = append(paths, filepath.Join(nodeDir, test, "model.onnx"))
	}
	for _, path := range paths {
		g, err := ReadFile(path, Options{})
		if err != nil {
			var ue *UnsupportedError
			if errors.As(err, &ue) {
				continue
			}
			t.Errorf("%s: %v", path, err)
			continue
		}
		if len(g.Nodes) > 0 {
			g.Nodes[0].Group = "grp"
		}
		g.WeightsFile = "w.safetensors"
		data, err := Write(g)
		if err != nil {
			t.Errorf("%s: write: %v", path, err)
			continue
		}
		g2, err := Read(data, "out.onnx", "", Options{})
		if err != nil {
			t.Errorf("%s: read back: %v", path, err)
			continue
		}
		if a, b := ir.Print(g), ir.Print(g2); a != b {
			t.Errorf("%s: round trip differs:\n--- before\n%s\n--- after\n%s", path, a, b)
		}
	}
}
