package ir

import "fmt"

func init() {
	ct := ints("dilations", "kernel_shape", "output_padding", "output_shape", "pads", "strides")
	ct["auto_pad"] = AttrSpec{Kind: AttrString}
	ct["group"] = AttrSpec{Kind: AttrInt}
	MustRegister(&Schema{Op: "ConvTranspose", MinInputs: 2, MaxInputs: 3, MinOutputs: 1, MaxOutputs: 1,
		Attrs: ct, Infer: inferConvTranspose, Doc: "transposed (fractionally strided) convolution, W [C, M/group, k...]"})
	ci := ints("dilations", "kernel_shape", "pads", "strides")
	ci["auto_pad"] = AttrSpec{Kind: AttrString}
	ci["group"] = AttrSpec{Kind: AttrInt}
	MustRegister(&Schema{Op: "ConvInteger", MinInputs: 2, MaxInputs: 4, MinOutputs: 1, MaxOutputs: 1,
		Attrs: ci, Infer: inferConvInteger, Doc: "integer convolution with zero points, i32 result"})
}

// ConvTransposePads returns the begin and end pads and output dims of ConvTranspose for
// spatial input dims in and kernel k, following the ONNX rules: an explicit
// output_shape (or SAME auto-padding, which asks for in·stride) fixes the output and
// the padding is what makes it fit, the odd element at the end for SAME_UPPER and at
// the beginning otherwise.
func ConvTransposePads(in, k []int64, attrs Attrs) (begin, end, out []int64, err error) {
	n := len(in)
	get := func(name string, def int64, count int) ([]int64, error) {
		v, ok := attrs.Ints(name)
		if !ok {
			v = make([]int64, count)
			for i := range v {
				v[i] = def
			}
		}
		if len(v) != count {
			return nil, fmt.Errorf("%s has %d values, want %d", name, len(v), count)
		}
		return v, nil
	}
	strides, err := get("strides", 1, n)
	if err != nil {
		return nil, nil, nil, err
	}
	dil, err := get("dilations", 1, n)
	if err != nil {
		return nil, nil, nil, err
	}
	opad, err := get("output_padding", 0, n)
	if err != nil {
		return nil, nil, nil, err
	}
	pads, err := get("pads", 0, 2*n)
	if err != nil {
		return nil, nil, nil, err
	}
	begin, end, out = make([]int64, n), make([]int64, n), make([]int64, n)
	oshape, hasOut := attrs.Ints("output_shape")
	if hasOut && len(oshape) > n {
		oshape = oshape[len(oshape)-n:]
	}
	autoPad := attrs.String("auto_pad", "NOTSET")
	for i := 0; i < n; i++ {
		full := strides[i]*(in[i]-1) + opad[i] + (k[i]-1)*dil[i] + 1
		switch {
		case hasOut || autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER":
			target := in[i] * strides[i]
			if hasOut {
				target = oshape[i]
			}
			total := max(full-target, 0)
			if autoPad == "SAME_UPPER" {
				begin[i], end[i] = total/2, total-total/2
			} else {
				begin[i], end[i] = total-total/2, total/2
			}
			out[i] = target
		default:
			if autoPad != "VALID" {
				begin[i], end[i] = pads[i], pads[i+n]
			}
			out[i] = full - begin[i] - end[i]
		}
	}
	return begin, end, out, nil
}

func inferConvTranspose(n *Node) ([]Type, error) {
	dt, err := sameDType(n, 0, 1, 2)
	if err != nil {
		return nil, err
	}
	x, w := inType(n, 0).Shape, inType(n, 1).Shape
	if len(x) < 3 || len(w) != len(x) {
		return nil, fmt.Errorf("X %s and W %s must both be N-D (N >= 3) with equal rank", x, w)
	}
	group := n.Attrs.Int("group", 1)
	m := mulDim(w[1], Static(group))
	in, ok1 := x[2:].Ints()
	k, ok2 := w[2:].Ints()
	if ks, ok := n.Attrs.Ints("kernel_shape"); ok {
		k, ok2 = ks, true
	}
	if !ok1 || !ok2 {
		return one(Type{DType: dt, Shape: append(Shape{x[0], m}, unknownShape(len(x)-2)...)}), nil
	}
	_, _, out, err := ConvTransposePads(in, k, n.Attrs)
	if err != nil {
		return nil, err
	}
	return one(Type{DType: dt, Shape: append(Shape{x[0], m}, StaticShape(out...)...)}), nil
}

func inferConvInteger(n *Node) ([]Type, error) {
	x, w := inType(n, 0).Shape, inType(n, 1).Shape
	if len(x) < 3 || len(w) != len(x) {
		return nil, fmt.Errorf("X %s and W %s must both be N-D (N >= 3) with equal rank", x, w)
	}
	kernel, ok := n.Attrs.Ints("kernel_shape")
	if !ok {
		if kernel, ok = w[2:].Ints(); !ok {
			return nil, fmt.Errorf("W %s has non-static spatial dims", w)
		}
	}
	sp, err := spatialOut(n, x[2:], kernel, false)
	if err != nil {
		return nil, err
	}
	return one(Type{DType: I32, Shape: append(Shape{x[0], w[0]}, sp...)}), nil
}
