package ir

import "fmt"

// Integer ops of the ciuic domain, made by passes/quantize from QDQ patterns and from
// onnxruntime's DynamicQuantizeLinear -> MatMulInteger pattern (docs/quantization.md).

func init() {
	MustRegister(&Schema{Domain: CiuicDomain, Op: "DenseInt8", MinInputs: 3, MaxInputs: 6, MinOutputs: 1, MaxOutputs: 1,
		Attrs: map[string]AttrSpec{"activation": {Kind: AttrString}, "x_quant": {Kind: AttrString}},
		Infer: inferDenseInt8,
		Doc: `act(dq(q(X[..., K])) @ (W[K, N] i8 · WScale[N|1]) + B[N]) with the i32 accumulator scaled in the epilogue; ` +
			`inputs X, W, WScale, B?, XScale?, XZero? (static: X quantized with XScale/XZero; dynamic: from X's range, x_quant "tensor" | "row")`})
}

// DenseInt8XQuant lists the run-time activation quantization modes of ciuic.DenseInt8.
var DenseInt8XQuant = []string{"", "tensor", "row"}

func inferDenseInt8(n *Node) ([]Type, error) {
	x, w, ws := inType(n, 0), inType(n, 1), inType(n, 2)
	if x.DType != F32 {
		return nil, fmt.Errorf("X must be f32, got %s", x.DType)
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
		if s, z := inType(n, 4), inType(n, 5); s.DType != F32 || len(s.Shape) != 0 || z.DType != U8 || len(z.Shape) != 0 {
			return nil, fmt.Errorf("XScale must be f32[] and XZero u8[], got %s and %s", s, z)
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
