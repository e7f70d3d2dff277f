package ops

import (
	"fmt"
	"math"

	"github.com/ciuic/ciuic/ir"
)

func init() {
	Register("", "Attention", onnxAttentionKernel, floatTypes...)
}

// to4D returns x [B, S, H·D] as [B, H, S, D] (float64), or x itself if already 4-D.
func to4D(x *Tensor, heads int) ([]float64, [4]int, error) {
	xs, err := x.Floats()
	if err != nil {
		return nil, [4]int{}, err
	}
	if x.Rank() == 4 {
		return xs, [4]int{x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]}, nil
	}
	B, S, HD := x.Shape[0], x.Shape[1], x.Shape[2]
	if heads <= 0 || HD%heads != 0 {
		return nil, [4]int{}, fmt.Errorf("hidden size %d is not divisible by %d heads", HD, heads)
	}
	D := HD / heads
	out := make([]float64, len(xs))
	for b := 0; b < B; b++ {
		for s := 0; s < S; s++ {
			for h := 0; h < heads; h++ {
				copy(out[((b*heads+h)*S+s)*D:][:D], xs[(b*S+s)*HD+h*D:][:D])
			}
		}
	}
	return out, [4]int{B, heads, S, D}, nil
}

// concatSeq concatenates past [B, H, P, D] and cur [B, H, T, D] along axis 2.
func concatSeq(past []float64, ps [4]int, cur []float64, cs [4]int) ([]float64, [4]int) {
	B, H, P, T, D := cs[0], cs[1], ps[2], cs[2], cs[3]
	out := make([]float64, B*H*(P+T)*D)
	for bh := 0; bh < B*H; bh++ {
		copy(out[bh*(P+T)*D:], past[bh*P*D:(bh+1)*P*D])
		copy(out[(bh*(P+T)+P)*D:], cur[bh*T*D:(bh+1)*T*D])
	}
	return out, [4]int{B, H, P + T, D}
}

