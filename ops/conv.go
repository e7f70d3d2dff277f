package ops

import (
	"fmt"
	"math"

	"github.com/ciuic/ciuic/ir"
)

func init() {
	Register("", "Conv", convKernel, floatTypes...)
	Register("", "MaxPool", maxPoolKernel, append(append([]ir.DType{}, floatTypes...), ir.I8, ir.U8)...)
	Register("", "AveragePool", avgPoolKernel, floatTypes...)
	Register("", "GlobalAveragePool", globalPoolKernel("GlobalAveragePool"), floatTypes...)
	Register("", "GlobalMaxPool", globalPoolKernel("GlobalMaxPool"), floatTypes...)
}

// window is the geometry of a sliding window over the spatial dims of an (N, C, ...)
// tensor, shared by Conv and the pools.
type window struct {
	in, k, out, stride, dil, padBegin, padEnd []int
	// idx[p*K+q] is the flat spatial input index read by output position p at kernel
	// position q, or -1 inside the padding, or -2 beyond it (only with ceil_mode).
	idx []int
	K   int // kernel positions
}

// newWindow resolves strides, dilations, pads and auto_pad (ONNX rules) for spatial
// input dims in and kernel dims k.
func newWindow(op string, in, k []int, attrs ir.Attrs, ceil bool) (*window, error) {
	n := len(in)
	w := &window{in: in, k: k, out: make([]int, n), padBegin: make([]int, n), padEnd: make([]int, n)}
	ints := func(name string, def int) ([]int, error) {
		v, ok := attrs.Ints(name)
		out := make([]int, n)
		for i := range out {
			out[i] = def
		}
		if !ok {
			return out, nil
		}
		if len(v) != n {
			return nil, fmt.Errorf("%s: %s %v needs %d entries", op, name, v, n)
		}
		for i, x := range v {
			if x < 1 {
				return nil, fmt.Errorf("%s: %s %v must be positive", op, name, v)
			}
			out[i] = int(x)
		}
		return out, nil
	}
	var err error
	if w.stride, err = ints("strides", 1); err != nil {
		return nil, err
	}
	if w.dil, err = ints("dilations", 1); err != nil {
		return nil, err
	}
	pads, havePads := attrs.Ints("pads")
	if havePads && len(pads) != 2*n {
		return nil, fmt.Errorf("%s: pads %v needs %d entries", op, pads, 2*n)
	}
	autoPad := attrs.String("auto_pad", "NOTSET")
	for i := 0; i < n; i++ {
		eff := (k[i]-1)*w.dil[i] + 1 // dilated kernel extent
		s := w.stride[i]
		switch autoPad {
		case "NOTSET", "":
			if havePads {
				w.padBegin[i], w.padEnd[i] = int(pads[i]), int(pads[i+n])
				if w.padBegin[i] < 0 || w.padEnd[i] < 0 {
					return nil, fmt.Errorf("%s: negative pads %v", op, pads)
				}
			}
			span := in[i] + w.padBegin[i] + w.padEnd[i] - eff
			if span < 0 {
				return nil, fmt.Errorf("%s: kernel extent %d exceeds padded input %d in spatial dim %d", op, eff, in[i]+w.padBegin[i]+w.padEnd[i], i)
			}
			if ceil {
				w.out[i] = (span+s-1)/s + 1
				// The last window must start inside the input or its left padding.
				if (w.out[i]-1)*s >= in[i]+w.padBegin[i] {
					w.out[i]--
				}
			} else {
				w.out[i] = span/s + 1
			}
		case "VALID":
			if in[i] < eff {
				return nil, fmt.Errorf("%s: kernel extent %d exceeds input %d in spatial dim %d", op, eff, in[i], i)
			}
			w.out[i] = (in[i]-eff)/s + 1
		case "SAME_UPPER", "SAME_LOWER":
			w.out[i] = (in[i] + s - 1) / s
			total := max((w.out[i]-1)*s+eff-in[i], 0)
			if autoPad == "SAME_UPPER" {
				w.padBegin[i] = total / 2
			} else {
				w.padBegin[i] = total - total/2
			}
			w.padEnd[i] = total - w.padBegin[i]
		default:
			return nil, fmt.Errorf("%s: unknown auto_pad %q", op, autoPad)
		}
	}
	w.K = NumElems(k)
	P := NumElems(w.out)
	w.idx = make([]int, P*w.K)
	st := strides(in)
	kpos := make([][]int, 0, w.K)
	walk(k, 0, w.K, func(_ int, pos []int) { kpos = append(kpos, append([]int{}, pos...)) })
	walk(w.out, 0, P, func(p int, pos []int) {
		for q, kp := range kpos {
			flat := 0
			for d := range pos {
				x := pos[d]*w.stride[d] - w.padBegin[d] + kp[d]*w.dil[d]
				switch {
				case x >= in[d]+w.padEnd[d]:
					flat = -2
				case flat >= 0 && (x < 0 || x >= in[d]):
					flat = -1
				case flat >= 0:
					flat += x * st[d]
				}
				if flat == -2 {
					break
				}
			}
			w.idx[p*w.K+q] = flat
		}
	})
	return w, nil
}

