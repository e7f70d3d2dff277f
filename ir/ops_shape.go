package ir

import "fmt"

// Data-movement and shape ONNX ops. Where an output shape depends on an input's value
// (Reshape, Slice, Expand, ...), inference uses the value when it is a constant and
// falls back to unknown dims otherwise.

func init() {
	MustRegister(&Schema{Op: "Reshape", MinInputs: 2, MaxInputs: 2, MinOutputs: 1, MaxOutputs: 1,
		Attrs: map[string]AttrSpec{"allowzero": {Kind: AttrInt}}, Infer: inferReshape, Doc: "reshape to the shape input (0 copies a dim, -1 is inferred)"})
	MustRegister(&Schema{Op: "Transpose", MinInputs: 1, MaxInputs: 1, MinOutputs: 1, MaxOutputs: 1,
		Attrs: ints("perm"), Infer: inferTranspose, Doc: "permute dims (default: reverse)"})
	MustRegister(&Schema{Op: "Concat", MinInputs: 1, MaxInputs: Variadic, MinOutputs: 1, MaxOutputs: 1,
		Attrs: map[string]AttrSpec{"axis": {Kind: AttrInt, Required: true}}, Infer: inferConcat, Doc: "join along axis"})
	MustRegister(&Schema{Op: "Split", MinInputs: 1, MaxInputs: 2, MinOutputs: 1, MaxOutputs: Variadic,
		Attrs: map[string]AttrSpec{"axis": {Kind: AttrInt}, "num_outputs": {Kind: AttrInt}}, Infer: inferSplit, Doc: "split along axis by the split input or evenly"})
	MustRegister(&Schema{Op: "Slice", MinInputs: 3, MaxInputs: 5, MinOutputs: 1, MaxOutputs: 1,
		Infer: inferSlice, Doc: "slice by starts, ends, axes, steps inputs"})
	MustRegister(&Schema{Op: "Gather", MinInputs: 2, MaxInputs: 2, MinOutputs: 1, MaxOutputs: 1,
		Attrs: map[string]AttrSpec{"axis": {Kind: AttrInt}}, Infer: inferGather, Doc: "take entries of data along axis at indices"})
	MustRegister(&Schema{Op: "GatherElements", MinInputs: 2, MaxInputs: 2, MinOutputs: 1, MaxOutputs: 1,
		Attrs: map[string]AttrSpec{"axis": {Kind: AttrInt}}, Infer: func(n *Node) ([]Type, error) {
			if err := requireInt(n, 1); err != nil {
				return nil, err
			}
			return one(Type{DType: inType(n, 0).DType, Shape: inType(n, 1).Shape.Clone()}), nil
		}, Doc: "elementwise gather along axis; output has the indices' shape"})
	MustRegister(&Schema{Op: "Expand", MinInputs: 2, MaxInputs: 2, MinOutputs: 1, MaxOutputs: 1,
		Infer: inferExpand, Doc: "broadcast to the shape input"})
	MustRegister(&Schema{Op: "Shape", MinInputs: 1, MaxInputs: 1, MinOutputs: 1, MaxOutputs: 1,
		Attrs: map[string]AttrSpec{"start": {Kind: AttrInt}, "end": {Kind: AttrInt}}, Infer: inferShapeOp, Doc: "the input's shape as i64[rank]"})
	MustRegister(&Schema{Op: "Size", MinInputs: 1, MaxInputs: 1, MinOutputs: 1, MaxOutputs: 1,
		Infer: func(n *Node) ([]Type, error) { return one(Type{DType: I64, Shape: Shape{}}), nil }, Doc: "number of elements as an i64 scalar"})
	MustRegister(&Schema{Op: "Range", MinInputs: 3, MaxInputs: 3, MinOutputs: 1, MaxOutputs: 1,
		Infer: inferRange, Doc: "start, limit, delta scalars to a 1-D sequence"})
	MustRegister(&Schema{Op: "ConstantOfShape", MinInputs: 1, MaxInputs: 1, MinOutputs: 1, MaxOutputs: 1,
		Attrs: map[string]AttrSpec{"value": {Kind: AttrTensor}}, Infer: inferConstantOfShape, Doc: "tensor of the shape input filled with value (default f32 0)"})
	MustRegister(&Schema{Op: "Constant", MinInputs: 0, MaxInputs: 0, MinOutputs: 1, MaxOutputs: 1,
		Attrs: map[string]AttrSpec{"value": {Kind: AttrTensor}, "value_float": {Kind: AttrFloat}, "value_floats": {Kind: AttrFloats},
			"value_int": {Kind: AttrInt}, "value_ints": {Kind: AttrInts}, "value_string": {Kind: AttrString}, "value_strings": {Kind: AttrStrings}},
		Infer: inferConstant, Doc: "a constant given by exactly one value* attribute"})
	MustRegister(&Schema{Op: "Unsqueeze", MinInputs: 2, MaxInputs: 2, MinOutputs: 1, MaxOutputs: 1,
		Infer: inferUnsqueeze, Doc: "insert size-1 dims at the axes input"})
	MustRegister(&Schema{Op: "Squeeze", MinInputs: 1, MaxInputs: 2, MinOutputs: 1, MaxOutputs: 1,
		Infer: inferSqueeze, Doc: "remove size-1 dims (the axes input, or all)"})
	MustRegister(&Schema{Op: "Flatten", MinInputs: 1, MaxInputs: 1, MinOutputs: 1, MaxOutputs: 1,
		Attrs: map[string]AttrSpec{"axis": {Kind: AttrInt}}, Infer: inferFlatten, Doc: "2-D view: dims before axis x dims from axis (default 1)"})
	MustRegister(&Schema{Op: "Tile", MinInputs: 2, MaxInputs: 2, MinOutputs: 1, MaxOutputs: 1,
		Infer: inferTile, Doc: "repeat the input along each dim"})
	MustRegister(&Schema{Op: "Pad", MinInputs: 2, MaxInputs: 4, MinOutputs: 1, MaxOutputs: 1,
		Attrs: map[string]AttrSpec{"mode": {Kind: AttrString}}, Infer: inferPad, Doc: "pad by the pads input (constant, reflect, edge, wrap)"})
	MustRegister(&Schema{Op: "Trilu", MinInputs: 1, MaxInputs: 2, MinOutputs: 1, MaxOutputs: 1,
		Attrs: map[string]AttrSpec{"upper": {Kind: AttrInt}}, Infer: unaryOp(false), Doc: "keep the upper or lower triangle of the last two dims"})
	MustRegister(&Schema{Op: "DepthToSpace", MinInputs: 1, MaxInputs: 1, MinOutputs: 1, MaxOutputs: 1,
		Attrs: map[string]AttrSpec{"blocksize": {Kind: AttrInt, Required: true}, "mode": {Kind: AttrString}}, Infer: inferDepthToSpace(true), Doc: "move channel blocks into space"})
	MustRegister(&Schema{Op: "SpaceToDepth", MinInputs: 1, MaxInputs: 1, MinOutputs: 1, MaxOutputs: 1,
		Attrs: map[string]AttrSpec{"blocksize": {Kind: AttrInt, Required: true}}, Infer: inferDepthToSpace(false), Doc: "move spatial blocks into channels"})
	MustRegister(&Schema{Op: "OneHot", MinInputs: 3, MaxInputs: 3, MinOutputs: 1, MaxOutputs: 1,
		Attrs: map[string]AttrSpec{"axis": {Kind: AttrInt}}, Infer: inferOneHot, Doc: "one-hot encode indices with depth and [off, on] values"})
	MustRegister(&Schema{Op: "NonZero", MinInputs: 1, MaxInputs: 1, MinOutputs: 1, MaxOutputs: 1,
		Infer: func(n *Node) ([]Type, error) {
			return one(Type{DType: I64, Shape: Shape{Static(int64(len(inType(n, 0).Shape))), Unknown()}}), nil
		}, Doc: "indices of non-zero elements, i64[rank, ?]"})
	MustRegister(&Schema{Op: "Resize", MinInputs: 1, MaxInputs: 4, MinOutputs: 1, MaxOutputs: 1,
		Attrs: map[string]AttrSpec{"mode": {Kind: AttrString}, "coordinate_transformation_mode": {Kind: AttrString}, "nearest_mode": {Kind: AttrString},
			"cubic_coeff_a": {Kind: AttrFloat}, "exclude_outside": {Kind: AttrInt}, "extrapolation_value": {Kind: AttrFloat},
			"antialias": {Kind: AttrInt}, "axes": {Kind: AttrInts}, "keep_aspect_ratio_policy": {Kind: AttrString}},
		Infer: inferResize, Doc: "resize by scales or sizes (inputs X, roi, scales, sizes)"})
}

