package ir

import "fmt"

// Neural-network ONNX ops: matrix products, convolution, pooling, normalisation, softmax,
// reductions, quantization.

func ints(names ...string) map[string]AttrSpec {
	m := map[string]AttrSpec{}
	for _, n := range names {
		m[n] = AttrSpec{Kind: AttrInts}
	}
	return m
}

func with(m map[string]AttrSpec, name string, kind AttrKind) map[string]AttrSpec {
	m[name] = AttrSpec{Kind: kind}
	return m
}

func init() {
	MustRegister(&Schema{Op: "MatMul", MinInputs: 2, MaxInputs: 2, MinOutputs: 1, MaxOutputs: 1,
		Infer: inferMatMul, Doc: "numpy matmul: batch dims broadcast, 1-D operands promoted"})
	MustRegister(&Schema{Op: "Gemm", MinInputs: 2, MaxInputs: 3, MinOutputs: 1, MaxOutputs: 1,
		Attrs: map[string]AttrSpec{"alpha": {Kind: AttrFloat}, "beta": {Kind: AttrFloat}, "transA": {Kind: AttrInt}, "transB": {Kind: AttrInt}},
		Infer: inferGemm, Doc: "alpha*A'*B' + beta*C for 2-D A, B; C broadcast"})

	convAttrs := func() map[string]AttrSpec {
		m := ints("dilations", "kernel_shape", "pads", "strides")
		m["auto_pad"] = AttrSpec{Kind: AttrString}
		m["group"] = AttrSpec{Kind: AttrInt}
		return m
	}
	MustRegister(&Schema{Op: "Conv", MinInputs: 2, MaxInputs: 3, MinOutputs: 1, MaxOutputs: 1,
		Attrs: convAttrs(), Infer: inferConv, Doc: "N-D convolution, NCHW, with groups, dilations, pads, strides"})
	poolAttrs := func(extra ...string) map[string]AttrSpec {
		m := ints("kernel_shape", "pads", "strides")
		m["kernel_shape"] = AttrSpec{Kind: AttrInts, Required: true}
		m["auto_pad"] = AttrSpec{Kind: AttrString}
		m["ceil_mode"] = AttrSpec{Kind: AttrInt}
		for _, e := range extra {
			m[e] = AttrSpec{Kind: AttrInt}
		}
		return m
	}
	mp := poolAttrs("storage_order")
	mp["dilations"] = AttrSpec{Kind: AttrInts}
	MustRegister(&Schema{Op: "MaxPool", MinInputs: 1, MaxInputs: 1, MinOutputs: 1, MaxOutputs: 2,
		Attrs: mp, Infer: inferPool, Doc: "max pooling; optional i64 indices output"})
	ap := poolAttrs("count_include_pad")
	ap["dilations"] = AttrSpec{Kind: AttrInts}
	MustRegister(&Schema{Op: "AveragePool", MinInputs: 1, MaxInputs: 1, MinOutputs: 1, MaxOutputs: 1,
		Attrs: ap, Infer: inferPool, Doc: "average pooling"})
	for _, op := range []string{"GlobalAveragePool", "GlobalMaxPool"} {
		MustRegister(&Schema{Op: op, MinInputs: 1, MaxInputs: 1, MinOutputs: 1, MaxOutputs: 1,
			Infer: inferGlobalPool, Doc: "pool over all spatial dims, keeping them as size 1"})
	}
	MustRegister(&Schema{Op: "BatchNormalization", MinInputs: 5, MaxInputs: 5, MinOutputs: 1, MaxOutputs: 3,
		Attrs: map[string]AttrSpec{"epsilon": {Kind: AttrFloat}, "momentum": {Kind: AttrFloat}, "training_mode": {Kind: AttrInt}},
		Infer: inferBatchNorm, Doc: "inference batch normalisation over channel dim 1"})
	MustRegister(&Schema{Op: "InstanceNormalization", MinInputs: 3, MaxInputs: 3, MinOutputs: 1, MaxOutputs: 1,
		Attrs: map[string]AttrSpec{"epsilon": {Kind: AttrFloat}}, Infer: unaryOp(true), Doc: "per-instance, per-channel normalisation"})
	MustRegister(&Schema{Op: "LayerNormalization", MinInputs: 2, MaxInputs: 3, MinOutputs: 1, MaxOutputs: 3,
		Attrs: map[string]AttrSpec{"axis": {Kind: AttrInt}, "epsilon": {Kind: AttrFloat}, "stash_type": {Kind: AttrInt}},
		Infer: inferLayerNorm, Doc: "normalise over dims axis.. (default -1), scale and optional bias"})
	for _, op := range []string{"Softmax", "LogSoftmax", "Hardmax"} {
		MustRegister(&Schema{Op: op, MinInputs: 1, MaxInputs: 1, MinOutputs: 1, MaxOutputs: 1,
			Attrs: map[string]AttrSpec{"axis": {Kind: AttrInt}}, Infer: inferAxisUnary, Doc: op + " along axis (default -1, opset 13)"})
	}
	for _, op := range []string{"ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
		"ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare"} {
		MustRegister(&Schema{Op: op, MinInputs: 1, MaxInputs: 2, MinOutputs: 1, MaxOutputs: 1,
			Attrs: map[string]AttrSpec{"keepdims": {Kind: AttrInt}, "noop_with_empty_axes": {Kind: AttrInt}},
			Infer: inferReduce, Doc: op + " over the axes input (all axes if omitted), keepdims default 1"})
	}
	for _, op := range []string{"ArgMax", "ArgMin"} {
		MustRegister(&Schema{Op: op, MinInputs: 1, MaxInputs: 1, MinOutputs: 1, MaxOutputs: 1,
			Attrs: map[string]AttrSpec{"axis": {Kind: AttrInt}, "keepdims": {Kind: AttrInt}, "select_last_index": {Kind: AttrInt}},
			Infer: inferArg, Doc: op + " index along axis as i64"})
	}
	MustRegister(&Schema{Op: "TopK", MinInputs: 2, MaxInputs: 2, MinOutputs: 2, MaxOutputs: 2,
		Attrs: map[string]AttrSpec{"axis": {Kind: AttrInt}, "largest": {Kind: AttrInt}, "sorted": {Kind: AttrInt}},
		Infer: inferTopK, Doc: "k largest (or smallest) values and their i64 indices along axis"})
	MustRegister(&Schema{Op: "CumSum", MinInputs: 2, MaxInputs: 2, MinOutputs: 1, MaxOutputs: 1,
		Attrs: map[string]AttrSpec{"exclusive": {Kind: AttrInt}, "reverse": {Kind: AttrInt}},
		Infer: unaryOp(false), Doc: "cumulative sum along the axis input"})

	// Quantization (ONNX QDQ and integer ops).
	MustRegister(&Schema{Op: "QuantizeLinear", MinInputs: 2, MaxInputs: 3, MinOutputs: 1, MaxOutputs: 1,
		Attrs: map[string]AttrSpec{"axis": {Kind: AttrInt}, "saturate": {Kind: AttrInt}, "block_size": {Kind: AttrInt}, "output_dtype": {Kind: AttrInt}},
		Infer: inferQuantize, Doc: "y = saturate(round(x / scale) + zero_point); u8 unless the zero point says otherwise"})
	MustRegister(&Schema{Op: "DequantizeLinear", MinInputs: 2, MaxInputs: 3, MinOutputs: 1, MaxOutputs: 1,
		Attrs: map[string]AttrSpec{"axis": {Kind: AttrInt}, "block_size": {Kind: AttrInt}},
		Infer: func(n *Node) ([]Type, error) {
			return one(Type{DType: inType(n, 1).DType, Shape: inType(n, 0).Shape.Clone()}), nil
		}, Doc: "y = (x - zero_point) * scale"})
	MustRegister(&Schema{Op: "DynamicQuantizeLinear", MinInputs: 1, MaxInputs: 1, MinOutputs: 3, MaxOutputs: 3,
		Infer: func(n *Node) ([]Type, error) {
			if err := requireFloat(n, 0); err != nil {
				return nil, err
			}
			return []Type{{DType: U8, Shape: inType(n, 0).Shape.Clone()}, {DType: F32}, {DType: U8}}, nil
		}, Doc: "u8 quantization of x with scale and zero point computed from its range"})
	MustRegister(&Schema{Op: "MatMulInteger", MinInputs: 2, MaxInputs: 4, MinOutputs: 1, MaxOutputs: 1,
		Infer: func(n *Node) ([]Type, error) {
			s, err := matmulShape(inType(n, 0).Shape, inType(n, 1).Shape)
			return one(Type{DType: I32, Shape: s}), err
		}, Doc: "integer matmul with zero points, i32 result"})
	MustRegister(&Schema{Op: "QLinearMatMul", MinInputs: 8, MaxInputs: 8, MinOutputs: 1, MaxOutputs: 1,
		Infer: func(n *Node) ([]Type, error) {
			s, err := matmulShape(inType(n, 0).Shape, inType(n, 3).Shape)
			return one(Type{DType: inType(n, 7).DType, Shape: s}), err
		}, Doc: "quantized matmul: a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp"})
}

