package ops

import (
	"fmt"
	"math"

	"github.com/ciuic/ciuic/ir"
)

func init() {
	Register("", "GridSample", gridSampleKernel, floatTypes...)
	Register("", "AffineGrid", affineGridKernel, floatTypes...)
	Register("", "Col2Im", col2ImKernel, numericTypes...)
}

// gsReflect reflects x into [lo, hi] by its nearer border, repeatedly.
func gsReflect(x, lo, hi float64) float64 {
	rng := hi - lo
	switch {
	case x < lo:
		dx := lo - x
		n := int(dx / rng)
		r := dx - float64(n)*rng
		if n%2 == 0 {
			return lo + r
		}
		return hi - r
	case x > hi:
		dx := x - hi
		n := int(dx / rng)
		r := dx - float64(n)*rng
		if n%2 == 0 {
			return hi - r
		}
		return lo + r
	}
	return x
}

func gsCubic(x float64) [4]float64 {
	const a = -0.75
	x = math.Abs(x)
	w := func(t float64) float64 { return cubicWeight(math.Abs(t), a) }
	return [4]float64{w(x + 1), w(x), w(1 - x), w(2 - x)}
}

// gridSampleKernel follows the ONNX reference: grid coordinates (last dim in x, y, z
// order) are denormalised per spatial dim, out-of-range coordinates are clamped or
// reflected, and the value is a tensor product of per-dim taps, each tap read with the
// padding mode (zeros outside, clamped, or reflected).
func gridSampleKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 2); err != nil {
		return nil, err
	}
	x, grid := in[0], in[1]
	r := x.Rank() - 2
	if r < 1 || grid.Rank() != x.Rank() || grid.Shape[grid.Rank()-1] != r || grid.Shape[0] != x.Shape[0] {
		return nil, fmt.Errorf("GridSample: X %v and grid %v do not fit", x.Shape, grid.Shape)
	}
	mode := attrs.String("mode", "linear")
	switch mode {
	case "bilinear":
		mode = "linear"
	case "bicubic":
		mode = "cubic"
	case "linear", "nearest", "cubic":
	default:
		return nil, fmt.Errorf("GridSample: unknown mode %q", mode)
	}
	pad := attrs.String("padding_mode", "zeros")
	align := attrs.Int("align_corners", 0) != 0
	xs, err := x.Floats()
	if err != nil {
		return nil, err
	}
	gs, err := grid.Floats()
	if err != nil {
		return nil, err
	}
	N, C := x.Shape[0], x.Shape[1]
	dims := x.Shape[2:]
	S := NumElems(dims)
	st := strides(dims)
	outSp := grid.Shape[1 : grid.Rank()-1]
	P := NumElems(outSp)
	lo, hi := make([]float64, r), make([]float64, r)
	for i, d := range dims {
		lo[i], hi[i] = -0.5, float64(d)-0.5
		if align {
			lo[i], hi[i] = 0, float64(d-1)
		}
	}
	// pixel index along dim i for integer coordinate k, or -1 for a zero.
	at := func(i, k int) int {
		d := dims[i]
		switch pad {
		case "zeros":
			if k < 0 || k >= d {
				return -1
			}
		case "border":
			k = min(max(k, 0), d-1)
		default:
			k = int(gsReflect(float64(k), lo[i], hi[i]))
			k = min(max(k, 0), d-1)
		}
		return k
	}
	y := make([]float64, N*C*P)
	idx := make([][]int, r)
	wts := make([][]float64, r)
	for n := 0; n < N; n++ {
		for p := 0; p < P; p++ {
			g := gs[(n*P+p)*r:][:r]
			for i := 0; i < r; i++ {
				d := dims[i]
				v := g[r-1-i]
				var c float64
				if align {
					c = (v + 1) / 2 * float64(d-1)
				} else {
					c = ((v+1)*float64(d) - 1) / 2
				}
				if mode == "nearest" {
					c = math.RoundToEven(c) // as the test data, for every rank
				}
				if c < lo[i] || c > hi[i] {
					if pad == "border" {
						c = math.Min(math.Max(c, 0), float64(d-1))
					} else if pad == "reflection" {
						c = gsReflect(c, lo[i], hi[i])
					}
				}
				switch mode {
				case "nearest":
					idx[i], wts[i] = []int{at(i, int(c))}, []float64{1}
				case "linear":
					k := int(math.Floor(c))
					f := c - float64(k)
					idx[i], wts[i] = []int{at(i, k), at(i, k+1)}, []float64{1 - f, f}
				case "cubic":
					k := int(math.Floor(c))
					w := gsCubic(c - float64(k))
					idx[i], wts[i] = []int{at(i, k-1), at(i, k), at(i, k+1), at(i, k+2)}, w[:]
				}
			}
			for c := 0; c < C; c++ {
				src := xs[(n*C+c)*S:][:S]
				sum := 0.0
				var rec func(i, off int, w float64)
				rec = func(i, off int, w float64) {
					if i == r {
						sum += w * src[off]
						return
					}
					for t, k := range idx[i] {
						if k < 0 || wts[i][t] == 0 {
							continue
						}
						rec(i+1, off+k*st[i], w*wts[i][t])
					}
				}
				rec(0, 0, 1)
				y[(n*C+c)*P+p] = sum
			}
		}
	}
	yt, err := Cast(MustFromSlice(append([]int{N, C}, outSp...), y), x.DType)
	return one(yt), err
}