// shapeFromValue reads a constant 1-D i64 shape input.
func shapeFromValue(v *Value) ([]int64, bool) {
	if v == nil {
		return nil, false
	}
	return ConstInts(v)
}

// unknownShape is a shape of the given rank with every dim unknown.
func unknownShape(rank int) Shape {
	s := make(Shape, rank)
	for i := range s {
		s[i] = Unknown()
	}
	return s
}

// shapeInputRank is the rank implied by a 1-D shape input with a static length.
func shapeInputRank(n *Node, i int) (int, error) {
	s := inType(n, i).Shape
	if len(s) != 1 {
		return 0, fmt.Errorf("input %d must be 1-D, got %s", i, s)
	}
	if !s[0].IsStatic() {
		return 0, fmt.Errorf("input %d has non-static length %s, so the output rank is unknown", i, s[0])
	}
	return int(s[0].Size), nil
}

func inferReshape(n *Node) ([]Type, error) {
	if err := requireInt(n, 1); err != nil {
		return nil, err
	}
	x := inType(n, 0)
	// The target may be a constant or computed from shapes (SymbolicInts); in it, a static
	// 0 copies the input's dim and -1 is solved for.
	target, ok := targetShape(n.Inputs[1])
	if !ok {
		r, err := shapeInputRank(n, 1)
		if err != nil {
			return nil, err
		}
		return one(Type{DType: x.DType, Shape: unknownShape(r)}), nil
	}
	allowZero := n.Attrs.Int("allowzero", 0) != 0
	out := make(Shape, len(target))
	infer := -1
	for i, d := range target {
		switch {
		case d.Name != "":
			out[i] = fromSym(d)
		case d.Size == 0 && !allowZero:
			if i >= len(x.Shape) {
				return nil, fmt.Errorf("shape %v copies dim %d (0) but the input %s has rank %d", Shape(target), i, x.Shape, len(x.Shape))
			}
			out[i] = x.Shape[i]
		case d.Size == -1:
			if infer >= 0 {
				return nil, fmt.Errorf("shape %v has more than one -1", Shape(target))
			}
			infer = i
		case d.Size < -1:
			return nil, fmt.Errorf("shape %v has invalid dim %d", Shape(target), d.Size)
		default:
			out[i] = d
		}
	}
	if infer >= 0 {
		out[infer] = inferredDim(x.Shape, out, infer)
	} else if total, known := x.Shape.NumElements(), out.NumElements(); total >= 0 && known >= 0 && total != known {
		return nil, fmt.Errorf("cannot reshape %s (%d elements) to %v (%d elements)", x.Shape, total, Shape(target), known)
	}
	return one(Type{DType: x.DType, Shape: out}), nil
}

