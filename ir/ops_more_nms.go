package ir

func init() {
	MustRegister(&Schema{Op: "NonMaxSuppression", MinInputs: 2, MaxInputs: 5, MinOutputs: 1, MaxOutputs: 1,
		Attrs: map[string]AttrSpec{"center_point_box": {Kind: AttrInt}},
		Infer: func(n *Node) ([]Type, error) {
			return one(Type{DType: I64, Shape: Shape{Unknown(), Static(3)}}), nil
		}, Doc: "greedy non-maximum suppression per batch and class: [selected, 3] (batch, class, box)"})
}
