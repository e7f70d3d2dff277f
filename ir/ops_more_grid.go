package ir

import "fmt"

func init() {
	MustRegister(&Schema{Op: "GridSample", MinInputs: 2, MaxInputs: 2, MinOutputs: 1, MaxOutputs: 1,
		Attrs: map[string]AttrSpec{"align_corners": {Kind: AttrInt}, "mode": {Kind: AttrString}, "padding_mode": {Kind: AttrString}},
		Infer: func(n *Node) ([]Type, error) {
			x, g := inType(n, 0), inType(n, 1).Shape
			if len(x.Shape) < 3 || len(g) != len(x.Shape) {
				return nil, fmt.Errorf("X %s and grid %s must be [N, C, D...] and [N, D_out..., %d]", x.Shape, g, len(x.Shape)-2)
			}
			out := append(Shape{x.Shape[0], x.Shape[1]}, g[1:len(g)-1]...)
			return one(Type{DType: x.DType, Shape: out.Clone()}), nil
		}, Doc: "sample X at the normalised grid coordinates (linear, nearest, cubic)"})
	MustRegister(&Schema{Op: "AffineGrid", MinInputs: 2, MaxInputs: 2, MinOutputs: 1, MaxOutputs: 1,
		Attrs: map[string]AttrSpec{"align_corners": {Kind: AttrInt}},
		Infer: func(n *Node) ([]Type, error) {
			theta := inType(n, 0)
			size, ok := ConstInts(inputOrNil(n, 1))
			if !ok {
				r := 4
				if s := inType(n, 1).Shape; len(s) == 1 && s[0].IsStatic() {
					r = int(s[0].Size)
				}
				return one(Type{DType: theta.DType, Shape: unknownShape(r)}), nil
			}
			out := Shape{Static(size[0])}
			for _, d := range size[2:] {
				out = append(out, Static(d))
			}
			return one(Type{DType: theta.DType, Shape: append(out, Static(int64(len(size)-2)))}), nil
		}, Doc: "sampling grid [N, D..., r] of the affine transforms theta for the output size"})
	MustRegister(&Schema{Op: "Col2Im", MinInputs: 3, MaxInputs: 3, MinOutputs: 1, MaxOutputs: 1,
		Attrs: ints("dilations", "pads", "strides"),
		Infer: func(n *Node) ([]Type, error) {
			x := inType(n, 0)
			img, ok := ConstInts(inputOrNil(n, 1))
			blk, ok2 := ConstInts(inputOrNil(n, 2))
			if !ok || !ok2 || len(x.Shape) != 3 {
				return one(Type{DType: x.DType, Shape: unknownShape(2 + max(len(img), 2))}), nil
			}
			c := divDim(x.Shape[1], productInts(blk))
			return one(Type{DType: x.DType, Shape: append(Shape{x.Shape[0], c}, StaticShape(img...)...)}), nil
		}, Doc: "rearrange column blocks [N, C·∏block, L] into an image, summing overlaps"})
}

func productInts(v []int64) int64 {
	p := int64(1)
	for _, x := range v {
		p *= x
	}
	return p
}
