package ops

import (
	"fmt"
	"math"

	"github.com/ciuic/ciuic/ir"
)

// batchNormTraining is BatchNormalization with training_mode=1: y is normalised with
// the batch's own mean and (population) variance per channel, and the running
// statistics are updated as mean·momentum + batch·(1-momentum).
func batchNormTraining(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	x := in[0]
	if x.Rank() < 2 {
		return nil, fmt.Errorf("BatchNormalization: input %v needs a channel dim", x.Shape)
	}
	N, C, inner := x.Shape[0], x.Shape[1], NumElems(x.Shape[2:])
	vals := make([][]float64, 5)
	for i := range vals {
		v, err := in[i].Floats()
		if err != nil {
			return nil, err
		}
		if i > 0 && len(v) != C {
			return nil, fmt.Errorf("BatchNormalization: input %d has shape %v, want [%d]", i, in[i].Shape, C)
		}
		vals[i] = v
	}
	xs, scale, bias, rmean, rvar := vals[0], vals[1], vals[2], vals[3], vals[4]
	eps := attrF(attrs, "epsilon", 1e-5)
	mom := attrF(attrs, "momentum", 0.9)
	y := make([]float64, len(xs))
	nm, nv := make([]float64, C), make([]float64, C)
	cnt := float64(N * inner)
	for c := 0; c < C; c++ {
		sum := 0.0
		for n := 0; n < N; n++ {
			for _, v := range xs[(n*C+c)*inner:][:inner] {
				sum += v
			}
		}
		mean := sum / cnt
		sq := 0.0
		for n := 0; n < N; n++ {
			for _, v := range xs[(n*C+c)*inner:][:inner] {
				sq += (v - mean) * (v - mean)
			}
		}
		variance := sq / cnt
		inv := 1 / math.Sqrt(variance+eps)
		for n := 0; n < N; n++ {
			base := (n*C + c) * inner
			for i, v := range xs[base:][:inner] {
				y[base+i] = (v-mean)*inv*scale[c] + bias[c]
			}
		}
		nm[c] = rmean[c]*mom + mean*(1-mom)
		nv[c] = rvar[c]*mom + variance*(1-mom)
	}
	yt, err := Cast(MustFromSlice(x.Shape, y), x.DType)
	if err != nil {
		return nil, err
	}
	mt, err := Cast(MustFromSlice([]int{C}, nm), in[3].DType)
	if err != nil {
		return nil, err
	}
	vt, err := Cast(MustFromSlice([]int{C}, nv), in[4].DType)
	if err != nil {
		return nil, err
	}
	return []*Tensor{yt, mt, vt}[:min(3, ctx.numOutputs())], nil
}
