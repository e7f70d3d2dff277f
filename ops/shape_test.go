package ops

import (
	"testing"

	"github.com/ciuic/ciuic/ir"
)

func iota32(shape ...int) *Tensor {
	t := New(ir.F32, shape...)
	for i := range t.F32() {
		t.F32()[i] = float32(i)
	}
	return t
}

func TestShapeOps(t *testing.T) {
	x := iota32(2, 3)
	runCases(t, []kcase{
		{name: "reshape -1 0", op: "Reshape", in: []*Tensor{iota32(2, 3, 4), i64(sh(2), 0, -1)}, want: []*Tensor{iota32(2, 12)}},
		{name: "reshape allowzero", op: "Reshape", attrs: ir.Attrs{"allowzero": ir.IntAttr(1)}, in: []*Tensor{iota32(0, 3), i64(sh(2), 3, 0)}, want: []*Tensor{iota32(3, 0)}},
		{name: "reshape bad", op: "Reshape", in: []*Tensor{x, i64(sh(1), 4)}, wantErr: "cannot reshape"},
		{name: "reshape two -1", op: "Reshape", in: []*Tensor{x, i64(sh(2), -1, -1)}, wantErr: "more than one -1"},
		{name: "transpose default", op: "Transpose", in: []*Tensor{x}, want: []*Tensor{f32(sh(3, 2), 0, 3, 1, 4, 2, 5)}},
		{name: "transpose perm", op: "Transpose", attrs: ir.Attrs{"perm": ir.IntsAttr(1, 0, 2)}, in: []*Tensor{iota32(2, 2, 2)},
			want: []*Tensor{f32(sh(2, 2, 2), 0, 1, 4, 5, 2, 3, 6, 7)}},
		{name: "transpose bad", op: "Transpose", attrs: ir.Attrs{"perm": ir.IntsAttr(0, 0)}, in: []*Tensor{x}, wantErr: "not a permutation"},
		{name: "concat axis1", op: "Concat", attrs: ir.Attrs{"axis": ir.IntAttr(-1)}, in: []*Tensor{x, f32(sh(2, 1), 9, 8)},
			want: []*Tensor{f32(sh(2, 4), 0, 1, 2, 9, 3, 4, 5, 8)}},
		{name: "concat empty", op: "Concat", attrs: ir.Attrs{"axis": ir.IntAttr(0)}, in: []*Tensor{x, iota32(0, 3)}, want: []*Tensor{x}},
		{name: "concat mismatch", op: "Concat", attrs: ir.Attrs{"axis": ir.IntAttr(0)}, in: []*Tensor{x, iota32(1, 2)}, wantErr: "dim 1 differs"},
		{name: "split input", op: "Split", attrs: ir.Attrs{"axis": ir.IntAttr(1)}, in: []*Tensor{x, i64(sh(2), 1, 2)},
			want: []*Tensor{f32(sh(2, 1), 0, 3), f32(sh(2, 2), 1, 2, 4, 5)}},
		{name: "split equal", op: "Split", in: []*Tensor{iota32(4)}, want: []*Tensor{f32(sh(2), 0, 1), f32(sh(2), 2, 3)}},
		{name: "split num_outputs", op: "Split", attrs: ir.Attrs{"num_outputs": ir.IntAttr(2)}, in: []*Tensor{iota32(5)},
			want: []*Tensor{f32(sh(3), 0, 1, 2), f32(sh(2), 3, 4)}},
		{name: "split bad sum", op: "Split", in: []*Tensor{iota32(4), i64(sh(2), 1, 2)}, want: []*Tensor{nil, nil}, wantErr: "sums to 3"},
		{name: "slice basic", op: "Slice", in: []*Tensor{iota32(3, 4), i64(sh(2), 1, 0), i64(sh(2), 3, 3)}, want: []*Tensor{f32(sh(2, 3), 4, 5, 6, 8, 9, 10)}},
		{name: "slice neg step", op: "Slice", in: []*Tensor{iota32(5), i64(sh(1), -1), i64(sh(1), -6), i64(sh(1), 0), i64(sh(1), -2)},
			want: []*Tensor{f32(sh(3), 4, 2, 0)}},
		{name: "slice clamp", op: "Slice", in: []*Tensor{iota32(2, 3), i64(sh(1), 1), i64(sh(1), 1000), i64(sh(1), -1)}, want: []*Tensor{f32(sh(2, 2), 1, 2, 4, 5)}},
		{name: "slice empty", op: "Slice", in: []*Tensor{iota32(4), i64(sh(1), 3), i64(sh(1), 1)}, want: []*Tensor{iota32(0)}},
		{name: "slice int64 max", op: "Slice", in: []*Tensor{iota32(4), i64(sh(1), 2), i64(sh(1), 1<<62)}, want: []*Tensor{f32(sh(2), 2, 3)}},
		{name: "slice step0", op: "Slice", in: []*Tensor{iota32(4), i64(sh(1), 0), i64(sh(1), 1), i64(sh(1), 0), i64(sh(1), 0)}, wantErr: "step cannot be 0"},
		{name: "gather axis0", op: "Gather", in: []*Tensor{x, i64(sh(2), 1, -2)}, want: []*Tensor{f32(sh(2, 3), 3, 4, 5, 0, 1, 2)}},
		{name: "gather axis1 2d idx", op: "Gather", attrs: ir.Attrs{"axis": ir.IntAttr(1)}, in: []*Tensor{x, i32(sh(1, 2), 2, 0)},
			want: []*Tensor{f32(sh(2, 1, 2), 2, 0, 5, 3)}},
		{name: "gather scalar idx", op: "Gather", in: []*Tensor{x, i64(sh(), 1)}, want: []*Tensor{f32(sh(3), 3, 4, 5)}},
		{name: "gather oob", op: "Gather", in: []*Tensor{x, i64(sh(1), 2)}, wantErr: "out of range"},
		{name: "gather elements", op: "GatherElements", attrs: ir.Attrs{"axis": ir.IntAttr(1)}, in: []*Tensor{f32(sh(2, 2), 1, 2, 3, 4), i64(sh(2, 2), 0, 0, 1, 0)},
			want: []*Tensor{f32(sh(2, 2), 1, 1, 4, 3)}},
		{name: "expand", op: "Expand", in: []*Tensor{f32(sh(2, 1), 1, 2), i64(sh(3), 2, 1, 3)},
			want: []*Tensor{f32(sh(2, 2, 3), 1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2)}},
		{name: "expand smaller", op: "Expand", in: []*Tensor{f32(sh(2, 2), 1, 2, 3, 4), i64(sh(1), 1)}, want: []*Tensor{f32(sh(2, 2), 1, 2, 3, 4)}},
		{name: "shape", op: "Shape", in: []*Tensor{iota32(2, 3, 4)}, want: []*Tensor{i64(sh(3), 2, 3, 4)}},
		{name: "shape start end", op: "Shape", attrs: ir.Attrs{"start": ir.IntAttr(-2), "end": ir.IntAttr(10)}, in: []*Tensor{iota32(2, 3, 4)}, want: []*Tensor{i64(sh(2), 3, 4)}},
		{name: "size", op: "Size", in: []*Tensor{iota32(2, 3)}, want: []*Tensor{i64(sh(), 6)}},
		{name: "unsqueeze", op: "Unsqueeze", in: []*Tensor{x, i64(sh(2), 0, -1)}, want: []*Tensor{iota32(1, 2, 3, 1)}},
		{name: "unsqueeze attr", op: "Unsqueeze", attrs: ir.Attrs{"axes": ir.IntsAttr(1)}, in: []*Tensor{x}, want: []*Tensor{iota32(2, 1, 3)}},
		{name: "squeeze all", op: "Squeeze", in: []*Tensor{iota32(1, 3, 1)}, want: []*Tensor{iota32(3)}},
		{name: "squeeze axes", op: "Squeeze", in: []*Tensor{iota32(1, 3, 1), i64(sh(1), -1)}, want: []*Tensor{iota32(1, 3)}},
		{name: "squeeze not 1", op: "Squeeze", in: []*Tensor{iota32(1, 3, 1), i64(sh(1), 1)}, wantErr: "not 1"},
		{name: "flatten", op: "Flatten", attrs: ir.Attrs{"axis": ir.IntAttr(-1)}, in: []*Tensor{iota32(2, 3, 4)}, want: []*Tensor{iota32(6, 4)}},
		{name: "flatten 0", op: "Flatten", attrs: ir.Attrs{"axis": ir.IntAttr(0)}, in: []*Tensor{iota32(2, 3)}, want: []*Tensor{iota32(1, 6)}},
		{name: "tile", op: "Tile", in: []*Tensor{f32(sh(2), 1, 2), i64(sh(1), 3)}, want: []*Tensor{f32(sh(6), 1, 2, 1, 2, 1, 2)}},
		{name: "tile 2d", op: "Tile", in: []*Tensor{f32(sh(1, 2), 1, 2), i64(sh(2), 2, 1)}, want: []*Tensor{f32(sh(2, 2), 1, 2, 1, 2)}},
		{name: "pad constant", op: "Pad", in: []*Tensor{f32(sh(2), 1, 2), i64(sh(2), 1, 2), f32(sh(), 9)}, want: []*Tensor{f32(sh(5), 9, 1, 2, 9, 9)}},
		{name: "pad reflect", op: "Pad", attrs: ir.Attrs{"mode": ir.StringAttr("reflect")}, in: []*Tensor{f32(sh(3), 1, 2, 3), i64(sh(2), 2, 2)},
			want: []*Tensor{f32(sh(7), 3, 2, 1, 2, 3, 2, 1)}},
		{name: "pad edge", op: "Pad", attrs: ir.Attrs{"mode": ir.StringAttr("edge")}, in: []*Tensor{f32(sh(1, 2), 1, 2), i64(sh(4), 0, 1, 1, 1)},
			want: []*Tensor{f32(sh(2, 4), 1, 1, 2, 2, 1, 1, 2, 2)}},
		{name: "pad wrap", op: "Pad", attrs: ir.Attrs{"mode": ir.StringAttr("wrap")}, in: []*Tensor{f32(sh(3), 1, 2, 3), i64(sh(2), 1, 1)}, want: []*Tensor{f32(sh(5), 3, 1, 2, 3, 1)}},
		{name: "pad crop", op: "Pad", in: []*Tensor{f32(sh(3), 1, 2, 3), i64(sh(2), -1, 1)}, want: []*Tensor{f32(sh(3), 2, 3, 0)}},
		{name: "pad axes", op: "Pad", in: []*Tensor{iota32(2, 2), i64(sh(2), 1, 0), nil, i64(sh(1), -1)}, want: []*Tensor{f32(sh(2, 3), 0, 0, 1, 0, 2, 3)}},
		{name: "pad int", op: "Pad", in: []*Tensor{i64(sh(1), 5), i64(sh(2), 1, 0), i64(sh(), -1)}, want: []*Tensor{i64(sh(2), -1, 5)}},
		{name: "constantofshape", op: "ConstantOfShape", attrs: ir.Attrs{"value": ir.TensorAttr(ir.NewTensorI64([]int64{1}, []int64{7}))}, in: []*Tensor{i64(sh(2), 2, 1)},
			want: []*Tensor{i64(sh(2, 1), 7, 7)}},
		{name: "constantofshape default", op: "ConstantOfShape", in: []*Tensor{i64(sh(0))}, want: []*Tensor{f32(sh(), 0)}},
		{name: "constant", op: "Constant", attrs: ir.Attrs{"value_ints": ir.IntsAttr(1, 2)}, want: []*Tensor{i64(sh(2), 1, 2)}},
		{name: "range float", op: "Range", in: []*Tensor{f32(sh(), 1), f32(sh(), 2), f32(sh(), 0.25)}, want: []*Tensor{f32(sh(4), 1, 1.25, 1.5, 1.75)}},
		{name: "range int neg", op: "Range", in: []*Tensor{i32(sh(), 10), i32(sh(), 4), i32(sh(), -3)}, want: []*Tensor{i32(sh(2), 10, 7)}},
		{name: "range empty", op: "Range", in: []*Tensor{i64(sh(), 1), i64(sh(), 5), i64(sh(), -1)}, want: []*Tensor{i64(sh(0))}},
	})
}