// inferredDim solves for the -1 dim of a reshape: total / product of the others, cancelling
// symbolic dims that appear on both sides.
func inferredDim(in, out Shape, skip int) Dim {
	num := map[string]int{}
	var numStatic int64 = 1
	for _, d := range in {
		switch {
		case d.IsStatic():
			numStatic *= d.Size
		case d.Name != "":
			num[d.Name]++
		default:
			return Unknown()
		}
	}
	var denStatic int64 = 1
	for i, d := range out {
		if i == skip {
			continue
		}
		switch {
		case d.IsStatic():
			denStatic *= d.Size
		case d.Name != "" && num[d.Name] > 0:
			num[d.Name]--
		default:
			return Unknown()
		}
	}
	var left []string
	for name, c := range num {
		for ; c > 0; c-- {
			left = append(left, name)
		}
	}
	if denStatic == 0 || numStatic%denStatic != 0 {
		return Unknown()
	}
	q := numStatic / denStatic
	switch {
	case len(left) == 0:
		return Static(q)
	case len(left) == 1 && q == 1:
		return Sym(left[0])
	}
	return Unknown()
}

func inferTranspose(n *Node) ([]Type, error) {
	x := inType(n, 0)
	r := len(x.Shape)
	perm, ok := n.Attrs.Ints("perm")
	if !ok {
		perm = make([]int64, r)
		for i := range perm {
			perm[i] = int64(r - 1 - i)
		}
	}
	if len(perm) != r {
		return nil, fmt.Errorf("perm %v has %d entries for rank %d", perm, len(perm), r)
	}
	seen := make([]bool, r)
	out := make(Shape, r)
	for i, p := range perm {
		if p < 0 || p >= int64(r) || seen[p] {
			return nil, fmt.Errorf("perm %v is not a permutation of 0..%d", perm, r-1)
		}
		seen[p] = true
		out[i] = x.Shape[p]
	}
	return one(Type{DType: x.DType, Shape: out}), nil
}