func inferMatMul(n *Node) ([]Type, error) {
	dt, err := sameDType(n, 0, 1)
	if err != nil {
		return nil, err
	}
	s, err := matmulShape(inType(n, 0).Shape, inType(n, 1).Shape)
	if err != nil {
		return nil, err
	}
	return one(Type{DType: dt, Shape: s}), nil
}

// matmulShape follows numpy.matmul: 1-D operands get a dim added (then removed), the last two
// dims multiply, and the batch dims broadcast.
func matmulShape(a, b Shape) (Shape, error) {
	if len(a) == 0 || len(b) == 0 {
		return nil, fmt.Errorf("MatMul operands must have rank >= 1, got %s and %s", a, b)
	}
	a1, b1 := len(a) == 1, len(b) == 1
	if a1 {
		a = Shape{Static(1), a[0]}
	}
	if b1 {
		b = Shape{b[0], Static(1)}
	}
	k1, k2 := a[len(a)-1], b[len(b)-2]
	if !dimEqual(k1, k2) && !k1.IsUnknown() && !k2.IsUnknown() {
		return nil, fmt.Errorf("shape mismatch: %s x %s: inner dims %s and %s differ", showShape(a, a1), showShape(b, b1), k1, k2)
	}
	batch, err := BroadcastShapes(a[:len(a)-2], b[:len(b)-2])
	if err != nil {
		return nil, fmt.Errorf("batch dims: %v", err)
	}
	out := append(batch, a[len(a)-2], b[len(b)-1])
	if a1 {
		out = append(out[:len(out)-2], out[len(out)-1])
	}
	if b1 {
		out = out[:len(out)-1]
	}
	return out, nil
}

