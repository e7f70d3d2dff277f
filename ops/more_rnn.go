package ops

import (
	"fmt"
	"math"
	"strings"

	"github.com/ciuic/ciuic/ir"
)

func init() {
	for _, op := range []string{"RNN", "GRU", "LSTM"} {
		Register("", op, rnnKernel(op), floatTypes...)
	}
}

func rnnActivation(name string, alpha, beta float64) (func(float64) float64, error) {
	switch strings.ToLower(name) {
	case "sigmoid":
		return sigmoid, nil
	case "tanh":
		return math.Tanh, nil
	case "relu":
		return func(x float64) float64 { return math.Max(x, 0) }, nil
	case "hardsigmoid":
		return func(x float64) float64 { return math.Max(0, math.Min(1, alpha*x+beta)) }, nil
	case "leakyrelu":
		return func(x float64) float64 {
			if x < 0 {
				return alpha * x
			}
			return x
		}, nil
	case "affine":
		return func(x float64) float64 { return alpha*x + beta }, nil
	case "scaledtanh":
		return func(x float64) float64 { return alpha * math.Tanh(beta*x) }, nil
	case "softsign":
		return func(x float64) float64 { return x / (1 + math.Abs(x)) }, nil
	case "softplus":
		return func(x float64) float64 { return math.Log1p(math.Exp(x)) }, nil
	}
	return nil, fmt.Errorf("unsupported activation %q", name)
}

