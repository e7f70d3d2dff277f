package ir

import "fmt"

func init() {
	MustRegister(&Schema{Op: "DFT", MinInputs: 1, MaxInputs: 3, MinOutputs: 1, MaxOutputs: 1,
		Attrs: map[string]AttrSpec{"inverse": {Kind: AttrInt}, "onesided": {Kind: AttrInt}},
		Infer: inferDFT, Doc: "discrete Fourier transform along the axis input of [..., 1|2] (real or complex) signals"})
}

// DFTAxis resolves DFT's axis for an input of the given rank (the last dim holds the
// real and imaginary parts, and negative axes count it).
func DFTAxis(axis int64, rank int) (int, error) {
	a, err := NormAxis(axis, rank)
	if err != nil || a == rank-1 {
		return 0, fmt.Errorf("axis %d must be a signal dim of rank %d", axis, rank)
	}
	return a, nil
}

func inferDFT(n *Node) ([]Type, error) {
	if err := requireFloat(n, 0); err != nil {
		return nil, err
	}
	x := inType(n, 0)
	r := len(x.Shape)
	axis := int64(-2)
	if v, ok := ConstInts(inputOrNil(n, 2)); ok && len(v) == 1 {
		axis = v[0]
	} else if hasInput(n, 2) {
		return one(Type{DType: x.DType, Shape: unknownShape(r)}), nil
	}
	a, err := DFTAxis(axis, r)
	if err != nil {
		return nil, err
	}
	out := x.Shape.Clone()
	inv, one_ := n.Attrs.Int("inverse", 0) != 0, n.Attrs.Int("onesided", 0) != 0
	length := out[a]
	if v, ok := ConstInts(inputOrNil(n, 1)); ok && len(v) == 1 {
		length = Static(v[0])
	} else if hasInput(n, 1) {
		length = Unknown()
	} else if inv && one_ && length.IsStatic() {
		length = Static(2 * (length.Size - 1))
	}
	out[a] = length
	if one_ && !inv && length.IsStatic() {
		out[a] = Static(length.Size/2 + 1)
	}
	out[r-1] = Static(2)
	if inv && one_ {
		out[r-1] = Static(1)
	}
	return one(Type{DType: x.DType, Shape: out}), nil
}