// kernelDims reads kernel_shape, checking it against the expected rank.
func kernelDims(op string, attrs ir.Attrs, n int, def []int) ([]int, error) {
	ks, ok := attrs.Ints("kernel_shape")
	if !ok {
		if def == nil {
			return nil, fmt.Errorf("%s needs attribute kernel_shape", op)
		}
		return def, nil
	}
	if len(ks) != n {
		return nil, fmt.Errorf("%s: kernel_shape %v needs %d entries", op, ks, n)
	}
	out := make([]int, n)
	for i, v := range ks {
		if v < 1 {
			return nil, fmt.Errorf("%s: kernel_shape %v must be positive", op, ks)
		}
		out[i] = int(v)
	}
	if def != nil && !sameShape(out, def) {
		return nil, fmt.Errorf("%s: kernel_shape %v disagrees with the weights' spatial dims %v", op, ks, def)
	}
	return out, nil
}

// Conv: X (N, C, D1..Dn), W (M, C/group, k1..kn), optional B (M).
func convKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 2); err != nil {
		return nil, err
	}
	x, w, b := in[0], in[1], input(in, 2)
	if x.DType == ir.F16 || x.DType == ir.BF16 {
		ins := []*Tensor{x, w}
		if b != nil {
			ins = append(ins, b)
		}
		r, err := viaF32(x.DType, func(t ...*Tensor) (*Tensor, error) {
			out, err := convKernel(ctx, t, attrs)
			if err != nil {
				return nil, err
			}
			return out[0], nil
		}, ins...)
		return []*Tensor{r}, err
	}
	if err := sameDType("Conv", x, w); err != nil {
		return nil, err
	}
	if x.Rank() < 3 || w.Rank() != x.Rank() {
		return nil, fmt.Errorf("Conv: X %v and W %v must both be (N, C, spatial...) of the same rank >= 3", x.Shape, w.Shape)
	}
	N, C := x.Shape[0], x.Shape[1]
	M := w.Shape[0]
	group := int(attrs.Int("group", 1))
	if group < 1 || C%group != 0 || M%group != 0 {
		return nil, fmt.Errorf("Conv: group %d must divide input channels %d and output channels %d", group, C, M)
	}
	if w.Shape[1] != C/group {
		return nil, fmt.Errorf("Conv: W %v needs %d input channels per group (X %v, group %d)", w.Shape, C/group, x.Shape, group)
	}
	if b != nil && (b.Rank() != 1 || b.Shape[0] != M || b.DType != x.DType) {
		return nil, fmt.Errorf("Conv: bias %s%v must be %s[%d]", b.DType, b.Shape, x.DType, M)
	}
	ks, err := kernelDims("Conv", attrs, x.Rank()-2, w.Shape[2:])
	if err != nil {
		return nil, err
	}
	win, err := newWindow("Conv", x.Shape[2:], ks, attrs, false)
	if err != nil {
		return nil, err
	}
	shape := append([]int{N, M}, win.out...)
	out, err := newTensor(x.DType, shape)
	if err != nil {
		return nil, err
	}
	switch x.DType {
	case ir.F32:
		var bias []float32
		if b != nil {
			bias = b.F32()
		}
		convT(ctx, win, N, C, M, group, x.F32(), w.F32(), bias, out.F32())
	case ir.F64:
		var bias []float64
		if b != nil {
			bias = Elems[float64](b)
		}
		convT(ctx, win, N, C, M, group, Elems[float64](x), Elems[float64](w), bias, Elems[float64](out))
	default:
		return nil, fmt.Errorf("Conv: unsupported dtype %s", x.DType)
	}
	return one(out), nil
}

func convT[T Float](ctx *KernelContext, win *window, N, C, M, group int, x, w, bias, y []T) {
	S := NumElems(win.in)
	P := NumElems(win.out)
	K := win.K
	cg, mg := C/group, M/group
	ctx.ParallelFor(N*M, 1, func(lo, hi int) {
		for nm := lo; nm < hi; nm++ {
			n, m := nm/M, nm%M
			g := m / mg
			yrow := y[nm*P:][:P]
			for p := range yrow {
				var acc T
				if bias != nil {
					acc = bias[m]
				}
				ip := win.idx[p*K:][:K]
				for c := 0; c < cg; c++ {
					xs := x[(n*C+g*cg+c)*S:][:S]
					ws := w[(m*cg+c)*K:][:K]
					for q, j := range ip {
						if j >= 0 {
							acc += xs[j] * ws[q]
						}
					}
				}
				yrow[p] = acc
			}
		}
	})
}