func inferConcat(n *Node) ([]Type, error) {
	dt, err := sameDType(n, allInputs(n)...)
	if err != nil {
		return nil, err
	}
	first := inType(n, 0).Shape
	axis, err := NormAxis(n.Attrs.Int("axis", 0), len(first))
	if err != nil {
		return nil, err
	}
	out := first.Clone()
	for i := 1; i < len(n.Inputs); i++ {
		s := inType(n, i).Shape
		if len(s) != len(first) {
			return nil, fmt.Errorf("input %d %s has rank %d, input 0 %s has rank %d", i, s, len(s), first, len(first))
		}
		for k := range s {
			if k == axis {
				out[k] = addDim(out[k], s[k])
				continue
			}
			if !dimEqual(out[k], s[k]) && out[k].IsStatic() && s[k].IsStatic() {
				return nil, fmt.Errorf("input %d %s differs from input 0 %s in dim %d", i, s, first, k)
			}
			if out[k].IsUnknown() {
				out[k] = s[k]
			}
		}
	}
	return one(Type{DType: dt, Shape: out}), nil
}

func addDim(a, b Dim) Dim {
	if a.IsStatic() && b.IsStatic() {
		return Static(a.Size + b.Size)
	}
	if a.IsStatic() && a.Size == 0 {
		return b
	}
	if b.IsStatic() && b.Size == 0 {
		return a
	}
	return Unknown()
}

func inferSplit(n *Node) ([]Type, error) {
	x := inType(n, 0)
	axis, err := NormAxis(n.Attrs.Int("axis", 0), len(x.Shape))
	if err != nil {
		return nil, err
	}
	k := len(n.Outputs)
	ts := make([]Type, k)
	d := x.Shape[axis]
	if hasInput(n, 1) {
		split, ok := ConstInts(n.Inputs[1])
		if ok && len(split) != k {
			return nil, fmt.Errorf("split %v has %d entries for %d outputs", split, len(split), k)
		}
		var sum int64
		for i := range ts {
			s := x.Shape.Clone()
			if ok {
				s[axis] = Static(split[i])
				sum += split[i]
			} else {
				s[axis] = Unknown()
			}
			ts[i] = Type{DType: x.DType, Shape: s}
		}
		if ok && d.IsStatic() && sum != d.Size {
			return nil, fmt.Errorf("split %v sums to %d, dim %d has size %d", split, sum, axis, d.Size)
		}
		return ts, nil
	}
	if num := n.Attrs.Int("num_outputs", int64(k)); num != int64(k) {
		return nil, fmt.Errorf("num_outputs is %d but the node has %d outputs", num, k)
	}
	for i := range ts {
		s := x.Shape.Clone()
		switch {
		case d.IsStatic():
			// ONNX: ceil(d/k) for all but the last, which takes the rest.
			chunk := (d.Size + int64(k) - 1) / int64(k)
			size := chunk
			if i == k-1 {
				size = d.Size - chunk*int64(k-1)
			}
			if size < 0 {
				return nil, fmt.Errorf("dim %d of size %d cannot be split into %d outputs", axis, d.Size, k)
			}
			s[axis] = Static(size)
		default:
			s[axis] = Unknown()
		}
		ts[i] = Type{DType: x.DType, Shape: s}
	}
	return ts, nil
}

