package passes

import (
	"fmt"

	"github.com/ciuic/ciuic/ir"
)

// Lowering rules of quantize-lower and quantize-import beyond the matrix products:
// embeddings (GatherInt8), convolutions (ConvInt8), and the QOperator ops QLinearMatMul
// and QLinearConv of pre-quantized models (see the table in quantize_lower.go).

// qdqGatherOK checks Gather(DQ(@Tq i8[V, D], @ts f32[V]){axis: 0}, ids) on axis 0.
func qdqGatherOK(m *Match) error {
	n := m.Root
	if n.Attrs.Int("axis", 0) != 0 || len(n.Inputs) != 2 {
		return fmt.Errorf("not a Gather on axis 0")
	}
	dq := n.Inputs[0].Def
	if dq == nil || dq.Op != "DequantizeLinear" || dq.Domain != "" || dq.Attrs.Int("axis", 1) != 0 || len(dq.Inputs) > 2 && dq.Inputs[2] != nil {
		return fmt.Errorf("table is not dequantized per row without a zero point")
	}
	t, s := dq.Inputs[0].Const, dq.Inputs[1].Const
	if t == nil || s == nil || t.DType != ir.I8 || len(t.Shape) != 2 || s.DType != ir.F32 || len(s.Shape) != 1 || s.Shape[0] != t.Shape[0] {
		return fmt.Errorf("table is not a constant i8[V, D] with f32[V] scales")
	}
	return nil
}

func qdqGather(b *Builder, m *Match) (*ir.Value, error) {
	dq := m.Root.Inputs[0].Def
	return b.Op("ciuic.GatherInt8", []*ir.Value{dq.Inputs[0], dq.Inputs[1], m.Root.Inputs[1]}, nil)
}

// qdqConvOK checks Conv(DQ(DynamicQuantizeLinear(x)), DQ(@Wq, @ws){axis: 0}, b?).
func qdqConvOK(m *Match) error {
	n := m.Root
	if len(n.Inputs) < 2 {
		return fmt.Errorf("too few inputs")
	}
	if _, s, _, err := qdqActivation(n.Inputs[0]); err != nil || s != nil {
		return fmt.Errorf("X is not dynamically quantized")
	}
	_, _, err := qdqConvWeight(n.Inputs[1])
	return err
}

// qdqConvWeight recognises DQ(@Wq, @ws[, @wz]) of a conv weight [M, C/g, k...] per tensor
// or per output channel (axis 0).
func qdqConvWeight(v *ir.Value) (*ir.Tensor, *ir.Value, error) {
	dq := v.Def
	if dq == nil || dq.Op != "DequantizeLinear" || dq.Domain != "" {
		return nil, nil, fmt.Errorf("weight %s is not dequantized", v)
	}
	w, s := dq.Inputs[0], dq.Inputs[1]
	if w.Const == nil || s.Const == nil || len(w.Const.Shape) < 3 || s.Const.DType != ir.F32 {
		return nil, nil, fmt.Errorf("weight %s is not a constant conv weight with a constant f32 scale", w)
	}
	if s.Const.NumElements() != 1 && (len(s.Const.Shape) != 1 || dq.Attrs.Int("axis", 1) != 0 || s.Const.Shape[0] != w.Const.Shape[0]) {
		return nil, nil, fmt.Errorf("weight scale is not per tensor or per output channel")
	}
	wq, err := int8ChannelWeight(w.Const, zeroPoint(dq, 2))
	return wq, s, err
}

