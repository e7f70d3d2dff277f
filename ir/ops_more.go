package ir

import "fmt"

// Schemas for ONNX ops added to pass the ONNX backend node tests (see exec/conformance):
// RMS normalisation and the loss functions that models export with their heads.
func init() {
	MustRegister(&Schema{Op: "RMSNormalization", MinInputs: 2, MaxInputs: 2, MinOutputs: 1, MaxOutputs: 1,
		Attrs: map[string]AttrSpec{"axis": {Kind: AttrInt}, "epsilon": {Kind: AttrFloat}, "stash_type": {Kind: AttrInt}},
		Infer: inferONNXRMSNorm, Doc: "x / sqrt(mean(x², axes axis..) + epsilon) * scale (opset 23)"})
	MustRegister(&Schema{Op: "NegativeLogLikelihoodLoss", MinInputs: 2, MaxInputs: 3, MinOutputs: 1, MaxOutputs: 1,
		Attrs: map[string]AttrSpec{"ignore_index": {Kind: AttrInt}, "reduction": {Kind: AttrString}},
		Infer: inferLoss, Doc: "-input[n, target[n, d...], d...] weighted; reduction none | sum | mean"})
	MustRegister(&Schema{Op: "SoftmaxCrossEntropyLoss", MinInputs: 2, MaxInputs: 3, MinOutputs: 1, MaxOutputs: 2,
		Attrs: map[string]AttrSpec{"ignore_index": {Kind: AttrInt}, "reduction": {Kind: AttrString}},
		Infer: inferLoss, Doc: "NegativeLogLikelihoodLoss of LogSoftmax(scores, axis 1); optional log_prob output"})
}

func inferONNXRMSNorm(n *Node) ([]Type, error) {
	dt, err := sameDType(n, 0, 1)
	if err != nil {
		return nil, err
	}
	if err := requireFloat(n, 0); err != nil {
		return nil, err
	}
	x := inType(n, 0).Shape
	if _, err := NormAxis(n.Attrs.Int("axis", -1), len(x)); err != nil {
		return nil, err
	}
	return one(Type{DType: dt, Shape: x.Clone()}), nil
}

// inferLoss types NegativeLogLikelihoodLoss and SoftmaxCrossEntropyLoss: input (N, C,
// d...), integer target (N, d...), optional weight (C).
func inferLoss(n *Node) ([]Type, error) {
	if err := requireFloat(n, 0); err != nil {
		return nil, err
	}
	x, t := inType(n, 0), inType(n, 1)
	if t.DType != I32 && t.DType != I64 {
		return nil, fmt.Errorf("target must be i32 or i64, got %s", t.DType)
	}
	if len(x.Shape) < 2 || len(t.Shape) != len(x.Shape)-1 {
		return nil, fmt.Errorf("input %s must be (N, C, d...) and target %s (N, d...)", x, t)
	}
	if hasInput(n, 2) && inType(n, 2).DType != x.DType {
		return nil, fmt.Errorf("weight is %s but input is %s", inType(n, 2).DType, x.DType)
	}
	out := Type{DType: x.DType, Shape: Shape{}}
	switch r := n.Attrs.String("reduction", "mean"); r {
	case "none":
		out.Shape = append(Shape{x.Shape[0]}, x.Shape[2:]...)
	case "sum", "mean":
	default:
		return nil, fmt.Errorf("unknown reduction %q", r)
	}
	return []Type{out, {DType: x.DType, Shape: x.Shape.Clone()}}, nil
}