func inferSlice(n *Node) ([]Type, error) {
	x := inType(n, 0)
	for i := 1; i < len(n.Inputs); i++ {
		if hasInput(n, i) {
			if err := requireInt(n, i); err != nil {
				return nil, err
			}
		}
	}
	starts, ok1 := ConstInts(n.Inputs[1])
	ends, ok2 := ConstInts(n.Inputs[2])
	var axes, steps []int64
	ok3, ok4 := true, true
	if hasInput(n, 3) {
		axes, ok3 = ConstInts(n.Inputs[3])
	}
	if hasInput(n, 4) {
		steps, ok4 = ConstInts(n.Inputs[4])
	}
	out := x.Shape.Clone()
	if !(ok1 && ok2 && ok3 && ok4) {
		if !ok3 {
			return one(Type{DType: x.DType, Shape: unknownShape(len(out))}), nil
		}
		if axes == nil {
			r, err := shapeInputRank(n, 1)
			if err != nil {
				return nil, err
			}
			for i := 0; i < r && i < len(out); i++ {
				out[i] = Unknown()
			}
		}
		for _, a := range axes {
			ax, err := NormAxis(a, len(out))
			if err != nil {
				return nil, err
			}
			out[ax] = Unknown()
		}
		return one(Type{DType: x.DType, Shape: out}), nil
	}
	if len(starts) != len(ends) {
		return nil, fmt.Errorf("starts %v and ends %v differ in length", starts, ends)
	}
	if axes == nil {
		for i := range starts {
			axes = append(axes, int64(i))
		}
	}
	if steps == nil {
		for range starts {
			steps = append(steps, 1)
		}
	}
	if len(axes) != len(starts) || len(steps) != len(starts) {
		return nil, fmt.Errorf("starts, ends, axes and steps must have equal lengths")
	}
	for i, a := range axes {
		ax, err := NormAxis(a, len(out))
		if err != nil {
			return nil, err
		}
		if steps[i] == 0 {
			return nil, fmt.Errorf("step for axis %d is 0", a)
		}
		d := x.Shape[ax]
		if !d.IsStatic() {
			// A full slice [0:INT_MAX:1] of a symbolic dim keeps it.
			if starts[i] == 0 && steps[i] == 1 && ends[i] >= 1<<31-1 {
				continue
			}
			out[ax] = Unknown()
			continue
		}
		out[ax] = Static(SliceLen(d.Size, starts[i], ends[i], steps[i]))
	}
	return one(Type{DType: x.DType, Shape: out}), nil
}

// SliceLen is the number of elements Slice takes from a dim of size dim (ONNX clamping rules).
func SliceLen(dim, start, end, step int64) int64 {
	clamp := func(v, lo, hi int64) int64 { return max(lo, min(hi, v)) }
	if start < 0 {
		start += dim
	}
	if end < 0 {
		end += dim
	}
	if step > 0 {
		start, end = clamp(start, 0, dim), clamp(end, 0, dim)
		if end <= start {
			return 0
		}
		return (end - start + step - 1) / step
	}
	start, end = clamp(start, 0, dim-1), clamp(end, -1, dim-1)
	if start <= end {
		return 0
	}
	return (start - end + (-step) - 1) / (-step)
}

func inferGather(n *Node) ([]Type, error) {
	if err := requireInt(n, 1); err != nil {
		return nil, err
	}
	x, idx := inType(n, 0), inType(n, 1)
	axis, err := NormAxis(n.Attrs.Int("axis", 0), len(x.Shape))
	if err != nil {
		return nil, err
	}
	out := append(append(x.Shape[:axis:axis], idx.Shape...), x.Shape[axis+1:]...)
	return one(Type{DType: x.DType, Shape: out.Clone()}), nil
}

