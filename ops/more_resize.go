package ops

import (
	"fmt"
	"math"

	"github.com/ciuic/ciuic/ir"
)

func init() {
	Register("", "Resize", resizeKernel, numericTypes...)
}

// resizeOpts are Resize's attributes.
type resizeOpts struct {
	mode, coord, nearest string
	a, extrapolation     float64
	exclude, antialias   bool
}

// resizeKernel resizes X (inputs X, roi, scales, sizes) one axis at a time, which for
// the separable interpolation of the ONNX reference gives the same result: along an
// axis, output index x maps to x_original by the coordinate transformation, and the
// output is a weighted sum of the input points nearest to it (edge values past the
// ends), weights from the nearest, linear or cubic kernel (stretched by 1/scale when
// antialiasing a downscale).
func resizeKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	x := in[0]
	var scales []float64
	var sizes []int64
	var err error
	if s := input(in, 3); s != nil {
		if sizes, err = s.Ints(); err != nil {
			return nil, fmt.Errorf("Resize: sizes: %v", err)
		}
	} else if s := input(in, 2); s != nil {
		if scales, err = s.Floats(); err != nil {
			return nil, fmt.Errorf("Resize: scales: %v", err)
		}
	}
	inShape := make([]int64, x.Rank())
	for i, d := range x.Shape {
		inShape[i] = int64(d)
	}
	axes, _ := attrs.Ints("axes")
	outShape, sc, err := ir.ResizePlan(inShape, scales, sizes, axes, attrs.String("keep_aspect_ratio_policy", "stretch"))
	if err != nil {
		return nil, fmt.Errorf("Resize: %v", err)
	}
	o := resizeOpts{
		mode: attrs.String("mode", "nearest"), coord: attrs.String("coordinate_transformation_mode", "half_pixel"),
		nearest: attrs.String("nearest_mode", "round_prefer_floor"), a: float64(attrs.Float("cubic_coeff_a", -0.75)),
		extrapolation: float64(attrs.Float("extrapolation_value", 0)), exclude: attrs.Int("exclude_outside", 0) != 0,
		antialias: attrs.Int("antialias", 0) != 0,
	}
	// roi: starts then ends, for the resized axes (all dims if axes is empty).
	roiStart, roiEnd := make([]float64, x.Rank()), make([]float64, x.Rank())
	for i := range roiEnd {
		roiEnd[i] = 1
	}
	if r := input(in, 1); r != nil && o.coord == "tf_crop_and_resize" {
		rv, err := r.Floats()
		if err != nil {
			return nil, err
		}
		ax := make([]int, 0)
		if len(axes) == 0 {
			for i := 0; i < x.Rank(); i++ {
				ax = append(ax, i)
			}
		} else {
			for _, a := range axes {
				k, _ := normAxis(a, x.Rank())
				ax = append(ax, k)
			}
		}
		if len(rv) != 2*len(ax) {
			return nil, fmt.Errorf("Resize: roi has %d values for %d axes", len(rv), len(ax))
		}
		for i, a := range ax {
			roiStart[a], roiEnd[a] = rv[i], rv[len(ax)+i]
		}
	}
	data, err := x.Floats()
	if err != nil {
		return nil, err
	}
	shape := append([]int(nil), x.Shape...)
	for ax := x.Rank() - 1; ax >= 0; ax-- {
		if int64(shape[ax]) == outShape[ax] && sc[ax] == 1 && o.coord != "tf_crop_and_resize" {
			continue
		}
		data, shape, err = resizeAxis(data, shape, ax, int(outShape[ax]), sc[ax], roiStart[ax], roiEnd[ax], o)
		if err != nil {
			return nil, err
		}
	}
	if !x.DType.IsFloat() {
		for i, v := range data {
			data[i] = math.RoundToEven(v)
		}
	}
	y, err := Cast(MustFromSlice(shape, data), x.DType)
	return one(y), err
}