func showShape(s Shape, promoted bool) string {
	if promoted {
		if s[0].IsStatic() && s[0].Size == 1 && len(s) == 2 {
			return Shape{s[1]}.String()
		}
		return Shape{s[0]}.String()
	}
	return s.String()
}

func inferGemm(n *Node) ([]Type, error) {
	dt, err := sameDType(n, 0, 1, 2)
	if err != nil {
		return nil, err
	}
	a, b := inType(n, 0).Shape, inType(n, 1).Shape
	if len(a) != 2 || len(b) != 2 {
		return nil, fmt.Errorf("A and B must be 2-D, got %s and %s", a, b)
	}
	m, ka := a[0], a[1]
	if n.Attrs.Int("transA", 0) != 0 {
		m, ka = a[1], a[0]
	}
	kb, nn := b[0], b[1]
	if n.Attrs.Int("transB", 0) != 0 {
		kb, nn = b[1], b[0]
	}
	if !dimEqual(ka, kb) && !ka.IsUnknown() && !kb.IsUnknown() {
		return nil, fmt.Errorf("shape mismatch: inner dims %s and %s differ", ka, kb)
	}
	out := Shape{m, nn}
	if hasInput(n, 2) {
		c := inType(n, 2).Shape
		if s, err := BroadcastShapes(out, c); err != nil || !s.Equal(out) {
			return nil, fmt.Errorf("C %s does not broadcast to %s", c, out)
		}
	}
	return one(Type{DType: dt, Shape: out}), nil
}

