package ops

import (
	"fmt"
	"math"
	"sort"

	"github.com/ciuic/ciuic/ir"
)

func init() {
	Register("", "CumSum", cumSumKernel, numericTypes...)
	Register("", "TopK", topKKernel, numericTypes...)
	Register("", "Hardmax", hardmaxKernel, floatTypes...)
	Register("", "Trilu", triluKernel)
	Register("", "OneHot", oneHotKernel, numericTypes...)
	Register("", "NonZero", nonZeroKernel)
	Register("", "DepthToSpace", depthToSpaceKernel)
	Register("", "SpaceToDepth", spaceToDepthKernel)
}

// CumSum along the scalar axis input; exclusive drops the current element, reverse
// runs from the end. Integers accumulate in int64, floats in float64.
func cumSumKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	x, axis, err := cumAxis("CumSum", in)
	if err != nil {
		return nil, err
	}
	if x.DType.IsInt() {
		xi, _ := Cast(x, ir.I64)
		out := cumulate(xi.Data.([]int64), x.Shape, axis, attrs, 0, func(a, b int64) int64 { return a + b })
		r, err := Cast(MustFromSlice(x.Shape, out), x.DType)
		return one(r), err
	}
	xf, err := Cast(x, ir.F64)
	if err != nil {
		return nil, err
	}
	out := cumulate(xf.Data.([]float64), x.Shape, axis, attrs, 0, func(a, b float64) float64 { return a + b })
	r, err := Cast(MustFromSlice(x.Shape, out), x.DType)
	return one(r), err
}

// cumAxis reads the X and scalar axis inputs of CumSum and CumProd.
func cumAxis(op string, in []*Tensor) (*Tensor, int, error) {
	if err := need(in, 2); err != nil {
		return nil, 0, err
	}
	x := in[0]
	av, err := in[1].Ints()
	if err != nil || len(av) != 1 {
		return nil, 0, fmt.Errorf("%s: axis must be an integer scalar", op)
	}
	axis, err := normAxis(av[0], x.Rank())
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %v", op, err)
	}
	return x, axis, nil
}

// cumulate scans xs along axis with op from init (attributes exclusive and reverse as in
// ONNX CumSum/CumProd) and returns the running results.
func cumulate[T int64 | float64](xs []T, shape []int, axis int, attrs ir.Attrs, init T, op func(a, b T) T) []T {
	excl, rev := attrs.Int("exclusive", 0) != 0, attrs.Int("reverse", 0) != 0
	outer, dim, inner := NumElems(shape[:axis]), shape[axis], NumElems(shape[axis+1:])
	out := make([]T, len(xs))
	for o := 0; o < outer; o++ {
		for i := 0; i < inner; i++ {
			acc := init
			for s := 0; s < dim; s++ {
				k := s
				if rev {
					k = dim - 1 - s
				}
				j := (o*dim+k)*inner + i
				if excl {
					out[j] = acc
					acc = op(acc, xs[j])
				} else {
					acc = op(acc, xs[j])
					out[j] = acc
				}
			}
		}
	}
	return out
}

