package ops

import (
	"fmt"
	"reflect"
)

// Number is the set of element types arithmetic kernels compute on directly.
type Number interface {
	~float32 | ~float64 | ~int8 | ~int16 | ~int32 | ~int64 | ~uint8 | ~uint16 | ~uint32 | ~uint64
}

// Float is the set of float element types computed on natively.
type Float interface{ ~float32 | ~float64 }

// takeT gathers out[i] = src[idx[i]]; idx[i] < 0 takes fill.
func takeT[T any](src []T, idx []int, fill T) []T {
	out := make([]T, len(idx))
	for i, j := range idx {
		if j >= 0 {
			out[i] = src[j]
		} else {
			out[i] = fill
		}
	}
	return out
}

// take is the one data-movement primitive: the result has shape and element i comes
// from src's flat element idx[i] (or from fill's single element where idx[i] < 0).
// Transpose, Slice, Gather, Expand, Tile, Pad and Where are index computations on top.
func take(src *Tensor, shape []int, idx []int, fill *Tensor) *Tensor {
	out := &Tensor{DType: src.DType, Shape: shape}
	switch s := src.Data.(type) {
	case []float32:
		out.Data = takeT(s, idx, fillOf[float32](fill))
	case []float64:
		out.Data = takeT(s, idx, fillOf[float64](fill))
	case []int8:
		out.Data = takeT(s, idx, fillOf[int8](fill))
	case []int16:
		out.Data = takeT(s, idx, fillOf[int16](fill))
	case []int32:
		out.Data = takeT(s, idx, fillOf[int32](fill))
	case []int64:
		out.Data = takeT(s, idx, fillOf[int64](fill))
	case []uint8:
		out.Data = takeT(s, idx, fillOf[uint8](fill))
	case []uint16:
		out.Data = takeT(s, idx, fillOf[uint16](fill))
	case []uint32:
		out.Data = takeT(s, idx, fillOf[uint32](fill))
	case []uint64:
		out.Data = takeT(s, idx, fillOf[uint64](fill))
	case []bool:
		out.Data = takeT(s, idx, fillOf[bool](fill))
	case []string:
		out.Data = takeT(s, idx, fillOf[string](fill))
	default:
		panic(fmt.Sprintf("ops.take: unexpected data %T", src.Data))
	}
	return out
}

func fillOf[T Elem](t *Tensor) T {
	var z T
	if t == nil || t.Len() == 0 {
		return z
	}
	return t.Data.([]T)[0]
}

// copyElems copies n elements from src[soff:] to dst[doff:]; both slices have the same type.
func copyElems(dst any, doff int, src any, soff, n int) {
	if n == 0 {
		return
	}
	reflect.Copy(reflect.ValueOf(dst).Slice(doff, doff+n), reflect.ValueOf(src).Slice(soff, soff+n))
}

// strides returns row-major strides of shape.
func strides(shape []int) []int {
	s := make([]int, len(shape))
	acc := 1
	for i := len(shape) - 1; i >= 0; i-- {
		s[i] = acc
		acc *= shape[i]
	}
	return s
}

// broadcastShapes computes the numpy broadcast of shapes.
func broadcastShapes(shapes ...[]int) ([]int, error) {
	rank := 0
	for _, s := range shapes {
		rank = max(rank, len(s))
	}
	out := make([]int, rank)
	for i := range out {
		out[i] = 1
	}
	for _, s := range shapes {
		off := rank - len(s)
		for i, d := range s {
			o := out[off+i]
			switch {
			case d == o || d == 1:
			case o == 1:
				out[off+i] = d
			default:
				return nil, fmt.Errorf("shapes %v are not broadcast-compatible (dim %d: %d vs %d)", shapesString(shapes), i+off-rank, o, d)
			}
		}
	}
	return out, nil
}

func shapesString(shapes [][]int) string {
	s := ""
	for i, sh := range shapes {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprint(sh)
	}
	return s
}

// bcastStrides returns strides of in aligned to out's rank, with 0 for broadcast dims.
func bcastStrides(out, in []int) []int {
	st := strides(in)
	bs := make([]int, len(out))
	off := len(out) - len(in)
	for i := range in {
		if in[i] != 1 {
			bs[off+i] = st[i]
		}
	}
	return bs
}

// bcastIndex returns, for each element of out, the flat index of the element of in
// (broadcast to out) it reads.
func bcastIndex(out, in []int) []int {
	n := NumElems(out)
	idx := make([]int, n)
	if sameShape(out, in) {
		for i := range idx {
			idx[i] = i
		}
		return idx
	}
	bs := bcastStrides(out, in)
	walk(out, 0, n, func(i int, pos []int) {
		k := 0
		for d, p := range pos {
			k += p * bs[d]
		}
		idx[i] = k
	})
	return idx
}

// walk calls fn for flat indices lo..hi-1 of shape with the multi-index of each.
// pos is reused between calls.
func walk(shape []int, lo, hi int, fn func(i int, pos []int)) {
	if lo >= hi {
		return
	}
	pos := make([]int, len(shape))
	r := lo
	for d := len(shape) - 1; d >= 0; d-- {
		pos[d] = r % shape[d]
		r /= shape[d]
	}
	for i := lo; i < hi; i++ {
		fn(i, pos)
		for d := len(shape) - 1; d >= 0; d-- {
			pos[d]++
			if pos[d] < shape[d] {
				break
			}
			pos[d] = 0
		}
	}
}

// binaryLoop computes out[i] = f(a[ia], b[ib]) over the broadcast of ashape and bshape
// (out has shape oshape), for flat output indices [lo, hi).
func binaryLoop[A, B, R any](out []R, oshape []int, a []A, ashape []int, b []B, bshape []int, lo, hi int, f func(A, B) R) {
	switch {
	case len(a) == len(out) && len(b) == len(out):
		for i := lo; i < hi; i++ {
			out[i] = f(a[i], b[i])
		}
		return
	case len(a) == len(out) && len(b) == 1:
		y := b[0]
		for i := lo; i < hi; i++ {
			out[i] = f(a[i], y)
		}
		return
	case len(a) == 1 && len(b) == len(out):
		x := a[0]
		for i := lo; i < hi; i++ {
			out[i] = f(x, b[i])
		}
		return
	}
	sa, sb := bcastStrides(oshape, ashape), bcastStrides(oshape, bshape)
	last := len(oshape) - 1
	walk(oshape, lo, hi, func(i int, pos []int) {
		ia, ib := 0, 0
		for d := 0; d <= last; d++ {
			ia += pos[d] * sa[d]
			ib += pos[d] * sb[d]
		}
		out[i] = f(a[ia], b[ib])
	})
}

// elemGrain is the smallest chunk of elementwise work worth handing to another worker.
const elemGrain = 1 << 14