func inferExpand(n *Node) ([]Type, error) {
	if err := requireInt(n, 1); err != nil {
		return nil, err
	}
	x := inType(n, 0)
	target, ok := targetShape(n.Inputs[1])
	if !ok {
		r, err := shapeInputRank(n, 1)
		if err != nil {
			return nil, err
		}
		return one(Type{DType: x.DType, Shape: unknownShape(max(r, len(x.Shape)))}), nil
	}
	ts := make(Shape, len(target))
	for i, d := range target {
		ts[i] = fromSym(d)
	}
	s, err := BroadcastShapes(x.Shape, ts)
	if err != nil {
		return nil, err
	}
	return one(Type{DType: x.DType, Shape: s}), nil
}

func inferShapeOp(n *Node) ([]Type, error) {
	start, end := ShapeRange(n, len(inType(n, 0).Shape))
	return one(Type{DType: I64, Shape: Shape{Static(int64(end - start))}}), nil
}

// ShapeRange is the slice [start, end) of dims that a Shape node of an input of the given
// rank returns: its start and end attributes, negative ones counted from the end, clamped.
func ShapeRange(n *Node, rank int) (start, end int) {
	r := int64(rank)
	s, e := n.Attrs.Int("start", 0), n.Attrs.Int("end", r)
	if s < 0 {
		s += r
	}
	if e < 0 {
		e += r
	}
	s, e = max(0, min(r, s)), max(0, min(r, e))
	return int(s), int(max(s, e))
}

func inferRange(n *Node) ([]Type, error) {
	dt, err := sameDType(n, 0, 1, 2)
	if err != nil {
		return nil, err
	}
	for i := 0; i < 3; i++ {
		if len(inType(n, i).Shape) != 0 {
			return nil, fmt.Errorf("input %d must be a scalar, got %s", i, inType(n, i))
		}
	}
	s, ok1 := ConstFloats(n.Inputs[0])
	l, ok2 := ConstFloats(n.Inputs[1])
	d, ok3 := ConstFloats(n.Inputs[2])
	if ok1 && ok2 && ok3 {
		if d[0] == 0 {
			return nil, fmt.Errorf("delta is 0")
		}
		cnt := int64(max(0, ceilDiv(l[0]-s[0], d[0])))
		return one(Type{DType: dt, Shape: Shape{Static(cnt)}}), nil
	}
	return one(Type{DType: dt, Shape: Shape{Unknown()}}), nil
}

func ceilDiv(a, b float64) float64 {
	q := a / b
	c := float64(int64(q))
	if c < q {
		c++
	}
	return c
}

func inferConstantOfShape(n *Node) ([]Type, error) {
	if err := requireInt(n, 0); err != nil {
		return nil, err
	}
	dt := F32
	if v, ok := n.Attrs["value"]; ok && v.Tensor != nil {
		dt = v.Tensor.DType
		if v.Tensor.NumElements() != 1 {
			return nil, fmt.Errorf("value must have one element, has %d", v.Tensor.NumElements())
		}
	}
	if target, ok := SymbolicShape(n.Inputs[0]); ok {
		return one(Type{DType: dt, Shape: target}), nil
	}
	r, err := shapeInputRank(n, 0)
	if err != nil {
		return nil, err
	}
	return one(Type{DType: dt, Shape: unknownShape(r)}), nil
}

func inferConstant(n *Node) ([]Type, error) {
	names := n.Attrs.Names()
	if len(names) != 1 {
		return nil, fmt.Errorf("needs exactly one value attribute, has %d", len(names))
	}
	a := n.Attrs[names[0]]
	switch a.Kind {
	case AttrTensor:
		return one(a.Tensor.Type()), nil
	case AttrFloat:
		return one(Type{DType: F32, Shape: Shape{}}), nil
	case AttrInt:
		return one(Type{DType: I64, Shape: Shape{}}), nil
	case AttrString:
		return one(Type{DType: String, Shape: Shape{}}), nil
	case AttrFloats:
		return one(Type{DType: F32, Shape: StaticShape(int64(len(a.Floats)))}), nil
	case AttrInts:
		return one(Type{DType: I64, Shape: StaticShape(int64(len(a.Ints)))}), nil
	case AttrStrings:
		return one(Type{DType: String, Shape: StaticShape(int64(len(a.Strs)))}), nil
	}
	return nil, fmt.Errorf("unsupported value attribute %s", names[0])
}

