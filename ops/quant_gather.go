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
	RegisterInto(ir.CiuicDomain, "GatherInt8", gatherInt8Into, false, ir.I8)
}

// gatherInt8Check checks the operands and returns the table's shape.
func gatherInt8Check(in []*Tensor) (V, D int, err error) {
	if err := need(in, 3); err != nil {
		return 0, 0, err
	}
	t, s, idx := in[0], in[1], in[2]
	if t.DType != ir.I8 || t.Rank() != 2 || s.DType != ir.F32 || s.Len() != t.Shape[0] {
		return 0, 0, fmt.Errorf("GatherInt8: want Table i8[V, D] and Scale f32[V], got %s%v and %s%v", t.DType, t.Shape, s.DType, s.Shape)
	}
	if idx.DType != ir.I64 && idx.DType != ir.I32 {
		return 0, 0, fmt.Errorf("GatherInt8: indices must be i32 or i64, got %s", idx.DType)
	}
	return t.Shape[0], t.Shape[1], nil
}

func gatherInt8Kernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	_, D, err := gatherInt8Check(in)
	if err != nil {
		return nil, err
	}
	y := New(ir.F32, append(append([]int{}, in[2].Shape...), D)...)
	if err := gatherInt8Rows(in, y.F32(), D); err != nil {
		return nil, err
	}
	return one(y), nil
}

// gatherInt8Into is GatherInt8 into out[0] (f32, the indices' shape then D), without
// allocating.
func gatherInt8Into(ctx *KernelContext, in, out []*Tensor, attrs ir.Attrs) error {
	_, D, err := gatherInt8Check(in)
	if err != nil {
		return err
	}
	y, idx := out[0], in[2]
	if y == nil || y.DType != ir.F32 || y.Rank() != idx.Rank()+1 || !sameShape(y.Shape[:idx.Rank()], idx.Shape) || y.Shape[idx.Rank()] != D {
		return fallbackInto(ctx, gatherInt8Kernel, in, out, attrs)
	}
	return gatherInt8Rows(in, y.F32(), D)
}

// gatherInt8Rows writes the dequantized rows of in's indices to y.
func gatherInt8Rows(in []*Tensor, y []float32, D int) error {
	if idx := in[2]; idx.DType == ir.I64 {
		return gatherInt8Of(in[0], in[1], Elems[int64](idx), y, D)
	}
	return gatherInt8Of(in[0], in[1], Elems[int32](in[2]), y, D)
}

func gatherInt8Of[I int32 | int64](t, s *Tensor, ids []I, y []float32, D int) error {
	V := t.Shape[0]
	tab, sc := Elems[int8](t), s.F32()
	for i, id := range ids {
		r := int64(id)
		if r < 0 { // ONNX Gather counts negative indices from the end
			r += int64(V)
		}
		if r < 0 || r >= int64(V) {
			return fmt.Errorf("GatherInt8: index %d out of range [-%d, %d)", id, V, V)
		}
		row, out, f := tab[int(r)*D:][:D], y[i*D:][:D], sc[r]
		for j, q := range row {
			out[j] = float32(q) * f
		}
	}
	return nil
}