// int8ChannelWeight returns w - zp (zp per tensor or per leading index) as i8.
func int8ChannelWeight(w, zp *ir.Tensor) (*ir.Tensor, error) {
	if w.DType == ir.I8 && allZero(zp) {
		return w, nil
	}
	if w.DType != ir.I8 && w.DType != ir.U8 {
		return nil, fmt.Errorf("weight dtype %s is not i8 or u8", w.DType)
	}
	M := int(w.Shape[0])
	inner := int(w.NumElements()) / max(M, 1)
	var z []int64
	if zp != nil {
		if z = zp.Int64s(); len(z) != 1 && len(z) != M {
			return nil, fmt.Errorf("weight zero point has %d elements, want 1 or %d", len(z), M)
		}
	}
	vals := w.Int64s()
	out := make([]byte, len(vals))
	for i, v := range vals {
		if z != nil {
			v -= z[min(i/max(inner, 1), len(z)-1)]
		}
		if v < -128 || v > 127 {
			return nil, fmt.Errorf("weight minus zero point leaves the i8 range")
		}
		out[i] = byte(int8(v))
	}
	return &ir.Tensor{DType: ir.I8, Shape: w.Shape, Data: out}, nil
}

var convAttrNames = []string{"auto_pad", "group", "dilations", "kernel_shape", "pads", "strides"}

func convAttrs(n *ir.Node) ir.Attrs {
	a := ir.Attrs{}
	for _, k := range convAttrNames {
		if v, ok := n.Attrs[k]; ok {
			a[k] = v
		}
	}
	return a
}

func qdqConv(b *Builder, m *Match) (*ir.Value, error) {
	n := m.Root
	x, _, _, _ := qdqActivation(n.Inputs[0])
	wq, ws, _ := qdqConvWeight(n.Inputs[1])
	w := n.Inputs[1].Def.Inputs[0]
	wv := w
	if wq != w.Const {
		wv = b.Const(w.Name+"_s8", wq)
	}
	in := []*ir.Value{x, wv, ws}
	if len(n.Inputs) > 2 && n.Inputs[2] != nil {
		in = append(in, n.Inputs[2])
	}
	attrs := convAttrs(n)
	attrs["x_quant"] = ir.StringAttr("tensor")
	return b.Op("ciuic.ConvInt8", in, attrs)
}

// constScalar returns v's single element as float64 if v is a constant scalar (or
// one-element tensor) of a float or 8-bit type.
func constScalar(v *ir.Value) (float64, bool) {
	if v == nil || v.Const == nil || v.Const.NumElements() != 1 {
		return 0, false
	}
	switch v.Const.DType {
	case ir.F32, ir.F16:
		return float64(v.Const.Float32s()[0]), true
	case ir.U8, ir.I8:
		return float64(v.Const.Int64s()[0]), true
	}
	return 0, false
}

// qlinearScalars checks the scale/zero-point pairs of a QOperator op at input positions
// xs, xz, ys, yz: constant one-element tensors, f32 or f16 scales (f16 widens to f32
// exactly), and an x zero point of x's type.
func qlinearScalars(n *ir.Node, idx ...int) error {
	for _, i := range idx {
		if i >= len(n.Inputs) || n.Inputs[i] == nil {
			return fmt.Errorf("input %d is missing", i)
		}
		if _, ok := constScalar(n.Inputs[i]); !ok {
			return fmt.Errorf("input %d (%s) is not a constant one-element f32, f16, u8 or i8 tensor", i, n.Inputs[i])
		}
	}
	for _, i := range []int{idx[0], idx[2]} {
		if dt := n.Inputs[i].Const.DType; dt != ir.F32 && dt != ir.F16 {
			return fmt.Errorf("scale %s is not f32 or f16", n.Inputs[i])
		}
	}
	if n.Inputs[idx[1]].Const.DType != n.Inputs[0].Type.DType {
		return fmt.Errorf("x zero point dtype differs from x")
	}
	if dt := n.Inputs[idx[3]].Const.DType; dt != ir.U8 && dt != ir.I8 {
		return fmt.Errorf("y zero point is not u8 or i8")
	}
	return nil
}

