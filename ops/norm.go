package ops

import (
	"fmt"
	"math"

	"github.com/ciuic/ciuic/ir"
)

func init() {
	Register("", "Softmax", softmaxKernel(false), floatTypes...)
	Register("", "LogSoftmax", softmaxKernel(true), floatTypes...)
	Register("", "BatchNormalization", batchNormKernel, floatTypes...)
	Register("", "LayerNormalization", layerNormKernel, floatTypes...)
	Register("", "InstanceNormalization", instanceNormKernel, floatTypes...)
}

// Softmax and LogSoftmax with opset-13 semantics: along one axis (default -1). The
// row maximum is subtracted before exponentiating and sums accumulate in float64.
func softmaxKernel(log bool) Kernel {
	return func(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
		if err := need(in, 1); err != nil {
			return nil, err
		}
		x := in[0]
		if x.Rank() == 0 {
			return nil, fmt.Errorf("softmax of a scalar")
		}
		axis, err := normAxis(attrs.Int("axis", -1), x.Rank())
		if err != nil {
			return nil, err
		}
		outer, dim, inner := NumElems(x.Shape[:axis]), x.Shape[axis], NumElems(x.Shape[axis+1:])
		switch x.DType {
		case ir.F32:
			y := New(ir.F32, x.Shape...)
			softmaxT(ctx, x.F32(), y.F32(), outer, dim, inner, log)
			return one(y), nil
		case ir.F64:
			y := New(ir.F64, x.Shape...)
			softmaxT(ctx, Elems[float64](x), Elems[float64](y), outer, dim, inner, log)
			return one(y), nil
		case ir.F16, ir.BF16:
			y, err := viaF32(x.DType, func(t ...*Tensor) (*Tensor, error) {
				r, err := softmaxKernel(log)(ctx, t, attrs)
				if err != nil {
					return nil, err
				}
				return r[0], nil
			}, x)
			return one(y), err
		}
		return nil, fmt.Errorf("unsupported dtype %s", x.DType)
	}
}

func softmaxT[T Float](ctx *KernelContext, x, y []T, outer, dim, inner int, log bool) {
	ctx.ParallelFor(outer*inner, max(1, 4096/max(dim, 1)), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			o, i := r/inner, r%inner
			base := o*dim*inner + i
			m := math.Inf(-1)
			for k := 0; k < dim; k++ {
				m = max(m, float64(x[base+k*inner]))
			}
			if math.IsInf(m, 0) {
				m = 0 // keeps exp(x-m) defined when the row holds infinities
			}
			sum := 0.0
			for k := 0; k < dim; k++ {
				sum += math.Exp(float64(x[base+k*inner]) - m)
			}
			for k := 0; k < dim; k++ {
				v := float64(x[base+k*inner]) - m
				if log {
					y[base+k*inner] = T(v - math.Log(sum))
				} else {
					y[base+k*inner] = T(math.Exp(v) / sum)
				}
			}
		}
	})
}

// BatchNormalization in inference mode: y = (x - mean) / sqrt(var + epsilon) * scale + B,
// the statistics indexed by channel (dim 1).
func batchNormKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 5); err != nil {
		return nil, err
	}
	if attrs.Int("training_mode", 0) != 0 {
		return batchNormTraining(ctx, in, attrs) // ops/more_norm.go
	}
	x := in[0]
	if x.Rank() < 2 {
		return nil, fmt.Errorf("BatchNormalization: input %v needs a channel dim", x.Shape)
	}
	C := x.Shape[1]
	var p [4][]float64
	for i := range p {
		t := in[i+1]
		if t.Len() != C {
			return nil, fmt.Errorf("BatchNormalization: input %d has shape %v, want [%d]", i+1, t.Shape, C)
		}
		v, err := t.Floats()
		if err != nil {
			return nil, err
		}
		p[i] = v
	}
	scale, bias, mean, variance := p[0], p[1], p[2], p[3]
	eps := float64(attrs.Float("epsilon", 1e-5))
	// Fold into y = x*a + b per channel.
	a, b := make([]float64, C), make([]float64, C)
	for c := range a {
		a[c] = scale[c] / math.Sqrt(variance[c]+eps)
		b[c] = bias[c] - mean[c]*a[c]
	}
	inner := NumElems(x.Shape[2:])
	y, err := mapChannels(ctx, x, C, inner, func(c int, v float64) float64 { return v*a[c] + b[c] })
	if err != nil {
		return nil, fmt.Errorf("BatchNormalization: %v", err)
	}
	return one(y), nil
}

// mapChannels applies f(channel, value) to each element of an (N, C, inner...) tensor.
func mapChannels(ctx *KernelContext, x *Tensor, C, inner int, f func(c int, v float64) float64) (*Tensor, error) {
	ch := func(i int) int { return (i / inner) % C }
	switch x.DType {
	case ir.F32:
		xs := x.F32()
		y := New(ir.F32, x.Shape...)
		ys := y.F32()
		ctx.ParallelFor(len(xs), elemGrain, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				ys[i] = float32(f(ch(i), float64(xs[i])))
			}
		})
		return y, nil
	case ir.F64:
		xs := Elems[float64](x)
		y := New(ir.F64, x.Shape...)
		ys := Elems[float64](y)
		for i := range xs {
			ys[i] = f(ch(i), xs[i])
		}
		return y, nil
	case ir.F16, ir.BF16:
		return viaF32(x.DType, func(t ...*Tensor) (*Tensor, error) { return mapChannels(ctx, t[0], C, inner, f) }, x)
	}
	return nil, fmt.Errorf("unsupported dtype %s", x.DType)
}