func poolInput(op string, in []*Tensor) (*Tensor, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	x := in[0]
	if x.Rank() < 3 {
		return nil, fmt.Errorf("%s: input %v must be (N, C, spatial...)", op, x.Shape)
	}
	return x, nil
}

// MaxPool returns Y and, if asked, Indices: flat row-major indices into X.
func maxPoolKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	x, err := poolInput("MaxPool", in)
	if err != nil {
		return nil, err
	}
	colMajor := attrs.Int("storage_order", 0) != 0
	ks, err := kernelDims("MaxPool", attrs, x.Rank()-2, nil)
	if err != nil {
		return nil, err
	}
	win, err := newWindow("MaxPool", x.Shape[2:], ks, attrs, attrs.Int("ceil_mode", 0) != 0)
	if err != nil {
		return nil, err
	}
	xf, err := Cast(x, ir.F64)
	if err != nil {
		return nil, err
	}
	xs := xf.Data.([]float64)
	NC, S, P, K := x.Shape[0]*x.Shape[1], NumElems(win.in), NumElems(win.out), win.K
	shape := append([]int{x.Shape[0], x.Shape[1]}, win.out...)
	y := make([]float64, NC*P)
	ind := make([]int64, NC*P)
	ctx.ParallelFor(NC, 1, func(lo, hi int) {
		for c := lo; c < hi; c++ {
			for p := 0; p < P; p++ {
				best, bi := math.Inf(-1), -1
				for _, j := range win.idx[p*K:][:K] {
					if j >= 0 && (bi < 0 || xs[c*S+j] > best) {
						best, bi = xs[c*S+j], c*S+j
					}
				}
				if colMajor && bi >= 0 { // storage_order=1: spatial index in column-major order
					bi = c*S + columnMajor(bi-c*S, win.in)
				}
				y[c*P+p], ind[c*P+p] = best, int64(bi)
			}
		}
	})
	yt, err := Cast(MustFromSlice(shape, y), x.DType)
	if err != nil {
		return nil, err
	}
	outs := []*Tensor{yt}
	if ctx.numOutputs() > 1 {
		outs = append(outs, MustFromSlice(shape, ind))
	}
	return outs, nil
}

// columnMajor maps a row-major flat index over dims to the column-major one (dim 0
// varying fastest), as MaxPool's storage_order=1 reports indices.
func columnMajor(j int, dims []int) int {
	coords := make([]int, len(dims))
	for i := len(dims) - 1; i >= 0; i-- {
		coords[i] = j % dims[i]
		j /= dims[i]
	}
	out, stride := 0, 1
	for i, c := range coords {
		out += c * stride
		stride *= dims[i]
	}
	return out
}

// AveragePool divides by the number of input elements in the window, or with
// count_include_pad=1 by the number inside the padded input.
func avgPoolKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	x, err := poolInput("AveragePool", in)
	if err != nil {
		return nil, err
	}
	ks, err := kernelDims("AveragePool", attrs, x.Rank()-2, nil)
	if err != nil {
		return nil, err
	}
	win, err := newWindow("AveragePool", x.Shape[2:], ks, attrs, attrs.Int("ceil_mode", 0) != 0)
	if err != nil {
		return nil, err
	}
	includePad := attrs.Int("count_include_pad", 0) != 0
	xf, err := Cast(x, ir.F64)
	if err != nil {
		return nil, err
	}
	xs := xf.Data.([]float64)
	NC, S, P, K := x.Shape[0]*x.Shape[1], NumElems(win.in), NumElems(win.out), win.K
	shape := append([]int{x.Shape[0], x.Shape[1]}, win.out...)
	y := make([]float64, NC*P)
	ctx.ParallelFor(NC, 1, func(lo, hi int) {
		for c := lo; c < hi; c++ {
			for p := 0; p < P; p++ {
				sum, cnt := 0.0, 0
				for _, j := range win.idx[p*K:][:K] {
					switch {
					case j >= 0:
						sum += xs[c*S+j]
						cnt++
					case j == -1 && includePad:
						cnt++
					}
				}
				y[c*P+p] = sum / float64(cnt)
			}
		}
	})
	yt, err := Cast(MustFromSlice(shape, y), x.DType)
	if err != nil {
		return nil, err
	}
	return one(yt), nil
}

func globalPoolKernel(op string) Kernel {
	return func(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
		x, err := poolInput(op, in)
		if err != nil {
			return nil, err
		}
		axes := make([]int, x.Rank()-2)
		for i := range axes {
			axes[i] = i + 2
		}
		kind := "ReduceMean"
		if op == "GlobalMaxPool" {
			kind = "ReduceMax"
		}
		y, err := reduce(ctx, kind, x, axes, true)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", op, err)
		}
		return one(y), nil
	}
}
