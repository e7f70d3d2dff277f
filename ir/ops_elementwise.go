package ir

import "fmt"

// Elementwise ONNX ops: numpy broadcasting, one dtype across inputs unless noted.

func init() {
	for _, op := range []string{"Add", "Sub", "Mul", "Div", "Mod", "BitShift", "BitwiseAnd", "BitwiseOr", "BitwiseXor"} {
		a := map[string]AttrSpec{}
		switch op {
		case "Mod":
			a["fmod"] = AttrSpec{Kind: AttrInt}
		case "BitShift":
			a["direction"] = AttrSpec{Kind: AttrString, Required: true}
		}
		MustRegister(&Schema{Op: op, MinInputs: 2, MaxInputs: 2, MinOutputs: 1, MaxOutputs: 1, Attrs: a,
			Infer: broadcastOp(false), Doc: "elementwise " + op + " with numpy broadcasting"})
	}
	MustRegister(&Schema{Op: "Pow", MinInputs: 2, MaxInputs: 2, MinOutputs: 1, MaxOutputs: 1,
		Infer: inferPow, Doc: "elementwise power; the exponent may have another numeric type"})
	for _, op := range []string{"Max", "Min", "Sum", "Mean"} {
		MustRegister(&Schema{Op: op, MinInputs: 1, MaxInputs: Variadic, MinOutputs: 1, MaxOutputs: 1,
			Infer: broadcastOp(false), Doc: "elementwise " + op + " of any number of inputs, broadcast"})
	}
	for _, op := range []string{"Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual"} {
		MustRegister(&Schema{Op: op, MinInputs: 2, MaxInputs: 2, MinOutputs: 1, MaxOutputs: 1,
			Infer: broadcastOp(true), Doc: "elementwise comparison giving bool"})
	}
	for _, op := range []string{"And", "Or", "Xor"} {
		MustRegister(&Schema{Op: op, MinInputs: 2, MaxInputs: 2, MinOutputs: 1, MaxOutputs: 1,
			Infer: boolOp(broadcastOp(true)), Doc: "elementwise logic on bool"})
	}
	MustRegister(&Schema{Op: "Not", MinInputs: 1, MaxInputs: 1, MinOutputs: 1, MaxOutputs: 1,
		Infer: boolOp(unaryOp(false)), Doc: "logical not"})
	MustRegister(&Schema{Op: "Where", MinInputs: 3, MaxInputs: 3, MinOutputs: 1, MaxOutputs: 1,
		Infer: inferWhere, Doc: "select X where condition else Y, broadcast"})

	// Unary math on floats.
	floatUnary := []string{"Sigmoid", "Tanh", "Erf", "Exp", "Log", "Sqrt", "Reciprocal", "Floor", "Ceil",
		"Round", "Sin", "Cos", "Tan", "Asin", "Acos", "Atan", "Sinh", "Cosh", "Softplus", "Softsign", "Mish", "HardSwish", "IsNaN", "IsInf"}
	for _, op := range floatUnary {
		infer := unaryOp(true)
		a := map[string]AttrSpec{}
		switch op {
		case "IsNaN":
			infer = toBool(infer)
		case "IsInf":
			infer = toBool(infer)
			a["detect_negative"] = AttrSpec{Kind: AttrInt}
			a["detect_positive"] = AttrSpec{Kind: AttrInt}
		}
		MustRegister(&Schema{Op: op, MinInputs: 1, MaxInputs: 1, MinOutputs: 1, MaxOutputs: 1, Attrs: a,
			Infer: infer, Doc: "elementwise " + op})
	}
	// Unary ops on any numeric type.
	for _, op := range []string{"Relu", "Neg", "Abs", "Sign", "Identity"} {
		MustRegister(&Schema{Op: op, MinInputs: 1, MaxInputs: 1, MinOutputs: 1, MaxOutputs: 1,
			Infer: unaryOp(false), Doc: "elementwise " + op})
	}
	alpha := func(extra ...string) map[string]AttrSpec {
		m := map[string]AttrSpec{"alpha": {Kind: AttrFloat}}
		for _, e := range extra {
			m[e] = AttrSpec{Kind: AttrFloat}
		}
		return m
	}
	MustRegister(&Schema{Op: "LeakyRelu", MinInputs: 1, MaxInputs: 1, MinOutputs: 1, MaxOutputs: 1, Attrs: alpha(), Infer: unaryOp(true), Doc: "x if x >= 0 else alpha*x"})
	MustRegister(&Schema{Op: "Elu", MinInputs: 1, MaxInputs: 1, MinOutputs: 1, MaxOutputs: 1, Attrs: alpha(), Infer: unaryOp(true), Doc: "exponential linear unit"})
	MustRegister(&Schema{Op: "Celu", MinInputs: 1, MaxInputs: 1, MinOutputs: 1, MaxOutputs: 1, Attrs: alpha(), Infer: unaryOp(true), Doc: "continuously differentiable ELU"})
	MustRegister(&Schema{Op: "Selu", MinInputs: 1, MaxInputs: 1, MinOutputs: 1, MaxOutputs: 1, Attrs: alpha("gamma"), Infer: unaryOp(true), Doc: "scaled ELU"})
	MustRegister(&Schema{Op: "HardSigmoid", MinInputs: 1, MaxInputs: 1, MinOutputs: 1, MaxOutputs: 1, Attrs: alpha("beta"), Infer: unaryOp(true), Doc: "max(0, min(1, alpha*x + beta))"})
	MustRegister(&Schema{Op: "ThresholdedRelu", MinInputs: 1, MaxInputs: 1, MinOutputs: 1, MaxOutputs: 1, Attrs: alpha(), Infer: unaryOp(true), Doc: "x if x > alpha else 0"})
	MustRegister(&Schema{Op: "Gelu", MinInputs: 1, MaxInputs: 1, MinOutputs: 1, MaxOutputs: 1,
		Attrs: map[string]AttrSpec{"approximate": {Kind: AttrString}}, Infer: unaryOp(true), Doc: `GELU, exact (erf) or approximate="tanh"`})
	MustRegister(&Schema{Op: "PRelu", MinInputs: 2, MaxInputs: 2, MinOutputs: 1, MaxOutputs: 1, Infer: inferPRelu, Doc: "x if x >= 0 else slope*x, slope broadcast to x"})
	MustRegister(&Schema{Op: "Clip", MinInputs: 1, MaxInputs: 3, MinOutputs: 1, MaxOutputs: 1, Infer: inferClip, Doc: "clamp to [min, max] (optional scalar inputs)"})
	MustRegister(&Schema{Op: "Dropout", MinInputs: 1, MaxInputs: 3, MinOutputs: 1, MaxOutputs: 2,
		Attrs: map[string]AttrSpec{"seed": {Kind: AttrInt}}, Infer: inferDropout, Doc: "identity at inference; optional mask output"})
	MustRegister(&Schema{Op: "Cast", MinInputs: 1, MaxInputs: 1, MinOutputs: 1, MaxOutputs: 1,
		Attrs: map[string]AttrSpec{"to": {Kind: AttrInt, Required: true}, "saturate": {Kind: AttrInt}}, Infer: inferCast, Doc: "convert to dtype `to` (ONNX TensorProto code)"})
	MustRegister(&Schema{Op: "CastLike", MinInputs: 2, MaxInputs: 2, MinOutputs: 1, MaxOutputs: 1,
		Attrs: map[string]AttrSpec{"saturate": {Kind: AttrInt}}, Infer: func(n *Node) ([]Type, error) {
			return one(Type{DType: inType(n, 1).DType, Shape: inType(n, 0).Shape.Clone()}), nil
		}, Doc: "convert to the dtype of the second input"})
}