// LayerNormalization normalizes over dims [axis, rank) with statistics accumulated in
// float64; outputs Y and optionally Mean and InvStdDev (shape X[:axis] + 1s).
func layerNormKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 2); err != nil {
		return nil, err
	}
	x, scale, bias := in[0], in[1], input(in, 2)
	axis, err := normAxis(attrs.Int("axis", -1), x.Rank())
	if err != nil {
		return nil, fmt.Errorf("LayerNormalization: %v", err)
	}
	eps := float64(attrs.Float("epsilon", 1e-5))
	outer, norm := NumElems(x.Shape[:axis]), NumElems(x.Shape[axis:])
	nshape := x.Shape[axis:]
	param := func(t *Tensor, name string) ([]float64, []int, error) {
		if t == nil {
			return nil, nil, nil
		}
		if s, err := broadcastShapes(nshape, t.Shape); err != nil || !sameShape(s, nshape) {
			return nil, nil, fmt.Errorf("LayerNormalization: %s %v does not broadcast to normalized shape %v", name, t.Shape, nshape)
		}
		v, err := t.Floats()
		return v, bcastIndex(nshape, t.Shape), err
	}
	sv, si, err := param(scale, "Scale")
	if err != nil {
		return nil, err
	}
	bv, bi, err := param(bias, "B")
	if err != nil {
		return nil, err
	}
	xf, err := Cast(x, ir.F64)
	if err != nil {
		return nil, err
	}
	xs := xf.Data.([]float64)
	ys := make([]float64, len(xs))
	means, invs := make([]float64, outer), make([]float64, outer)
	ctx.ParallelFor(outer, max(1, 4096/max(norm, 1)), func(lo, hi int) {
		for o := lo; o < hi; o++ {
			row := xs[o*norm:][:norm]
			sum := 0.0
			for _, v := range row {
				sum += v
			}
			mean := sum / float64(norm)
			sq := 0.0
			for _, v := range row {
				sq += (v - mean) * (v - mean)
			}
			inv := 1 / math.Sqrt(sq/float64(norm)+eps)
			means[o], invs[o] = mean, inv
			yrow := ys[o*norm:][:norm]
			for j, v := range row {
				r := (v - mean) * inv * sv[si[j]]
				if bv != nil {
					r += bv[bi[j]]
				}
				yrow[j] = r
			}
		}
	})
	y, err := Cast(MustFromSlice(x.Shape, ys), x.DType)
	if err != nil {
		return nil, err
	}
	outs := []*Tensor{y}
	if ctx.numOutputs() > 1 {
		sshape := append([]int{}, x.Shape...)
		for i := axis; i < len(sshape); i++ {
			sshape[i] = 1
		}
		// Mean and InvStdDev have the stash type (ONNX code 1, f32, by default).
		st, ok := ir.DTypeFromONNX(attrs.Int("stash_type", 1))
		if !ok || !st.IsFloat() {
			st = ir.F32
		}
		for _, v := range [][]float64{means, invs} {
			t, err := Cast(MustFromSlice(sshape, v), st)
			if err != nil {
				return nil, err
			}
			outs = append(outs, t)
		}
	}
	return outs[:min(len(outs), ctx.numOutputs())], nil
}

// InstanceNormalization normalizes each (n, c) plane: y = scale[c] * (x - mean) / sqrt(var + eps) + B[c].
func instanceNormKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 3); err != nil {
		return nil, err
	}
	x := in[0]
	if x.Rank() < 3 {
		return nil, fmt.Errorf("InstanceNormalization: input %v must be (N, C, spatial...)", x.Shape)
	}
	C := x.Shape[1]
	scale, err1 := in[1].Floats()
	bias, err2 := in[2].Floats()
	if err1 != nil || err2 != nil || len(scale) != C || len(bias) != C {
		return nil, fmt.Errorf("InstanceNormalization: scale %v and B %v must be [%d]", in[1].Shape, in[2].Shape, C)
	}
	eps := float64(attrs.Float("epsilon", 1e-5))
	inner := NumElems(x.Shape[2:])
	xf, err := Cast(x, ir.F64)
	if err != nil {
		return nil, err
	}
	xs := xf.Data.([]float64)
	ys := make([]float64, len(xs))
	for p := 0; p < len(xs)/max(inner, 1); p++ {
		c := p % C
		row := xs[p*inner:][:inner]
		mean, sq := 0.0, 0.0
		for _, v := range row {
			mean += v
		}
		mean /= float64(inner)
		for _, v := range row {
			sq += (v - mean) * (v - mean)
		}
		inv := 1 / math.Sqrt(sq/float64(inner)+eps)
		for j, v := range row {
			ys[p*inner+j] = (v-mean)*inv*scale[c] + bias[c]
		}
	}
	y, err := Cast(MustFromSlice(x.Shape, ys), x.DType)
	return one(y), err
}