// TopK returns the k largest (or smallest) values along axis and their i64 indices;
// equal values keep the lower index first.
func topKKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 2); err != nil {
		return nil, err
	}
	x := in[0]
	kv, err := in[1].Ints()
	if err != nil || len(kv) != 1 {
		return nil, fmt.Errorf("TopK: K must be a one-element integer tensor")
	}
	axis, err := normAxis(attrs.Int("axis", -1), x.Rank())
	if err != nil {
		return nil, fmt.Errorf("TopK: %v", err)
	}
	outer, dim, inner := NumElems(x.Shape[:axis]), x.Shape[axis], NumElems(x.Shape[axis+1:])
	k := int(kv[0])
	if k < 0 || k > dim {
		return nil, fmt.Errorf("TopK: K=%d out of range for dim %d of %v", k, dim, x.Shape)
	}
	largest := attrs.Int("largest", 1) != 0
	xf, err := Cast(x, ir.F64)
	if err != nil {
		return nil, err
	}
	xs := xf.Data.([]float64)
	shape := append([]int{}, x.Shape...)
	shape[axis] = k
	src := make([]int, 0, NumElems(shape))
	ind := make([]int64, NumElems(shape))
	order := make([]int, dim)
	for o := 0; o < outer; o++ {
		for i := 0; i < inner; i++ {
			for j := range order {
				order[j] = j
			}
			at := func(j int) float64 { return xs[(o*dim+j)*inner+i] }
			sort.SliceStable(order, func(a, b int) bool {
				if largest {
					return at(order[a]) > at(order[b])
				}
				return at(order[a]) < at(order[b])
			})
			for j := 0; j < k; j++ {
				ind[(o*k+j)*inner+i] = int64(order[j])
			}
		}
	}
	// Build the gather index in output order.
	walk(shape, 0, NumElems(shape), func(n int, pos []int) {
		p := append([]int{}, pos...)
		p[axis] = int(ind[n])
		j := 0
		for d, st := range strides(x.Shape) {
			j += p[d] * st
		}
		src = append(src, j)
	})
	return []*Tensor{take(x, shape, src, nil), MustFromSlice(shape, ind)}, nil
}

// Hardmax puts 1 at the first maximum along axis (opset 13) and 0 elsewhere.
func hardmaxKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	x := in[0]
	axis, err := normAxis(attrs.Int("axis", -1), x.Rank())
	if err != nil {
		return nil, fmt.Errorf("Hardmax: %v", err)
	}
	xf, err := Cast(x, ir.F64)
	if err != nil {
		return nil, err
	}
	xs := xf.Data.([]float64)
	outer, dim, inner := NumElems(x.Shape[:axis]), x.Shape[axis], NumElems(x.Shape[axis+1:])
	out := make([]float64, len(xs))
	for o := 0; o < outer; o++ {
		for i := 0; i < inner; i++ {
			best := 0
			for k := 1; k < dim; k++ {
				if xs[(o*dim+k)*inner+i] > xs[(o*dim+best)*inner+i] {
					best = k
				}
			}
			if dim > 0 {
				out[(o*dim+best)*inner+i] = 1
			}
		}
	}
	r, err := Cast(MustFromSlice(x.Shape, out), x.DType)
	return one(r), err
}

// Trilu keeps the upper (j-i >= k) or lower (j-i <= k) triangle of the last two dims.
func triluKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	x := in[0]
	if x.Rank() < 2 {
		return nil, fmt.Errorf("Trilu: input %v must have rank >= 2", x.Shape)
	}
	k := int64(0)
	if t := input(in, 1); t != nil {
		v, err := t.Ints()
		if err != nil || len(v) != 1 {
			return nil, fmt.Errorf("Trilu: k must be an integer scalar")
		}
		k = v[0]
	}
	upper := attrs.Int("upper", 1) != 0
	r := x.Rank()
	idx := make([]int, x.Len())
	walk(x.Shape, 0, len(idx), func(n int, pos []int) {
		d := int64(pos[r-1] - pos[r-2])
		if (upper && d >= k) || (!upper && d <= k) {
			idx[n] = n
		} else {
			idx[n] = -1
		}
	})
	return one(take(x, append([]int{}, x.Shape...), idx, nil)), nil
}