// scalarF32 is v (a constant one-element float tensor) as an f32 scalar constant.
func scalarF32(b *Builder, v *ir.Value) *ir.Value {
	if v.Const.DType == ir.F32 && len(v.Const.Shape) == 0 {
		return v
	}
	return b.Const(v.Name+"_f32", ir.NewTensorF32(nil, v.Const.Float32s()[:1]))
}

// scalar8 is v (a constant one-element 8-bit tensor) as a rank-0 constant.
func scalar8(b *Builder, v *ir.Value) *ir.Value {
	if len(v.Const.Shape) == 0 {
		return v
	}
	return b.Const(v.Name+"_scalar", &ir.Tensor{DType: v.Const.DType, Data: v.Const.Data[:1]})
}

// vecF32 is the constant scale v as an f32 vector.
func vecF32(b *Builder, v *ir.Value) *ir.Value {
	if v.Const.DType == ir.F32 && len(v.Const.Shape) <= 1 {
		return v
	}
	f := v.Const.Float32s()
	return b.Const(v.Name+"_f32", ir.NewTensorF32([]int64{int64(len(f))}, f))
}

// qlinearWeight returns the i8 weight (minus its zero point); the scale must be per tensor
// or per output channel along axis (1 for MatMul's B [K, N], 0 for Conv's W).
func qlinearWeight(w, s, z *ir.Value, axis int) (*ir.Tensor, error) {
	if w.Const == nil || s.Const == nil || s.Const.DType != ir.F32 && s.Const.DType != ir.F16 || z != nil && z.Const == nil {
		return nil, fmt.Errorf("weight, its scale and zero point are not constants (f32 or f16 scale)")
	}
	var zt *ir.Tensor
	if z != nil {
		zt = z.Const
	}
	if axis >= len(w.Const.Shape) {
		return nil, fmt.Errorf("weight %s has too few dims", w)
	}
	if n := s.Const.NumElements(); n != 1 && n != w.Const.Shape[axis] {
		return nil, fmt.Errorf("weight scale has %d elements, want 1 or %d", n, w.Const.Shape[axis])
	}
	if axis == 1 {
		if len(w.Const.Shape) != 2 {
			return nil, fmt.Errorf("B %s is not a matrix (batched products stay on QLinearMatMul)", w.Type)
		}
		return int8Weight(w.Const, zt)
	}
	return int8ChannelWeight(w.Const, zt)
}

func qlinearMatMulOK(m *Match) error {
	n := m.Root
	if err := qlinearScalars(n, 1, 2, 6, 7); err != nil {
		return err
	}
	if _, err := qlinearWeight(n.Inputs[3], n.Inputs[4], n.Inputs[5], 1); err != nil {
		w := n.Inputs[3]
		if w.Const == nil || len(w.Const.Shape) != 2 || w.Const.DType != ir.U8 && w.Const.DType != ir.I8 || n.Inputs[5] == nil || n.Inputs[5].Const == nil {
			return err
		}
		// B minus its zero point leaves i8: MatMulInteger (which takes the zero point) instead.
	}
	return nil
}

