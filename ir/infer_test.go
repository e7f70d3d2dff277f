package ir

import (
	"strings"
	"testing"
)

// inferCase builds one node over inputs of the given types (consts where given) and checks
// the inferred output types, or the error text.
type inferCase struct {
	name    string
	op      string
	in      []Type
	consts  map[int]*Tensor // input index -> constant data (type taken from it)
	attrs   Attrs
	nout    int
	want    []string // printed output types
	wantErr string   // substring of the error
}

func runInfer(t *testing.T, c inferCase) {
	t.Helper()
	g := NewGraph("g")
	var ins []*Value
	for i, ty := range c.in {
		if data, ok := c.consts[i]; ok {
			ins = append(ins, g.AddConst("c", data))
			continue
		}
		if !ty.IsValid() {
			ins = append(ins, nil)
			continue
		}
		ins = append(ins, g.AddInput("x", ty))
	}
	nout := max(c.nout, 1)
	names := make([]string, nout)
	n := g.NewNode(c.op, ins, c.attrs, names...)
	ts, err := InferNode(n)
	if c.wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), c.wantErr) {
			t.Fatalf("%s: error %v, want it to contain %q", c.name, err, c.wantErr)
		}
		return
	}
	if err != nil {
		t.Fatalf("%s: %v", c.name, err)
	}
	for i, w := range c.want {
		if got := ts[i].String(); got != w {
			t.Errorf("%s: output %d = %s, want %s", c.name, i, got, w)
		}
	}
}

func f32(dims ...any) Type { return T(F32, S(dims...)) }
func i64(dims ...any) Type { return T(I64, S(dims...)) }

