package ops

import (
	"fmt"
	"math"

	"github.com/ciuic/ciuic/ir"
)

var reduceOps = []string{"ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd",
	"ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare"}

func init() {
	for _, op := range reduceOps {
		Register("", op, reduceKernel(op), numericTypes...)
	}
	Register("", "ArgMax", argKernel("ArgMax"), numericTypes...)
	Register("", "ArgMin", argKernel("ArgMin"), numericTypes...)
}

// reduceKernel reads axes from input 1 (opset 18; ReduceSum from 13) or the axes
// attribute (older opsets). No axes reduces everything, unless noop_with_empty_axes=1.
func reduceKernel(op string) Kernel {
	return func(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
		if err := need(in, 1); err != nil {
			return nil, err
		}
		x := in[0]
		axes64, _, err := intsInputOrAttr(in, 1, attrs, "axes")
		if err != nil {
			return nil, err
		}
		if len(axes64) == 0 && attrs.Int("noop_with_empty_axes", 0) != 0 {
			return one(x), nil
		}
		var axes []int
		if len(axes64) == 0 {
			for i := range x.Shape {
				axes = append(axes, i)
			}
		} else {
			mark, err := axesList(axes64, x.Rank(), op)
			if err != nil {
				return nil, err
			}
			for i, m := range mark {
				if m {
					axes = append(axes, i)
				}
			}
		}
		y, err := reduce(ctx, op, x, axes, attrs.Int("keepdims", 1) != 0)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", op, err)
		}
		return one(y), nil
	}
}

// reduceGeom maps each input element to the output element it reduces into.
func reduceGeom(shape []int, axes []int, keepdims bool) (outShape, keptShape []int, outIdx func(pos []int) int) {
	mark := make([]bool, len(shape))
	for _, a := range axes {
		mark[a] = true
	}
	keptShape = make([]int, len(shape))
	for i, d := range shape {
		keptShape[i] = d
		if mark[i] {
			keptShape[i] = 1
		}
		if !mark[i] {
			outShape = append(outShape, d)
		} else if keepdims {
			outShape = append(outShape, 1)
		}
	}
	if outShape == nil {
		outShape = []int{}
	}
	ost := bcastStrides(shape, keptShape)
	return outShape, keptShape, func(pos []int) int {
		k := 0
		for d, p := range pos {
			k += p * ost[d]
		}
		return k
	}
}

