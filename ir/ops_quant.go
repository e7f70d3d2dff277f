package ir

import "fmt"

// Integer ops of the ciuic domain, made by passes/quantize from QDQ patterns and from
// onnxruntime's DynamicQuantizeLinear -> MatMulInteger pattern (docs/quantization.md).

func init() {
	MustRegister(&Schema{Domain: CiuicDomain, Op: "DenseInt8", MinInputs: 3, MaxInputs: 6, MinOutputs: 1, MaxOutputs: 1,
		Attrs: map[string]AttrSpec{"activation": {Kind: AttrString}, "x_quant": {Kind: AttrString}},
		Infer: inferDenseInt8,
		Doc: `act(dq(q(X[..., K])) @ (W[K, N] i8 · WScale[N|1]) + B[N]) with the i32 accumulator scaled in the epilogue; ` +
			`inputs X, W, WScale, B?, XScale?, XZero? (static: X quantized with XScale/XZero, or X already u8/i8 on that grid; dynamic: from X's range, x_quant "tensor" | "row")`})
	MustRegister(&Schema{Domain: CiuicDomain, Op: "GatherInt8", MinInputs: 3, MaxInputs: 3, MinOutputs: 1, MaxOutputs: 1,
		Infer: inferGatherInt8,
		Doc:   `Table[Indices, :] · Scale[Indices]: an embedding table [V, D] stored as i8 with one f32 scale per row, only the gathered rows dequantized`})
	ci := map[string]AttrSpec{"auto_pad": {Kind: AttrString}, "group": {Kind: AttrInt}, "dilations": {Kind: AttrInts},
		"kernel_shape": {Kind: AttrInts}, "pads": {Kind: AttrInts}, "strides": {Kind: AttrInts},
		"activation": {Kind: AttrString}, "x_quant": {Kind: AttrString}}
	MustRegister(&Schema{Domain: CiuicDomain, Op: "ConvInt8", MinInputs: 3, MaxInputs: 7, MinOutputs: 1, MaxOutputs: 1,
		Attrs: ci, Infer: inferConvInt8,
		Doc: `act(Conv(dq(q(X)), W i8 · WScale[M|1]) + B[M]): X quantized at run time per tensor (u8), the i32 accumulator scaled in the epilogue; inputs X, W, WScale, B?, XScale?, XZero? (X already u8/i8 on that grid: QLinearConv), WZero? (u8 W with a zero point)`})
	qc := map[string]AttrSpec{"auto_pad": {Kind: AttrString}, "group": {Kind: AttrInt}, "dilations": {Kind: AttrInts},
		"kernel_shape": {Kind: AttrInts}, "pads": {Kind: AttrInts}, "strides": {Kind: AttrInts}}
	MustRegister(&Schema{Op: "QLinearConv", MinInputs: 8, MaxInputs: 9, MinOutputs: 1, MaxOutputs: 1,
		Attrs: qc, Infer: func(n *Node) ([]Type, error) {
			ts, err := inferConvInteger(&Node{Op: "ConvInteger", Inputs: []*Value{n.Inputs[0], n.Inputs[3]}, Attrs: n.Attrs})
			if err != nil {
				return nil, err
			}
			return one(Type{DType: inType(n, 7).DType, Shape: ts[0].Shape}), nil
		}, Doc: "quantized convolution: x, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp, B? (i32)"})
}

// DenseInt8XQuant lists the run-time activation quantization modes of ciuic.DenseInt8.
var DenseInt8XQuant = []string{"", "tensor", "row"}

func inferDenseInt8(n *Node) ([]Type, error) {
	x, w, ws := inType(n, 0), inType(n, 1), inType(n, 2)
	if x.DType != F32 && !((x.DType == U8 || x.DType == I8) && hasInput(n, 4)) {
		return nil, fmt.Errorf("X must be f32 (or u8/i8 with XScale and XZero), got %s", x.DType)
	}
	if w.DType != I8 || len(w.Shape) != 2 {
		return nil, fmt.Errorf("W must be 2-D i8, got %s", w)
	}
	if ws.DType != F32 || len(ws.Shape) > 1 || (len(ws.Shape) == 1 && !dimEqual(ws.Shape[0], w.Shape[1]) && !dimEqual(ws.Shape[0], Static(1))) {
		return nil, fmt.Errorf("WScale must be f32 of shape [] or [N=%s], got %s", w.Shape[1], ws)
	}
	if hasInput(n, 3) {
		b := inType(n, 3)
		if b.DType != F32 || len(b.Shape) != 1 || !dimEqual(b.Shape[0], w.Shape[1]) {
			return nil, fmt.Errorf("B must be f32[%s], got %s", w.Shape[1], b)
		}
	}
	if hasInput(n, 4) != hasInput(n, 5) {
		return nil, fmt.Errorf("XScale and XZero come together")
	}
	if hasInput(n, 4) {
		s, z := inType(n, 4), inType(n, 5)
		if s.DType != F32 || len(s.Shape) != 0 || z.DType != U8 && z.DType != I8 || len(z.Shape) != 0 {
			return nil, fmt.Errorf("XScale must be f32[] and XZero u8[] or i8[], got %s and %s", s, z)
		}
		if x.DType != F32 && x.DType != z.DType || x.DType == F32 && z.DType != U8 {
			return nil, fmt.Errorf("XZero %s does not match X %s (f32 X is quantized to u8)", z, x)
		}
	}
	act := n.Attrs.String("activation", "")
	ok := false
	for _, a := range DenseActivations {
		ok = ok || a == act
	}
	if !ok {
		return nil, fmt.Errorf("unknown activation %q (want one of %q)", act, DenseActivations)
	}
	switch xq := n.Attrs.String("x_quant", ""); xq {
	case "", "tensor", "row":
	default:
		return nil, fmt.Errorf("unknown x_quant %q (want tensor or row)", xq)
	}
	s, err := matmulShape(x.Shape, w.Shape)
	if err != nil {
		return nil, err
	}
	return one(Type{DType: F32, Shape: s}), nil
}