func inferUnsqueeze(n *Node) ([]Type, error) {
	if err := requireInt(n, 1); err != nil {
		return nil, err
	}
	x := inType(n, 0)
	axes, ok := ConstInts(n.Inputs[1])
	if !ok {
		r, err := shapeInputRank(n, 1)
		if err != nil {
			return nil, err
		}
		return one(Type{DType: x.DType, Shape: unknownShape(len(x.Shape) + r)}), nil
	}
	r := len(x.Shape) + len(axes)
	ins := make([]bool, r)
	for _, a := range axes {
		ax, err := NormAxis(a, r)
		if err != nil {
			return nil, err
		}
		if ins[ax] {
			return nil, fmt.Errorf("axes %v repeat axis %d", axes, ax)
		}
		ins[ax] = true
	}
	out := make(Shape, 0, r)
	k := 0
	for i := 0; i < r; i++ {
		if ins[i] {
			out = append(out, Static(1))
		} else {
			out = append(out, x.Shape[k])
			k++
		}
	}
	return one(Type{DType: x.DType, Shape: out}), nil
}

func inferSqueeze(n *Node) ([]Type, error) {
	x := inType(n, 0)
	var axes []int64
	if hasInput(n, 1) {
		if err := requireInt(n, 1); err != nil {
			return nil, err
		}
		var ok bool
		if axes, ok = ConstInts(n.Inputs[1]); !ok {
			r, err := shapeInputRank(n, 1)
			if err != nil {
				return nil, err
			}
			return one(Type{DType: x.DType, Shape: unknownShape(len(x.Shape) - r)}), nil
		}
	}
	drop := make([]bool, len(x.Shape))
	if axes == nil {
		for i, d := range x.Shape {
			if !d.IsStatic() {
				return nil, fmt.Errorf("squeeze without axes needs static dims, got %s", x.Shape)
			}
			drop[i] = d.Size == 1
		}
	}
	for _, a := range axes {
		ax, err := NormAxis(a, len(x.Shape))
		if err != nil {
			return nil, err
		}
		if d := x.Shape[ax]; d.IsStatic() && d.Size != 1 {
			return nil, fmt.Errorf("cannot squeeze axis %d of size %d", ax, d.Size)
		}
		drop[ax] = true
	}
	out := Shape{}
	for i, d := range x.Shape {
		if !drop[i] {
			out = append(out, d)
		}
	}
	return one(Type{DType: x.DType, Shape: out}), nil
}

func inferFlatten(n *Node) ([]Type, error) {
	x := inType(n, 0)
	r := len(x.Shape)
	axis := n.Attrs.Int("axis", 1)
	if axis < -int64(r) || axis > int64(r) {
		return nil, fmt.Errorf("axis %d out of range for rank %d", axis, r)
	}
	if axis < 0 {
		axis += int64(r)
	}
	return one(Type{DType: x.DType, Shape: Shape{productDims(x.Shape[:axis]), productDims(x.Shape[axis:])}}), nil
}

func inferTile(n *Node) ([]Type, error) {
	if err := requireInt(n, 1); err != nil {
		return nil, err
	}
	x := inType(n, 0)
	reps, ok := ConstInts(n.Inputs[1])
	if !ok {
		return one(Type{DType: x.DType, Shape: unknownShape(len(x.Shape))}), nil
	}
	if len(reps) != len(x.Shape) {
		return nil, fmt.Errorf("repeats %v has %d entries for rank %d", reps, len(reps), len(x.Shape))
	}
	out := x.Shape.Clone()
	for i, r := range reps {
		if r < 0 {
			return nil, fmt.Errorf("negative repeat %d", r)
		}
		out[i] = mulDim(out[i], Static(r))
	}
	return one(Type{DType: x.DType, Shape: out}), nil
}

