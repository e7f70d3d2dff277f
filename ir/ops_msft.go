package ir

import "fmt"

// MSFTDomain is the domain of ONNX Runtime's contrib ops.
const MSFTDomain = "com.microsoft"

// Schemas of the com.microsoft transformer ops that ONNX Runtime's optimizer emits. They
// let an imported model type-check as written; the ONNX importer then lowers them onto
// ciuic-domain and ONNX ops (frontend/onnx/msft.go), so they have no kernels of their own.
func init() {
	f := func(names ...string) map[string]AttrSpec {
		m := map[string]AttrSpec{}
		for _, n := range names {
			m[n] = AttrSpec{Kind: AttrFloat}
		}
		return m
	}
	MustRegister(&Schema{Domain: MSFTDomain, Op: "SkipLayerNormalization", MinInputs: 3, MaxInputs: 5, MinOutputs: 1, MaxOutputs: 4,
		Attrs: f("epsilon"), Infer: inferMSSkipLayerNorm, Doc: "LayerNormalization(input + skip + bias); outputs y, mean, inv_std_var, sum"})
	attn := f("mask_filter_value", "scale")
	for _, a := range []string{"num_heads", "unidirectional", "do_rotary", "rotary_embedding_dim", "past_present_share_buffer"} {
		attn[a] = AttrSpec{Kind: AttrInt}
	}
	attn["num_heads"] = AttrSpec{Kind: AttrInt, Required: true}
	attn["qkv_hidden_sizes"] = AttrSpec{Kind: AttrInts}
	MustRegister(&Schema{Domain: MSFTDomain, Op: "Attention", MinInputs: 2, MaxInputs: 7, MinOutputs: 1, MaxOutputs: 2,
		Attrs: attn, Infer: inferMSAttention, Doc: "self-attention with packed QKV weights [hidden, 3·hidden], mask_index, past"})
	mha := f("mask_filter_value", "scale")
	mha["num_heads"] = AttrSpec{Kind: AttrInt, Required: true}
	mha["unidirectional"] = AttrSpec{Kind: AttrInt}
	MustRegister(&Schema{Domain: MSFTDomain, Op: "MultiHeadAttention", MinInputs: 1, MaxInputs: 10, MinOutputs: 1, MaxOutputs: 3,
		Attrs: mha, Infer: inferMSMHA, Doc: "attention of projected query, key, value [B, S, H·D] with packed bias and key padding mask"})
	for _, op := range []string{"FastGelu", "BiasGelu", "Gelu"} {
		MustRegister(&Schema{Domain: MSFTDomain, Op: op, MinInputs: 1, MaxInputs: 2, MinOutputs: 1, MaxOutputs: 1,
			Infer: broadcastOp(false), Doc: op + " of input (+ bias)"})
	}
	MustRegister(&Schema{Domain: MSFTDomain, Op: "EmbedLayerNormalization", MinInputs: 1, MaxInputs: 9, MinOutputs: 2, MaxOutputs: 3,
		Attrs: map[string]AttrSpec{"epsilon": {Kind: AttrFloat}, "mask_index_type": {Kind: AttrInt}},
		Infer: inferMSEmbedLayerNorm, Doc: "LayerNormalization of word + position (+ segment) embeddings; mask_index; embedding sum"})
}

func inferMSSkipLayerNorm(n *Node) ([]Type, error) {
	x := inType(n, 0)
	if len(x.Shape) == 0 {
		return nil, fmt.Errorf("input must have rank >= 1")
	}
	stat := x.Shape.Clone()
	stat[len(stat)-1] = Static(1)
	return []Type{{DType: x.DType, Shape: x.Shape.Clone()}, {DType: F32, Shape: stat}, {DType: F32, Shape: stat.Clone()},
		{DType: x.DType, Shape: x.Shape.Clone()}}, nil
}

func inferMSAttention(n *Node) ([]Type, error) {
	x, w := inType(n, 0), inType(n, 1).Shape
	if len(x.Shape) != 3 || len(w) != 2 {
		return nil, fmt.Errorf("input %s must be [B, S, hidden] and weights %s 2-D", x.Shape, w)
	}
	vh := divDim(w[1], 3)
	if hs, ok := n.Attrs.Ints("qkv_hidden_sizes"); ok && len(hs) == 3 {
		vh = Static(hs[2])
	}
	out := Type{DType: x.DType, Shape: Shape{x.Shape[0], x.Shape[1], vh}}
	h := n.Attrs.Int("num_heads", 1)
	total := x.Shape[1]
	if hasInput(n, 4) {
		if p := inType(n, 4).Shape; len(p) == 5 {
			total = addDim(p[3], x.Shape[1])
		}
	}
	present := Type{DType: x.DType, Shape: Shape{Static(2), x.Shape[0], Static(h), total, divDim(vh, h)}}
	return []Type{out, present}, nil
}

func inferMSMHA(n *Node) ([]Type, error) {
	q := inType(n, 0)
	if len(q.Shape) != 3 {
		return nil, fmt.Errorf("query must be [B, S, hidden], got %s", q.Shape)
	}
	out := q.Shape.Clone()
	if v := inType(n, 2); v.IsValid() && len(v.Shape) == 3 {
		out[2] = v.Shape[2]
	}
	return []Type{{DType: q.DType, Shape: out}, {DType: q.DType, Shape: unknownShape(4)}, {DType: q.DType, Shape: unknownShape(4)}}, nil
}

func inferMSEmbedLayerNorm(n *Node) ([]Type, error) {
	ids, w := inType(n, 0).Shape, inType(n, 2)
	if !hasInput(n, 2) || !hasInput(n, 3) || !hasInput(n, 5) || !hasInput(n, 6) {
		return nil, fmt.Errorf("word and position embeddings, gamma and beta (inputs 2, 3, 5, 6) are required")
	}
	if len(ids) != 2 || len(w.Shape) != 2 {
		return nil, fmt.Errorf("input_ids %s must be [B, S] and word_embedding %s 2-D", ids, w.Shape)
	}
	out := Shape{ids[0], ids[1], w.Shape[1]}
	return []Type{{DType: w.DType, Shape: out}, {DType: I32, Shape: Shape{ids[0]}}, {DType: w.DType, Shape: out.Clone()}}, nil
}
