package ir

import "fmt"

func init() {
	MustRegister(&Schema{Op: "LinearAttention", MinInputs: 3, MaxInputs: 6, MinOutputs: 1, MaxOutputs: 2,
		Attrs: map[string]AttrSpec{"q_num_heads": {Kind: AttrInt}, "kv_num_heads": {Kind: AttrInt},
			"update_rule": {Kind: AttrString}, "scale": {Kind: AttrFloat}},
		Infer: inferLinearAttention,
		Doc:   "recurrent linear attention (linear, gated, delta, gated_delta) over [B, T, H·d] with state [B, Hkv, dk, dv]"})
}

func inferLinearAttention(n *Node) ([]Type, error) {
	q, k, v := inType(n, 0), inType(n, 1).Shape, inType(n, 2).Shape
	if len(q.Shape) != 3 || len(k) != 3 || len(v) != 3 {
		return nil, fmt.Errorf("query, key, value must be 3-D [B, T, H·d]")
	}
	hq, hkv := n.Attrs.Int("q_num_heads", 0), n.Attrs.Int("kv_num_heads", 0)
	if hq <= 0 || hkv <= 0 || hq%hkv != 0 {
		return nil, fmt.Errorf("q_num_heads %d must be a positive multiple of kv_num_heads %d", hq, hkv)
	}
	dk, dv := divDim(k[2], hkv), divDim(v[2], hkv)
	return []Type{
		{DType: q.DType, Shape: Shape{q.Shape[0], q.Shape[1], mulDim(Static(hq), dv)}},
		{DType: q.DType, Shape: Shape{q.Shape[0], Static(hkv), dk, dv}},
	}, nil
}
