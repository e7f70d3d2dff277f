package passes

import (
	"fmt"

	"github.com/ciuic/ciuic/ir"
)

// Lowering of QDQ patterns to ciuic.DenseInt8, one small rule at a time:
//
//	Dense|MatMul(DQ(DynamicQuantizeLinear(x)), DQ(@Wq, @ws), b?) -> DenseInt8(x, @Wq, @ws, b?) {x_quant: tensor}
//	Dense|MatMul(DQ(Q(x, @s, @z), @s, @z), DQ(@Wq, @ws), b?)     -> DenseInt8(x, @Wq, @ws, b?, @s, @z)
//	Mul(Cast(MatMulInteger(DQL(x).q, @W, DQL(x).z, @Wz)), Mul(DQL(x).s, @ws)) -> DenseInt8(x, @W-@Wz, @ws)   onnxruntime
//	DenseInt8(...) + @b                                          -> DenseInt8(..., @b)
//	act(DenseInt8(...))                                          -> DenseInt8(...) {activation}
//	Q(DQ(q, s, z), s, z)                                         -> q           (a redundant pair)
//	Gather(DQ(@Tq, @ts){axis: 0}, ids)                           -> GatherInt8(@Tq, @ts, ids)
//	Conv(DQ(DynamicQuantizeLinear(x)), DQ(@Wq, @ws){axis: 0}, b?) -> ConvInt8(x, @Wq, @ws, b?)
//	QLinearMatMul(a, as, az, @B, @bs, @bz, ys, yz)               -> Q(DenseInt8(a, @B-@bz, @bs, _, as, az), ys, yz)
//	QLinearConv(x, xs, xz, @W, @ws, @wz, ys, yz, @B?)            -> Q(ConvInt8(x, @W-@wz, @ws, @B·xs·ws, xs, xz), ys, yz)
var importRules = []Rule{
	{Name: "int8-ort-dynamic", Pat: Comm("Mul", Op("Cast", OpAny("MatMulInteger").As("mmi")).As("cast"), Comm("Mul", Var("xs"), Const("ws")).As("sc")),
		When: ortDynamicOK, Do: ortDynamic, Fusion: true, ReportMisses: true},
	{Name: "int8-qdq-matmul", Pat: OpAny("MatMul"), When: qdqMatMulOK, Do: qdqMatMul(nil), Fusion: true},
	{Name: "int8-qlinear-matmul", Pat: OpAny("QLinearMatMul"), When: qlinearMatMulOK, Do: qlinearMatMul, Fusion: true, ReportMisses: true},
	{Name: "int8-qlinear-conv", Pat: OpAny("QLinearConv"), When: qlinearConvOK, Do: qlinearConv, Fusion: true, ReportMisses: true},
}

// lowerRules are quantize-lower's rules; rowX marks the Dense nodes whose activations
// the quantize pass chose to quantize per row.
func lowerRules(rowX map[*ir.Node]bool) []Rule {
	return []Rule{
		{Name: "int8-qdq-dense", Pat: OpAny("ciuic.Dense"), When: qdqMatMulOK, Do: qdqMatMul(rowX), Fusion: true},
		{Name: "int8-qdq-matmul", Pat: OpAny("MatMul"), When: qdqMatMulOK, Do: qdqMatMul(rowX), Fusion: true},
		{Name: "int8-qdq-gather", Pat: OpAny("Gather"), When: qdqGatherOK, Do: qdqGather, Fusion: true},
		{Name: "int8-qdq-conv", Pat: OpAny("Conv"), When: qdqConvOK, Do: qdqConv, Fusion: true},
		{Name: "int8-bias", Pat: Comm("Add", OpAny("ciuic.DenseInt8").As("d"), Const("b")), When: int8BiasOK, Do: int8Bias, Fusion: true},
		{Name: "int8-relu", Pat: Op("Relu", int8NoAct()), Do: int8Act("relu"), Fusion: true},
		{Name: "int8-gelu", Pat: Op("Gelu", int8NoAct()), Do: int8Gelu, Fusion: true},
		{Name: "int8-sigmoid", Pat: Op("Sigmoid", int8NoAct()), Do: int8Act("sigmoid"), Fusion: true},
		{Name: "int8-tanh", Pat: Op("Tanh", int8NoAct()), Do: int8Act("tanh"), Fusion: true},
		{Name: "int8-conv-relu", Pat: Op("Relu", OpAny("ciuic.ConvInt8").As("d")), Do: int8Act("relu"), Fusion: true},
		{Name: "qdq-pair", Pat: Op("QuantizeLinear", Op("DequantizeLinear", Var("q"), Var("s"), Var("z")).As("dq"), Var("s"), Var("z")), When: qdqPairOK, Do: keepQ},
	}
}

