package ops

import (
	"fmt"
	"math"

	"github.com/ciuic/ciuic/ir"
)

func init() {
	Register("", "ConvTranspose", convTransposeKernel, floatTypes...)
	Register("", "ConvInteger", convIntegerKernel, ir.U8, ir.I8)
	Register("", "LpPool", lpPoolKernel, floatTypes...)
}

// convTransposeKernel scatters each input element, times the kernel, into the output:
// input position i and kernel position q land at i·stride + q·dilation - padBegin.
func convTransposeKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 2); err != nil {
		return nil, err
	}
	x, w, b := in[0], in[1], input(in, 2)
	if x.Rank() < 3 || w.Rank() != x.Rank() {
		return nil, fmt.Errorf("ConvTranspose: X %v and W %v must be (N, C, spatial...) of equal rank", x.Shape, w.Shape)
	}
	N, C := x.Shape[0], x.Shape[1]
	group := int(attrs.Int("group", 1))
	if group < 1 || C%group != 0 || w.Shape[0] != C {
		return nil, fmt.Errorf("ConvTranspose: W %v does not fit X %v with group %d", w.Shape, x.Shape, group)
	}
	mg := w.Shape[1]
	M := mg * group
	nsp := x.Rank() - 2
	ins, ks := make([]int64, nsp), make([]int64, nsp)
	for i := 0; i < nsp; i++ {
		ins[i], ks[i] = int64(x.Shape[2+i]), int64(w.Shape[2+i])
	}
	if k, ok := attrs.Ints("kernel_shape"); ok && len(k) == nsp {
		ks = k
	}
	begin, _, outSp, err := ir.ConvTransposePads(ins, ks, attrs)
	if err != nil {
		return nil, fmt.Errorf("ConvTranspose: %v", err)
	}
	stride := attrInts(attrs, "strides", nsp, 1)
	dil := attrInts(attrs, "dilations", nsp, 1)
	xs, err := x.Floats()
	if err != nil {
		return nil, err
	}
	ws, err := w.Floats()
	if err != nil {
		return nil, err
	}
	osp := make([]int, nsp)
	for i, o := range outSp {
		osp[i] = int(o)
	}
	S, P := NumElems(x.Shape[2:]), NumElems(osp)
	kdims := make([]int, nsp)
	for i, k := range ks {
		kdims[i] = int(k)
	}
	K := NumElems(kdims)
	ost := strides(osp)
	// target[s*K+q]: output spatial index for input s and kernel position q, or -1.
	target := make([]int, S*K)
	kpos := make([][]int, 0, K)
	walk(kdims, 0, K, func(_ int, p []int) { kpos = append(kpos, append([]int{}, p...)) })
	walk(x.Shape[2:], 0, S, func(s int, pos []int) {
		for q, kp := range kpos {
			off := 0
			for d := range pos {
				o := pos[d]*stride[d] + kp[d]*dil[d] - int(begin[d])
				if o < 0 || o >= osp[d] {
					off = -1
					break
				}
				off += o * ost[d]
			}
			target[s*K+q] = off
		}
	})
	y := make([]float64, N*M*P)
	cg := C / group
	ctx.ParallelFor(N*M, 1, func(lo, hi int) {
		for nm := lo; nm < hi; nm++ {
			n, m := nm/M, nm%M
			g, mm := m/mg, m%mg
			yrow := y[nm*P:][:P]
			for c := g * cg; c < (g+1)*cg; c++ {
				xrow := xs[(n*C+c)*S:][:S]
				wk := ws[(c*mg+mm)*K:][:K]
				for s, xv := range xrow {
					for q, t := range target[s*K:][:K] {
						if t >= 0 {
							yrow[t] += xv * wk[q]
						}
					}
				}
			}
		}
	})
	if b != nil {
		bs, err := b.Floats()
		if err != nil || len(bs) != M {
			return nil, fmt.Errorf("ConvTranspose: bias %v must have %d elements", b.Shape, M)
		}
		for i := range y {
			y[i] += bs[i/P%M]
		}
	}
	yt, err := Cast(MustFromSlice(append([]int{N, M}, osp...), y), x.DType)
	return one(yt), err
}

func attrInts(attrs ir.Attrs, name string, n, def int) []int {
	out := make([]int, n)
	v, ok := attrs.Ints(name)
	for i := range out {
		out[i] = def
		if ok && i < len(v) {
			out[i] = int(v[i])
		}
	}
	return out
}

// convIntegerKernel subtracts the zero points and runs the f64 convolution, exact for
// the sums of 8-bit products it computes.
func convIntegerKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 2); err != nil {
		return nil, err
	}
	shift := func(t, zp *Tensor) (*Tensor, error) {
		v, err := t.Floats()
		if err != nil {
			return nil, err
		}
		if zp != nil {
			z, err := zp.Floats()
			if err != nil {
				return nil, err
			}
			per := len(z) > 1 // per output channel (W only)
			inner := t.Len() / max(t.Shape[0], 1)
			for i := range v {
				if per {
					v[i] -= z[i/inner%len(z)]
				} else {
					v[i] -= z[0]
				}
			}
		}
		return MustFromSlice(t.Shape, v), nil
	}
	x, err := shift(in[0], input(in, 2))
	if err != nil {
		return nil, err
	}
	w, err := shift(in[1], input(in, 3))
	if err != nil {
		return nil, err
	}
	out, err := convKernel(ctx, []*Tensor{x, w}, attrs)
	if err != nil {
		return nil, err
	}
	y, err := Cast(out[0], ir.I32)
	return one(y), err
}

// lpPoolKernel: (sum over the window of |x|^p)^(1/p); padding counts as zeros.
func lpPoolKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	x, err := poolInput("LpPool", in)
	if err != nil {
		return nil, err
	}
	ks, err := kernelDims("LpPool", attrs, x.Rank()-2, nil)
	if err != nil {
		return nil, err
	}
	win, err := newWindow("LpPool", x.Shape[2:], ks, attrs, attrs.Int("ceil_mode", 0) != 0)
	if err != nil {
		return nil, err
	}
	p := float64(attrs.Int("p", 2))
	xs, err := x.Floats()
	if err != nil {
		return nil, err
	}
	NC, S, P, K := x.Shape[0]*x.Shape[1], NumElems(win.in), NumElems(win.out), win.K
	y := make([]float64, NC*P)
	for c := 0; c < NC; c++ {
		for q := 0; q < P; q++ {
			sum := 0.0
			for _, j := range win.idx[q*K:][:K] {
				if j >= 0 {
					sum += math.Pow(math.Abs(xs[c*S+j]), p)
				}
			}
			y[c*P+q] = math.Pow(sum, 1/p)
		}
	}
	yt, err := Cast(MustFromSlice(append([]int{x.Shape[0], x.Shape[1]}, win.out...), y), x.DType)
	return one(yt), err
}
