package ops

import (
	"fmt"
	"math"

	"github.com/ciuic/ciuic/ir"
)

func init() {
	Register("", "RMSNormalization", onnxRMSNormKernel, floatTypes...)
	Register("", "NegativeLogLikelihoodLoss", nllKernel, floatTypes...)
	Register("", "SoftmaxCrossEntropyLoss", sceKernel, floatTypes...)
}

// RMSNormalization: y = x / sqrt(mean(x² over dims axis..) + epsilon) * scale, with the
// statistics accumulated in float64.
func onnxRMSNormKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 2); err != nil {
		return nil, err
	}
	x, scale := in[0], in[1]
	axis, err := normAxis(attrs.Int("axis", -1), x.Rank())
	if err != nil {
		return nil, fmt.Errorf("RMSNormalization: %v", err)
	}
	eps := float64(attrs.Float("epsilon", 1e-5))
	outer, norm := NumElems(x.Shape[:axis]), NumElems(x.Shape[axis:])
	nshape := x.Shape[axis:]
	if s, err := broadcastShapes(nshape, scale.Shape); err != nil || !sameShape(s, nshape) {
		return nil, fmt.Errorf("RMSNormalization: scale %v does not broadcast to normalized shape %v", scale.Shape, nshape)
	}
	sv, err := scale.Floats()
	if err != nil {
		return nil, err
	}
	si := bcastIndex(nshape, scale.Shape)
	xs, err := x.Floats()
	if err != nil {
		return nil, err
	}
	ys := make([]float64, len(xs))
	ctx.ParallelFor(outer, max(1, 4096/max(norm, 1)), func(lo, hi int) {
		for o := lo; o < hi; o++ {
			row := xs[o*norm:][:norm]
			sq := 0.0
			for _, v := range row {
				sq += v * v
			}
			inv := 1 / math.Sqrt(sq/float64(norm)+eps)
			for j, v := range row {
				ys[o*norm+j] = v * inv * sv[si[j]]
			}
		}
	})
	y, err := Cast(MustFromSlice(x.Shape, ys), x.DType)
	return one(y), err
}

// nllLoss computes NegativeLogLikelihoodLoss on log-probabilities lp (N, C, d...) as in
// the ONNX reference: loss[n, d] = -lp[n, t, d] * weight[t] with t = target[n, d]; an
// ignored target contributes 0 and weighs 0. "mean" divides by the total weight when
// there are weights or an ignore_index, else by the number of elements.
func nllLoss(op string, lp []float64, shape []int, target *Tensor, weight *Tensor, attrs ir.Attrs) (*Tensor, error) {
	N, C := shape[0], shape[1]
	D := NumElems(shape[2:])
	ts, err := target.Ints()
	if err != nil {
		return nil, err
	}
	if len(ts) != N*D {
		return nil, fmt.Errorf("%s: target %v does not match input %v", op, target.Shape, shape)
	}
	var w []float64
	if weight != nil {
		if w, err = weight.Floats(); err != nil {
			return nil, err
		}
		if len(w) != C {
			return nil, fmt.Errorf("%s: weight %v must have %d elements", op, weight.Shape, C)
		}
	}
	ignore, hasIgnore := attrs.Int("ignore_index", 0), attrs.Has("ignore_index")
	loss := make([]float64, N*D)
	wsum := 0.0
	for n := 0; n < N; n++ {
		for d := 0; d < D; d++ {
			t := ts[n*D+d]
			if hasIgnore && t == ignore {
				continue
			}
			if t < 0 || t >= int64(C) {
				return nil, fmt.Errorf("%s: target %d at [%d, %d] is outside [0, %d)", op, t, n, d, C)
			}
			wt := 1.0
			if w != nil {
				wt = w[t]
			}
			loss[n*D+d] = -lp[(n*C+int(t))*D+d] * wt
			wsum += wt
		}
	}
	var out *Tensor
	switch r := attrs.String("reduction", "mean"); r {
	case "none":
		out = MustFromSlice(append([]int{N}, shape[2:]...), loss)
	case "sum", "mean":
		s := 0.0
		for _, v := range loss {
			s += v
		}
		if r == "mean" {
			if w != nil || hasIgnore {
				s /= wsum
			} else {
				s /= float64(len(loss))
			}
		}
		out = Scalar(s)
	default:
		return nil, fmt.Errorf("%s: unknown reduction %q", op, r)
	}
	return out, nil
}

func nllKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 2); err != nil {
		return nil, err
	}
	x := in[0]
	if x.Rank() < 2 {
		return nil, fmt.Errorf("NegativeLogLikelihoodLoss: input %v must be (N, C, d...)", x.Shape)
	}
	xs, err := x.Floats()
	if err != nil {
		return nil, err
	}
	loss, err := nllLoss("NegativeLogLikelihoodLoss", xs, x.Shape, in[1], input(in, 2), attrs)
	if err != nil {
		return nil, err
	}
	out, err := Cast(loss, x.DType)
	return one(out), err
}

// SoftmaxCrossEntropyLoss is NegativeLogLikelihoodLoss of LogSoftmax(scores) along axis 1.
func sceKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 2); err != nil {
		return nil, err
	}
	x := in[0]
	if x.Rank() < 2 {
		return nil, fmt.Errorf("SoftmaxCrossEntropyLoss: scores %v must be (N, C, d...)", x.Shape)
	}
	xs, err := x.Floats()
	if err != nil {
		return nil, err
	}
	N, C, D := x.Shape[0], x.Shape[1], NumElems(x.Shape[2:])
	lp := make([]float64, len(xs))
	for n := 0; n < N; n++ {
		for d := 0; d < D; d++ {
			m := math.Inf(-1)
			for c := 0; c < C; c++ {
				m = max(m, xs[(n*C+c)*D+d])
			}
			s := 0.0
			for c := 0; c < C; c++ {
				s += math.Exp(xs[(n*C+c)*D+d] - m)
			}
			ls := math.Log(s)
			for c := 0; c < C; c++ {
				i := (n*C+c)*D + d
				lp[i] = xs[i] - m - ls
			}
		}
	}
	loss, err := nllLoss("SoftmaxCrossEntropyLoss", lp, x.Shape, in[1], input(in, 2), attrs)
	if err != nil {
		return nil, err
	}
	out, err := Cast(loss, x.DType)
	if err != nil {
		return nil, err
	}
	outs := []*Tensor{out}
	if ctx.numOutputs() > 1 {
		l, err := Cast(MustFromSlice(x.Shape, lp), x.DType)
		if err != nil {
			return nil, err
		}
		outs = append(outs, l)
	}
	return outs, nil
}