func broadcastOp(toBoolOut bool) func(n *Node) ([]Type, error) {
	return func(n *Node) ([]Type, error) {
		dt, err := sameDType(n, allInputs(n)...)
		if err != nil {
			return nil, err
		}
		shapes := make([]Shape, 0, len(n.Inputs))
		for _, in := range n.Inputs {
			if in != nil {
				shapes = append(shapes, in.Type.Shape)
			}
		}
		s, err := BroadcastShapes(shapes...)
		if err != nil {
			return nil, err
		}
		if toBoolOut {
			dt = Bool
		}
		return one(Type{DType: dt, Shape: s}), nil
	}
}

func boolOp(f func(*Node) ([]Type, error)) func(*Node) ([]Type, error) {
	return func(n *Node) ([]Type, error) {
		for i, in := range n.Inputs {
			if in != nil && in.Type.DType != Bool {
				return nil, fmt.Errorf("input %d must be bool, got %s", i, in.Type.DType)
			}
		}
		return f(n)
	}
}

func toBool(f func(*Node) ([]Type, error)) func(*Node) ([]Type, error) {
	return func(n *Node) ([]Type, error) {
		ts, err := f(n)
		if err != nil {
			return nil, err
		}
		ts[0].DType = Bool
		return ts, nil
	}
}