// resizeAxis resizes axis ax of data (shape) to outLen.
func resizeAxis(data []float64, shape []int, ax, outLen int, scale, roiStart, roiEnd float64, o resizeOpts) ([]float64, []int, error) {
	inLen := shape[ax]
	outer, inner := NumElems(shape[:ax]), NumElems(shape[ax+1:])
	// Per output index: the input indices and weights (or extrapolate).
	type tap struct {
		idx []int
		w   []float64
		ext bool
	}
	taps := make([]tap, outLen)
	for xr := 0; xr < outLen; xr++ {
		xo, err := resizeCoord(o.coord, float64(xr), scale, inLen, outLen, roiStart, roiEnd)
		if err != nil {
			return nil, nil, err
		}
		if o.coord == "tf_crop_and_resize" && (xo < 0 || xo > float64(inLen-1)) {
			taps[xr].ext = true
			continue
		}
		x0 := math.Ceil(xo) - 1
		ratio := xo - x0 // in (0, 1]: the point left of xo is preferred
		var w []float64
		start := 0
		switch o.mode {
		case "nearest":
			near := ratio == 1
			if !near {
				switch o.nearest {
				case "round_prefer_floor":
					near = ratio > 0.5
				case "round_prefer_ceil":
					near = ratio >= 0.5
				case "floor":
					near = false
				case "ceil":
					near = true
				default:
					return nil, nil, fmt.Errorf("Resize: unknown nearest_mode %q", o.nearest)
				}
			}
			w = []float64{1, 0}
			if near {
				w = []float64{0, 1}
			}
		case "linear":
			s := 1.0
			if o.antialias && scale < 1 {
				s = scale
			}
			start = int(math.Floor(-1/s) + 1)
			for i := start; i < 2-start; i++ {
				w = append(w, math.Max(0, 1-math.Abs((float64(i)-ratio)*s)))
			}
		case "cubic":
			s := 1.0
			if o.antialias && scale < 1 {
				s = scale
			}
			start = int(math.Floor(-2/s) + 1)
			for i := start; i < 2-start; i++ {
				w = append(w, cubicWeight(math.Abs((float64(i)-ratio)*s), o.a))
			}
		default:
			return nil, nil, fmt.Errorf("Resize: unknown mode %q", o.mode)
		}
		idx := make([]int, len(w))
		sum := 0.0
		for i := range w {
			p := int(x0) + start + i
			if o.exclude && (p < 0 || p >= inLen) {
				w[i] = 0
			}
			idx[i] = min(max(p, 0), inLen-1)
			sum += w[i]
		}
		if o.mode != "nearest" && sum != 0 {
			for i := range w {
				w[i] /= sum
			}
		}
		taps[xr] = tap{idx: idx, w: w}
	}
	out := make([]float64, outer*outLen*inner)
	for ob := 0; ob < outer; ob++ {
		src := data[ob*inLen*inner:]
		dst := out[ob*outLen*inner:]
		for xr, t := range taps {
			row := dst[xr*inner:][:inner]
			if t.ext {
				for i := range row {
					row[i] = o.extrapolation
				}
				continue
			}
			for k, p := range t.idx {
				w := t.w[k]
				if w == 0 {
					continue
				}
				s := src[p*inner:][:inner]
				for i := range row {
					row[i] += w * s[i]
				}
			}
		}
	}
	shape = append([]int(nil), shape...)
	shape[ax] = outLen
	return out, shape, nil
}

// cubicWeight is the cubic convolution kernel with coefficient a at distance x >= 0.
func cubicWeight(x, a float64) float64 {
	switch {
	case x <= 1:
		return ((a+2)*x-(a+3))*x*x + 1
	case x < 2:
		return ((a*x-5*a)*x+8*a)*x - 4*a
	}
	return 0
}

// resizeCoord maps output coordinate x to the input coordinate.
// As in the reference, the output length in the formulas is scale·inLen, not rounded.
func resizeCoord(mode string, x, scale float64, inLen, outLen int, roiStart, roiEnd float64) (float64, error) {
	outW := scale * float64(inLen)
	switch mode {
	case "half_pixel":
		return (x+0.5)/scale - 0.5, nil
	case "half_pixel_symmetric":
		adj := float64(outLen) / outW
		center := float64(inLen) / 2
		return center*(1-adj) + (x+0.5)/scale - 0.5, nil
	case "pytorch_half_pixel":
		if outW > 1 {
			return (x+0.5)/scale - 0.5, nil
		}
		return 0, nil
	case "align_corners":
		if outW == 1 {
			return 0, nil
		}
		return x * float64(inLen-1) / (outW - 1), nil
	case "asymmetric":
		return x / scale, nil
	case "tf_crop_and_resize":
		if outW > 1 {
			return roiStart*float64(inLen-1) + x*(roiEnd-roiStart)*float64(inLen-1)/(outW-1), nil
		}
		return 0.5 * (roiStart + roiEnd) * float64(inLen-1), nil
	}
	return 0, fmt.Errorf("Resize: unknown coordinate_transformation_mode %q", mode)
}
