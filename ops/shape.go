package ops

import (
	"fmt"
	"math"

	"github.com/ciuic/ciuic/ir"
)

// Data-movement and shape ops. They work on every dtype: each is an index computation
// followed by take (or a view, when the data does not move).

func init() {
	for name, k := range map[string]Kernel{
		"Reshape": reshapeKernel, "Transpose": transposeKernel, "Concat": concatKernel,
		"Split": splitKernel, "Slice": sliceKernel, "Gather": gatherKernel,
		"GatherElements": gatherElementsKernel, "Expand": expandKernel, "Shape": shapeKernel,
		"Size": sizeKernel, "Unsqueeze": unsqueezeKernel, "Squeeze": squeezeKernel,
		"Flatten": flattenKernel, "Tile": tileKernel, "Pad": padKernel,
		"ConstantOfShape": constantOfShapeKernel, "Constant": constantKernel,
	} {
		Register("", name, k)
	}
	Register("", "Range", rangeKernel, ir.F32, ir.F64, ir.I16, ir.I32, ir.I64)
}

// Reshape: 0 copies the input dim (unless allowzero=1), -1 is inferred. A view.
func reshapeKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	spec, ok, err := intsInputOrAttr(in, 1, attrs, "shape")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("Reshape needs a shape input")
	}
	shape, err := ReshapeDims(in[0].Shape, spec, attrs.Int("allowzero", 0) != 0)
	if err != nil {
		return nil, err
	}
	v, err := in[0].View(shape)
	if err != nil {
		return nil, fmt.Errorf("Reshape: %v", err)
	}
	return one(v), nil
}

// ReshapeDims resolves a Reshape shape spec against the input shape (ONNX rules).
func ReshapeDims(in []int, spec []int64, allowzero bool) ([]int, error) {
	out := make([]int, len(spec))
	infer := -1
	known := 1
	for i, s := range spec {
		switch {
		case s == -1:
			if infer >= 0 {
				return nil, fmt.Errorf("Reshape: shape %v has more than one -1", spec)
			}
			infer = i
			continue
		case s == 0 && !allowzero:
			if i >= len(in) {
				return nil, fmt.Errorf("Reshape: shape %v copies dim %d but the input %v has rank %d", spec, i, in, len(in))
			}
			out[i] = in[i]
		case s < 0:
			return nil, fmt.Errorf("Reshape: invalid dim %d in shape %v", s, spec)
		default:
			out[i] = int(s)
		}
		known *= out[i]
	}
	n := NumElems(in)
	if infer >= 0 {
		if known == 0 || n%known != 0 {
			return nil, fmt.Errorf("Reshape: cannot reshape %v (%d elements) to %v", in, n, spec)
		}
		out[infer] = n / known
	} else if known != n {
		return nil, fmt.Errorf("Reshape: cannot reshape %v (%d elements) to %v (%d elements)", in, n, spec, known)
	}
	return out, nil
}

func transposeKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	x := in[0]
	r := x.Rank()
	perm := make([]int, r)
	if p, ok := attrs.Ints("perm"); ok {
		if len(p) != r {
			return nil, fmt.Errorf("Transpose: perm %v has %d entries for rank %d", p, len(p), r)
		}
		seen := make([]bool, r)
		for i, v := range p {
			a, err := normAxis(v, r)
			if err != nil || seen[a] {
				return nil, fmt.Errorf("Transpose: perm %v is not a permutation of 0..%d", p, r-1)
			}
			seen[a] = true
			perm[i] = a
		}
	} else {
		for i := range perm {
			perm[i] = r - 1 - i
		}
	}
	return one(Transpose(x, perm)), nil
}

// Transpose permutes the dims of x: output dim i is input dim perm[i].
func Transpose(x *Tensor, perm []int) *Tensor {
	shape := make([]int, len(perm))
	st := strides(x.Shape)
	pst := make([]int, len(perm))
	for i, p := range perm {
		shape[i] = x.Shape[p]
		pst[i] = st[p]
	}
	idx := make([]int, NumElems(shape))
	walk(shape, 0, len(idx), func(i int, pos []int) {
		k := 0
		for d, p := range pos {
			k += p * pst[d]
		}
		idx[i] = k
	})
	return take(x, shape, idx, nil)
}

func concatKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	if !attrs.Has("axis") {
		return nil, fmt.Errorf("Concat needs attribute \"axis\"")
	}
	out, err := Concat(in, attrs.Int("axis", 0))
	if err != nil {
		return nil, err
	}
	return one(out), nil
}

// Concat joins ts along axis; all other dims must agree.
func Concat(ts []*Tensor, axis64 int64) (*Tensor, error) {
	first := ts[0]
	axis, err := normAxis(axis64, first.Rank())
	if err != nil {
		return nil, fmt.Errorf("Concat: %v", err)
	}
	shape := append([]int{}, first.Shape...)
	shape[axis] = 0
	for i, t := range ts {
		if t == nil {
			return nil, fmt.Errorf("Concat: input %d is missing", i)
		}
		if t.DType != first.DType {
			return nil, fmt.Errorf("Concat: input %d is %s, input 0 is %s", i, t.DType, first.DType)
		}
		if t.Rank() != first.Rank() {
			return nil, fmt.Errorf("Concat: input %d has shape %v, input 0 has %v (ranks differ)", i, t.Shape, first.Shape)
		}
		for d := range t.Shape {
			if d != axis && t.Shape[d] != first.Shape[d] {
				return nil, fmt.Errorf("Concat: input %d has shape %v, input 0 has %v (dim %d differs)", i, t.Shape, first.Shape, d)
			}
		}
		shape[axis] += t.Shape[axis]
	}
	out, err := newTensor(first.DType, shape)
	if err != nil {
		return nil, err
	}
	outer := NumElems(shape[:axis])
	inner := NumElems(shape[axis+1:])
	off := 0
	for o := 0; o < outer; o++ {
		for _, t := range ts {
			n := t.Shape[axis] * inner
			copyElems(out.Data, off, t.Data, o*n, n)
			off += n
		}
	}
	return out, nil
}

// sliceAxis copies elements [start, start+n) of x along axis.
func sliceAxis(x *Tensor, axis, start, n int) *Tensor {
	shape := append([]int{}, x.Shape...)
	shape[axis] = n
	out := New(x.DType, shape...)
	outer := NumElems(x.Shape[:axis])
	inner := NumElems(x.Shape[axis+1:])
	for o := 0; o < outer; o++ {
		copyElems(out.Data, o*n*inner, x.Data, (o*x.Shape[axis]+start)*inner, n*inner)
	}
	return out
}

// Split: sizes from the split input (opset 13+), the split attribute (older), the
// num_outputs attribute (opset 18; the last part may be smaller), or equal parts.
func splitKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	x := in[0]
	axis, err := normAxis(attrs.Int("axis", 0), x.Rank())
	if err != nil {
		return nil, fmt.Errorf("Split: %v", err)
	}
	dim := x.Shape[axis]
	split, ok, err := intsInputOrAttr(in, 1, attrs, "split")
	if err != nil {
		return nil, err
	}
	nout := ctx.numOutputs()
	if !ok {
		if attrs.Has("num_outputs") {
			nout = int(attrs.Int("num_outputs", 0))
		}
		if nout <= 0 {
			return nil, fmt.Errorf("Split: num_outputs must be positive, got %d", nout)
		}
		part := (dim + nout - 1) / nout
		if !attrs.Has("num_outputs") && dim%nout != 0 {
			return nil, fmt.Errorf("Split: dim %d of %v does not split evenly into %d outputs", dim, x.Shape, nout)
		}
		for left := dim; len(split) < nout; left -= part {
			split = append(split, int64(min(part, max(left, 0))))
		}
	}
	total := int64(0)
	for _, s := range split {
		if s < 0 {
			return nil, fmt.Errorf("Split: negative size in split %v", split)
		}
		total += s
	}
	if total != int64(dim) {
		return nil, fmt.Errorf("Split: split %v sums to %d, but dim %d of %v is %d", split, total, axis, x.Shape, dim)
	}
	outs := make([]*Tensor, len(split))
	start := 0
	for i, s := range split {
		outs[i] = sliceAxis(x, axis, start, int(s))
		start += int(s)
	}
	return outs, nil
}