// onnxAttentionKernel follows the ONNX reference (onnx/reference/ops/op_attention.py),
// in float64: Q and K are reshaped to [B, H, S, D], past keys and values are prepended,
// the mask (bool: false means -inf; shorter than the key length: padded with -inf) and
// causality (key j visible to query i when j <= i + offset) become an additive bias, and
// kv heads are repeated for grouped queries. A row with every key masked gives zeros.
func onnxAttentionKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 3); err != nil {
		return nil, err
	}
	Qt, Kt, Vt := in[0], in[1], in[2]
	mask, pastK, pastV, nonpad := input(in, 3), input(in, 4), input(in, 5), input(in, 6)
	nq, nkv := int(attrs.Int("q_num_heads", 0)), int(attrs.Int("kv_num_heads", 0))
	q, qs, err := to4D(Qt, nq)
	if err != nil {
		return nil, fmt.Errorf("Attention: Q: %v", err)
	}
	k, ks, err := to4D(Kt, nkv)
	if err != nil {
		return nil, fmt.Errorf("Attention: K: %v", err)
	}
	v, vs, err := to4D(Vt, nkv)
	if err != nil {
		return nil, fmt.Errorf("Attention: V: %v", err)
	}
	B, Hq, S, D := qs[0], qs[1], qs[2], qs[3]
	P := 0
	if pastK != nil {
		pk, err := pastK.Floats()
		if err != nil {
			return nil, err
		}
		P = pastK.Shape[2]
		k, ks = concatSeq(pk, [4]int{pastK.Shape[0], pastK.Shape[1], pastK.Shape[2], pastK.Shape[3]}, k, ks)
	}
	if pastV != nil {
		pv, err := pastV.Floats()
		if err != nil {
			return nil, err
		}
		v, vs = concatSeq(pv, [4]int{pastV.Shape[0], pastV.Shape[1], pastV.Shape[2], pastV.Shape[3]}, v, vs)
	}
	Hkv, L, Dv := ks[1], ks[2], vs[3]
	if ks[3] != D || vs[2] != L || Hkv == 0 || Hq%Hkv != 0 || ks[0] != B || vs[0] != B {
		return nil, fmt.Errorf("Attention: Q %v, K %v, V %v do not fit", qs, ks, vs)
	}
	scale := float64(attrs.Float("scale", 0))
	if !attrs.Has("scale") {
		scale = 1 / math.Sqrt(float64(D))
	}
	// bias [B, Hq, S, L]
	bias := make([]float64, B*Hq*S*L)
	if mask != nil {
		ms, err := mask.Floats()
		if err != nil {
			return nil, err
		}
		if mask.Rank() < 2 || mask.Rank() > 4 || mask.Shape[mask.Rank()-1] > L {
			return nil, fmt.Errorf("Attention: mask %v does not fit [%d, %d, %d, %d]", mask.Shape, B, Hq, S, L)
		}
		mshape := append([]int{}, mask.Shape...)
		for len(mshape) < 4 {
			mshape = append([]int{1}, mshape...)
		}
		mw := mshape[3]
		for i, want := range []int{B, Hq, S} {
			if mshape[i] != 1 && mshape[i] != want {
				return nil, fmt.Errorf("Attention: mask %v does not broadcast to [%d, %d, %d, %d]", mask.Shape, B, Hq, S, L)
			}
		}
		isBool := mask.DType == ir.Bool
		for b := 0; b < B; b++ {
			for h := 0; h < Hq; h++ {
				for i := 0; i < S; i++ {
					row := bias[((b*Hq+h)*S+i)*L:][:L]
					mb, mh, mi := b%mshape[0], h%mshape[1], i%mshape[2]
					mrow := ms[((mb*mshape[1]+mh)*mshape[2]+mi)*mw:][:mw]
					for j := range row {
						switch {
						case j >= mw:
							row[j] = math.Inf(-1)
						case isBool:
							if mrow[j] == 0 {
								row[j] = math.Inf(-1)
							}
						default:
							row[j] = mrow[j]
						}
					}
				}
			}
		}
	}
	var np []int64
	if nonpad != nil {
		if np, err = nonpad.Ints(); err != nil || len(np) != B {
			return nil, fmt.Errorf("Attention: nonpad_kv_seqlen %v must hold %d lengths", nonpad.Shape, B)
		}
	}
	if attrs.Int("is_causal", 0) != 0 {
		for b := 0; b < B; b++ {
			off := P
			if pastK == nil && np != nil {
				off = int(np[b]) - S
			}
			for h := 0; h < Hq; h++ {
				for i := 0; i < S; i++ {
					row := bias[((b*Hq+h)*S+i)*L:][:L]
					for j := range row {
						if j > i+off {
							row[j] += math.Inf(-1)
						}
					}
				}
			}
		}
	}
	if np != nil {
		for b := 0; b < B; b++ {
			for hi := 0; hi < Hq*S; hi++ {
				row := bias[(b*Hq*S+hi)*L:][:L]
				for j := range row {
					if j >= int(np[b]) {
						row[j] += math.Inf(-1)
					}
				}
			}
		}
	}
	softcap := float64(attrs.Float("softcap", 0))
	hasCap := attrs.Has("softcap")
	mode := attrs.Int("qk_matmul_output_mode", 0)
	reps := Hq / Hkv
	y := make([]float64, B*Hq*S*Dv)
	qk := make([]float64, B*Hq*S*L)
	ctx.ParallelFor(B*Hq*S, max(1, 4096/max(1, L*D)), func(lo, hi int) {
		sc := make([]float64, L)
		for r := lo; r < hi; r++ {
			b, h, i := r/(Hq*S), r/S%Hq, r%S
			kh := h / reps
			qrow := q[((b*Hq+h)*S+i)*D:][:D]
			brow := bias[r*L:][:L]
			out := qk[r*L:][:L]
			mx := math.Inf(-1)
			for j := 0; j < L; j++ {
				krow := k[((b*Hkv+kh)*L+j)*D:][:D]
				s := 0.0
				for d, x := range qrow {
					s += x * krow[d]
				}
				s *= scale
				if softcap > 0 {
					s = softcap * math.Tanh(s/softcap)
				}
				sc[j] = s + brow[j]
				// As the reference: mode 0 outputs the (softcapped) product, mode 1 adds
				// the mask unless a softcap was given, mode 2 adds it.
				out[j] = s
				if mode == 2 || (mode == 1 && !hasCap) {
					out[j] = sc[j]
				}
				mx = math.Max(mx, sc[j])
			}
			sum := 0.0
			for j := range sc {
				if math.IsInf(mx, -1) {
					sc[j] = 0
					continue
				}
				sc[j] = math.Exp(sc[j] - mx)
				sum += sc[j]
			}
			if sum > 0 {
				for j := range sc {
					sc[j] /= sum
				}
			}
			if mode == 3 {
				copy(out, sc)
			}
			yrow := y[r*Dv:][:Dv]
			for j, p := range sc {
				if p == 0 {
					continue
				}
				vrow := v[((b*Hkv+kh)*L+j)*Dv:][:Dv]
				for d := range yrow {
					yrow[d] += p * vrow[d]
				}
			}
		}
	})
	dt := Qt.DType
	var yt *Tensor
	if Qt.Rank() == 3 {
		y3 := make([]float64, len(y))
		for b := 0; b < B; b++ {
			for h := 0; h < Hq; h++ {
				for i := 0; i < S; i++ {
					copy(y3[((b*S+i)*Hq+h)*Dv:][:Dv], y[((b*Hq+h)*S+i)*Dv:][:Dv])
				}
			}
		}
		yt = MustFromSlice([]int{B, S, Hq * Dv}, y3)
	} else {
		yt = MustFromSlice([]int{B, Hq, S, Dv}, y)
	}
	outs := []*Tensor{yt, MustFromSlice(ks[:], k), MustFromSlice(vs[:], v), MustFromSlice([]int{B, Hq, S, L}, qk)}
	n := ctx.numOutputs()
	res := make([]*Tensor, n)
	for i := 0; i < n && i < 4; i++ {
		if res[i], err = Cast(outs[i], dt); err != nil {
			return nil, err
		}
	}
	return res, nil
}
