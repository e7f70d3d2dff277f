package ops

import (
	"fmt"
	"math"

	"github.com/ciuic/ciuic/ir"
)

func init() {
	Register("", "DFT", dftKernel, floatTypes...)
}

// dftKernel computes the DFT directly (O(N²) per signal, in float64). The input is
// zero-padded or truncated to dft_length; an inverse one-sided input is first
// completed by Hermitian symmetry and gives a real output.
func dftKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	x := in[0]
	r := x.Rank()
	if r < 2 || (x.Shape[r-1] != 1 && x.Shape[r-1] != 2) {
		return nil, fmt.Errorf("DFT: input %v must end in a dim of 1 (real) or 2 (complex)", x.Shape)
	}
	axis := int64(-2)
	if t := input(in, 2); t != nil {
		v, err := t.Ints()
		if err != nil || len(v) != 1 {
			return nil, fmt.Errorf("DFT: axis must be an integer scalar")
		}
		axis = v[0]
	}
	a, err := ir.DFTAxis(axis, r)
	if err != nil {
		return nil, fmt.Errorf("DFT: %v", err)
	}
	inv, onesided := attrs.Int("inverse", 0) != 0, attrs.Int("onesided", 0) != 0
	xs, err := x.Floats()
	if err != nil {
		return nil, err
	}
	inLen, comps := x.Shape[a], x.Shape[r-1]
	N := inLen
	if inv && onesided {
		N = 2 * (inLen - 1)
	}
	if t := input(in, 1); t != nil {
		v, err := t.Ints()
		if err != nil || len(v) != 1 || v[0] < 1 {
			return nil, fmt.Errorf("DFT: dft_length must be a positive integer scalar")
		}
		N = int(v[0])
	}
	outLen, outComps := N, 2
	if onesided && !inv {
		outLen = N/2 + 1
	}
	if inv && onesided {
		outComps = 1
	}
	outer, inner := NumElems(x.Shape[:a]), NumElems(x.Shape[a+1:r-1])
	outShape := append([]int{}, x.Shape...)
	outShape[a], outShape[r-1] = outLen, outComps
	y := make([]float64, outer*outLen*inner*outComps)
	sign := -1.0
	if inv {
		sign = 1
	}
	re, im := make([]float64, N), make([]float64, N)
	for o := 0; o < outer; o++ {
		for i := 0; i < inner; i++ {
			for k := range re {
				re[k], im[k] = 0, 0
			}
			for t := 0; t < min(inLen, N); t++ {
				base := ((o*inLen+t)*inner + i) * comps
				re[t] = xs[base]
				if comps == 2 {
					im[t] = xs[base+1]
				}
			}
			if inv && onesided {
				for t := inLen; t < N; t++ { // X[N-k] = conj(X[k])
					re[t], im[t] = re[N-t], -im[N-t]
				}
			}
			for k := 0; k < outLen; k++ {
				var sr, si float64
				for t := 0; t < N; t++ {
					ang := sign * 2 * math.Pi * float64((k*t)%N) / float64(N)
					c, s := math.Cos(ang), math.Sin(ang)
					sr += re[t]*c - im[t]*s
					si += re[t]*s + im[t]*c
				}
				if inv {
					sr /= float64(N)
					si /= float64(N)
				}
				base := ((o*outLen+k)*inner + i) * outComps
				y[base] = sr
				if outComps == 2 {
					y[base+1] = si
				}
			}
		}
	}
	yt, err := Cast(MustFromSlice(outShape, y), x.DType)
	return one(yt), err
}