func TestInfer(t *testing.T) {
	cases := []inferCase{
		{name: "add broadcast", op: "Add", in: []Type{f32("N", 1, 4), f32(3, 1)}, want: []string{"f32[N, 3, 4]"}},
		{name: "add sym vs static", op: "Add", in: []Type{f32("N", 4), f32(5, 4)}, want: []string{"f32[5, 4]"}},
		{name: "add mismatch", op: "Add", in: []Type{f32(2, 3), f32(4)}, wantErr: "cannot be broadcast"},
		{name: "add dtypes", op: "Add", in: []Type{f32(2), i64(2)}, wantErr: "input 0 is f32 but input 1 is i64"},
		{name: "less", op: "Less", in: []Type{i64("S"), i64("S", 1)}, want: []string{"bool[S, S]"}},
		{name: "where", op: "Where", in: []Type{T(Bool, S(1, "S")), f32(1), f32("B", 1, 1)}, want: []string{"f32[B, 1, S]"}},
		{name: "sum variadic", op: "Sum", in: []Type{f32(2, 3), f32(3), f32(1, 1)}, want: []string{"f32[2, 3]"}},
		{name: "matmul batch", op: "MatMul", in: []Type{f32("B", 1, "S", 64), f32(8, 64, "S")}, want: []string{"f32[B, 8, S, S]"}},
		{name: "matmul 1d", op: "MatMul", in: []Type{f32(4), f32(4, 5)}, want: []string{"f32[5]"}},
		{name: "matmul 1d right", op: "MatMul", in: []Type{f32(3, 4), f32(4)}, want: []string{"f32[3]"}},
		{name: "matmul mismatch", op: "MatMul", in: []Type{f32("N", 784), f32(128, 10)}, wantErr: "shape mismatch: [N, 784] x [128, 10]: inner dims 784 and 128 differ"},
		{name: "gemm trans", op: "Gemm", in: []Type{f32(4, 3), f32(5, 4), f32(5)}, attrs: Attrs{"transA": IntAttr(1), "transB": IntAttr(1)}, want: []string{"f32[3, 5]"}},
		{name: "gemm bad C", op: "Gemm", in: []Type{f32(3, 4), f32(4, 5), f32(3)}, wantErr: "does not broadcast"},
		{name: "conv", op: "Conv", in: []Type{f32("N", 3, 32, 32), f32(16, 3, 3, 3), f32(16)}, attrs: Attrs{"pads": IntsAttr(1, 1, 1, 1), "strides": IntsAttr(2, 2)}, want: []string{"f32[N, 16, 16, 16]"}},
		{name: "conv groups dil", op: "Conv", in: []Type{f32(1, 8, 10, 10), f32(8, 1, 3, 3)}, attrs: Attrs{"group": IntAttr(8), "dilations": IntsAttr(2, 2)}, want: []string{"f32[1, 8, 6, 6]"}},
		{name: "conv same", op: "Conv", in: []Type{f32(1, 1, 7, 5), f32(2, 1, 3, 3)}, attrs: Attrs{"auto_pad": StringAttr("SAME_UPPER"), "strides": IntsAttr(2, 2)}, want: []string{"f32[1, 2, 4, 3]"}},
		{name: "conv channels", op: "Conv", in: []Type{f32(1, 4, 8, 8), f32(2, 3, 3, 3)}, wantErr: "X has 4 channels but W expects 3"},
		{name: "maxpool ceil", op: "MaxPool", in: []Type{f32(1, 1, 5, 5)}, attrs: Attrs{"kernel_shape": IntsAttr(2, 2), "strides": IntsAttr(2, 2), "ceil_mode": IntAttr(1)}, want: []string{"f32[1, 1, 3, 3]"}},
		{name: "avgpool", op: "AveragePool", in: []Type{f32("N", 3, 32, 32)}, attrs: Attrs{"kernel_shape": IntsAttr(3, 3), "pads": IntsAttr(1, 1, 1, 1)}, want: []string{"f32[N, 3, 32, 32]"}},
		{name: "gap", op: "GlobalAveragePool", in: []Type{f32("N", 64, 7, 7)}, want: []string{"f32[N, 64, 1, 1]"}},
		{name: "layernorm", op: "LayerNormalization", in: []Type{f32("B", "S", 64), f32(64), f32(64)}, nout: 3, want: []string{"f32[B, S, 64]", "f32[B, S, 1]", "f32[B, S, 1]"}},
		{name: "layernorm bad scale", op: "LayerNormalization", in: []Type{f32("B", "S", 64), f32(32)}, wantErr: "does not broadcast to the normalised dims"},
		{name: "softmax axis", op: "Softmax", in: []Type{f32(2, 3)}, attrs: Attrs{"axis": IntAttr(2)}, wantErr: "axis 2 out of range for rank 2"},
		{name: "reduce keep", op: "ReduceMean", in: []Type{f32("B", "S", 64), {}}, consts: map[int]*Tensor{1: NewTensorI64([]int64{1}, []int64{-1})}, want: []string{"f32[B, S, 1]"}},
		{name: "reduce drop", op: "ReduceSum", in: []Type{f32(2, 3, 4), {}}, consts: map[int]*Tensor{1: NewTensorI64([]int64{2}, []int64{0, 2})}, attrs: Attrs{"keepdims": IntAttr(0)}, want: []string{"f32[3]"}},
		{name: "reduce all", op: "ReduceMax", in: []Type{f32(2, 3)}, attrs: Attrs{"keepdims": IntAttr(0)}, want: []string{"f32[]"}},
		{name: "argmax", op: "ArgMax", in: []Type{f32("N", 10)}, attrs: Attrs{"axis": IntAttr(1), "keepdims": IntAttr(0)}, want: []string{"i64[N]"}},
		{name: "reshape 0 -1", op: "Reshape", in: []Type{f32("B", "S", 256), {}}, consts: map[int]*Tensor{1: NewTensorI64([]int64{4}, []int64{0, 0, 4, -1})}, want: []string{"f32[B, S, 4, 64]"}},
		{name: "reshape merge sym", op: "Reshape", in: []Type{f32("B", "S", 4, 64), {}}, consts: map[int]*Tensor{1: NewTensorI64([]int64{3}, []int64{0, -1, 256})}, want: []string{"f32[B, S, 256]"}},
		{name: "reshape count", op: "Reshape", in: []Type{f32(2, 3), {}}, consts: map[int]*Tensor{1: NewTensorI64([]int64{1}, []int64{5})}, wantErr: "cannot reshape [2, 3] (6 elements) to [5] (5 elements)"},
		{name: "reshape dynamic", op: "Reshape", in: []Type{f32(2, 3), i64(3)}, want: []string{"f32[?, ?, ?]"}},
		{name: "transpose", op: "Transpose", in: []Type{f32("B", "S", 4, 64)}, attrs: Attrs{"perm": IntsAttr(0, 2, 1, 3)}, want: []string{"f32[B, 4, S, 64]"}},
		{name: "transpose default", op: "Transpose", in: []Type{f32(2, 3, 4)}, want: []string{"f32[4, 3, 2]"}},
		{name: "transpose bad", op: "Transpose", in: []Type{f32(2, 3)}, attrs: Attrs{"perm": IntsAttr(0, 0)}, wantErr: "not a permutation"},
		{name: "concat", op: "Concat", in: []Type{f32("B", 3), f32("B", 5)}, attrs: Attrs{"axis": IntAttr(-1)}, want: []string{"f32[B, 8]"}},
		{name: "split even", op: "Split", in: []Type{f32(2, 192)}, attrs: Attrs{"axis": IntAttr(1), "num_outputs": IntAttr(3)}, nout: 3, want: []string{"f32[2, 64]", "f32[2, 64]", "f32[2, 64]"}},
		{name: "split uneven", op: "Split", in: []Type{f32(7)}, nout: 3, want: []string{"f32[3]", "f32[3]", "f32[1]"}},
		{name: "split sizes", op: "Split", in: []Type{f32(2, 10), {}}, consts: map[int]*Tensor{1: NewTensorI64([]int64{2}, []int64{3, 7})}, attrs: Attrs{"axis": IntAttr(1)}, nout: 2, want: []string{"f32[2, 3]", "f32[2, 7]"}},
		{name: "slice", op: "Slice", in: []Type{f32(10, "S"), {}, {}, {}, {}},
			consts: map[int]*Tensor{1: NewTensorI64([]int64{1}, []int64{-1}), 2: NewTensorI64([]int64{1}, []int64{-100}), 3: NewTensorI64([]int64{1}, []int64{0}), 4: NewTensorI64([]int64{1}, []int64{-2})}, want: []string{"f32[5, S]"}},
		{name: "gather", op: "Gather", in: []Type{f32(1000, 64), i64("B", "S")}, want: []string{"f32[B, S, 64]"}},
		{name: "gather axis1", op: "Gather", in: []Type{f32(2, 5, 3), i64()}, attrs: Attrs{"axis": IntAttr(1)}, want: []string{"f32[2, 3]"}},
		{name: "expand", op: "Expand", in: []Type{f32(3, 1), {}}, consts: map[int]*Tensor{1: NewTensorI64([]int64{3}, []int64{2, 1, 6})}, want: []string{"f32[2, 3, 6]"}},
		{name: "shape", op: "Shape", in: []Type{f32("B", "S", 64)}, attrs: Attrs{"start": IntAttr(-2)}, want: []string{"i64[2]"}},
		{name: "range", op: "Range", in: []Type{{}, {}, {}}, consts: map[int]*Tensor{0: NewTensorI64(nil, []int64{1}), 1: NewTensorI64(nil, []int64{10}), 2: NewTensorI64(nil, []int64{3})}, want: []string{"i64[3]"}},
		{name: "unsqueeze", op: "Unsqueeze", in: []Type{f32("B", "S"), {}}, consts: map[int]*Tensor{1: NewTensorI64([]int64{2}, []int64{1, -1})}, want: []string{"f32[B, 1, S, 1]"}},
		{name: "squeeze", op: "Squeeze", in: []Type{f32(1, "S", 1), {}}, consts: map[int]*Tensor{1: NewTensorI64([]int64{1}, []int64{0})}, want: []string{"f32[S, 1]"}},
		{name: "squeeze bad", op: "Squeeze", in: []Type{f32(2, 3), {}}, consts: map[int]*Tensor{1: NewTensorI64([]int64{1}, []int64{0})}, wantErr: "cannot squeeze axis 0 of size 2"},
		{name: "flatten", op: "Flatten", in: []Type{f32("N", 64, 7, 7)}, want: []string{"f32[N, 3136]"}},
		{name: "tile", op: "Tile", in: []Type{f32(2, 3), {}}, consts: map[int]*Tensor{1: NewTensorI64([]int64{2}, []int64{2, 1})}, want: []string{"f32[4, 3]"}},
		{name: "pad", op: "Pad", in: []Type{f32(1, 3, 4, 4), {}}, consts: map[int]*Tensor{1: NewTensorI64([]int64{8}, []int64{0, 0, 1, 2, 0, 0, 1, 2})}, want: []string{"f32[1, 3, 6, 8]"}},
		{name: "cast", op: "Cast", in: []Type{f32("N")}, attrs: Attrs{"to": IntAttr(7)}, want: []string{"i64[N]"}},
		{name: "constantofshape", op: "ConstantOfShape", in: []Type{{}}, consts: map[int]*Tensor{0: NewTensorI64([]int64{2}, []int64{2, 3})}, want: []string{"f32[2, 3]"}},
		{name: "constant", op: "Constant", attrs: Attrs{"value_ints": IntsAttr(1, 2, 3)}, want: []string{"i64[3]"}},
		{name: "dropout", op: "Dropout", in: []Type{f32("N")}, nout: 2, want: []string{"f32[N]", "bool[N]"}},
		{name: "quantize", op: "QuantizeLinear", in: []Type{f32(4), f32(), T(I8, S())}, want: []string{"i8[4]"}},
		{name: "dynquant", op: "DynamicQuantizeLinear", in: []Type{f32("N", 4)}, nout: 3, want: []string{"u8[N, 4]", "f32[]", "u8[]"}},
		{name: "matmulinteger", op: "MatMulInteger", in: []Type{T(U8, S("N", 4)), T(I8, S(4, 8))}, want: []string{"i32[N, 8]"}},
		{name: "topk", op: "TopK", in: []Type{f32(3, 10), {}}, consts: map[int]*Tensor{1: NewTensorI64([]int64{1}, []int64{4})}, nout: 2, want: []string{"f32[3, 4]", "i64[3, 4]"}},
		{name: "relu float only?", op: "Erf", in: []Type{i64(2)}, wantErr: "must be a float type"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { runInfer(t, c) })
	}
}