// qlinearMatMul lowers to DenseInt8 when B minus its zero point fits in i8, else to
// Q(Cast(MatMulInteger(a, @B, az, @bz)) · @(as·bs)); both run on the int8 GEMM.
func qlinearMatMul(b *Builder, m *Match) (*ir.Value, error) {
	n := m.Root
	wq, err := qlinearWeight(n.Inputs[3], n.Inputs[4], n.Inputs[5], 1)
	if err != nil {
		as, _ := constScalar(n.Inputs[1])
		bs := n.Inputs[4].Const.Float32s()
		sc := make([]float32, len(bs))
		for i, v := range bs {
			sc[i] = float32(as) * v
		}
		mmi, err := b.Op("MatMulInteger", []*ir.Value{n.Inputs[0], n.Inputs[3], scalar8(b, n.Inputs[2]), n.Inputs[5]}, nil)
		if err != nil {
			return nil, err
		}
		f, err := b.Op("Cast", []*ir.Value{mmi}, ir.Attrs{"to": ir.IntAttr(int64(ir.F32.ONNXCode()))})
		if err != nil {
			return nil, err
		}
		shape := []int64{int64(len(sc))}
		if len(sc) == 1 {
			shape = nil
		}
		y, err := b.Op("Mul", []*ir.Value{f, b.Const(n.Inputs[4].Name+"_ab", ir.NewTensorF32(shape, sc))}, nil)
		if err != nil {
			return nil, err
		}
		return b.Op("QuantizeLinear", []*ir.Value{y, scalarF32(b, n.Inputs[6]), scalar8(b, n.Inputs[7])}, nil)
	}
	wv := n.Inputs[3]
	if wq != wv.Const {
		wv = b.Const(wv.Name+"_s8", wq)
	}
	y, err := b.Op("ciuic.DenseInt8", []*ir.Value{n.Inputs[0], wv, vecF32(b, n.Inputs[4]), nil, scalarF32(b, n.Inputs[1]), scalar8(b, n.Inputs[2])}, nil)
	if err != nil {
		return nil, err
	}
	return b.Op("QuantizeLinear", []*ir.Value{y, scalarF32(b, n.Inputs[6]), scalar8(b, n.Inputs[7])}, nil)
}

func qlinearConvOK(m *Match) error {
	n := m.Root
	if err := qlinearScalars(n, 1, 2, 6, 7); err != nil {
		return err
	}
	if len(n.Inputs) > 8 && n.Inputs[8] != nil && (n.Inputs[8].Const == nil || n.Inputs[8].Const.DType != ir.I32) {
		return fmt.Errorf("bias is not a constant i32 vector")
	}
	w, s, z := n.Inputs[3], n.Inputs[4], n.Inputs[5]
	if _, err := qlinearWeight(w, s, z, 0); err != nil {
		// u8 weights whose zero point takes them out of the i8 range keep it (ConvInt8's WZero).
		if w.Const == nil || w.Const.DType != ir.U8 || z == nil || z.Const == nil || z.Const.DType != ir.U8 || z.Const.NumElements() != 1 {
			return err
		}
	}
	return nil
}

func qlinearConv(b *Builder, m *Match) (*ir.Value, error) {
	n := m.Root
	wv, ws := n.Inputs[3], vecF32(b, n.Inputs[4])
	var wz *ir.Value
	if wq, err := qlinearWeight(n.Inputs[3], n.Inputs[4], n.Inputs[5], 0); err != nil {
		wz = scalar8(b, n.Inputs[5])
	} else if wq != wv.Const {
		wv = b.Const(wv.Name+"_s8", wq)
	}
	var bias *ir.Value
	if len(n.Inputs) > 8 && n.Inputs[8] != nil {
		// The i32 bias is on the accumulator's grid: as f32 it is B · x_scale · w_scale[m].
		xs, _ := constScalar(n.Inputs[1])
		bi, sw := n.Inputs[8].Const.Int64s(), ws.Const.Float32s()
		bf := make([]float32, len(bi))
		for i, v := range bi {
			bf[i] = float32(float64(v) * xs * float64(sw[min(i, len(sw)-1)]))
		}
		bias = b.Const(n.Inputs[8].Name+"_f32", ir.NewTensorF32([]int64{int64(len(bf))}, bf))
	}
	in := []*ir.Value{n.Inputs[0], wv, ws, bias, scalarF32(b, n.Inputs[1]), scalar8(b, n.Inputs[2])}
	if wz != nil {
		in = append(in, wz)
	}
	y, err := b.Op("ciuic.ConvInt8", in, convAttrs(n))
	if err != nil {
		return nil, err
	}
	return b.Op("QuantizeLinear", []*ir.Value{y, scalarF32(b, n.Inputs[6]), scalar8(b, n.Inputs[7])}, nil)
}
