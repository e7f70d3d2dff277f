package ops

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/ciuic/ciuic/ir"
)

// Kernels for the ONNX ops of ir/ops_more_misc.go. They favour plain loops in float64
// (rounded once to the output dtype) over speed: the models ciuic optimises do not use
// these ops on hot paths.

func init() {
	Register("", "Swish", floatUnaryKernel("Swish", func(a ir.Attrs) (func(float64) float64, error) {
		alpha := attrF(a, "alpha", 1)
		return func(x float64) float64 { return x * sigmoid(alpha*x) }, nil
	}), floatTypes...)
	Register("", "SwiGLU", swigluKernel, floatTypes...)
	Register("", "CumProd", cumProdKernel, numericTypes...)
	Register("", "BitCast", bitCastKernel)
	Register("", "ScatterND", scatterNDKernel, allTypes...)
	Register("", "ScatterElements", scatterElementsKernel, allTypes...)
	Register("", "GatherND", gatherNDKernel, allTypes...)
	Register("", "EyeLike", eyeLikeKernel, append([]ir.DType{ir.Bool}, numericTypes...)...)
	Register("", "LpNormalization", lpNormKernel, floatTypes...)
	Register("", "CenterCropPad", centerCropPadKernel, allTypes...)
	Register("", "Compress", compressKernel, allTypes...)
	Register("", "ReverseSequence", reverseSequenceKernel, allTypes...)
	Register("", "LRN", lrnKernel, floatTypes...)
	Register("", "Det", detKernel, floatTypes...)
	for _, op := range []string{"HannWindow", "HammingWindow", "BlackmanWindow"} {
		Register("", op, windowKernel(op), ir.I32, ir.I64)
	}
	Register("", "MeanVarianceNormalization", mvnKernel, floatTypes...)
	Register("", "GroupNormalization", groupNormKernel, floatTypes...)
	Register("", "TensorScatter", tensorScatterKernel, allTypes...)
	Register("", "RotaryEmbedding", rotaryKernel, floatTypes...)
	Register("", "Unique", uniqueKernel, numericTypes...)
	for _, op := range []string{"ReduceMax", "ReduceMin"} {
		Register("", op, boolReduce(op), ir.Bool)
	}
}

// boolReduce runs ReduceMax (any) or ReduceMin (all) on bools through u8.
func boolReduce(op string) Kernel {
	k := reduceKernel(op)
	return func(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
		x, err := Cast(in[0], ir.U8)
		if err != nil {
			return nil, err
		}
		out, err := k(ctx, append([]*Tensor{x}, in[1:]...), attrs)
		if err != nil {
			return nil, err
		}
		y, err := Cast(out[0], ir.Bool)
		return one(y), err
	}
}

// floatsOf returns x as float64s and a function that builds a tensor of x's dtype.
func floatResult(shape []int, data []float64, dt ir.DType) (*Tensor, error) {
	return Cast(MustFromSlice(shape, data), dt)
}

func swigluKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 2); err != nil {
		return nil, err
	}
	alpha := attrF(attrs, "alpha", 1)
	limit := attrF(attrs, "limit", 0)
	a, err := in[0].Floats()
	if err != nil {
		return nil, err
	}
	b, err := in[1].Floats()
	if err != nil {
		return nil, err
	}
	shape, err := broadcastShapes(in[0].Shape, in[1].Shape)
	if err != nil {
		return nil, fmt.Errorf("SwiGLU: %v", err)
	}
	ai, bi := bcastIndex(shape, in[0].Shape), bcastIndex(shape, in[1].Shape)
	out := make([]float64, NumElems(shape))
	for i := range out {
		x, y := a[ai[i]], b[bi[i]]
		if limit > 0 {
			x = math.Min(x, limit)
			y = math.Max(-limit, math.Min(limit, y))
		}
		out[i] = x * sigmoid(alpha*x) * y
	}
	y, err := floatResult(shape, out, in[0].DType)
	return one(y), err
}

func cumProdKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	x, axis, err := cumAxis("CumProd", in)
	if err != nil {
		return nil, err
	}
	xs, err := x.Floats()
	if err != nil {
		return nil, err
	}
	out := cumulate(xs, x.Shape, axis, attrs, 1, func(a, b float64) float64 { return a * b })
	y, err := floatResult(x.Shape, out, x.DType)
	return one(y), err
}

func bitCastKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	to, ok := ir.DTypeFromONNX(attrs.Int("to", 0))
	if !ok || to.Size() != in[0].DType.Size() || to == ir.String || in[0].DType == ir.String {
		return nil, fmt.Errorf("BitCast: cannot reinterpret %s as dtype %d", in[0].DType, attrs.Int("to", 0))
	}
	t := in[0].ToIR()
	t.DType = to
	y, err := FromIR(t)
	return one(y), err
}

// assign copies src[si[k]] to dst[di[k]] for tensors of the same dtype.
func assign(dst, src *Tensor, di, si []int) {
	switch d := dst.Data.(type) {
	case []float32:
		assignT(d, src.Data.([]float32), di, si)
	case []float64:
		assignT(d, src.Data.([]float64), di, si)
	case []int8:
		assignT(d, src.Data.([]int8), di, si)
	case []int16:
		assignT(d, src.Data.([]int16), di, si)
	case []int32:
		assignT(d, src.Data.([]int32), di, si)
	case []int64:
		assignT(d, src.Data.([]int64), di, si)
	case []uint8:
		assignT(d, src.Data.([]uint8), di, si)
	case []uint16:
		assignT(d, src.Data.([]uint16), di, si)
	case []uint32:
		assignT(d, src.Data.([]uint32), di, si)
	case []uint64:
		assignT(d, src.Data.([]uint64), di, si)
	case []bool:
		assignT(d, src.Data.([]bool), di, si)
	case []string:
		assignT(d, src.Data.([]string), di, si)
	default:
		panic(fmt.Sprintf("ops.assign: unexpected data %T", dst.Data))
	}
}

func assignT[T any](d, s []T, di, si []int) {
	for k := range di {
		d[di[k]] = s[si[k]]
	}
}

// scatter writes updates into a copy of data: update si[k] goes to data element di[k],
// combined with what is there by reduction (none, add, mul, max, min).
func scatter(op string, data, upd *Tensor, di, si []int, reduction string) (*Tensor, error) {
	if upd.DType != data.DType {
		return nil, fmt.Errorf("%s: updates are %s but data is %s", op, upd.DType, data.DType)
	}
	if reduction == "" || reduction == "none" {
		out := data.Clone()
		assign(out, upd, di, si)
		return out, nil
	}
	d, err := data.Floats()
	if err != nil {
		return nil, err
	}
	u, err := upd.Floats()
	if err != nil {
		return nil, err
	}
	for k := range di {
		a, b := d[di[k]], u[si[k]]
		switch reduction {
		case "add":
			d[di[k]] = a + b
		case "mul":
			d[di[k]] = a * b
		case "max":
			d[di[k]] = math.Max(a, b)
		case "min":
			d[di[k]] = math.Min(a, b)
		default:
			return nil, fmt.Errorf("%s: unknown reduction %q", op, reduction)
		}
	}
	return Cast(MustFromSlice(data.Shape, d), data.DType)
}

func scatterNDKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 3); err != nil {
		return nil, err
	}
	data, idxT, upd := in[0], in[1], in[2]
	idx, err := idxT.Ints()
	if err != nil {
		return nil, err
	}
	k := idxT.Shape[idxT.Rank()-1]
	if k > data.Rank() {
		return nil, fmt.Errorf("ScatterND: index tuples of %d for data rank %d", k, data.Rank())
	}
	st := strides(data.Shape)
	slice := NumElems(data.Shape[k:])
	n := len(idx) / max(k, 1)
	if k == 0 {
		n = NumElems(idxT.Shape[:idxT.Rank()-1])
	}
	var di, si []int
	for t := 0; t < n; t++ {
		off := 0
		for j := 0; j < k; j++ {
			v := idx[t*k+j]
			if v < 0 {
				v += int64(data.Shape[j])
			}
			if v < 0 || v >= int64(data.Shape[j]) {
				return nil, fmt.Errorf("ScatterND: index %d out of range for dim %d", idx[t*k+j], data.Shape[j])
			}
			off += int(v) * st[j]
		}
		for e := 0; e < slice; e++ {
			di = append(di, off+e)
			si = append(si, t*slice+e)
		}
	}
	if len(si) > 0 && si[len(si)-1] >= upd.Len() {
		return nil, fmt.Errorf("ScatterND: updates %v too small", upd.Shape)
	}
	y, err := scatter("ScatterND", data, upd, di, si, attrs.String("reduction", "none"))
	return one(y), err
}

func scatterElementsKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 3); err != nil {
		return nil, err
	}
	data, idxT, upd := in[0], in[1], in[2]
	axis, err := normAxis(attrs.Int("axis", 0), data.Rank())
	if err != nil {
		return nil, fmt.Errorf("ScatterElements: %v", err)
	}
	idx, err := idxT.Ints()
	if err != nil {
		return nil, err
	}
	if !sameShape(idxT.Shape, upd.Shape) || idxT.Rank() != data.Rank() {
		return nil, fmt.Errorf("ScatterElements: indices %v and updates %v must match in shape and rank of data %v", idxT.Shape, upd.Shape, data.Shape)
	}
	dst := strides(data.Shape)
	di, si := make([]int, len(idx)), make([]int, len(idx))
	var bad error
	walk(idxT.Shape, 0, len(idx), func(i int, pos []int) {
		v := idx[i]
		if v < 0 {
			v += int64(data.Shape[axis])
		}
		if v < 0 || v >= int64(data.Shape[axis]) {
			bad = fmt.Errorf("ScatterElements: index %d out of range for dim %d", idx[i], data.Shape[axis])
			return
		}
		off := 0
		for d, p := range pos {
			if d == axis {
				p = int(v)
			}
			off += p * dst[d]
		}
		di[i], si[i] = off, i
	})
	if bad != nil {
		return nil, bad
	}
	y, err := scatter("ScatterElements", data, upd, di, si, attrs.String("reduction", "none"))
	return one(y), err
}

func gatherNDKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 2); err != nil {
		return nil, err
	}
	data, idxT := in[0], in[1]
	b := int(attrs.Int("batch_dims", 0))
	idx, err := idxT.Ints()
	if err != nil {
		return nil, err
	}
	k := idxT.Shape[idxT.Rank()-1]
	if b+k > data.Rank() {
		return nil, fmt.Errorf("GatherND: index tuples of %d with %d batch dims exceed rank %d", k, b, data.Rank())
	}
	batch := NumElems(data.Shape[:b])
	slice := NumElems(data.Shape[b+k:])
	perBatch := NumElems(idxT.Shape[b : idxT.Rank()-1])
	st := strides(data.Shape[b:])
	dataBatch := NumElems(data.Shape[b:])
	outShape := append(append([]int{}, idxT.Shape[:idxT.Rank()-1]...), data.Shape[b+k:]...)
	src := make([]int, 0, NumElems(outShape))
	for bb := 0; bb < batch; bb++ {
		for t := 0; t < perBatch; t++ {
			tup := idx[(bb*perBatch+t)*k:][:k]
			off := bb * dataBatch
			for j, v := range tup {
				dim := data.Shape[b+j]
				if v < 0 {
					v += int64(dim)
				}
				if v < 0 || v >= int64(dim) {
					return nil, fmt.Errorf("GatherND: index %d out of range for dim %d", tup[j], dim)
				}
				off += int(v) * st[j]
			}
			for e := 0; e < slice; e++ {
				src = append(src, off+e)
			}
		}
	}
	return one(take(data, outShape, src, nil)), nil
}

func eyeLikeKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	x := in[0]
	dt := x.DType
	if attrs.Has("dtype") {
		var ok bool
		if dt, ok = ir.DTypeFromONNX(attrs.Int("dtype", 0)); !ok {
			return nil, fmt.Errorf("EyeLike: unsupported dtype %d", attrs.Int("dtype", 0))
		}
	}
	if x.Rank() != 2 {
		return nil, fmt.Errorf("EyeLike: input must be 2-D")
	}
	k := int(attrs.Int("k", 0))
	r, c := x.Shape[0], x.Shape[1]
	out := make([]float64, r*c)
	for i := 0; i < r; i++ {
		if j := i + k; j >= 0 && j < c {
			out[i*c+j] = 1
		}
	}
	y, err := floatResult(x.Shape, out, dt)
	return one(y), err
}

func lpNormKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	x := in[0]
	axis, err := normAxis(attrs.Int("axis", -1), x.Rank())
	if err != nil {
		return nil, fmt.Errorf("LpNormalization: %v", err)
	}
	p := attrs.Int("p", 2)
	if p != 1 && p != 2 {
		return nil, fmt.Errorf("LpNormalization: p must be 1 or 2, got %d", p)
	}
	xs, err := x.Floats()
	if err != nil {
		return nil, err
	}
	outer, dim, inner := NumElems(x.Shape[:axis]), x.Shape[axis], NumElems(x.Shape[axis+1:])
	out := make([]float64, len(xs))
	for o := 0; o < outer; o++ {
		for i := 0; i < inner; i++ {
			s := 0.0
			for d := 0; d < dim; d++ {
				v := xs[(o*dim+d)*inner+i]
				if p == 1 {
					s += math.Abs(v)
				} else {
					s += v * v
				}
			}
			if p == 2 {
				s = math.Sqrt(s)
			}
			for d := 0; d < dim; d++ {
				j := (o*dim+d)*inner + i
				if s == 0 {
					out[j] = 0
				} else {
					out[j] = xs[j] / s
				}
			}
		}
	}
	y, err := floatResult(x.Shape, out, x.DType)
	return one(y), err
}

// centerCropPadKernel crops (centered, the extra element at the end) or pads (with
// zeros, the extra element at the end) each listed axis to the target size.
func centerCropPadKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 2); err != nil {
		return nil, err
	}
	x := in[0]
	sh, err := in[1].Ints()
	if err != nil {
		return nil, err
	}
	axes, _ := attrs.Ints("axes")
	if len(axes) == 0 {
		for i := 0; i < x.Rank(); i++ {
			axes = append(axes, int64(i))
		}
	}
	if len(sh) != len(axes) {
		return nil, fmt.Errorf("CenterCropPad: shape has %d values for %d axes", len(sh), len(axes))
	}
	out := append([]int{}, x.Shape...)
	offs := make([]int, x.Rank()) // input index = output index + off
	for i, a := range axes {
		k, err := normAxis(a, x.Rank())
		if err != nil {
			return nil, fmt.Errorf("CenterCropPad: %v", err)
		}
		out[k] = int(sh[i])
		if d := x.Shape[k] - out[k]; d >= 0 {
			offs[k] = d / 2
		} else {
			offs[k] = -((-d) / 2)
		}
	}
	st := strides(x.Shape)
	idx := make([]int, NumElems(out))
	walk(out, 0, len(idx), func(i int, pos []int) {
		off := 0
		for d, p := range pos {
			q := p + offs[d]
			if q < 0 || q >= x.Shape[d] {
				off = -1
				return
			}
			off += q * st[d]
		}
		idx[i] = off
	})
	// walk's callback cannot stop early per element, so recompute misses.
	walk(out, 0, len(idx), func(i int, pos []int) {
		for d, p := range pos {
			if q := p + offs[d]; q < 0 || q >= x.Shape[d] {
				idx[i] = -1
				return
			}
		}
	})
	return one(take(x, out, idx, nil)), nil
}

func compressKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 2); err != nil {
		return nil, err
	}
	x := in[0]
	cond, err := in[1].Floats()
	if err != nil {
		return nil, err
	}
	if !attrs.Has("axis") {
		var idx []int
		for i := 0; i < x.Len() && i < len(cond); i++ {
			if cond[i] != 0 {
				idx = append(idx, i)
			}
		}
		return one(take(x, []int{len(idx)}, idx, nil)), nil
	}
	axis, err := normAxis(attrs.Int("axis", 0), x.Rank())
	if err != nil {
		return nil, fmt.Errorf("Compress: %v", err)
	}
	var keep []int
	for i := 0; i < x.Shape[axis] && i < len(cond); i++ {
		if cond[i] != 0 {
			keep = append(keep, i)
		}
	}
	return one(selectAxis(x, axis, keep)), nil
}

// selectAxis takes the given indices of x along axis.
func selectAxis(x *Tensor, axis int, keep []int) *Tensor {
	outer, dim, inner := NumElems(x.Shape[:axis]), x.Shape[axis], NumElems(x.Shape[axis+1:])
	out := append([]int{}, x.Shape...)
	out[axis] = len(keep)
	idx := make([]int, 0, outer*len(keep)*inner)
	for o := 0; o < outer; o++ {
		for _, k := range keep {
			for i := 0; i < inner; i++ {
				idx = append(idx, (o*dim+k)*inner+i)
			}
		}
	}
	return take(x, out, idx, nil)
}

func reverseSequenceKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 2); err != nil {
		return nil, err
	}
	x := in[0]
	lens, err := in[1].Ints()
	if err != nil {
		return nil, err
	}
	ba, err := normAxis(attrs.Int("batch_axis", 1), x.Rank())
	if err != nil {
		return nil, err
	}
	ta, err := normAxis(attrs.Int("time_axis", 0), x.Rank())
	if err != nil {
		return nil, err
	}
	st := strides(x.Shape)
	idx := make([]int, x.Len())
	walk(x.Shape, 0, len(idx), func(i int, pos []int) {
		b, t := pos[ba], pos[ta]
		if b < len(lens) && int64(t) < lens[b] {
			t = int(lens[b]) - 1 - t
		}
		off := 0
		for d, p := range pos {
			if d == ta {
				p = t
			}
			off += p * st[d]
		}
		idx[i] = off
	})
	return one(take(x, x.Shape, idx, nil)), nil
}

func lrnKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	x := in[0]
	if x.Rank() < 3 {
		return nil, fmt.Errorf("LRN: input must be at least 3-D")
	}
	alpha, beta, bias := attrF(attrs, "alpha", 1e-4), attrF(attrs, "beta", 0.75), attrF(attrs, "bias", 1)
	size := int(attrs.Int("size", 1))
	xs, err := x.Floats()
	if err != nil {
		return nil, err
	}
	N, C, inner := x.Shape[0], x.Shape[1], NumElems(x.Shape[2:])
	out := make([]float64, len(xs))
	lo, hi := (size-1)/2, size-1-(size-1)/2
	for n := 0; n < N; n++ {
		for c := 0; c < C; c++ {
			for i := 0; i < inner; i++ {
				s := 0.0
				for cc := max(0, c-lo); cc <= min(C-1, c+hi); cc++ {
					v := xs[(n*C+cc)*inner+i]
					s += v * v
				}
				j := (n*C+c)*inner + i
				out[j] = xs[j] / math.Pow(bias+alpha/float64(size)*s, beta)
			}
		}
	}
	y, err := floatResult(x.Shape, out, x.DType)
	return one(y), err
}

func detKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	x := in[0]
	r := x.Rank()
	if r < 2 || x.Shape[r-1] != x.Shape[r-2] {
		return nil, fmt.Errorf("Det: input %v must end in square matrices", x.Shape)
	}
	n := x.Shape[r-1]
	xs, err := x.Floats()
	if err != nil {
		return nil, err
	}
	batch := NumElems(x.Shape[:r-2])
	out := make([]float64, batch)
	for b := 0; b < batch; b++ {
		m := append([]float64{}, xs[b*n*n:(b+1)*n*n]...)
		det := 1.0
		for c := 0; c < n; c++ {
			p := c
			for i := c + 1; i < n; i++ {
				if math.Abs(m[i*n+c]) > math.Abs(m[p*n+c]) {
					p = i
				}
			}
			if m[p*n+c] == 0 {
				det = 0
				break
			}
			if p != c {
				for j := 0; j < n; j++ {
					m[p*n+j], m[c*n+j] = m[c*n+j], m[p*n+j]
				}
				det = -det
			}
			det *= m[c*n+c]
			for i := c + 1; i < n; i++ {
				f := m[i*n+c] / m[c*n+c]
				for j := c; j < n; j++ {
					m[i*n+j] -= f * m[c*n+j]
				}
			}
		}
		out[b] = det
	}
	y, err := floatResult(x.Shape[:r-2], out, x.DType)
	return one(y), err
}

func windowKernel(op string) Kernel {
	return func(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
		v, err := in[0].Ints()
		if err != nil || len(v) != 1 || v[0] < 0 {
			return nil, fmt.Errorf("%s: size must be a non-negative integer scalar", op)
		}
		dt := ir.F32
		if attrs.Has("output_datatype") {
			var ok bool
			if dt, ok = ir.DTypeFromONNX(attrs.Int("output_datatype", 1)); !ok {
				return nil, fmt.Errorf("%s: unsupported output_datatype", op)
			}
		}
		size := int(v[0])
		N := float64(size)
		if attrs.Int("periodic", 1) == 0 {
			N = float64(size - 1)
		}
		out := make([]float64, size)
		for i := range out {
			x := 2 * math.Pi * float64(i) / N
			switch op {
			case "HannWindow":
				out[i] = 0.5 - 0.5*math.Cos(x)
			case "HammingWindow":
				out[i] = 25.0/46 - (1-25.0/46)*math.Cos(x)
			case "BlackmanWindow":
				out[i] = 0.42 - 0.5*math.Cos(x) + 0.08*math.Cos(2*x)
			}
		}
		y, err := floatResult([]int{size}, out, dt)
		return one(y), err
	}
}

// normalizeOver subtracts the mean of x over the axes marked in red and, when scale,
// divides by sqrt(variance + eps).
func normalizeOver(xs []float64, shape []int, red []bool, eps float64) []float64 {
	out := make([]float64, len(xs))
	key := func(pos []int) int {
		k := 0
		for d, p := range pos {
			if !red[d] {
				k = k*shape[d] + p
			}
		}
		return k
	}
	groups := 1
	for d, s := range shape {
		if !red[d] {
			groups *= s
		}
	}
	sum, sq, cnt := make([]float64, groups), make([]float64, groups), make([]float64, groups)
	keys := make([]int, len(xs))
	walk(shape, 0, len(xs), func(i int, pos []int) {
		k := key(pos)
		keys[i] = k
		sum[k] += xs[i]
		cnt[k]++
	})
	for i, v := range xs {
		m := sum[keys[i]] / cnt[keys[i]]
		sq[keys[i]] += (v - m) * (v - m)
	}
	for i, v := range xs {
		k := keys[i]
		m := sum[k] / cnt[k]
		out[i] = (v - m) / math.Sqrt(sq[k]/cnt[k]+eps)
	}
	return out
}

func mvnKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	x := in[0]
	axes, ok := attrs.Ints("axes")
	if !ok {
		axes = []int64{0, 2, 3}
	}
	red := make([]bool, x.Rank())
	for _, a := range axes {
		k, err := normAxis(a, x.Rank())
		if err != nil {
			return nil, fmt.Errorf("MeanVarianceNormalization: %v", err)
		}
		red[k] = true
	}
	xs, err := x.Floats()
	if err != nil {
		return nil, err
	}
	y, err := floatResult(x.Shape, normalizeOver(xs, x.Shape, red, 1e-9), x.DType)
	return one(y), err
}

func groupNormKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 3); err != nil {
		return nil, err
	}
	x := in[0]
	G := int(attrs.Int("num_groups", 0))
	if x.Rank() < 2 || G <= 0 || x.Shape[1]%G != 0 {
		return nil, fmt.Errorf("GroupNormalization: %d channels do not split into %d groups", x.Shape[1], G)
	}
	N, C, inner := x.Shape[0], x.Shape[1], NumElems(x.Shape[2:])
	xs, err := x.Floats()
	if err != nil {
		return nil, err
	}
	sc, err := in[1].Floats()
	if err != nil {
		return nil, err
	}
	bi, err := in[2].Floats()
	if err != nil {
		return nil, err
	}
	if len(sc) != C || len(bi) != C {
		return nil, fmt.Errorf("GroupNormalization: scale and bias must have %d elements", C)
	}
	eps := attrF(attrs, "epsilon", 1e-5)
	norm := normalizeOver(xs, []int{N, G, C / G * inner}, []bool{false, false, true}, eps)
	for i := range norm {
		c := i / inner % C
		norm[i] = norm[i]*sc[c] + bi[c]
	}
	y, err := floatResult(x.Shape, norm, x.DType)
	return one(y), err
}

// tensorScatterKernel writes update [B, .., T, ..] into past_cache [B, .., L, ..] at
// positions write_indices[b] .. +T along axis (default -2), wrapping modulo L in
// circular mode.
func tensorScatterKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 2); err != nil {
		return nil, err
	}
	past, upd := in[0], in[1]
	axis, err := normAxis(attrs.Int("axis", -2), past.Rank())
	if err != nil || axis == 0 {
		return nil, fmt.Errorf("TensorScatter: bad axis %d", attrs.Int("axis", -2))
	}
	B, L, T := past.Shape[0], past.Shape[axis], upd.Shape[axis]
	var wi []int64
	if t := input(in, 2); t != nil {
		if wi, err = t.Ints(); err != nil {
			return nil, err
		}
	} else {
		wi = make([]int64, B)
	}
	circular := attrs.String("mode", "linear") == "circular"
	pst, ust := strides(past.Shape), strides(upd.Shape)
	var di, si []int
	var bad error
	walk(upd.Shape, 0, upd.Len(), func(i int, pos []int) {
		p := int(wi[pos[0]]) + pos[axis]
		if circular {
			p %= L
		}
		if p < 0 || p >= L {
			bad = fmt.Errorf("TensorScatter: write position %d outside the cache length %d", p, L)
			return
		}
		off := 0
		for d, q := range pos {
			if d == axis {
				q = p
			}
			off += q * pst[d]
		}
		di = append(di, off)
		si = append(si, i)
	})
	_, _ = T, ust
	if bad != nil {
		return nil, bad
	}
	out := past.Clone()
	assign(out, upd, di, si)
	return one(out), nil
}

// rotaryKernel applies RotaryEmbedding (opset 23): x [B, H, S, D] or [B, S, H·D] with
// num_heads; cos/sin [maxpos, R/2] indexed by position_ids [B, S], or [B, S, R/2].
func rotaryKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 3); err != nil {
		return nil, err
	}
	x := in[0]
	xs, err := x.Floats()
	if err != nil {
		return nil, err
	}
	cs, err := in[1].Floats()
	if err != nil {
		return nil, err
	}
	sn, err := in[2].Floats()
	if err != nil {
		return nil, err
	}
	var B, H, S, D int
	three := x.Rank() == 3
	switch x.Rank() {
	case 4:
		B, H, S, D = x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	case 3:
		H = int(attrs.Int("num_heads", 0))
		if H <= 0 || x.Shape[2]%H != 0 {
			return nil, fmt.Errorf("RotaryEmbedding: 3-D input needs num_heads dividing %d", x.Shape[2])
		}
		B, S, D = x.Shape[0], x.Shape[1], x.Shape[2]/H
	default:
		return nil, fmt.Errorf("RotaryEmbedding: input must be 3-D or 4-D")
	}
	R := int(attrs.Int("rotary_embedding_dim", 0))
	if R == 0 {
		R = D
	}
	half := R / 2
	var pos []int64
	if p := input(in, 3); p != nil {
		if pos, err = p.Ints(); err != nil {
			return nil, err
		}
	}
	inter := attrs.Int("interleaved", 0) != 0
	out := append([]float64{}, xs...)
	at := func(b, h, s, d int) int {
		if three {
			return ((b*S+s)*H+h)*D + d
		}
		return ((b*H+h)*S+s)*D + d
	}
	for b := 0; b < B; b++ {
		for s := 0; s < S; s++ {
			row := (b*S + s) * half
			if pos != nil {
				row = int(pos[b*S+s]) * half
			}
			if row+half > len(cs) || row+half > len(sn) {
				return nil, fmt.Errorf("RotaryEmbedding: position out of the cache")
			}
			for h := 0; h < H; h++ {
				for i := 0; i < half; i++ {
					i1, i2 := i, i+half
					if inter {
						i1, i2 = 2*i, 2*i+1
					}
					a, c := at(b, h, s, i1), at(b, h, s, i2)
					co, si := cs[row+i], sn[row+i]
					out[a] = xs[a]*co - xs[c]*si
					out[c] = xs[c]*co + xs[a]*si
				}
			}
		}
	}
	y, err := floatResult(x.Shape, out, x.DType)
	return one(y), err
}