func quantizeImport(c *Context, g *ir.Graph) error {
	_, err := applyRules(c, g, importRules)
	return err
}

func quantizeLower(c *Context, g *ir.Graph) error {
	var rowX map[*ir.Node]bool
	if c.quant != nil {
		rowX = c.quant.rowX
	}
	n, err := applyRules(c, g, append(importRules[:1:1], lowerRules(rowX)...))
	if n > 0 {
		removeDead(g)
		g.RemoveUnusedConsts()
	}
	if err == nil && c.quant != nil {
		c.quant.WeightBytesAfter = g.WeightBytes()
		c.quant.fillFlops(g)
	}
	return err
}

func int8NoAct() *Pat { return OpAny("ciuic.DenseInt8").As("d") }

// ortDynamicOK checks onnxruntime's quantize_dynamic pattern: the three outputs of one
// DynamicQuantizeLinear feed MatMulInteger (data, zero point) and the scale product.
func ortDynamicOK(m *Match) error {
	mmi := m.N["mmi"]
	if to := m.N["cast"].Attrs.Int("to", 0); to != int64(ir.F32.ONNXCode()) {
		return fmt.Errorf("Cast is not to f32")
	}
	if len(mmi.Inputs) < 3 || mmi.Inputs[0] == nil || mmi.Inputs[2] == nil {
		return fmt.Errorf("%s has no activation zero point", mmi.Ref())
	}
	dq := mmi.Inputs[0].Def
	if dq == nil || dq.Op != "DynamicQuantizeLinear" || dq.Outputs[0] != mmi.Inputs[0] || dq.Outputs[2] != mmi.Inputs[2] || dq.Outputs[1] != m.V["xs"] {
		return fmt.Errorf("A, its zero point and scale do not come from one DynamicQuantizeLinear")
	}
	w := mmi.Inputs[1]
	if w.Const == nil || len(w.Const.Shape) != 2 {
		return fmt.Errorf("B %s is not a constant matrix", w)
	}
	if _, err := int8Weight(w.Const, zeroPoint(mmi, 3)); err != nil {
		return err
	}
	if ws := m.V["ws"].Const; ws.DType != ir.F32 || (ws.NumElements() != 1 && ws.NumElements() != w.Const.Shape[1]) {
		return fmt.Errorf("weight scale %s is not f32 per tensor or per column", m.V["ws"])
	}
	return nil
}

func zeroPoint(n *ir.Node, i int) *ir.Tensor {
	if i < len(n.Inputs) && n.Inputs[i] != nil {
		return n.Inputs[i].Const
	}
	return nil
}

// int8Weight returns w - zp as an i8 tensor, or an error if a value leaves [-128, 127].
func int8Weight(w, zp *ir.Tensor) (*ir.Tensor, error) {
	if w.DType == ir.I8 && (zp == nil || allZero(zp)) {
		return w, nil
	}
	if w.DType != ir.I8 && w.DType != ir.U8 {
		return nil, fmt.Errorf("weight dtype %s is not i8 or u8", w.DType)
	}
	N := int(w.Shape[1])
	var z []int64
	if zp != nil {
		z = zp.Int64s()
		if len(z) != 1 && len(z) != N {
			return nil, fmt.Errorf("weight zero point has %d elements, want 1 or %d", len(z), N)
		}
	}
	out := make([]byte, len(w.Data))
	for i := range out {
		v := w.Int64s()[i]
		if z != nil {
			v -= z[min(i%N, len(z)-1)]
		}
		if v < -128 || v > 127 {
			return nil, fmt.Errorf("weight minus zero point leaves the i8 range")
		}
		out[i] = byte(int8(v))
	}
	return &ir.Tensor{DType: ir.I8, Shape: w.Shape, Data: out}, nil
}