// reduce reduces x over axes. Floats accumulate in float64 and integers in int64, in
// input order, so the result does not depend on the worker count.
func reduce(ctx *KernelContext, op string, x *Tensor, axes []int, keepdims bool) (*Tensor, error) {
	outShape, _, outIdx := reduceGeom(x.Shape, axes, keepdims)
	nout := NumElems(outShape)
	count := 1
	for _, a := range axes {
		count *= x.Shape[a]
	}
	intPath := x.DType.IsInt() && op != "ReduceL2" && op != "ReduceLogSum" && op != "ReduceLogSumExp"
	if intPath {
		xi, err := Cast(x, ir.I64)
		if err != nil {
			return nil, err
		}
		xs := xi.Data.([]int64)
		acc := make([]int64, nout)
		init, step := int64(0), func(a, v int64) int64 { return a + v }
		switch op {
		case "ReduceProd":
			init, step = 1, func(a, v int64) int64 { return a * v }
		case "ReduceMax":
			init, step = math.MinInt64, func(a, v int64) int64 { return max(a, v) }
		case "ReduceMin":
			init, step = math.MaxInt64, func(a, v int64) int64 { return min(a, v) }
		case "ReduceSumSquare":
			step = func(a, v int64) int64 { return a + v*v }
		case "ReduceL1":
			step = func(a, v int64) int64 { return a + max(v, -v) }
		}
		for i := range acc {
			acc[i] = init
		}
		walk(x.Shape, 0, len(xs), func(i int, pos []int) {
			o := outIdx(pos)
			acc[o] = step(acc[o], xs[i])
		})
		if op == "ReduceMean" && count > 0 {
			for i := range acc {
				acc[i] /= int64(count)
			}
		}
		return Cast(MustFromSlice(outShape, acc), x.DType)
	}
	xf, err := Cast(x, ir.F64)
	if err != nil {
		return nil, err
	}
	xs := xf.Data.([]float64)
	acc := make([]float64, nout)
	init, step := 0.0, func(a, v float64) float64 { return a + v }
	var shift []float64 // per-output max, for LogSumExp
	switch op {
	case "ReduceProd":
		init, step = 1, func(a, v float64) float64 { return a * v }
	case "ReduceMax":
		init, step = math.Inf(-1), func(a, v float64) float64 {
			if v > a || v != v {
				return v
			}
			return a
		}
	case "ReduceMin":
		init, step = math.Inf(1), func(a, v float64) float64 {
			if v < a || v != v {
				return v
			}
			return a
		}
	case "ReduceSumSquare", "ReduceL2":
		step = func(a, v float64) float64 { return a + v*v }
	case "ReduceL1":
		step = func(a, v float64) float64 { return a + math.Abs(v) }
	case "ReduceLogSumExp":
		m, err := reduce(ctx, "ReduceMax", xf, axes, true)
		if err != nil {
			return nil, err
		}
		shift = m.Data.([]float64)
		for i, s := range shift {
			if math.IsInf(s, 0) {
				shift[i] = 0 // all -inf (or an inf) : no shift keeps exp well defined
			}
		}
	}
	for i := range acc {
		acc[i] = init
	}
	walk(x.Shape, 0, len(xs), func(i int, pos []int) {
		o := outIdx(pos)
		if shift != nil {
			acc[o] += math.Exp(xs[i] - shift[o])
			return
		}
		acc[o] = step(acc[o], xs[i])
	})
	for i, a := range acc {
		switch op {
		case "ReduceMean":
			acc[i] = a / float64(count)
		case "ReduceL2":
			acc[i] = math.Sqrt(a)
		case "ReduceLogSum":
			acc[i] = math.Log(a)
		case "ReduceLogSumExp":
			acc[i] = shift[i] + math.Log(a)
		}
	}
	return Cast(MustFromSlice(outShape, acc), x.DType)
}

// ArgMax/ArgMin along axis; ties go to the first index unless select_last_index=1.
func argKernel(op string) Kernel {
	return func(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
		if err := need(in, 1); err != nil {
			return nil, err
		}
		x := in[0]
		axis, err := normAxis(attrs.Int("axis", 0), x.Rank())
		if err != nil {
			return nil, fmt.Errorf("%s: %v", op, err)
		}
		if x.Shape[axis] == 0 {
			return nil, fmt.Errorf("%s: cannot reduce the empty axis %d of %v", op, axis, x.Shape)
		}
		last := attrs.Int("select_last_index", 0) != 0
		xf, err := Cast(x, ir.F64)
		if err != nil {
			return nil, err
		}
		xs := xf.Data.([]float64)
		outer, dim, inner := NumElems(x.Shape[:axis]), x.Shape[axis], NumElems(x.Shape[axis+1:])
		shape := append([]int{}, x.Shape...)
		shape[axis] = 1
		if attrs.Int("keepdims", 1) == 0 {
			shape = append(shape[:axis], shape[axis+1:]...)
		}
		out := make([]int64, outer*inner)
		for o := 0; o < outer; o++ {
			for i := 0; i < inner; i++ {
				best, bi := xs[o*dim*inner+i], 0
				for k := 1; k < dim; k++ {
					v := xs[(o*dim+k)*inner+i]
					better := v > best
					if op == "ArgMin" {
						better = v < best
					}
					if better || (last && v == best) {
						best, bi = v, k
					}
				}
				out[o*inner+i] = int64(bi)
			}
		}
		return one(MustFromSlice(shape, out)), nil
	}
}
