// Package demo is ciuic's built-in example: a transformer block in the Ciuic model language
// and a deterministic generator for its weights.
package demo

import (
	_ "embed"
	"math"
	"math/rand/v2"

	"github.com/ciuic/ciuic/ir"
)

// Source is the model text of the demo block; it reads its weights from "block.safetensors".
//
//go:embed block.ciu
var Source []byte

// WeightsFile is the weights file name Source refers to.
const WeightsFile = "block.safetensors"

// Weights returns the demo block's weights, drawn from a fixed seed: projections are
// uniform in ±1/sqrt(fan_in) (as PyTorch initialises Linear), norms start at scale 1, bias 0.
func Weights() map[string]*ir.Tensor {
	r := rand.New(rand.NewPCG(1, 2))
	uniform := func(fanIn int, shape ...int64) *ir.Tensor {
		n := int64(1)
		for _, d := range shape {
			n *= d
		}
		bound := 1 / math.Sqrt(float64(fanIn))
		v := make([]float32, n)
		for i := range v {
			v[i] = float32((2*r.Float64() - 1) * bound)
		}
		return ir.NewTensorF32(shape, v)
	}
	fill := func(x float32, n int64) *ir.Tensor {
		v := make([]float32, n)
		for i := range v {
			v[i] = x
		}
		return ir.NewTensorF32([]int64{n}, v)
	}
	const d, ff = 64, 256
	return map[string]*ir.Tensor{
		"ln1.scale": fill(1, d), "ln1.bias": fill(0, d),
		"ln2.scale": fill(1, d), "ln2.bias": fill(0, d),
		"attn.wq": uniform(d, d, d), "attn.bq": uniform(d, d),
		"attn.wk": uniform(d, d, d), "attn.bk": uniform(d, d),
		"attn.wv": uniform(d, d, d), "attn.bv": uniform(d, d),
		"attn.wo": uniform(d, d, d), "attn.bo": uniform(d, d),
		"mlp.w1": uniform(d, d, ff), "mlp.b1": uniform(d, ff),
		"mlp.w2": uniform(ff, ff, d), "mlp.b2": uniform(ff, d),
	}
}
