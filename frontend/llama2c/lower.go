package llama2c

import (
	"fmt"

	"github.com/ciuic/ciuic/ir"
)

// Names of the graph's inputs and output.
const (
	InputTokens  = "tokens" // i64[S]: the tokens of this step
	InputPos     = "pos"    // i64 scalar: the position of the first of them
	OutputLogits = "logits" // f32[1, vocab]: the logits after the last token
)

// KCacheName and VCacheName name layer l's cache inputs, f32[seq_len, kv_dim]: state
// that the caller allocates once and passes to every step (ciuic.KVCacheUpdate writes
// it in place).
func KCacheName(l int) string { return fmt.Sprintf("k_cache.%d", l) }
func VCacheName(l int) string { return fmt.Sprintf("v_cache.%d", l) }

// Lower builds the step graph of the model: it runs the S tokens of input "tokens" at
// positions pos..pos+S-1, appends their keys and values to the caches, and returns the
// logits that follow the last one. It is run.c's forward() over a batch of tokens, in
// the ops of the ONNX and ciuic domains; passes fuse it like any other graph.
//
// Matrices are stored transposed ([in, out]) so that each projection is MatMul(x, W).
// With a shared classifier, the graph holds the embedding table twice (as Gather's
// table and as the classifier's [dim, vocab] matrix).
func Lower(c *Checkpoint) (*ir.Graph, error) {
	g := ir.NewGraph("llama2c")
	d, hd, kv, hs := int64(c.Dim), int64(c.HiddenDim), int64(c.KVDim()), int64(c.HeadSize())
	S := ir.Sym("S")
	tokens := g.AddInput(InputTokens, ir.Type{DType: ir.I64, Shape: ir.Shape{S}})
	pos := g.AddInput(InputPos, ir.Type{DType: ir.I64, Shape: ir.Shape{}})
	cacheType := ir.Type{DType: ir.F32, Shape: ir.StaticShape(int64(c.SeqLen), kv)}
	kcache, vcache := make([]*ir.Value, c.Layers), make([]*ir.Value, c.Layers)
	for l := range c.Layers {
		kcache[l] = g.AddInput(KCacheName(l), cacheType)
		vcache[l] = g.AddInput(VCacheName(l), cacheType)
	}

	vec := func(name string, data []float32) *ir.Value {
		return g.AddConst(name, ir.NewTensorF32([]int64{int64(len(data))}, data))
	}
	// mat adds W ([out, in] in the checkpoint) as the [in, out] constant MatMul wants.
	mat := func(name string, w []float32, out, in int64) *ir.Value {
		t := make([]float32, len(w))
		for o := range out {
			for i := range in {
				t[i*out+o] = w[o*in+i]
			}
		}
		return g.AddConst(name, ir.NewTensorF32([]int64{in, out}, t))
	}
	// Nodes are named after the checkpoint's modules (layers.3.q); they get no Group:
	// fusion groups would interleave with per-layer clusters, which Graphviz cannot lay out.
	node := func(op, domain string, in []*ir.Value, attrs ir.Attrs, out string) *ir.Value {
		n := g.NewNode(op, in, attrs, out)
		n.Domain, n.Name = domain, out
		return n.Outputs[0]
	}
	onnx := func(op string, out string, in ...*ir.Value) *ir.Value {
		return node(op, "", in, nil, out)
	}
	eps := ir.Attrs{"epsilon": ir.FloatAttr(1e-5)}

	emb := g.AddConst("tok_embeddings.weight", ir.NewTensorF32([]int64{int64(c.VocabSize), d}, c.TokenEmbedding))
	x := node("Gather", "", []*ir.Value{emb, tokens}, ir.Attrs{"axis": ir.IntAttr(0)}, "x")
	for l := range c.Layers {
		p := fmt.Sprintf("layers.%d.", l)
		xn := node("RMSNorm", ir.CiuicDomain, []*ir.Value{x, vec(p+"attention_norm.weight", c.RMSAtt[l])}, eps, p+"attention_norm")
		q := onnx("MatMul", p+"q", xn, mat(p+"attention.wq.weight", c.WQ[l], d, d))
		k := onnx("MatMul", p+"k", xn, mat(p+"attention.wk.weight", c.WK[l], kv, d))
		v := onnx("MatMul", p+"v", xn, mat(p+"attention.wv.weight", c.WV[l], kv, d))
		rope := ir.Attrs{"head_size": ir.IntAttr(hs)}
		q = node("RoPE", ir.CiuicDomain, []*ir.Value{q, pos}, rope, p+"q_rot")
		k = node("RoPE", ir.CiuicDomain, []*ir.Value{k, pos}, rope, p+"k_rot")
		kc := node("KVCacheUpdate", ir.CiuicDomain, []*ir.Value{kcache[l], k, pos}, nil, p+"k_cache")
		vc := node("KVCacheUpdate", ir.CiuicDomain, []*ir.Value{vcache[l], v, pos}, nil, p+"v_cache")
		a := node("CachedAttention", ir.CiuicDomain, []*ir.Value{q, kc, vc, pos},
			ir.Attrs{"num_heads": ir.IntAttr(int64(c.Heads)), "kv_num_heads": ir.IntAttr(int64(c.KVHeads))}, p+"attn")
		o := onnx("MatMul", p+"attn_out", a, mat(p+"attention.wo.weight", c.WO[l], d, d))
		x = onnx("Add", p+"h", x, o)

		hn := node("RMSNorm", ir.CiuicDomain, []*ir.Value{x, vec(p+"ffn_norm.weight", c.RMSFFN[l])}, eps, p+"ffn_norm")
		h1 := onnx("MatMul", p+"w1_out", hn, mat(p+"feed_forward.w1.weight", c.W1[l], hd, d))
		h3 := onnx("MatMul", p+"w3_out", hn, mat(p+"feed_forward.w3.weight", c.W3[l], hd, d))
		silu := onnx("Mul", p+"silu", h1, onnx("Sigmoid", p+"sigmoid", h1))
		gated := onnx("Mul", p+"gated", silu, h3)
		f := onnx("MatMul", p+"ffn_out", gated, mat(p+"feed_forward.w2.weight", c.W2[l], d, hd))
		x = onnx("Add", p+"out", x, f)
	}
	// Only the last token's logits are needed: the next token follows it.
	last := g.AddConst("last", ir.NewTensorI64([]int64{1}, []int64{-1}))
	x = node("Gather", "", []*ir.Value{x, last}, ir.Attrs{"axis": ir.IntAttr(0)}, "x_last")
	x = node("RMSNorm", ir.CiuicDomain, []*ir.Value{x, vec("norm.weight", c.RMSFinal)}, eps, "norm")
	logits := onnx("MatMul", OutputLogits, x, mat("output.weight", c.Classifier, int64(c.VocabSize), d))
	g.Outputs = append(g.Outputs, logits)
	if err := ir.InferTypes(g); err != nil {
		return nil, err
	}
	if err := ir.Verify(g); err != nil {
		return nil, err
	}
	return g, nil
}
