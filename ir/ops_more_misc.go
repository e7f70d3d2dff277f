package ir

import "fmt"

// Schemas for the remaining ONNX ops the backend node tests exercise: element-wise
// math, scatter/gather by index, cropping, windows, normalisations and small linear
// algebra. Their kernels are in ops/more_*.go.
func init() {
	reg := func(op string, minIn, maxIn, minOut, maxOut int, attrs map[string]AttrSpec, infer func(*Node) ([]Type, error), doc string) {
		MustRegister(&Schema{Op: op, MinInputs: minIn, MaxInputs: maxIn, MinOutputs: minOut, MaxOutputs: maxOut,
			Attrs: attrs, Infer: infer, Doc: doc})
	}
	a := func(kv ...any) map[string]AttrSpec {
		m := map[string]AttrSpec{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i].(string)] = AttrSpec{Kind: kv[i+1].(AttrKind)}
		}
		return m
	}
	for _, op := range []string{"Asinh", "Acosh", "Atanh"} {
		reg(op, 1, 1, 1, 1, nil, unaryOp(true), op+" elementwise")
	}
	reg("BitwiseNot", 1, 1, 1, 1, nil, unaryOp(false), "bitwise complement of integers")
	reg("Shrink", 1, 1, 1, 1, a("bias", AttrFloat, "lambd", AttrFloat), unaryOp(false), "x±bias outside [-lambd, lambd], else 0")
	reg("Swish", 1, 1, 1, 1, a("alpha", AttrFloat), unaryOp(true), "x·sigmoid(alpha·x)")
	reg("SwiGLU", 2, 2, 1, 1, a("alpha", AttrFloat, "limit", AttrFloat), broadcastOp(false), "a·sigmoid(alpha·a)·b")
	reg("CumProd", 2, 2, 1, 1, a("exclusive", AttrInt, "reverse", AttrInt), unaryOp(false), "cumulative product along the axis input")
	reg("BitCast", 1, 1, 1, 1, map[string]AttrSpec{"to": {Kind: AttrInt, Required: true}}, inferBitCast, "reinterpret the bits of x as dtype to (same width)")
	reg("ScatterND", 3, 3, 1, 1, a("reduction", AttrString), unaryOp(false), "data with updates written at index tuples")
	reg("ScatterElements", 3, 3, 1, 1, a("axis", AttrInt, "reduction", AttrString), unaryOp(false), "data with updates written at indices along axis")
	reg("GatherND", 2, 2, 1, 1, a("batch_dims", AttrInt), inferGatherND, "slices of data at index tuples")
	reg("EyeLike", 1, 1, 1, 1, a("dtype", AttrInt, "k", AttrInt), inferEyeLike, "2-D identity with ones on diagonal k")
	reg("LpNormalization", 1, 1, 1, 1, a("axis", AttrInt, "p", AttrInt), unaryOp(true), "x / ‖x‖_p along axis")
	lp := ints("kernel_shape", "pads", "strides", "dilations")
	lp["kernel_shape"] = AttrSpec{Kind: AttrInts, Required: true}
	lp["auto_pad"] = AttrSpec{Kind: AttrString}
	lp["ceil_mode"] = AttrSpec{Kind: AttrInt}
	lp["p"] = AttrSpec{Kind: AttrInt}
	reg("LpPool", 1, 1, 1, 1, lp, inferPool, "p-norm pooling")
	reg("CenterCropPad", 2, 2, 1, 1, a("axes", AttrInts), inferCenterCropPad, "center crop or pad to the shape input")
	reg("Compress", 2, 2, 1, 1, a("axis", AttrInt), inferCompress, "slices of x where condition holds")
	reg("ReverseSequence", 2, 2, 1, 1, a("batch_axis", AttrInt, "time_axis", AttrInt), unaryOp(false), "reverse the first sequence_lens[b] steps of each batch")
	reg("LRN", 1, 1, 1, 1, map[string]AttrSpec{"alpha": {Kind: AttrFloat}, "beta": {Kind: AttrFloat}, "bias": {Kind: AttrFloat}, "size": {Kind: AttrInt, Required: true}},
		unaryOp(true), "local response normalisation across channels")
	reg("Det", 1, 1, 1, 1, nil, inferDet, "determinant of the trailing square matrices")
	for _, op := range []string{"HannWindow", "HammingWindow", "BlackmanWindow"} {
		reg(op, 1, 1, 1, 1, a("output_datatype", AttrInt, "periodic", AttrInt), inferWindow, op+" of the size input")
	}
	reg("MeanVarianceNormalization", 1, 1, 1, 1, a("axes", AttrInts), unaryOp(true), "(x - mean) / std over axes (default 0, 2, 3)")
	reg("GroupNormalization", 3, 3, 1, 1, a("epsilon", AttrFloat, "num_groups", AttrInt, "stash_type", AttrInt), unaryOp(true), "normalise channel groups, per-channel scale and bias")
	reg("TensorScatter", 3, 3, 1, 1, a("axis", AttrInt, "mode", AttrString), unaryOp(false), "KV cache update: write update at write_indices[b] along axis")
	reg("RotaryEmbedding", 3, 4, 1, 1, a("interleaved", AttrInt, "num_heads", AttrInt, "rotary_embedding_dim", AttrInt), unaryOp(true), "rotary position embedding")
	reg("Unique", 1, 1, 1, 4, a("axis", AttrInt, "sorted", AttrInt), inferUnique, "unique values or slices, first indices, inverse indices, counts")
}

