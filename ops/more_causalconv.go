package ops

import (
	"fmt"

	"github.com/ciuic/ciuic/ir"
)

func init() {
	Register("", "CausalConvWithState", causalConvKernel, floatTypes...)
}

// causalConvKernel: x [B, C, T] is prefixed with past_state [B, C, K-1] (zeros if
// absent) and convolved depthwise with weight [C, 1, K] plus bias; activation "silu"
// applies x·sigmoid(x). present_state is the last K-1 steps of the prefixed input.
func causalConvKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 2); err != nil {
		return nil, err
	}
	x, w := in[0], in[1]
	if x.Rank() != 3 || w.Rank() != 3 || w.Shape[0] != x.Shape[1] || w.Shape[1] != 1 {
		return nil, fmt.Errorf("CausalConvWithState: input %v and weight %v must be [B, C, T] and [C, 1, K]", x.Shape, w.Shape)
	}
	B, C, T, K := x.Shape[0], x.Shape[1], x.Shape[2], w.Shape[2]
	xs, err := x.Floats()
	if err != nil {
		return nil, err
	}
	ws, err := w.Floats()
	if err != nil {
		return nil, err
	}
	var bias, past []float64
	if t := input(in, 2); t != nil {
		if bias, err = t.Floats(); err != nil {
			return nil, err
		}
	}
	if t := input(in, 3); t != nil {
		if past, err = t.Floats(); err != nil {
			return nil, err
		}
		if len(past) != B*C*(K-1) {
			return nil, fmt.Errorf("CausalConvWithState: past_state %v must be [%d, %d, %d]", t.Shape, B, C, K-1)
		}
	}
	act := attrs.String("activation", "none")
	P := T + K - 1
	y := make([]float64, B*C*T)
	state := make([]float64, B*C*(K-1))
	pad := make([]float64, P)
	for b := 0; b < B; b++ {
		for c := 0; c < C; c++ {
			bc := b*C + c
			for i := range pad[:K-1] {
				pad[i] = 0
				if past != nil {
					pad[i] = past[bc*(K-1)+i]
				}
			}
			copy(pad[K-1:], xs[bc*T:][:T])
			for t := 0; t < T; t++ {
				s := 0.0
				if bias != nil {
					s = bias[c]
				}
				for k := 0; k < K; k++ {
					s += ws[c*K+k] * pad[t+k]
				}
				switch act {
				case "silu", "swish":
					s *= sigmoid(s)
				case "none", "":
				default:
					return nil, fmt.Errorf("CausalConvWithState: unknown activation %q", act)
				}
				y[bc*T+t] = s
			}
			copy(state[bc*(K-1):][:K-1], pad[P-(K-1):])
		}
	}
	yt, err := Cast(MustFromSlice(x.Shape, y), x.DType)
	if err != nil {
		return nil, err
	}
	st, err := Cast(MustFromSlice([]int{B, C, K - 1}, state), x.DType)
	if err != nil {
		return nil, err
	}
	return []*Tensor{yt, st}[:min(2, ctx.numOutputs())], nil
}