// spatialParams reads kernel, strides, dilations and pads for nsp spatial dims.
func spatialParams(n *Node, nsp int, kernel []int64) (strides, dil, pads []int64, err error) {
	get := func(name string, def int64, count int) ([]int64, error) {
		v, ok := n.Attrs.Ints(name)
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
	if strides, err = get("strides", 1, nsp); err != nil {
		return
	}
	if dil, err = get("dilations", 1, nsp); err != nil {
		return
	}
	pads, err = get("pads", 0, 2*nsp)
	return
}

// spatialOut computes output spatial dims for conv and pooling.
func spatialOut(n *Node, in Shape, kernel []int64, ceil bool) (Shape, error) {
	nsp := len(kernel)
	strides, dil, pads, err := spatialParams(n, nsp, kernel)
	if err != nil {
		return nil, err
	}
	autoPad := n.Attrs.String("auto_pad", "NOTSET")
	out := make(Shape, nsp)
	for i := 0; i < nsp; i++ {
		d := in[i]
		if strides[i] <= 0 || dil[i] <= 0 {
			return nil, fmt.Errorf("strides and dilations must be positive")
		}
		switch autoPad {
		case "SAME_UPPER", "SAME_LOWER":
			if d.IsStatic() {
				out[i] = Static((d.Size + strides[i] - 1) / strides[i])
			} else if strides[i] == 1 {
				out[i] = d
			} else {
				out[i] = Unknown()
			}
			continue
		case "VALID":
			pads[i], pads[i+nsp] = 0, 0
		case "NOTSET", "":
		default:
			return nil, fmt.Errorf("unknown auto_pad %q", autoPad)
		}
		if !d.IsStatic() {
			out[i] = Unknown()
			continue
		}
		eff := dil[i]*(kernel[i]-1) + 1
		span := d.Size + pads[i] + pads[i+nsp] - eff
		if span < 0 {
			return nil, fmt.Errorf("kernel %d (dilated %d) is larger than padded input %d in spatial dim %d", kernel[i], eff, d.Size+pads[i]+pads[i+nsp], i)
		}
		o := span/strides[i] + 1
		if ceil && span%strides[i] != 0 {
			o++
			// The last window must start inside the input or left padding (ONNX/PyTorch rule).
			if (o-1)*strides[i] >= d.Size+pads[i] {
				o--
			}
		}
		out[i] = Static(o)
	}
	return out, nil
}

func inferConv(n *Node) ([]Type, error) {
	dt, err := sameDType(n, 0, 1, 2)
	if err != nil {
		return nil, err
	}
	x, w := inType(n, 0).Shape, inType(n, 1).Shape
	if len(x) < 3 || len(w) != len(x) {
		return nil, fmt.Errorf("X %s and W %s must both be N-D (N >= 3) with equal rank", x, w)
	}
	group := n.Attrs.Int("group", 1)
	if group <= 0 {
		return nil, fmt.Errorf("group must be positive, got %d", group)
	}
	if x[1].IsStatic() && w[1].IsStatic() && x[1].Size != w[1].Size*group {
		return nil, fmt.Errorf("X has %d channels but W expects %d (W %s, group %d)", x[1].Size, w[1].Size*group, w, group)
	}
	if w[0].IsStatic() && w[0].Size%group != 0 {
		return nil, fmt.Errorf("W has %d output channels, not divisible by group %d", w[0].Size, group)
	}
	if hasInput(n, 2) {
		b := inType(n, 2).Shape
		if len(b) != 1 || !dimEqual(b[0], w[0]) && b[0].IsStatic() && w[0].IsStatic() {
			return nil, fmt.Errorf("bias %s must be 1-D of size M=%s", b, w[0])
		}
	}
	kernel, ok := n.Attrs.Ints("kernel_shape")
	if !ok {
		var static bool
		kernel, static = w[2:].Ints()
		if !static {
			return nil, fmt.Errorf("kernel_shape not given and W %s has non-static spatial dims", w)
		}
	}
	if len(kernel) != len(x)-2 {
		return nil, fmt.Errorf("kernel_shape has %d dims, X has %d spatial dims", len(kernel), len(x)-2)
	}
	sp, err := spatialOut(n, x[2:], kernel, false)
	if err != nil {
		return nil, err
	}
	return one(Type{DType: dt, Shape: append(Shape{x[0], w[0]}, sp...)}), nil
}

func inferPool(n *Node) ([]Type, error) {
	x := inType(n, 0)
	kernel, _ := n.Attrs.Ints("kernel_shape")
	if len(x.Shape) != len(kernel)+2 {
		return nil, fmt.Errorf("X %s needs %d spatial dims for kernel_shape %v", x.Shape, len(kernel), kernel)
	}
	sp, err := spatialOut(n, x.Shape[2:], kernel, n.Attrs.Int("ceil_mode", 0) != 0)
	if err != nil {
		return nil, err
	}
	s := append(Shape{x.Shape[0], x.Shape[1]}, sp...)
	return []Type{{DType: x.DType, Shape: s}, {DType: I64, Shape: s.Clone()}}, nil
}

func inferGlobalPool(n *Node) ([]Type, error) {
	x := inType(n, 0)
	if len(x.Shape) < 3 {
		return nil, fmt.Errorf("X must have rank >= 3, got %s", x.Shape)
	}
	s := x.Shape.Clone()
	for i := 2; i < len(s); i++ {
		s[i] = Static(1)
	}
	return one(Type{DType: x.DType, Shape: s}), nil
}

func inferBatchNorm(n *Node) ([]Type, error) {
	dt, err := sameDType(n, 0, 1, 2)
	if err != nil {
		return nil, err
	}
	x := inType(n, 0).Shape
	if len(x) < 2 {
		return nil, fmt.Errorf("X must have rank >= 2, got %s", x)
	}
	for i := 1; i < 5; i++ {
		s := inType(n, i).Shape
		if len(s) != 1 || (s[0].IsStatic() && x[1].IsStatic() && s[0].Size != x[1].Size) {
			return nil, fmt.Errorf("input %d must be 1-D of size C=%s, got %s", i, x[1], s)
		}
	}
	// Training mode (opset 14) also outputs the updated running mean and variance.
	stat := Type{DType: inType(n, 3).DType, Shape: Shape{x[1]}}
	return []Type{{DType: dt, Shape: x.Clone()}, stat, stat}, nil
}

func inferLayerNorm(n *Node) ([]Type, error) {
	dt, err := sameDType(n, 0, 1, 2)
	if err != nil {
		return nil, err
	}
	x := inType(n, 0).Shape
	axis, err := NormAxis(n.Attrs.Int("axis", -1), len(x))
	if err != nil {
		return nil, err
	}
	norm := x[axis:]
	for i := 1; i < 3; i++ {
		if !hasInput(n, i) {
			continue
		}
		s := inType(n, i).Shape
		if b, err := BroadcastShapes(norm, s); err != nil || !b.Equal(norm) {
			return nil, fmt.Errorf("input %d %s does not broadcast to the normalised dims %s", i, s, norm)
		}
	}
	stat := x.Clone()
	for i := axis; i < len(stat); i++ {
		stat[i] = Static(1)
	}
	return []Type{{DType: dt, Shape: x.Clone()}, {DType: F32, Shape: stat}, {DType: F32, Shape: stat.Clone()}}, nil
}

func inferAxisUnary(n *Node) ([]Type, error) {
	if err := requireFloat(n, 0); err != nil {
		return nil, err
	}
	x := inType(n, 0)
	if _, err := NormAxis(n.Attrs.Int("axis", -1), len(x.Shape)); err != nil {
		return nil, err
	}
	return one(Type{DType: x.DType, Shape: x.Shape.Clone()}), nil
}

// reduceShape drops (or keeps as 1) the given axes; nil axes means all.
func reduceShape(x Shape, axes []int64, keep bool) (Shape, error) {
	red := make([]bool, len(x))
	if axes == nil {
		for i := range red {
			red[i] = true
		}
	}
	for _, a := range axes {
		ax, err := NormAxis(a, len(x))
		if err != nil {
			return nil, err
		}
		red[ax] = true
	}
	var out Shape
	for i, d := range x {
		switch {
		case !red[i]:
			out = append(out, d)
		case keep:
			out = append(out, Static(1))
		}
	}
	if out == nil {
		out = Shape{}
	}
	return out, nil
}

func inferReduce(n *Node) ([]Type, error) {
	x := inType(n, 0)
	keep := n.Attrs.Int("keepdims", 1) != 0
	if !hasInput(n, 1) {
		if n.Attrs.Int("noop_with_empty_axes", 0) != 0 {
			return one(Type{DType: x.DType, Shape: x.Shape.Clone()}), nil
		}
		s, err := reduceShape(x.Shape, nil, keep)
		return one(Type{DType: x.DType, Shape: s}), err
	}
	if err := requireInt(n, 1); err != nil {
		return nil, err
	}
	axes, ok := ConstInts(n.Inputs[1])
	if !ok {
		if keep {
			s := make(Shape, len(x.Shape))
			for i := range s {
				s[i] = Unknown()
			}
			return one(Type{DType: x.DType, Shape: s}), nil
		}
		return nil, fmt.Errorf("axes must be a constant when keepdims=0 (the output rank depends on it)")
	}
	if len(axes) == 0 {
		if n.Attrs.Int("noop_with_empty_axes", 0) != 0 {
			return one(Type{DType: x.DType, Shape: x.Shape.Clone()}), nil
		}
		axes = nil
	}
	s, err := reduceShape(x.Shape, axes, keep)
	return one(Type{DType: x.DType, Shape: s}), err
}

func inferArg(n *Node) ([]Type, error) {
	x := inType(n, 0)
	s, err := reduceShape(x.Shape, []int64{n.Attrs.Int("axis", 0)}, n.Attrs.Int("keepdims", 1) != 0)
	return one(Type{DType: I64, Shape: s}), err
}

func inferTopK(n *Node) ([]Type, error) {
	x := inType(n, 0)
	axis, err := NormAxis(n.Attrs.Int("axis", -1), len(x.Shape))
	if err != nil {
		return nil, err
	}
	s := x.Shape.Clone()
	if k, ok := ConstInts(n.Inputs[1]); ok && len(k) == 1 {
		s[axis] = Static(k[0])
	} else {
		s[axis] = Unknown()
	}
	return []Type{{DType: x.DType, Shape: s}, {DType: I64, Shape: s.Clone()}}, nil
}

func inferQuantize(n *Node) ([]Type, error) {
	dt := U8
	if hasInput(n, 2) {
		dt = inType(n, 2).DType
	} else if code := n.Attrs.Int("output_dtype", 0); code != 0 {
		d, ok := DTypeFromONNX(code)
		if !ok {
			return nil, fmt.Errorf("unsupported output_dtype %d", code)
		}
		dt = d
	}
	return one(Type{DType: dt, Shape: inType(n, 0).Shape.Clone()}), nil
}
