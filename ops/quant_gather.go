package ops

import (
	"fmt"

	"github.com/ciuic/ciuic/ir"
)

// ciuic.GatherInt8: the int8 embedding table that passes/quantize makes from a Gather of
// a large constant f32 table. The table stays i8 in memory (a quarter of its f32 bytes)
// and only the gathered rows are dequantized, row r as Table[r, :] · Scale[r].

func init() {
	Register(ir.CiuicDomain, "GatherInt8", gatherInt8Kernel, ir.I8)
}

func gatherInt8Kernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 3); err != nil {
		return nil, err
	}
	t, s, idx := in[0], in[1], in[2]
	if t.DType != ir.I8 || t.Rank() != 2 || s.DType != ir.F32 || s.Len() != t.Shape[0] {
		return nil, fmt.Errorf("GatherInt8: want Table i8[V, D] and Scale f32[V], got %s%v and %s%v", t.DType, t.Shape, s.DType, s.Shape)
	}
	V, D := t.Shape[0], t.Shape[1]
	var ids []int64
	switch idx.DType {
	case ir.I64:
		ids = Elems[int64](idx)
	case ir.I32:
		ids = make([]int64, idx.Len())
		for i, v := range Elems[int32](idx) {
			ids[i] = int64(v)
		}
	default:
		return nil, fmt.Errorf("GatherInt8: indices must be i32 or i64, got %s", idx.DType)
	}
	y := New(ir.F32, append(append([]int{}, idx.Shape...), D)...)
	yd, tab, sc := y.F32(), Elems[int8](t), s.F32()
	for i, r := range ids {
		if r < 0 { // ONNX Gather counts negative indices from the end
			r += int64(V)
		}
		if r < 0 || r >= int64(V) {
			return nil, fmt.Errorf("GatherInt8: index %d out of range [-%d, %d)", ids[i], V, V)
		}
		row, out, f := tab[int(r)*D:][:D], yd[i*D:][:D], sc[r]
		for j, q := range row {
			out[j] = float32(q) * f
		}
	}
	return one(y), nil
}
