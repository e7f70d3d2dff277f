package ops

import (
	"fmt"
	"math"

	"github.com/ciuic/ciuic/ir"
)

func init() {
	Register("", "LinearAttention", linearAttentionKernel, floatTypes...)
}

// linearAttentionKernel runs the recurrence of ONNX LinearAttention per batch and kv
// head, state S [dk, dv] (from past_state or zeros), for each step t:
//
//	gated rules:  S *= exp(decay_t)          (decay per key dim, or per head)
//	delta rules:  S += k_t ⊗ beta_t·(v_t - Sᵀk_t)
//	otherwise:    S += k_t ⊗ v_t
//	output_t = scale · qᵀS for each query head of the group (h / (Hq/Hkv)).
func linearAttentionKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 3); err != nil {
		return nil, err
	}
	Hq, Hkv := int(attrs.Int("q_num_heads", 0)), int(attrs.Int("kv_num_heads", 0))
	qT, kT, vT := in[0], in[1], in[2]
	if Hq <= 0 || Hkv <= 0 || Hq%Hkv != 0 || qT.Rank() != 3 || kT.Rank() != 3 || vT.Rank() != 3 {
		return nil, fmt.Errorf("LinearAttention: bad heads %d/%d or inputs %v %v %v", Hq, Hkv, qT.Shape, kT.Shape, vT.Shape)
	}
	B, T := qT.Shape[0], qT.Shape[1]
	dk, dv := kT.Shape[2]/Hkv, vT.Shape[2]/Hkv
	if qT.Shape[2] != Hq*dk {
		return nil, fmt.Errorf("LinearAttention: query %v does not hold %d heads of %d", qT.Shape, Hq, dk)
	}
	get := func(t *Tensor) ([]float64, error) {
		if t == nil {
			return nil, nil
		}
		return t.Floats()
	}
	q, err := get(qT)
	if err != nil {
		return nil, err
	}
	k, err := get(kT)
	if err != nil {
		return nil, err
	}
	v, err := get(vT)
	if err != nil {
		return nil, err
	}
	past, err := get(input(in, 3))
	if err != nil {
		return nil, err
	}
	decay, err := get(input(in, 4))
	if err != nil {
		return nil, err
	}
	beta, err := get(input(in, 5))
	if err != nil {
		return nil, err
	}
	rule := attrs.String("update_rule", "gated_delta")
	gated := rule == "gated" || rule == "gated_delta"
	delta := rule == "delta" || rule == "gated_delta"
	if gated && decay == nil || delta && beta == nil {
		return nil, fmt.Errorf("LinearAttention: update_rule %q needs decay and/or beta", rule)
	}
	scale := 1 / math.Sqrt(float64(dk))
	if attrs.Has("scale") {
		scale = float64(attrs.Float("scale", 0))
	}
	decayPer := 0 // values per (b, t): Hkv·dk or Hkv
	if decay != nil {
		decayPer = len(decay) / (B * T)
	}
	betaPer := 0
	if beta != nil {
		betaPer = len(beta) / (B * T)
	}
	G := Hq / Hkv
	state := make([]float64, B*Hkv*dk*dv)
	if past != nil {
		if len(past) != len(state) {
			return nil, fmt.Errorf("LinearAttention: past_state %v must be [%d, %d, %d, %d]", input(in, 3).Shape, B, Hkv, dk, dv)
		}
		copy(state, past)
	}
	out := make([]float64, B*T*Hq*dv)
	ret := make([]float64, dv)
	for b := 0; b < B; b++ {
		for h := 0; h < Hkv; h++ {
			S := state[(b*Hkv+h)*dk*dv:][:dk*dv]
			for t := 0; t < T; t++ {
				bt := b*T + t
				kv := k[(bt*Hkv+h)*dk:][:dk]
				vv := v[(bt*Hkv+h)*dv:][:dv]
				if gated {
					for i := 0; i < dk; i++ {
						var g float64
						if decayPer == Hkv {
							g = decay[bt*Hkv+h]
						} else {
							g = decay[(bt*Hkv+h)*dk+i]
						}
						e := math.Exp(g)
						for j := 0; j < dv; j++ {
							S[i*dv+j] *= e
						}
					}
				}
				if delta {
					bb := beta[bt*betaPer+h%betaPer]
					for j := range ret {
						s := 0.0
						for i := 0; i < dk; i++ {
							s += S[i*dv+j] * kv[i]
						}
						ret[j] = bb * (vv[j] - s)
					}
				} else {
					copy(ret, vv)
				}
				for i := 0; i < dk; i++ {
					for j := 0; j < dv; j++ {
						S[i*dv+j] += kv[i] * ret[j]
					}
				}
				for g := 0; g < G; g++ {
					hq := h*G + g
					qv := q[(bt*Hq+hq)*dk:][:dk]
					o := out[(bt*Hq+hq)*dv:][:dv]
					for j := range o {
						s := 0.0
						for i := 0; i < dk; i++ {
							s += qv[i] * S[i*dv+j]
						}
						o[j] = scale * s
					}
				}
			}
		}
	}
	dt := qT.DType
	y, err := Cast(MustFromSlice([]int{B, T, Hq * dv}, out), dt)
	if err != nil {
		return nil, err
	}
	st, err := Cast(MustFromSlice([]int{B, Hkv, dk, dv}, state), dt)
	if err != nil {
		return nil, err
	}
	return []*Tensor{y, st}[:min(2, ctx.numOutputs())], nil
}