// uniqueKernel finds the unique elements (or slices along axis), sorted or in order of
// first occurrence, with first-occurrence indices, inverse indices and counts.
func uniqueKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	x := in[0]
	xs, err := x.Floats()
	if err != nil {
		return nil, err
	}
	axis, dim, inner, outer := -1, x.Len(), 1, 1
	if attrs.Has("axis") {
		if axis, err = normAxis(attrs.Int("axis", 0), x.Rank()); err != nil {
			return nil, fmt.Errorf("Unique: %v", err)
		}
		outer, dim, inner = NumElems(x.Shape[:axis]), x.Shape[axis], NumElems(x.Shape[axis+1:])
	}
	slice := func(k int) []float64 {
		s := make([]float64, 0, outer*inner)
		for o := 0; o < outer; o++ {
			s = append(s, xs[(o*dim+k)*inner:][:inner]...)
		}
		return s
	}
	keyOf := func(s []float64) string {
		var b strings.Builder
		for _, v := range s {
			fmt.Fprintf(&b, "%v,", v)
		}
		return b.String()
	}
	type group struct {
		first, count int
		vals         []float64
	}
	var groups []*group
	byKey := map[string]*group{}
	inv := make([]int, dim)
	for k := 0; k < dim; k++ {
		s := slice(k)
		key := keyOf(s)
		g, ok := byKey[key]
		if !ok {
			g = &group{first: k, vals: s}
			byKey[key] = g
			groups = append(groups, g)
		}
		g.count++
	}
	if attrs.Int("sorted", 1) != 0 {
		sort.SliceStable(groups, func(i, j int) bool {
			a, b := groups[i].vals, groups[j].vals
			for t := range a {
				if a[t] != b[t] {
					return a[t] < b[t]
				}
			}
			return false
		})
	}
	pos := map[*group]int{}
	for i, g := range groups {
		pos[g] = i
	}
	for k := 0; k < dim; k++ {
		inv[k] = pos[byKey[keyOf(slice(k))]]
	}
	keep := make([]int, len(groups))
	first, counts := make([]int64, len(groups)), make([]int64, len(groups))
	for i, g := range groups {
		keep[i], first[i], counts[i] = g.first, int64(g.first), int64(g.count)
	}
	var y *Tensor
	if axis < 0 {
		flat, _ := x.View([]int{x.Len()})
		y = selectAxis(flat, 0, keep)
	} else {
		y = selectAxis(x, axis, keep)
	}
	invs := make([]int64, dim)
	for i, v := range inv {
		invs[i] = int64(v)
	}
	outs := []*Tensor{y, MustFromSlice([]int{len(first)}, first), MustFromSlice([]int{dim}, invs), MustFromSlice([]int{len(counts)}, counts)}
	return outs[:min(ctx.numOutputs(), 4)], nil
}
