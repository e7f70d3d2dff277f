package ops

import (
	"testing"

	"github.com/ciuic/ciuic/ir"
)

func u8(shape []int, v ...uint8) *Tensor { return MustFromSlice(shape, v) }

func TestExtraOps(t *testing.T) {
	runCases(t, []kcase{
		{name: "cumsum", op: "CumSum", in: []*Tensor{f32(sh(2, 3), 1, 2, 3, 4, 5, 6), i64(sh(), 1)}, want: []*Tensor{f32(sh(2, 3), 1, 3, 6, 4, 9, 15)}},
		{name: "cumsum excl rev", op: "CumSum", attrs: ir.Attrs{"exclusive": ir.IntAttr(1), "reverse": ir.IntAttr(1)}, in: []*Tensor{i32(sh(3), 1, 2, 3), i32(sh(1), 0)},
			want: []*Tensor{i32(sh(3), 5, 3, 0)}},
		{name: "topk", op: "TopK", in: []*Tensor{f32(sh(2, 3), 1, 3, 3, 9, 8, 7), i64(sh(1), 2)},
			want: []*Tensor{f32(sh(2, 2), 3, 3, 9, 8), i64(sh(2, 2), 1, 2, 0, 1)}},
		{name: "topk smallest axis0", op: "TopK", attrs: ir.Attrs{"largest": ir.IntAttr(0), "axis": ir.IntAttr(0)}, in: []*Tensor{f32(sh(2, 2), 5, 1, 2, 4), i64(sh(1), 1)},
			want: []*Tensor{f32(sh(1, 2), 2, 1), i64(sh(1, 2), 1, 0)}},
		{name: "hardmax", op: "Hardmax", in: []*Tensor{f32(sh(2, 3), 1, 3, 3, 0, -1, -2)}, want: []*Tensor{f32(sh(2, 3), 0, 1, 0, 1, 0, 0)}},
		{name: "triu", op: "Trilu", in: []*Tensor{iota32(3, 3)}, want: []*Tensor{f32(sh(3, 3), 0, 1, 2, 0, 4, 5, 0, 0, 8)}},
		{name: "tril k", op: "Trilu", attrs: ir.Attrs{"upper": ir.IntAttr(0)}, in: []*Tensor{iota32(2, 3), i64(sh(), 1)}, want: []*Tensor{f32(sh(2, 3), 0, 1, 0, 3, 4, 5)}},
		{name: "onehot", op: "OneHot", in: []*Tensor{i64(sh(3), 0, 2, -1), f32(sh(), 3), f32(sh(2), 0, 5)}, want: []*Tensor{f32(sh(3, 3), 5, 0, 0, 0, 0, 5, 0, 0, 5)}},
		{name: "onehot axis0", op: "OneHot", attrs: ir.Attrs{"axis": ir.IntAttr(0)}, in: []*Tensor{i64(sh(2), 1, 0), i64(sh(1), 2), i64(sh(2), 0, 1)}, want: []*Tensor{i64(sh(2, 2), 0, 1, 1, 0)}},
		{name: "nonzero", op: "NonZero", in: []*Tensor{f32(sh(2, 2), 1, 0, 0, 3)}, want: []*Tensor{i64(sh(2, 2), 0, 1, 0, 1)}},
		{name: "depthtospace dcr", op: "DepthToSpace", attrs: ir.Attrs{"blocksize": ir.IntAttr(2)}, in: []*Tensor{iota32(1, 4, 1, 1)}, want: []*Tensor{f32(sh(1, 1, 2, 2), 0, 1, 2, 3)}},
		{name: "spacetodepth", op: "SpaceToDepth", attrs: ir.Attrs{"blocksize": ir.IntAttr(2)}, in: []*Tensor{iota32(1, 1, 2, 2)}, want: []*Tensor{f32(sh(1, 4, 1, 1), 0, 1, 2, 3)}},
		{name: "quantize", op: "QuantizeLinear", in: []*Tensor{f32(sh(5), 0, 2.5, 3.5, 1000, -1000), f32(sh(), 1), u8(sh(), 128)}, want: []*Tensor{u8(sh(5), 128, 130, 132, 255, 0)}},
		{name: "quantize per axis i8", op: "QuantizeLinear", in: []*Tensor{f32(sh(1, 2), 4, 4), f32(sh(2), 1, 2), MustFromSlice(sh(2), []int8{0, -1})},
			want: []*Tensor{MustFromSlice(sh(1, 2), []int8{4, 1})}},
		{name: "dequantize", op: "DequantizeLinear", in: []*Tensor{u8(sh(3), 0, 128, 255), f32(sh(), 0.5), u8(sh(), 128)}, want: []*Tensor{f32(sh(3), -64, 0, 63.5)}},
		{name: "dynquant", op: "DynamicQuantizeLinear", in: []*Tensor{f32(sh(3), 0, 2, -1)},
			want: []*Tensor{u8(sh(3), 85, 255, 0), f32(sh(), float32(3)/255), u8(sh(), 85)}},
		{name: "matmulinteger", op: "MatMulInteger", in: []*Tensor{u8(sh(1, 2), 3, 4), u8(sh(2, 1), 5, 6), u8(sh(), 1), u8(sh(), 2)}, want: []*Tensor{i32(sh(1, 1), 2*3+3*4)}},
		{name: "qlinearmatmul", op: "QLinearMatMul", in: []*Tensor{u8(sh(1, 2), 2, 4), f32(sh(), 0.5), u8(sh(), 0), u8(sh(2, 1), 1, 1), f32(sh(), 1), u8(sh(), 0), f32(sh(), 0.25), u8(sh(), 10)},
			want: []*Tensor{u8(sh(1, 1), 22)}},
	})
}