func inferPad(n *Node) ([]Type, error) {
	if err := requireInt(n, 1); err != nil {
		return nil, err
	}
	x := inType(n, 0)
	switch m := n.Attrs.String("mode", "constant"); m {
	case "constant", "reflect", "edge", "wrap":
	default:
		return nil, fmt.Errorf("unknown mode %q", m)
	}
	pads, ok := ConstInts(n.Inputs[1])
	if !ok {
		return one(Type{DType: x.DType, Shape: unknownShape(len(x.Shape))}), nil
	}
	var axes []int64
	if hasInput(n, 3) {
		if axes, ok = ConstInts(n.Inputs[3]); !ok {
			return one(Type{DType: x.DType, Shape: unknownShape(len(x.Shape))}), nil
		}
	} else {
		for i := range x.Shape {
			axes = append(axes, int64(i))
		}
	}
	if len(pads) != 2*len(axes) {
		return nil, fmt.Errorf("pads %v has %d entries, want %d", pads, len(pads), 2*len(axes))
	}
	out := x.Shape.Clone()
	for i, a := range axes {
		ax, err := NormAxis(a, len(out))
		if err != nil {
			return nil, err
		}
		out[ax] = addDim(out[ax], Static(pads[i]+pads[i+len(axes)]))
	}
	return one(Type{DType: x.DType, Shape: out}), nil
}

func inferDepthToSpace(toSpace bool) func(n *Node) ([]Type, error) {
	return func(n *Node) ([]Type, error) {
		x := inType(n, 0)
		if len(x.Shape) != 4 {
			return nil, fmt.Errorf("X must be 4-D, got %s", x.Shape)
		}
		b := n.Attrs.Int("blocksize", 1)
		if b <= 0 {
			return nil, fmt.Errorf("blocksize must be positive")
		}
		out := x.Shape.Clone()
		div := func(d Dim, k int64) Dim {
			if d.IsStatic() {
				return Static(d.Size / k)
			}
			return Unknown()
		}
		if toSpace {
			out[1], out[2], out[3] = div(out[1], b*b), mulDim(out[2], Static(b)), mulDim(out[3], Static(b))
		} else {
			out[1], out[2], out[3] = mulDim(out[1], Static(b*b)), div(out[2], b), div(out[3], b)
		}
		return one(Type{DType: x.DType, Shape: out}), nil
	}
}

func inferOneHot(n *Node) ([]Type, error) {
	idx := inType(n, 0)
	r := len(idx.Shape) + 1
	axis, err := NormAxis(n.Attrs.Int("axis", -1), r)
	if err != nil {
		return nil, err
	}
	depth := Unknown()
	if d, ok := ConstFloats(n.Inputs[1]); ok && len(d) == 1 {
		depth = Static(int64(d[0]))
	}
	out := append(append(idx.Shape[:axis:axis], depth), idx.Shape[axis:]...)
	return one(Type{DType: inType(n, 2).DType, Shape: out.Clone()}), nil
}

func inferResize(n *Node) ([]Type, error) {
	x := inType(n, 0)
	out := x.Shape.Clone()
	if s, ok := inferResizePlan(n); ok {
		return one(Type{DType: x.DType, Shape: s}), nil
	}
	if sizes, ok := ConstInts(inputOrNil(n, 3)); ok && len(sizes) == len(out) {
		return one(Type{DType: x.DType, Shape: StaticShape(sizes...)}), nil
	}
	if scales, ok := ConstFloats(inputOrNil(n, 2)); ok && len(scales) == len(out) {
		for i, s := range scales {
			if out[i].IsStatic() {
				out[i] = Static(int64(float64(out[i].Size) * s))
			} else if s != 1 {
				out[i] = Unknown()
			}
		}
		return one(Type{DType: x.DType, Shape: out}), nil
	}
	return one(Type{DType: x.DType, Shape: unknownShape(len(out))}), nil
}

func inputOrNil(n *Node, i int) *Value {
	if i < len(n.Inputs) {
		return n.Inputs[i]
	}
	return nil
}