func TestSchemaChecks(t *testing.T) {
	cases := []inferCase{
		{name: "arity", op: "MatMul", in: []Type{f32(2, 2)}, wantErr: "MatMul takes 2 inputs, got 1"},
		{name: "unknown attr", op: "Relu", in: []Type{f32(2)}, attrs: Attrs{"alpha": FloatAttr(1)}, wantErr: `Relu has no attribute "alpha"`},
		{name: "attr kind", op: "Softmax", in: []Type{f32(2)}, attrs: Attrs{"axis": FloatAttr(1)}, wantErr: `Softmax attribute "axis" must be int, got float`},
		{name: "required attr", op: "Concat", in: []Type{f32(2)}, wantErr: `Concat needs attribute "axis"`},
		{name: "unknown op", op: "Frobnicate", in: []Type{f32(2)}, wantErr: "unknown op Frobnicate"},
		{name: "all at once", op: "MatMul", in: []Type{f32(2)}, attrs: Attrs{"x": IntAttr(1)}, wantErr: `MatMul takes 2 inputs, got 1; MatMul has no attribute "x"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { runInfer(t, c) })
	}
}

func TestSliceLen(t *testing.T) {
	for _, c := range []struct{ dim, start, end, step, want int64 }{
		{10, 0, 10, 1, 10}, {10, 2, 8, 3, 2}, {10, -3, 1 << 40, 1, 3}, {10, -1, -100, -1, 10},
		{10, 8, 2, -2, 3}, {10, 5, 5, 1, 0}, {10, 20, 30, 1, 0}, {0, 0, 5, 1, 0},
	} {
		if got := SliceLen(c.dim, c.start, c.end, c.step); got != c.want {
			t.Errorf("SliceLen(%d, %d, %d, %d) = %d, want %d", c.dim, c.start, c.end, c.step, got, c.want)
		}
	}
}

func TestEveryOpHasInferAndDoc(t *testing.T) {
	for _, s := range Schemas() {
		if s.Infer == nil || s.Doc == "" {
			t.Errorf("%s: missing Infer or Doc", s.Op)
		}
		if s.MaxInputs != Variadic && s.MaxInputs < s.MinInputs {
			t.Errorf("%s: MaxInputs < MinInputs", s.Op)
		}
	}
}

func TestSymbolicReshape(t *testing.T) {
	// Reshape(x, Concat(Unsqueeze(Gather(Shape(x), 0)), Unsqueeze(Gather(Shape(x), 1)), [4], [-1]))
	g := NewGraph("g")
	x := g.AddInput("x", f32("B", "?", 64))
	zero := g.AddConst("zero", NewTensorI64(nil, []int64{0}))
	oneC := g.AddConst("one", NewTensorI64(nil, []int64{1}))
	ax := g.AddConst("ax", NewTensorI64([]int64{1}, []int64{0}))
	four := g.AddConst("four", NewTensorI64([]int64{1}, []int64{4}))
	m1 := g.AddConst("m1", NewTensorI64([]int64{1}, []int64{-1}))
	sh := g.NewNode("Shape", []*Value{x}, nil).Outputs[0]
	b := g.NewNode("Unsqueeze", []*Value{g.NewNode("Gather", []*Value{sh, zero}, nil).Outputs[0], ax}, nil).Outputs[0]
	s := g.NewNode("Unsqueeze", []*Value{g.NewNode("Gather", []*Value{sh, oneC}, nil).Outputs[0], ax}, nil).Outputs[0]
	target := g.NewNode("Concat", []*Value{b, s, four, m1}, Attrs{"axis": IntAttr(0)}).Outputs[0]
	y := g.NewNode("Reshape", []*Value{x, target}, nil, "y").Outputs[0]
	g.Outputs = []*Value{y}
	if err := InferTypes(g); err != nil {
		t.Fatal(err)
	}
	if got, ok := SymbolicShape(target); !ok || got.String() != "[B, ?, 4, ?]" {
		t.Errorf("SymbolicShape = %v %v", got, ok)
	}
	// The unknown dim is carried through, but -1 cannot be solved against it.
	if got := y.Type.String(); got != "f32[B, ?, 4, ?]" {
		t.Errorf("y: %s, want f32[B, ?, 4, ?]", got)
	}
	x.Type = f32("B", "S", 64)
	for _, n := range g.Nodes {
		ts, err := InferNode(n)
		if err != nil {
			t.Fatal(err)
		}
		n.Outputs[0].Type = ts[0]
	}
	if got := y.Type.String(); got != "f32[B, S, 4, 16]" {
		t.Errorf("y: %s, want f32[B, S, 4, 16]", got)
	}
}
