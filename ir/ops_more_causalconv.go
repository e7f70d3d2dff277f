package ir

import "fmt"

func init() {
	MustRegister(&Schema{Op: "CausalConvWithState", MinInputs: 2, MaxInputs: 4, MinOutputs: 1, MaxOutputs: 2,
		Attrs: map[string]AttrSpec{"activation": {Kind: AttrString}},
		Infer: func(n *Node) ([]Type, error) {
			x, w := inType(n, 0), inType(n, 1).Shape
			if len(x.Shape) != 3 || len(w) != 3 {
				return nil, fmt.Errorf("input [B, C, T] and weight [C, 1, K] must be 3-D")
			}
			k := Unknown()
			if w[2].IsStatic() {
				k = Static(w[2].Size - 1)
			}
			return []Type{{DType: x.DType, Shape: x.Shape.Clone()}, {DType: x.DType, Shape: Shape{x.Shape[0], x.Shape[1], k}}}, nil
		}, Doc: "depthwise causal 1-D convolution continuing from past_state; present_state is the last K-1 steps"})
}