func inferGatherInt8(n *Node) ([]Type, error) {
	t, s, idx := inType(n, 0), inType(n, 1), inType(n, 2)
	if t.DType != I8 || len(t.Shape) != 2 {
		return nil, fmt.Errorf("Table must be 2-D i8, got %s", t)
	}
	if s.DType != F32 || len(s.Shape) != 1 || !dimEqual(s.Shape[0], t.Shape[0]) {
		return nil, fmt.Errorf("Scale must be f32[V=%s], got %s", t.Shape[0], s)
	}
	if idx.DType != I64 && idx.DType != I32 {
		return nil, fmt.Errorf("Indices must be i32 or i64, got %s", idx.DType)
	}
	return one(Type{DType: F32, Shape: append(idx.Shape.Clone(), t.Shape[1])}), nil
}

func inferConvInt8(n *Node) ([]Type, error) {
	x, w, ws := inType(n, 0), inType(n, 1), inType(n, 2)
	if hasInput(n, 4) != hasInput(n, 5) {
		return nil, fmt.Errorf("XScale and XZero come together")
	}
	if hasInput(n, 4) {
		s, z := inType(n, 4), inType(n, 5)
		if s.DType != F32 || len(s.Shape) != 0 || z.DType != x.DType || len(z.Shape) != 0 || x.DType != U8 && x.DType != I8 {
			return nil, fmt.Errorf("with XScale f32[] and XZero, X must be u8 or i8 like XZero, got %s, %s and %s", x, s, z)
		}
	} else if x.DType != F32 {
		return nil, fmt.Errorf("X must be f32, got %s", x.DType)
	}
	if hasInput(n, 6) {
		if z := inType(n, 6); w.DType != U8 || z.DType != U8 || len(z.Shape) != 0 {
			return nil, fmt.Errorf("WZero must be a u8[] zero point of a u8 W, got %s and %s", w, z)
		}
	} else if w.DType != I8 {
		return nil, fmt.Errorf("W must be i8, got %s", w.DType)
	}
	if len(w.Shape) < 3 {
		return nil, fmt.Errorf("W must be [M, C/group, k...], got %s", w.Shape)
	}
	if ws.DType != F32 || len(ws.Shape) > 1 || (len(ws.Shape) == 1 && !dimEqual(ws.Shape[0], w.Shape[0]) && !dimEqual(ws.Shape[0], Static(1))) {
		return nil, fmt.Errorf("WScale must be f32 of shape [] or [M=%s], got %s", w.Shape[0], ws)
	}
	if hasInput(n, 3) {
		if b := inType(n, 3); b.DType != F32 || len(b.Shape) != 1 || !dimEqual(b.Shape[0], w.Shape[0]) {
			return nil, fmt.Errorf("B must be f32[%s], got %s", w.Shape[0], b)
		}
	}
	group := n.Attrs.Int("group", 1)
	if group <= 0 || x.Shape[1].IsStatic() && w.Shape[1].IsStatic() && x.Shape[1].Size != w.Shape[1].Size*group {
		return nil, fmt.Errorf("X %s does not match W %s with group %d", x.Shape, w.Shape, group)
	}
	ok := false
	for _, a := range DenseActivations {
		ok = ok || a == n.Attrs.String("activation", "")
	}
	if !ok {
		return nil, fmt.Errorf("unknown activation %q", n.Attrs.String("activation", ""))
	}
	if xq := n.Attrs.String("x_quant", "tensor"); xq != "tensor" {
		return nil, fmt.Errorf("unknown x_quant %q (want tensor)", xq)
	}
	ts, err := inferConvInteger(&Node{Op: "ConvInteger", Inputs: n.Inputs[:2], Attrs: n.Attrs})
	if err != nil {
		return nil, err
	}
	return one(Type{DType: F32, Shape: ts[0].Shape}), nil
}