func allZero(t *ir.Tensor) bool {
	if t == nil {
		return true
	}
	for _, v := range t.Int64s() {
		if v != 0 {
			return false
		}
	}
	return true
}

func ortDynamic(b *Builder, m *Match) (*ir.Value, error) {
	mmi := m.N["mmi"]
	x := mmi.Inputs[0].Def.Inputs[0]
	w := mmi.Inputs[1]
	wq, err := int8Weight(w.Const, zeroPoint(mmi, 3))
	if err != nil {
		return nil, err
	}
	wv := w
	if wq != w.Const {
		wv = b.Const(w.Name+"_s8", wq)
	}
	ws := m.V["ws"]
	if len(ws.Type.Shape) > 1 {
		ws = b.Const(ws.Name+"_vec", &ir.Tensor{DType: ir.F32, Shape: []int64{ws.Const.NumElements()}, Data: ws.Const.Data})
	}
	return b.Op("ciuic.DenseInt8", []*ir.Value{x, wv, ws}, ir.Attrs{"x_quant": ir.StringAttr("tensor")})
}

// qdqMatMulOK checks Dense|MatMul(DQ(quantized x), DQ(@Wq, @ws[, @wz])).
func qdqMatMulOK(m *Match) error {
	n := m.Root
	if len(n.Inputs) < 2 {
		return fmt.Errorf("too few inputs")
	}
	if _, _, _, err := qdqActivation(n.Inputs[0]); err != nil {
		return err
	}
	_, _, err := qdqWeight(n.Inputs[1])
	return err
}

// qdqActivation recognises a quantize-dequantize of x: dynamic (DQ of a
// DynamicQuantizeLinear) or static (DQ(Q(x, s, z), s, z) with constant scalar s and z).
func qdqActivation(v *ir.Value) (x, s, z *ir.Value, err error) {
	dq := v.Def
	if dq == nil || dq.Op != "DequantizeLinear" || dq.Domain != "" || len(dq.Inputs) < 3 {
		return nil, nil, nil, fmt.Errorf("%s is not a DequantizeLinear with a zero point", v)
	}
	q := dq.Inputs[0].Def
	switch {
	case q != nil && q.Op == "DynamicQuantizeLinear" && q.Outputs[0] == dq.Inputs[0] && q.Outputs[1] == dq.Inputs[1] && q.Outputs[2] == dq.Inputs[2]:
		return q.Inputs[0], nil, nil, nil
	case q != nil && q.Op == "QuantizeLinear" && len(q.Inputs) == 3 && q.Inputs[1] == dq.Inputs[1] && q.Inputs[2] == dq.Inputs[2]:
		s, z := dq.Inputs[1], dq.Inputs[2]
		if s.Const == nil || z.Const == nil || s.Const.NumElements() != 1 || z.Const.NumElements() != 1 || s.Const.DType != ir.F32 {
			return nil, nil, nil, fmt.Errorf("activation scale and zero point are not constant scalars")
		}
		if z.Const.DType != ir.U8 && z.Const.DType != ir.I8 {
			return nil, nil, nil, fmt.Errorf("activation zero point is %s, not u8 or i8", z.Const.DType)
		}
		return q.Inputs[0], s, z, nil
	}
	return nil, nil, nil, fmt.Errorf("%s does not dequantize a quantized activation", v)
}

// qdqWeight recognises DQ(@Wq, @ws[, @wz]) of a 2-D integer constant, per tensor or per
// output column (axis 1).
func qdqWeight(v *ir.Value) (*ir.Tensor, *ir.Value, error) {
	dq := v.Def
	if dq == nil || dq.Op != "DequantizeLinear" || dq.Domain != "" {
		return nil, nil, fmt.Errorf("weight %s is not dequantized", v)
	}
	w, s := dq.Inputs[0], dq.Inputs[1]
	if w.Const == nil || s.Const == nil || len(w.Const.Shape) != 2 || s.Const.DType != ir.F32 {
		return nil, nil, fmt.Errorf("weight %s is not a constant matrix with a constant f32 scale", w)
	}
	if s.Const.NumElements() != 1 {
		axis := dq.Attrs.Int("axis", 1)
		if len(s.Const.Shape) != 1 || (axis != 1 && axis != -1) || s.Const.Shape[0] != w.Const.Shape[1] {
			return nil, nil, fmt.Errorf("weight scale is not per tensor or per output column")
		}
	}
	wq, err := int8Weight(w.Const, zeroPoint(dq, 2))
	return wq, s, err
}