// Slice: starts, ends, axes, steps are inputs (opset 10+) or attributes (opset 1).
func sliceKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	x := in[0]
	starts, ok1, err := intsInputOrAttr(in, 1, attrs, "starts")
	if err != nil {
		return nil, err
	}
	ends, ok2, err := intsInputOrAttr(in, 2, attrs, "ends")
	if err != nil {
		return nil, err
	}
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("Slice needs starts and ends")
	}
	if len(starts) != len(ends) {
		return nil, fmt.Errorf("Slice: starts %v and ends %v differ in length", starts, ends)
	}
	axes, ok, err := intsInputOrAttr(in, 3, attrs, "axes")
	if err != nil {
		return nil, err
	}
	if !ok {
		axes = make([]int64, len(starts))
		for i := range axes {
			axes[i] = int64(i)
		}
	}
	steps, ok, err := intsInputOrAttr(in, 4, attrs, "steps")
	if err != nil {
		return nil, err
	}
	if !ok {
		steps = make([]int64, len(starts))
		for i := range steps {
			steps[i] = 1
		}
	}
	if len(axes) != len(starts) || len(steps) != len(starts) {
		return nil, fmt.Errorf("Slice: starts, ends, axes %v and steps %v must have the same length", axes, steps)
	}
	r := x.Rank()
	begin := make([]int, r)
	step := make([]int, r)
	shape := append([]int{}, x.Shape...)
	for i := range step {
		step[i] = 1
	}
	seen := make([]bool, r)
	for i, a64 := range axes {
		a, err := normAxis(a64, r)
		if err != nil {
			return nil, fmt.Errorf("Slice: %v", err)
		}
		if seen[a] {
			return nil, fmt.Errorf("Slice: axis %d repeats in axes %v", a, axes)
		}
		seen[a] = true
		b, n, err := sliceRange(starts[i], ends[i], steps[i], int64(x.Shape[a]))
		if err != nil {
			return nil, fmt.Errorf("Slice: axis %d: %v", a, err)
		}
		begin[a], step[a], shape[a] = b, int(steps[i]), n
	}
	st := strides(x.Shape)
	idx := make([]int, NumElems(shape))
	walk(shape, 0, len(idx), func(i int, pos []int) {
		k := 0
		for d, p := range pos {
			k += (begin[d] + p*step[d]) * st[d]
		}
		idx[i] = k
	})
	return one(take(x, shape, idx, nil)), nil
}

// sliceRange applies ONNX's clamping rules and returns the first index and the count.
func sliceRange(start, end, step, dim int64) (int, int, error) {
	if step == 0 {
		return 0, 0, fmt.Errorf("step cannot be 0")
	}
	if start < 0 {
		start += dim
	}
	if end < 0 {
		end += dim
	}
	if step > 0 {
		start = min(max(start, 0), dim)
		end = min(max(end, 0), dim)
		if end <= start {
			return 0, 0, nil
		}
		return int(start), int((end - start + step - 1) / step), nil
	}
	start = min(max(start, 0), dim-1)
	end = min(max(end, -1), dim-1)
	if end >= start {
		return 0, 0, nil
	}
	return int(start), int((start - end - step - 1) / -step), nil
}

// indexList reads Gather-style indices, wrapping negatives and checking bounds.
func indexList(t *Tensor, dim int, op string) ([]int, error) {
	v, err := t.Ints()
	if err != nil {
		return nil, fmt.Errorf("%s: indices: %v", op, err)
	}
	out := make([]int, len(v))
	for i, x := range v {
		if x < 0 {
			x += int64(dim)
		}
		if x < 0 || x >= int64(dim) {
			return nil, fmt.Errorf("%s: index %d out of range for dim of size %d", op, v[i], dim)
		}
		out[i] = int(x)
	}
	return out, nil
}

func gatherKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 2); err != nil {
		return nil, err
	}
	x, ind := in[0], in[1]
	axis, err := normAxis(attrs.Int("axis", 0), x.Rank())
	if err != nil {
		return nil, fmt.Errorf("Gather: %v", err)
	}
	ix, err := indexList(ind, x.Shape[axis], "Gather")
	if err != nil {
		return nil, err
	}
	shape := append(append(append([]int{}, x.Shape[:axis]...), ind.Shape...), x.Shape[axis+1:]...)
	outer, inner := NumElems(x.Shape[:axis]), NumElems(x.Shape[axis+1:])
	idx := make([]int, 0, NumElems(shape))
	for o := 0; o < outer; o++ {
		for _, j := range ix {
			base := (o*x.Shape[axis] + j) * inner
			for k := 0; k < inner; k++ {
				idx = append(idx, base+k)
			}
		}
	}
	return one(take(x, shape, idx, nil)), nil
}

func gatherElementsKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 2); err != nil {
		return nil, err
	}
	x, ind := in[0], in[1]
	axis, err := normAxis(attrs.Int("axis", 0), x.Rank())
	if err != nil {
		return nil, fmt.Errorf("GatherElements: %v", err)
	}
	if ind.Rank() != x.Rank() {
		return nil, fmt.Errorf("GatherElements: indices %v and data %v differ in rank", ind.Shape, x.Shape)
	}
	for d := range ind.Shape {
		if d != axis && ind.Shape[d] > x.Shape[d] {
			return nil, fmt.Errorf("GatherElements: indices %v exceed data %v in dim %d", ind.Shape, x.Shape, d)
		}
	}
	ix, err := indexList(ind, x.Shape[axis], "GatherElements")
	if err != nil {
		return nil, err
	}
	st := strides(x.Shape)
	idx := make([]int, len(ix))
	walk(ind.Shape, 0, len(ix), func(i int, pos []int) {
		k := 0
		for d, p := range pos {
			if d == axis {
				p = ix[i]
			}
			k += p * st[d]
		}
		idx[i] = k
	})
	return one(take(x, append([]int{}, ind.Shape...), idx, nil)), nil
}

// Expand broadcasts x to shape (bidirectionally: the result may be larger than shape).
func expandKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 2); err != nil {
		return nil, err
	}
	s, err := in[1].Ints()
	if err != nil {
		return nil, fmt.Errorf("Expand: shape: %v", err)
	}
	want := make([]int, len(s))
	for i, d := range s {
		if d < 0 {
			return nil, fmt.Errorf("Expand: negative dim in shape %v", s)
		}
		want[i] = int(d)
	}
	shape, err := broadcastShapes(in[0].Shape, want)
	if err != nil {
		return nil, fmt.Errorf("Expand: %v", err)
	}
	return one(take(in[0], shape, bcastIndex(shape, in[0].Shape), nil)), nil
}

// clampRange maps ONNX start/end attributes (negative from the end) into [0, n].
func clampRange(v int64, n int) int {
	if v < 0 {
		v += int64(n)
	}
	return int(min(max(v, 0), int64(n)))
}

func shapeKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	r := in[0].Rank()
	lo := clampRange(attrs.Int("start", 0), r)
	hi := clampRange(attrs.Int("end", int64(r)), r)
	var dims []int64
	for _, d := range in[0].Shape[lo:max(lo, hi)] {
		dims = append(dims, int64(d))
	}
	return one(MustFromSlice([]int{len(dims)}, append([]int64{}, dims...))), nil
}

func sizeKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	return one(Scalar(int64(in[0].Len()))), nil
}

// axesList normalizes axes against rank, rejecting duplicates.
func axesList(axes []int64, rank int, op string) ([]bool, error) {
	mark := make([]bool, rank)
	for _, a := range axes {
		n, err := normAxis(a, rank)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", op, err)
		}
		if mark[n] {
			return nil, fmt.Errorf("%s: axis %d repeats in %v", op, a, axes)
		}
		mark[n] = true
	}
	return mark, nil
}

func unsqueezeKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	axes, ok, err := intsInputOrAttr(in, 1, attrs, "axes")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("Unsqueeze needs axes")
	}
	x := in[0]
	mark, err := axesList(axes, x.Rank()+len(axes), "Unsqueeze")
	if err != nil {
		return nil, err
	}
	shape := make([]int, 0, len(mark))
	j := 0
	for _, m := range mark {
		if m {
			shape = append(shape, 1)
		} else {
			shape = append(shape, x.Shape[j])
			j++
		}
	}
	v, _ := x.View(shape)
	return one(v), nil
}

func squeezeKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	x := in[0]
	axes, ok, err := intsInputOrAttr(in, 1, attrs, "axes")
	if err != nil {
		return nil, err
	}
	var mark []bool
	if ok {
		if mark, err = axesList(axes, x.Rank(), "Squeeze"); err != nil {
			return nil, err
		}
	} else {
		mark = make([]bool, x.Rank())
		for i, d := range x.Shape {
			mark[i] = d == 1
		}
	}
	var shape []int
	for i, d := range x.Shape {
		switch {
		case !mark[i]:
			shape = append(shape, d)
		case d != 1:
			return nil, fmt.Errorf("Squeeze: dim %d of %v is %d, not 1", i, x.Shape, d)
		}
	}
	v, _ := x.View(shape)
	return one(v), nil
}

func flattenKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	x := in[0]
	a := attrs.Int("axis", 1)
	if a < 0 {
		a += int64(x.Rank())
	}
	if a < 0 || a > int64(x.Rank()) {
		return nil, fmt.Errorf("Flatten: axis %d out of range for rank %d", attrs.Int("axis", 1), x.Rank())
	}
	v, _ := x.View([]int{NumElems(x.Shape[:a]), NumElems(x.Shape[a:])})
	return one(v), nil
}

func tileKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 2); err != nil {
		return nil, err
	}
	x := in[0]
	reps, err := in[1].Ints()
	if err != nil {
		return nil, fmt.Errorf("Tile: repeats: %v", err)
	}
	if len(reps) != x.Rank() {
		return nil, fmt.Errorf("Tile: repeats %v must have one entry per dim of %v", reps, x.Shape)
	}
	shape := make([]int, x.Rank())
	for i, r := range reps {
		if r < 0 {
			return nil, fmt.Errorf("Tile: negative repeat in %v", reps)
		}
		shape[i] = x.Shape[i] * int(r)
	}
	st := strides(x.Shape)
	idx := make([]int, NumElems(shape))
	walk(shape, 0, len(idx), func(i int, pos []int) {
		k := 0
		for d, p := range pos {
			k += (p % x.Shape[d]) * st[d]
		}
		idx[i] = k
	})
	return one(take(x, shape, idx, nil)), nil
}

// Pad: pads (begins then ends; negative crops) from input 1 or the pads attribute,
// constant value from input 2 or the value attribute, optional axes input (opset 18).
func padKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	x := in[0]
	r := x.Rank()
	pads, ok, err := intsInputOrAttr(in, 1, attrs, "pads")
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("Pad needs pads")
	}
	axes, ok, err := intsInputOrAttr(in, 3, attrs, "axes")
	if err != nil {
		return nil, err
	}
	if !ok {
		axes = make([]int64, r)
		for i := range axes {
			axes[i] = int64(i)
		}
	}
	if len(pads) != 2*len(axes) {
		return nil, fmt.Errorf("Pad: pads %v must have 2 entries per padded axis (%d axes)", pads, len(axes))
	}
	begin, end := make([]int, r), make([]int, r)
	for i, a := range axes {
		ax, err := normAxis(a, r)
		if err != nil {
			return nil, fmt.Errorf("Pad: %v", err)
		}
		begin[ax], end[ax] = int(pads[i]), int(pads[i+len(axes)])
	}
	var fill *Tensor
	if c := input(in, 2); c != nil {
		if c.Len() != 1 {
			return nil, fmt.Errorf("Pad: constant_value must be a scalar, got shape %v", c.Shape)
		}
		if fill, err = Cast(c, x.DType); err != nil {
			return nil, err
		}
	} else if attrs.Has("value") && x.DType.IsNumeric() {
		fill, _ = Cast(Scalar(attrs.Float("value", 0)), x.DType)
	}
	mode := attrs.String("mode", "constant")
	shape := make([]int, r)
	for d := range shape {
		shape[d] = x.Shape[d] + begin[d] + end[d]
		if shape[d] < 0 {
			return nil, fmt.Errorf("Pad: pads %v crop dim %d of %v below zero", pads, d, x.Shape)
		}
		if mode != "constant" && x.Shape[d] == 0 && shape[d] > 0 {
			return nil, fmt.Errorf("Pad: mode %s cannot pad the empty dim %d of %v", mode, d, x.Shape)
		}
	}
	var src func(p, n int) int
	switch mode {
	case "constant":
		src = func(p, n int) int {
			if p < 0 || p >= n {
				return -1
			}
			return p
		}
	case "edge":
		src = func(p, n int) int { return min(max(p, 0), n-1) }
	case "reflect":
		src = func(p, n int) int {
			if n == 1 {
				return 0
			}
			period := 2 * (n - 1)
			p = ((p % period) + period) % period
			if p >= n {
				p = period - p
			}
			return p
		}
	case "wrap":
		src = func(p, n int) int { return ((p % n) + n) % n }
	default:
		return nil, fmt.Errorf("Pad: unknown mode %q", mode)
	}
	st := strides(x.Shape)
	idx := make([]int, NumElems(shape))
	walk(shape, 0, len(idx), func(i int, pos []int) {
		k := 0
		for d, p := range pos {
			s := src(p-begin[d], x.Shape[d])
			if s < 0 {
				k = -1
				break
			}
			k += s * st[d]
		}
		idx[i] = k
	})
	return one(take(x, shape, idx, fill)), nil
}

func constantOfShapeKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	dims, err := in[0].Ints()
	if err != nil {
		return nil, fmt.Errorf("ConstantOfShape: %v", err)
	}
	shape := make([]int, len(dims))
	for i, d := range dims {
		if d < 0 {
			return nil, fmt.Errorf("ConstantOfShape: negative dim in %v", dims)
		}
		shape[i] = int(d)
	}
	value := Scalar(float32(0))
	if a, ok := attrs["value"]; ok && a.Kind == ir.AttrTensor && a.Tensor != nil {
		if value, err = FromIR(a.Tensor); err != nil {
			return nil, fmt.Errorf("ConstantOfShape: value: %v", err)
		}
		if value.Len() != 1 {
			return nil, fmt.Errorf("ConstantOfShape: value must hold one element, got shape %v", value.Shape)
		}
	}
	idx := make([]int, NumElems(shape))
	return one(take(value, shape, idx, nil)), nil
}

func constantKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	for _, name := range attrs.Names() {
		a := attrs[name]
		switch name {
		case "value":
			if a.Tensor == nil {
				return nil, fmt.Errorf("Constant: value is not a tensor")
			}
			t, err := FromIR(a.Tensor)
			if err != nil {
				return nil, fmt.Errorf("Constant: %v", err)
			}
			return one(t), nil
		case "value_float":
			return one(Scalar(a.Float)), nil
		case "value_floats":
			return one(MustFromSlice([]int{len(a.Floats)}, append([]float32{}, a.Floats...))), nil
		case "value_int":
			return one(Scalar(a.Int)), nil
		case "value_ints":
			return one(MustFromSlice([]int{len(a.Ints)}, append([]int64{}, a.Ints...))), nil
		case "value_string":
			return one(Scalar(a.Str)), nil
		case "value_strings":
			return one(MustFromSlice([]int{len(a.Strs)}, append([]string{}, a.Strs...))), nil
		}
	}
	return nil, fmt.Errorf("Constant needs one of the value attributes")
}

// Range: n = max(ceil((limit-start)/delta), 0) elements start + i*delta.
func rangeKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 3); err != nil {
		return nil, err
	}
	for i, t := range in[:3] {
		if t.Len() != 1 {
			return nil, fmt.Errorf("Range: input %d must be a scalar, got shape %v", i, t.Shape)
		}
	}
	if err := sameDType("Range", in[0], in[1], in[2]); err != nil {
		return nil, err
	}
	dt := in[0].DType
	if dt.IsInt() {
		v := make([]int64, 3)
		for i := range v {
			x, _ := in[i].Ints()
			v[i] = x[0]
		}
		start, limit, delta := v[0], v[1], v[2]
		if delta == 0 {
			return nil, fmt.Errorf("Range: delta is 0")
		}
		n := int64(0)
		if d := limit - start; d != 0 && (d > 0) == (delta > 0) {
			n = (d + delta - sgn(delta)) / delta
		}
		out := make([]int64, n)
		for i := range out {
			out[i] = start + int64(i)*delta
		}
		r, err := Cast(MustFromSlice([]int{int(n)}, out), dt)
		return one(r), err
	}
	v := make([]float64, 3)
	for i := range v {
		x, err := in[i].Floats()
		if err != nil {
			return nil, fmt.Errorf("Range: %v", err)
		}
		v[i] = x[0]
	}
	start, limit, delta := v[0], v[1], v[2]
	if delta == 0 {
		return nil, fmt.Errorf("Range: delta is 0")
	}
	n := int(max(math.Ceil((limit-start)/delta), 0))
	out := make([]float64, n)
	for i := range out {
		out[i] = start + float64(i)*delta
	}
	r, err := Cast(MustFromSlice([]int{n}, out), dt)
	return one(r), err
}

func sgn(x int64) int64 {
	if x < 0 {
		return -1
	}
	return 1
}