func unaryOp(float bool) func(n *Node) ([]Type, error) {
	return func(n *Node) ([]Type, error) {
		if float {
			if err := requireFloat(n, 0); err != nil {
				return nil, err
			}
		}
		t := inType(n, 0)
		return one(Type{DType: t.DType, Shape: t.Shape.Clone()}), nil
	}
}

func inferPow(n *Node) ([]Type, error) {
	if !inType(n, 0).DType.IsNumeric() || !inType(n, 1).DType.IsNumeric() {
		return nil, fmt.Errorf("inputs must be numeric, got %s and %s", inType(n, 0).DType, inType(n, 1).DType)
	}
	s, err := BroadcastShapes(inType(n, 0).Shape, inType(n, 1).Shape)
	if err != nil {
		return nil, err
	}
	return one(Type{DType: inType(n, 0).DType, Shape: s}), nil
}

func inferWhere(n *Node) ([]Type, error) {
	if inType(n, 0).DType != Bool {
		return nil, fmt.Errorf("condition must be bool, got %s", inType(n, 0).DType)
	}
	dt, err := sameDType(n, 1, 2)
	if err != nil {
		return nil, err
	}
	s, err := BroadcastShapes(inType(n, 0).Shape, inType(n, 1).Shape, inType(n, 2).Shape)
	if err != nil {
		return nil, err
	}
	return one(Type{DType: dt, Shape: s}), nil
}

func inferPRelu(n *Node) ([]Type, error) {
	dt, err := sameDType(n, 0, 1)
	if err != nil {
		return nil, err
	}
	s, err := BroadcastShapes(inType(n, 0).Shape, inType(n, 1).Shape)
	if err != nil {
		return nil, err
	}
	if !s.Equal(inType(n, 0).Shape) {
		return nil, fmt.Errorf("slope %s does not broadcast to X %s", inType(n, 1).Shape, inType(n, 0).Shape)
	}
	return one(Type{DType: dt, Shape: s}), nil
}

func inferClip(n *Node) ([]Type, error) {
	dt, err := sameDType(n, 0, 1, 2)
	if err != nil {
		return nil, err
	}
	for i := 1; i < 3; i++ {
		if hasInput(n, i) && len(inType(n, i).Shape) != 0 {
			return nil, fmt.Errorf("input %d (min/max) must be a scalar, got %s", i, inType(n, i))
		}
	}
	return one(Type{DType: dt, Shape: inType(n, 0).Shape.Clone()}), nil
}

func inferDropout(n *Node) ([]Type, error) {
	t := inType(n, 0)
	return []Type{{DType: t.DType, Shape: t.Shape.Clone()}, {DType: Bool, Shape: t.Shape.Clone()}}, nil
}

// ONNX TensorProto.DataType codes.
var onnxDTypes = map[int64]DType{1: F32, 2: U8, 3: I8, 4: U16, 5: I16, 6: I32, 7: I64, 8: String, 9: Bool,
	10: F16, 11: F64, 12: U32, 13: U64, 16: BF16}

// DTypeFromONNX maps an ONNX TensorProto.DataType code to a DType.
func DTypeFromONNX(code int64) (DType, bool) { d, ok := onnxDTypes[code]; return d, ok }

// ONNXCode maps a DType to its ONNX TensorProto.DataType code (0 if none).
func (d DType) ONNXCode() int64 {
	for c, t := range onnxDTypes {
		if t == d {
			return c
		}
	}
	return 0
}

func inferCast(n *Node) ([]Type, error) {
	to := n.Attrs.Int("to", 0)
	dt, ok := DTypeFromONNX(to)
	if !ok {
		return nil, fmt.Errorf("unsupported target type code %d", to)
	}
	return one(Type{DType: dt, Shape: inType(n, 0).Shape.Clone()}), nil
}