func inferBitCast(n *Node) ([]Type, error) {
	to, ok := DTypeFromONNX(n.Attrs.Int("to", 0))
	if !ok {
		return nil, fmt.Errorf("unsupported target dtype %d", n.Attrs.Int("to", 0))
	}
	x := inType(n, 0)
	if to.Size() != x.DType.Size() || to == String || x.DType == String {
		return nil, fmt.Errorf("cannot bit-cast %s to %s (widths must match)", x.DType, to)
	}
	return one(Type{DType: to, Shape: x.Shape.Clone()}), nil
}

func inferGatherND(n *Node) ([]Type, error) {
	d, idx := inType(n, 0), inType(n, 1)
	b := int(n.Attrs.Int("batch_dims", 0))
	if len(idx.Shape) < 1 || !idx.Shape[len(idx.Shape)-1].IsStatic() {
		return nil, fmt.Errorf("indices %s need a static last dim", idx.Shape)
	}
	k := int(idx.Shape[len(idx.Shape)-1].Size)
	if b+k > len(d.Shape) {
		return nil, fmt.Errorf("index tuples of %d plus %d batch dims exceed data rank %d", k, b, len(d.Shape))
	}
	out := append(idx.Shape[:len(idx.Shape)-1:len(idx.Shape)-1].Clone(), d.Shape[b+k:]...)
	return one(Type{DType: d.DType, Shape: out}), nil
}

func inferEyeLike(n *Node) ([]Type, error) {
	x := inType(n, 0)
	dt := x.DType
	if n.Attrs.Has("dtype") {
		var ok bool
		if dt, ok = DTypeFromONNX(n.Attrs.Int("dtype", 0)); !ok {
			return nil, fmt.Errorf("unsupported dtype %d", n.Attrs.Int("dtype", 0))
		}
	}
	if len(x.Shape) != 2 {
		return nil, fmt.Errorf("input must be 2-D, got %s", x.Shape)
	}
	return one(Type{DType: dt, Shape: x.Shape.Clone()}), nil
}

func inferCenterCropPad(n *Node) ([]Type, error) {
	x := inType(n, 0)
	out := x.Shape.Clone()
	axes, _ := n.Attrs.Ints("axes")
	if len(axes) == 0 {
		for i := range out {
			axes = append(axes, int64(i))
		}
	}
	sh, ok := ConstInts(inputOrNil(n, 1))
	for i, ax := range axes {
		k, err := NormAxis(ax, len(out))
		if err != nil {
			return nil, err
		}
		if ok && i < len(sh) {
			out[k] = Static(sh[i])
		} else {
			out[k] = Unknown()
		}
	}
	return one(Type{DType: x.DType, Shape: out}), nil
}

func inferCompress(n *Node) ([]Type, error) {
	x := inType(n, 0)
	if !n.Attrs.Has("axis") {
		return one(Type{DType: x.DType, Shape: Shape{Unknown()}}), nil
	}
	k, err := NormAxis(n.Attrs.Int("axis", 0), len(x.Shape))
	if err != nil {
		return nil, err
	}
	out := x.Shape.Clone()
	out[k] = Unknown()
	if c, ok := ConstInts(inputOrNil(n, 1)); ok {
		cnt := int64(0)
		for _, v := range c {
			if v != 0 {
				cnt++
			}
		}
		out[k] = Static(cnt)
	}
	return one(Type{DType: x.DType, Shape: out}), nil
}

func inferDet(n *Node) ([]Type, error) {
	x := inType(n, 0)
	if len(x.Shape) < 2 {
		return nil, fmt.Errorf("input must be at least 2-D, got %s", x.Shape)
	}
	return one(Type{DType: x.DType, Shape: x.Shape[:len(x.Shape)-2].Clone()}), nil
}

func inferWindow(n *Node) ([]Type, error) {
	dt := F32
	if n.Attrs.Has("output_datatype") {
		var ok bool
		if dt, ok = DTypeFromONNX(n.Attrs.Int("output_datatype", 1)); !ok {
			return nil, fmt.Errorf("unsupported output_datatype %d", n.Attrs.Int("output_datatype", 1))
		}
	}
	d := Unknown()
	if v, ok := ConstInts(inputOrNil(n, 0)); ok && len(v) == 1 {
		d = Static(v[0])
	}
	return one(Type{DType: dt, Shape: Shape{d}}), nil
}

func inferUnique(n *Node) ([]Type, error) {
	x := inType(n, 0)
	var y Shape
	if n.Attrs.Has("axis") {
		k, err := NormAxis(n.Attrs.Int("axis", 0), len(x.Shape))
		if err != nil {
			return nil, err
		}
		y = x.Shape.Clone()
		y[k] = Unknown()
	} else {
		y = Shape{Unknown()}
	}
	inv := Shape{Unknown()}
	if n.Attrs.Has("axis") {
		k, _ := NormAxis(n.Attrs.Int("axis", 0), len(x.Shape))
		inv = Shape{x.Shape[k]}
	} else if c := productDims(x.Shape); c.IsStatic() {
		inv = Shape{c}
	}
	return []Type{{DType: x.DType, Shape: y}, {DType: I64, Shape: Shape{Unknown()}}, {DType: I64, Shape: inv}, {DType: I64, Shape: Shape{Unknown()}}}, nil
}