// affineGridKernel: for each output position, the base coordinates (x, y[, z], 1) in
// [-1, 1] (pixel centres unless align_corners) times thetaᵀ.
func affineGridKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 2); err != nil {
		return nil, err
	}
	th, err := in[0].Floats()
	if err != nil {
		return nil, err
	}
	size, err := in[1].Ints()
	if err != nil {
		return nil, err
	}
	r := len(size) - 2
	if r < 1 || in[0].Rank() != 3 || in[0].Shape[1] != r || in[0].Shape[2] != r+1 {
		return nil, fmt.Errorf("AffineGrid: theta %v does not fit size %v", in[0].Shape, size)
	}
	align := attrs.Int("align_corners", 0) != 0
	N := int(size[0])
	sp := make([]int, r)
	for i := range sp {
		sp[i] = int(size[2+i])
	}
	P := NumElems(sp)
	base := func(k, d int) float64 {
		if d == 1 {
			return 0
		}
		if align {
			return -1 + 2*float64(k)/float64(d-1)
		}
		return (2*float64(k)+1)/float64(d) - 1
	}
	out := make([]float64, N*P*r)
	walk(sp, 0, P, func(p int, pos []int) {
		// coordinates in x, y, z order: the last spatial dim first
		coord := make([]float64, r+1)
		for i := 0; i < r; i++ {
			d := r - 1 - i
			coord[i] = base(pos[d], sp[d])
		}
		coord[r] = 1
		for n := 0; n < N; n++ {
			t := th[n*r*(r+1):]
			for i := 0; i < r; i++ {
				s := 0.0
				for j := 0; j <= r; j++ {
					s += t[i*(r+1)+j] * coord[j]
				}
				out[(n*P+p)*r+i] = s
			}
		}
	})
	y, err := Cast(MustFromSlice(append(append([]int{N}, sp...), r), out), in[0].DType)
	return one(y), err
}

// col2ImKernel sums each column block [C·∏block, L] back into the padded image.
func col2ImKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 3); err != nil {
		return nil, err
	}
	x := in[0]
	img, err := in[1].Ints()
	if err != nil {
		return nil, err
	}
	blk, err := in[2].Ints()
	if err != nil {
		return nil, err
	}
	r := len(img)
	if x.Rank() != 3 || len(blk) != r {
		return nil, fmt.Errorf("Col2Im: input %v, image %v and block %v do not fit", x.Shape, img, blk)
	}
	dil, str := attrInts(attrs, "dilations", r, 1), attrInts(attrs, "strides", r, 1)
	pads := attrInts(attrs, "pads", 2*r, 0)
	bd, id := make([]int, r), make([]int, r)
	nb := make([]int, r) // blocks per dim
	L := 1
	for i := 0; i < r; i++ {
		bd[i], id[i] = int(blk[i]), int(img[i])
		nb[i] = (id[i]+pads[i]+pads[i+r]-dil[i]*(bd[i]-1)-1)/str[i] + 1
		L *= nb[i]
	}
	K := NumElems(bd)
	N := x.Shape[0]
	if x.Shape[1]%K != 0 || x.Shape[2] != L {
		return nil, fmt.Errorf("Col2Im: input %v does not fit %d blocks of %d", x.Shape, L, K)
	}
	C := x.Shape[1] / K
	xs, err := x.Floats()
	if err != nil {
		return nil, err
	}
	S := NumElems(id)
	ist := strides(id)
	out := make([]float64, N*C*S)
	for n := 0; n < N; n++ {
		for c := 0; c < C; c++ {
			walk(bd, 0, K, func(k int, kp []int) {
				walk(nb, 0, L, func(l int, lp []int) {
					off := 0
					for d := 0; d < r; d++ {
						p := lp[d]*str[d] - pads[d] + kp[d]*dil[d]
						if p < 0 || p >= id[d] {
							return
						}
						off += p * ist[d]
					}
					out[(n*C+c)*S+off] += xs[((n*C+c)*K+k)*L+l]
				})
			})
		}
	}
	y, err := Cast(MustFromSlice(append([]int{N, C}, id...), out), x.DType)
	return one(y), err
}