// Views share data with their input; Transpose twice is the identity.
func TestViewsAndTransposeProperty(t *testing.T) {
	x := iota32(2, 3, 4)
	out, err := Run("", "Reshape", []*Tensor{x, i64(sh(1), -1)}, nil, 1)
	if err != nil {
		t.Fatal(err)
	}
	if &out[0].F32()[0] != &x.F32()[0] {
		t.Error("Reshape copied its data")
	}
	perms := [][]int{{0, 1, 2}, {2, 1, 0}, {1, 2, 0}, {2, 0, 1}}
	for _, p := range perms {
		inv := make([]int, len(p))
		for i, v := range p {
			inv[v] = i
		}
		y := Transpose(Transpose(x, p), inv)
		if !Equal(x, y) {
			t.Errorf("perm %v then its inverse changed the tensor", p)
		}
	}
}

func TestIRRoundTrip(t *testing.T) {
	for _, tt := range []*Tensor{
		iota32(2, 2), f64(sh(1), 1.5), i64(sh(2), -1, 1<<40), i32(sh(1), -7), bools(sh(2), true, false),
		MustFromSlice(sh(2), []int8{-1, 2}), MustFromSlice(sh(1), []uint64{1 << 63}), MustFromSlice(sh(1), []string{"hi"}),
		MustFromSlice(sh(1), []int16{-300}), MustFromSlice(sh(1), []uint32{4e9}),
	} {
		back, err := FromIR(tt.ToIR())
		if err != nil {
			t.Fatal(err)
		}
		if !Equal(tt, back) {
			t.Errorf("round trip of %v gave %v", tt, back)
		}
	}
	if _, err := FromIR(&ir.Tensor{DType: ir.F32, Shape: []int64{2}, Data: make([]byte, 4)}); err == nil {
		t.Error("FromIR accepted truncated data")
	}
}