// rnnKernel runs RNN, GRU or LSTM (ONNX gate orders: GRU z, r, h; LSTM i, o, f, c) in
// float64, each direction over the first sequence_lens[b] steps of each batch; later
// steps of Y are zero.
func rnnKernel(op string) Kernel {
	gates := map[string]int{"RNN": 1, "GRU": 3, "LSTM": 4}[op]
	return func(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
		if err := need(in, 3); err != nil {
			return nil, err
		}
		layout := attrs.Int("layout", 0)
		X := in[0]
		xs, err := X.Floats()
		if err != nil {
			return nil, err
		}
		S, B, I := X.Shape[0], X.Shape[1], X.Shape[2]
		if layout != 0 {
			S, B = B, S
		}
		xAt := func(t, b int) []float64 {
			if layout != 0 {
				return xs[(b*S+t)*I:][:I]
			}
			return xs[(t*B+b)*I:][:I]
		}
		W, err := in[1].Floats()
		if err != nil {
			return nil, err
		}
		R, err := in[2].Floats()
		if err != nil {
			return nil, err
		}
		D := in[1].Shape[0]
		H := in[2].Shape[2]
		if in[1].Shape[1] != gates*H || in[1].Shape[2] != I {
			return nil, fmt.Errorf("%s: W %v does not fit X %v and hidden %d", op, in[1].Shape, X.Shape, H)
		}
		G := gates * H
		bias := make([]float64, D*2*G)
		if t := input(in, 3); t != nil {
			if bias, err = t.Floats(); err != nil {
				return nil, err
			}
		}
		seqLens := make([]int, B)
		for i := range seqLens {
			seqLens[i] = S
		}
		if t := input(in, 4); t != nil {
			v, err := t.Ints()
			if err != nil {
				return nil, err
			}
			for i := range seqLens {
				seqLens[i] = int(v[i])
			}
		}
		initState := func(i int) ([]float64, error) {
			st := make([]float64, D*B*H)
			t := input(in, i)
			if t == nil {
				return st, nil
			}
			v, err := t.Floats()
			if err != nil {
				return nil, err
			}
			if layout != 0 { // [B, D, H] -> [D, B, H]
				for b := 0; b < B; b++ {
					for d := 0; d < D; d++ {
						copy(st[(d*B+b)*H:][:H], v[(b*D+d)*H:][:H])
					}
				}
				return st, nil
			}
			return v, nil
		}
		h0, err := initState(5)
		if err != nil {
			return nil, err
		}
		c0 := make([]float64, D*B*H)
		var peep []float64
		if op == "LSTM" {
			if c0, err = initState(6); err != nil {
				return nil, err
			}
			if t := input(in, 7); t != nil {
				if peep, err = t.Floats(); err != nil {
					return nil, err
				}
			}
		}
		nact := map[string]int{"RNN": 1, "GRU": 2, "LSTM": 3}[op]
		names, _ := attrs["activations"]
		alphas, _ := attrs.Floats("activation_alpha")
		betas, _ := attrs.Floats("activation_beta")
		defaults := map[string][]string{"RNN": {"Tanh"}, "GRU": {"Sigmoid", "Tanh"}, "LSTM": {"Sigmoid", "Tanh", "Tanh"}}[op]
		acts := make([]func(float64) float64, D*nact)
		for k := range acts {
			name := defaults[k%nact]
			if k < len(names.Strs) {
				name = names.Strs[k]
			}
			var a, b float64
			if k < len(alphas) {
				a = float64(alphas[k])
			}
			if k < len(betas) {
				b = float64(betas[k])
			}
			if acts[k], err = rnnActivation(name, a, b); err != nil {
				return nil, fmt.Errorf("%s: %v", op, err)
			}
		}
		clip := attrF(attrs, "clip", 0)
		clipf := func(x float64) float64 {
			if clip > 0 {
				return math.Max(-clip, math.Min(clip, x))
			}
			return x
		}
		lbr := attrs.Int("linear_before_reset", 0) != 0
		dir := attrs.String("direction", "forward")
		Y := make([]float64, S*D*B*H)
		Yh := append([]float64{}, h0...)
		Yc := append([]float64{}, c0...)
		gx, gh := make([]float64, G), make([]float64, G)
		for d := 0; d < D; d++ {
			reverse := dir == "reverse" || dir == "bidirectional" && d == 1
			Wd, Rd := W[d*G*I:][:G*I], R[d*G*H:][:G*H]
			Wb, Rb := bias[d*2*G:][:G], bias[d*2*G+G:][:G]
			f, g, hfn := acts[d*nact], acts[d*nact+min(1, nact-1)], acts[d*nact+nact-1]
			for b := 0; b < B; b++ {
				h := Yh[(d*B+b)*H:][:H]
				c := Yc[(d*B+b)*H:][:H]
				for s := 0; s < seqLens[b]; s++ {
					t := s
					if reverse {
						t = seqLens[b] - 1 - s
					}
					x := xAt(t, b)
					for k := 0; k < G; k++ {
						sx, sh := Wb[k], Rb[k]
						for j, v := range x {
							sx += Wd[k*I+j] * v
						}
						for j, v := range h {
							sh += Rd[k*H+j] * v
						}
						gx[k], gh[k] = sx, sh
					}
					nh := make([]float64, H)
					switch op {
					case "RNN":
						for k := range nh {
							nh[k] = f(clipf(gx[k] + gh[k]))
						}
					case "GRU":
						r := make([]float64, H)
						for k := range r {
							r[k] = f(clipf(gx[H+k] + gh[H+k]))
						}
						for k := range nh {
							z := f(clipf(gx[k] + gh[k]))
							var hc float64
							if lbr {
								hc = g(clipf(gx[2*H+k] + r[k]*gh[2*H+k]))
							} else { // (r ⊙ h)·Rhᵀ
								sh := Rb[2*H+k]
								for j, v := range h {
									sh += Rd[(2*H+k)*H+j] * r[j] * v
								}
								hc = g(clipf(gx[2*H+k] + sh))
							}
							nh[k] = (1-z)*hc + z*h[k]
						}
					case "LSTM":
						nc := make([]float64, H)
						for k := range nh {
							var pi, po, pf float64
							if peep != nil {
								pi, po, pf = peep[d*3*H+k], peep[d*3*H+H+k], peep[d*3*H+2*H+k]
							}
							ig := f(clipf(gx[k] + gh[k] + pi*c[k]))
							fg := f(clipf(gx[2*H+k] + gh[2*H+k] + pf*c[k]))
							cc := g(clipf(gx[3*H+k] + gh[3*H+k]))
							nc[k] = fg*c[k] + ig*cc
							og := f(clipf(gx[H+k] + gh[H+k] + po*nc[k]))
							nh[k] = og * hfn(nc[k])
						}
						copy(c, nc)
					}
					copy(h, nh)
					if layout != 0 {
						copy(Y[((b*S+t)*D+d)*H:][:H], h)
					} else {
						copy(Y[((t*D+d)*B+b)*H:][:H], h)
					}
				}
			}
		}
		yShape, hShape := []int{S, D, B, H}, []int{D, B, H}
		if layout != 0 {
			yShape, hShape = []int{B, S, D, H}, []int{B, D, H}
			tr := func(v []float64) []float64 {
				out := make([]float64, len(v))
				for d := 0; d < D; d++ {
					for b := 0; b < B; b++ {
						copy(out[(b*D+d)*H:][:H], v[(d*B+b)*H:][:H])
					}
				}
				return out
			}
			Yh, Yc = tr(Yh), tr(Yc)
		}
		outs := []*Tensor{MustFromSlice(yShape, Y), MustFromSlice(hShape, Yh), MustFromSlice(hShape, Yc)}
		n := min(ctx.numOutputs(), len(outs))
		res := make([]*Tensor, n)
		for i := range res {
			if res[i], err = Cast(outs[i], X.DType); err != nil {
				return nil, err
			}
		}
		return res, nil
	}
}
