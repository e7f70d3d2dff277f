package ir

import (
	"fmt"
	"math"
)

// ResizePlan computes Resize's output shape and per-dim scales from the input shape and
// the scales or sizes input (given for axes, all dims if axes is empty), as the ONNX
// reference does: sizes give the output directly ("stretch") or through one common
// scale, the smallest ("not_larger") or largest ("not_smaller") of sizes/in, rounded
// half up; scales give floor(in·scale).
func ResizePlan(in []int64, scales []float64, sizes []int64, axes []int64, policy string) ([]int64, []float64, error) {
	r := len(in)
	ax := make([]int, 0, r)
	if len(axes) == 0 {
		for i := 0; i < r; i++ {
			ax = append(ax, i)
		}
	} else {
		for _, a := range axes {
			k, err := NormAxis(a, r)
			if err != nil {
				return nil, nil, err
			}
			ax = append(ax, k)
		}
	}
	out := append([]int64(nil), in...)
	sc := make([]float64, r)
	for i := range sc {
		sc[i] = 1
	}
	switch {
	case sizes != nil:
		if len(sizes) != len(ax) {
			return nil, nil, fmt.Errorf("sizes has %d values for %d axes", len(sizes), len(ax))
		}
		switch policy {
		case "", "stretch":
			for i, a := range ax {
				out[a] = sizes[i]
				sc[a] = float64(sizes[i]) / float64(in[a])
			}
		case "not_larger", "not_smaller":
			s := math.Inf(1)
			if policy == "not_smaller" {
				s = math.Inf(-1)
			}
			for i, a := range ax {
				v := float64(sizes[i]) / float64(in[a])
				if policy == "not_larger" {
					s = math.Min(s, v)
				} else {
					s = math.Max(s, v)
				}
			}
			for _, a := range ax {
				out[a] = int64(s*float64(in[a]) + 0.5)
				sc[a] = s
			}
		default:
			return nil, nil, fmt.Errorf("unknown keep_aspect_ratio_policy %q", policy)
		}
	case scales != nil:
		if len(scales) != len(ax) {
			return nil, nil, fmt.Errorf("scales has %d values for %d axes", len(scales), len(ax))
		}
		for i, a := range ax {
			if scales[i] <= 0 {
				return nil, nil, fmt.Errorf("scale %g must be positive", scales[i])
			}
			out[a] = int64(math.Floor(float64(in[a]) * scales[i]))
			sc[a] = scales[i]
		}
	default:
		return nil, nil, fmt.Errorf("needs scales or sizes")
	}
	return out, sc, nil
}

// inferResizePlan is inferResize's case of a static input with constant scales or sizes.
func inferResizePlan(n *Node) (Shape, bool) {
	x := inType(n, 0)
	dims, ok := x.Shape.Ints()
	if !ok {
		return nil, false
	}
	var scales []float64
	var sizes []int64
	if s, ok := ConstInts(inputOrNil(n, 3)); ok {
		sizes = s
	} else if s, ok := ConstFloats(inputOrNil(n, 2)); ok {
		scales = s
	} else {
		return nil, false
	}
	axes, _ := n.Attrs.Ints("axes")
	out, _, err := ResizePlan(dims, scales, sizes, axes, n.Attrs.String("keep_aspect_ratio_policy", "stretch"))
	if err != nil {
		return nil, false
	}
	return StaticShape(out...), true
}