func qdqMatMul(rowX map[*ir.Node]bool) func(b *Builder, m *Match) (*ir.Value, error) {
	return func(b *Builder, m *Match) (*ir.Value, error) {
		v, err := qdqMatMulOp(b, m)
		if err == nil && rowX[m.Root] {
			d := v.Def
			d.Attrs["x_quant"] = ir.StringAttr("row")
		}
		return v, err
	}
}

func qdqMatMulOp(b *Builder, m *Match) (*ir.Value, error) {
	n := m.Root
	x, s, z, _ := qdqActivation(n.Inputs[0])
	wq, ws, _ := qdqWeight(n.Inputs[1])
	w := n.Inputs[1].Def.Inputs[0]
	wv := w
	if wq != w.Const {
		wv = b.Const(w.Name+"_s8", wq)
	}
	if len(ws.Type.Shape) > 1 {
		ws = b.Const(ws.Name+"_vec", &ir.Tensor{DType: ir.F32, Shape: nil, Data: ws.Const.Data})
	}
	in := []*ir.Value{x, wv, ws, nil}
	if len(n.Inputs) > 2 {
		in[3] = n.Inputs[2]
	}
	attrs := ir.Attrs{}
	if act := n.Attrs.String("activation", ""); act != "" {
		attrs["activation"] = ir.StringAttr(act)
	}
	if s != nil {
		if z.Const.DType == ir.I8 { // the same grid shifted by 128 (saturation included)
			z = b.Const(z.Name+"_u8", &ir.Tensor{DType: ir.U8, Data: []byte{byte(int(int8(z.Const.Data[0])) + 128)}})
		}
		in = append(in, s, z)
	} else {
		attrs["x_quant"] = ir.StringAttr("tensor")
		if in[3] == nil {
			in = in[:3]
		}
	}
	return b.Op("ciuic.DenseInt8", in, attrs)
}

func int8BiasOK(m *Match) error {
	d := m.N["d"]
	if len(d.Inputs) > 3 && d.Inputs[3] != nil {
		return fmt.Errorf("%s already has a bias", d.Ref())
	}
	if d.Attrs.String("activation", "") != "" {
		return fmt.Errorf("%s already has an activation", d.Ref())
	}
	w, bias := d.Inputs[1].Type.Shape, m.V["b"].Type
	if bias.DType != ir.F32 || len(bias.Shape) != 1 || bias.Shape[0] != w[1] {
		return fmt.Errorf("bias %s is not an f32 vector over the output dim %s", bias, w[1])
	}
	return nil
}

func int8Bias(b *Builder, m *Match) (*ir.Value, error) {
	d := m.N["d"]
	in := append([]*ir.Value{}, d.Inputs...)
	for len(in) < 4 {
		in = append(in, nil)
	}
	in[3] = m.V["b"]
	return b.Op("ciuic.DenseInt8", in, d.Attrs.Clone())
}

func int8Act(act string) func(b *Builder, m *Match) (*ir.Value, error) {
	return func(b *Builder, m *Match) (*ir.Value, error) {
		d := m.N["d"]
		if d.Attrs.String("activation", "") != "" {
			return nil, nil
		}
		attrs := d.Attrs.Clone()
		if attrs == nil {
			attrs = ir.Attrs{}
		}
		attrs["activation"] = ir.StringAttr(act)
		return b.Op(d.OpName(), d.Inputs, attrs)
	}
}

func int8Gelu(b *Builder, m *Match) (*ir.Value, error) {
	act := "gelu"
	if m.Root.Attrs.String("approximate", "none") == "tanh" {
		act = "gelu_tanh"
	}
	return int8Act(act)(b, m)
}

func qdqPairOK(m *Match) error {
	if m.N["dq"].Attrs.Int("axis", 1) != m.Root.Attrs.Int("axis", 1) {
		return fmt.Errorf("axes differ")
	}
	if m.V["q"].Type.DType != m.Root.Outputs[0].Type.DType {
		return fmt.Errorf("dtypes differ")
	}
	return nil
}

func keepQ(b *Builder, m *Match) (*ir.Value, error) { return m.V["q"], nil }