// OneHot(indices, depth, values=[off, on]) inserts a depth-sized dim at axis.
func oneHotKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 3); err != nil {
		return nil, err
	}
	ind, err := Cast(in[0], ir.F64)
	if err != nil {
		return nil, fmt.Errorf("OneHot: indices: %v", err)
	}
	dv, err := in[1].Floats()
	if err != nil || len(dv) != 1 {
		return nil, fmt.Errorf("OneHot: depth must be a numeric scalar")
	}
	depth := int(dv[0])
	if depth < 1 {
		return nil, fmt.Errorf("OneHot: depth %d must be positive", depth)
	}
	vals := in[2]
	if vals.Len() != 2 {
		return nil, fmt.Errorf("OneHot: values must hold [off, on], got shape %v", vals.Shape)
	}
	r := in[0].Rank() + 1
	axis, err := normAxis(attrs.Int("axis", -1), r)
	if err != nil {
		return nil, fmt.Errorf("OneHot: %v", err)
	}
	shape := append(append(append([]int{}, in[0].Shape[:axis]...), depth), in[0].Shape[axis:]...)
	is := ind.Data.([]float64)
	inner := NumElems(in[0].Shape[axis:])
	idx := make([]int, NumElems(shape))
	walk(shape, 0, len(idx), func(n int, pos []int) {
		o, d := n/(depth*inner), pos[axis]
		i := n % inner
		v := int(is[o*inner+i])
		if v < 0 {
			v += depth
		}
		if v == d {
			idx[n] = 1
		} else {
			idx[n] = 0
		}
	})
	flat, _ := vals.View([]int{2})
	return one(take(flat, shape, idx, nil)), nil
}

// NonZero returns the indices of the non-zero elements, i64[rank, count], row-major.
func nonZeroKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	x := in[0]
	nz, err := Cast(x, ir.Bool)
	if err != nil {
		return nil, fmt.Errorf("NonZero: %v", err)
	}
	bs := nz.Data.([]bool)
	var hits [][]int
	walk(x.Shape, 0, len(bs), func(n int, pos []int) {
		if bs[n] {
			hits = append(hits, append([]int{}, pos...))
		}
	})
	r := x.Rank()
	out := make([]int64, r*len(hits))
	for j, p := range hits {
		for d := 0; d < r; d++ {
			out[d*len(hits)+j] = int64(p[d])
		}
	}
	return one(MustFromSlice([]int{r, len(hits)}, out)), nil
}

func blockArgs(op string, in []*Tensor, attrs ir.Attrs) (*Tensor, int, error) {
	if err := need(in, 1); err != nil {
		return nil, 0, err
	}
	x := in[0]
	b := int(attrs.Int("blocksize", 0))
	if b < 1 {
		return nil, 0, fmt.Errorf("%s: blocksize must be positive, got %d", op, b)
	}
	if x.Rank() != 4 {
		return nil, 0, fmt.Errorf("%s: input %v must be (N, C, H, W)", op, x.Shape)
	}
	return x, b, nil
}

// permuteView reshapes x to shape, permutes by perm and reshapes to final.
func permuteView(x *Tensor, shape, perm, final []int) *Tensor {
	v, _ := x.View(shape)
	t := Transpose(v, perm)
	r, _ := t.View(final)
	return r
}

func depthToSpaceKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	x, b, err := blockArgs("DepthToSpace", in, attrs)
	if err != nil {
		return nil, err
	}
	N, C, H, W := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	if C%(b*b) != 0 {
		return nil, fmt.Errorf("DepthToSpace: channels %d not divisible by blocksize² %d", C, b*b)
	}
	c := C / (b * b)
	final := []int{N, c, H * b, W * b}
	switch mode := attrs.String("mode", "DCR"); mode {
	case "DCR":
		return one(permuteView(x, []int{N, b, b, c, H, W}, []int{0, 3, 4, 1, 5, 2}, final)), nil
	case "CRD":
		return one(permuteView(x, []int{N, c, b, b, H, W}, []int{0, 1, 4, 2, 5, 3}, final)), nil
	default:
		return nil, fmt.Errorf("DepthToSpace: mode must be DCR or CRD, got %q", mode)
	}
}

func spaceToDepthKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	x, b, err := blockArgs("SpaceToDepth", in, attrs)
	if err != nil {
		return nil, err
	}
	N, C, H, W := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	if H%b != 0 || W%b != 0 {
		return nil, fmt.Errorf("SpaceToDepth: spatial dims %dx%d not divisible by blocksize %d", H, W, b)
	}
	return one(permuteView(x, []int{N, C, H / b, b, W / b, b}, []int{0, 3, 5, 1, 2, 4}, []int{N, C * b * b, H / b, W / b})), nil
}

// roundHalfEven rounds like ONNX's quantizers.
func roundHalfEven(x float64) float64 { return math.RoundToEven(x) }
