package ir

import "fmt"

// ONNX Attention (opset 23, nonpad_kv_seqlen since 24): scaled dot-product attention
// with optional mask, KV cache, grouped-query heads, softcap and the QK output.
func init() {
	MustRegister(&Schema{Op: "Attention", MinInputs: 3, MaxInputs: 7, MinOutputs: 1, MaxOutputs: 4,
		Attrs: map[string]AttrSpec{"is_causal": {Kind: AttrInt}, "kv_num_heads": {Kind: AttrInt}, "q_num_heads": {Kind: AttrInt},
			"qk_matmul_output_mode": {Kind: AttrInt}, "scale": {Kind: AttrFloat}, "softcap": {Kind: AttrFloat},
			"softmax_precision": {Kind: AttrInt}},
		Infer: inferONNXAttention,
		Doc:   "softmax(softcap(Q·Kᵀ·scale) + mask)·V; Q, K, V [B, H, S, D] or [B, S, H·D]; past/present KV"})
}

// divDim divides a dim by k when it is static.
func divDim(d Dim, k int64) Dim {
	if d.IsStatic() && k > 0 {
		return Static(d.Size / k)
	}
	return Unknown()
}

func inferONNXAttention(n *Node) ([]Type, error) {
	dt, err := sameDType(n, 0, 1, 2)
	if err != nil {
		return nil, err
	}
	q, k, v := inType(n, 0).Shape, inType(n, 1).Shape, inType(n, 2).Shape
	if len(q) != len(k) || len(q) != len(v) || (len(q) != 3 && len(q) != 4) {
		return nil, fmt.Errorf("Q %s, K %s, V %s must all be 3-D or all 4-D", q, k, v)
	}
	var b, hq, hkv, s, t, dk, dv Dim
	b = q[0]
	if len(q) == 3 {
		nq, nkv := n.Attrs.Int("q_num_heads", 0), n.Attrs.Int("kv_num_heads", 0)
		if nq <= 0 || nkv <= 0 {
			return nil, fmt.Errorf("3-D inputs need q_num_heads and kv_num_heads")
		}
		hq, hkv, s, t = Static(nq), Static(nkv), q[1], k[1]
		dk, dv = divDim(k[2], nkv), divDim(v[2], nkv)
	} else {
		hq, hkv, s, t, dk, dv = q[1], k[1], q[2], k[2], k[3], v[3]
	}
	_ = dk
	total := t
	if hasInput(n, 4) {
		p := inType(n, 4).Shape
		if len(p) != 4 {
			return nil, fmt.Errorf("past_key must be 4-D, got %s", p)
		}
		dk := kvDim(k, hkv)
		for i, want := range []Dim{b, hkv, Unknown(), dk} {
			if want.IsStatic() && p[i].IsStatic() && p[i].Size != want.Size {
				return nil, fmt.Errorf("past_key %s does not match [batch, kv_heads, past, head_size] = [%s, %s, ?, %s]", p, b, hkv, dk)
			}
		}
		if hasInput(n, 5) {
			if pv := inType(n, 5).Shape; len(pv) != 4 || !dimEqual(pv[2], p[2]) && pv[2].IsStatic() && p[2].IsStatic() ||
				dv.IsStatic() && pv[3].IsStatic() && pv[3].Size != dv.Size || hkv.IsStatic() && pv[1].IsStatic() && pv[1] != hkv {
				return nil, fmt.Errorf("past_value %s does not match past_key %s and V's heads", pv, p)
			}
		}
		total = addDim(p[2], t)
	}
	var y Shape
	if len(q) == 3 {
		y = Shape{b, s, mulDim(hq, dv)}
	} else {
		y = Shape{b, hq, s, dv}
	}
	return []Type{
		{DType: dt, Shape: y},
		{DType: dt, Shape: Shape{b, hkv, total, kvDim(k, hkv)}},
		{DType: dt, Shape: Shape{b, hkv, total, dv}},
		{DType: dt, Shape: Shape{b, hq, s, total}},
	}, nil
}

func kvDim(k Shape, h Dim) Dim {
	if len(k) == 4 {
		return k[3]
	}
	if h.IsStatic() {
		return divDim(k[2], h.Size)
	}
	return Unknown()
}
