package onnx

import (
	"fmt"

	"github.com/ciuic/ciuic/ir"
)

// ONNX Runtime's transformer optimizer writes fused com.microsoft ops (Attention,
// SkipLayerNormalization, FastGelu, ...). The importer types them with their schemas
// (ir/ops_msft.go), then lowers them here onto ciuic-domain ops and standard ONNX ops,
// so that ciuic's kernels, fast paths included, serve them:
//
//	SkipLayerNormalization(x, skip, γ, β, bias)  -> ciuic.SkipLayerNorm (outputs y, sum)
//	Attention(x, W, b, mask)                     -> MatMul, Add, Split, mask -> additive, ciuic.Attention
//	MultiHeadAttention(q, k, v, b, mask)         -> Split(b), Add ×3, mask -> additive, ciuic.Attention
//	FastGelu(x, b) / BiasGelu(x, b) / Gelu(x)    -> Add, Gelu (tanh approximation for FastGelu)
//	EmbedLayerNormalization(ids, seg, ...)        -> Gather, Add, LayerNormalization, ReduceSum
//
// Lowering needs the inferred types (a mask's rank decides its conversion), so it runs
// between two rounds of inference. Forms ciuic does not lower (past state, rotary,
// attention bias) are reported as errors naming the node.

// msftRewriter builds the nodes that replace one com.microsoft node, placed before it.
type msftRewriter struct {
	g   *ir.Graph
	at  *ir.Node
	pre []*ir.Node
}

func (r *msftRewriter) base() string {
	if len(r.at.Outputs) > 0 && r.at.Outputs[0] != nil {
		return r.at.Outputs[0].Name
	}
	return r.at.Name
}

// node adds op(ins) before the node being replaced, with nOut fresh outputs.
func (r *msftRewriter) node(domain, op string, ins []*ir.Value, attrs ir.Attrs, nOut int) []*ir.Value {
	if attrs == nil {
		attrs = ir.Attrs{}
	}
	n := &ir.Node{Name: r.at.Name, Group: r.at.Group, Domain: domain, Op: op, Inputs: ins, Attrs: attrs}
	for i := 0; i < nOut; i++ {
		n.Outputs = append(n.Outputs, &ir.Value{Name: r.g.UniqueName(r.base() + "_" + op), Def: n})
	}
	r.pre = append(r.pre, n)
	return n.Outputs
}

func (r *msftRewriter) op(op string, ins ...*ir.Value) *ir.Value {
	return r.node("", op, ins, nil, 1)[0]
}

func (r *msftRewriter) ints(v ...int64) *ir.Value {
	return r.g.AddConst(r.g.UniqueName(r.base()+"_c"), ir.NewTensorI64([]int64{int64(len(v))}, v))
}

func (r *msftRewriter) f32(v float32) *ir.Value {
	return r.g.AddConst(r.g.UniqueName(r.base()+"_c"), ir.NewTensorF32([]int64{}, []float32{v}))
}

// unused reports whether output i of the node is absent or read by nothing.
func (r *msftRewriter) unused(i int) bool {
	if i >= len(r.at.Outputs) || r.at.Outputs[i] == nil {
		return true
	}
	o := r.at.Outputs[i]
	for _, g := range r.g.Outputs {
		if g == o {
			return false
		}
	}
	return len(o.Uses()) == 0
}

// lowerMSFT lowers every com.microsoft node of g that has a lowering. It reports
// whether it changed g.
func (l *lowerer) lowerMSFT(g *ir.Graph) (bool, error) {
	changed := false
	var errs []string
	var nodes []*ir.Node
	for _, n := range g.Nodes {
		if n.Domain != ir.MSFTDomain {
			nodes = append(nodes, n)
			continue
		}
		r := &msftRewriter{g: g, at: n}
		var err error
		switch n.Op {
		case "SkipLayerNormalization":
			err = r.skipLayerNorm()
		case "Attention":
			err = r.attention()
		case "MultiHeadAttention":
			err = r.multiHeadAttention()
		case "FastGelu", "BiasGelu", "Gelu":
			r.gelu()
		case "EmbedLayerNormalization":
			err = r.embedLayerNorm()
		default:
			nodes = append(nodes, n)
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Sprintf("node %s %q: %v", n.OpName(), n.Name, err))
			nodes = append(nodes, n)
			continue
		}
		changed = true
		nodes = append(append(nodes, r.pre...), n)
	}
	g.Nodes = nodes
	if len(errs) > 0 {
		return changed, fmt.Errorf("%s", joinLines(errs))
	}
	return changed, nil
}

func joinLines(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += "\n"
		}
		out += x
	}
	return out
}

// become turns the node being replaced into domain.op(ins) with the given outputs.
func (r *msftRewriter) become(domain, op string, ins []*ir.Value, attrs ir.Attrs, outs []*ir.Value) {
	n := r.at
	n.Domain, n.Op, n.Inputs, n.Attrs, n.Outputs = domain, op, ins, attrs, outs
}

func (r *msftRewriter) skipLayerNorm() error {
	n := r.at
	if !r.unused(1) || !r.unused(2) {
		return fmt.Errorf("the mean and inv_std_var outputs are not supported")
	}
	eps := n.Attrs.Float("epsilon", 1e-12)
	outs := []*ir.Value{n.Outputs[0]}
	if len(n.Outputs) > 3 && n.Outputs[3] != nil {
		outs = append(outs, n.Outputs[3])
	}
	r.become(ir.CiuicDomain, "SkipLayerNorm", n.Inputs, ir.Attrs{"epsilon": ir.FloatAttr(eps)}, outs)
	return nil
}

func (r *msftRewriter) gelu() {
	n := r.at
	x := n.Inputs[0]
	if len(n.Inputs) > 1 && n.Inputs[1] != nil {
		x = r.op("Add", x, n.Inputs[1])
	}
	attrs := ir.Attrs{}
	if n.Op == "FastGelu" {
		attrs["approximate"] = ir.StringAttr("tanh")
	}
	r.become("", "Gelu", []*ir.Value{x}, attrs, n.Outputs[:1])
}

// additiveMask converts an ONNX Runtime mask to an additive f32 mask that broadcasts
// to [B, H, S, T]: a raw mask [B, T] or [B, S, T] (1 attends) gives (1 - m)·filter; key
// lengths [B] give 0 for keys j < len[b] and filter after.
//
// A 4-D Megatron mask [B, 1, M, M] (M >= past + S) is cut to rows past..past+S and
// columns 0..past+S, then treated as raw; x is the attention input [B, S, ...] and past
// the past state [2, B, H, P, D] or nil.
func (r *msftRewriter) additiveMask(m *ir.Value, T ir.Dim, filter float32, x, past *ir.Value) (*ir.Value, error) {
	if len(m.Type.Shape) == 4 {
		shape := func(v *ir.Value, d int64) *ir.Value {
			return r.node("", "Shape", []*ir.Value{v}, ir.Attrs{"start": ir.IntAttr(d), "end": ir.IntAttr(d + 1)}, 1)[0]
		}
		p := r.ints(0)
		if past != nil {
			p = shape(past, 3)
		}
		end := r.op("Add", p, shape(x, 1))
		starts := r.node("", "Concat", []*ir.Value{p, r.ints(0)}, ir.Attrs{"axis": ir.IntAttr(0)}, 1)[0]
		ends := r.node("", "Concat", []*ir.Value{end, end}, ir.Attrs{"axis": ir.IntAttr(0)}, 1)[0]
		cut := r.op("Slice", m, starts, ends, r.ints(2, 3))
		mf := r.node("", "Cast", []*ir.Value{cut}, ir.Attrs{"to": ir.IntAttr(ir.F32.ONNXCode())}, 1)[0]
		return r.op("Mul", r.op("Sub", r.f32(1), mf), r.f32(filter)), nil
	}
	switch len(m.Type.Shape) {
	case 2, 3:
		mf := r.node("", "Cast", []*ir.Value{m}, ir.Attrs{"to": ir.IntAttr(ir.F32.ONNXCode())}, 1)[0]
		add := r.op("Mul", r.op("Sub", r.f32(1), mf), r.f32(filter))
		axes := r.ints(1, 2)
		if len(m.Type.Shape) == 3 {
			axes = r.ints(1)
		}
		return r.op("Unsqueeze", add, axes), nil
	case 1:
		if !T.IsStatic() || !m.Type.Shape[0].IsStatic() {
			return nil, fmt.Errorf("a mask_index of key lengths needs static shapes")
		}
		pos := make([]int64, T.Size)
		for i := range pos {
			pos[i] = int64(i)
		}
		lens := r.node("", "Cast", []*ir.Value{m}, ir.Attrs{"to": ir.IntAttr(ir.I64.ONNXCode())}, 1)[0]
		valid := r.op("Less", r.ints(pos...), r.op("Unsqueeze", lens, r.ints(1)))
		add := r.op("Where", valid, r.f32(0), r.f32(filter))
		return r.op("Unsqueeze", add, r.ints(1, 2)), nil
	}
	return nil, fmt.Errorf("mask %s is not supported (raw [B, T] or [B, S, T], or key lengths [B])", m.Type)
}

func (r *msftRewriter) attentionAttrs() ir.Attrs {
	n := r.at
	a := ir.Attrs{"num_heads": ir.IntAttr(n.Attrs.Int("num_heads", 1))}
	if n.Attrs.Has("scale") && n.Attrs.Float("scale", 0) != 0 {
		a["scale"] = ir.FloatAttr(n.Attrs.Float("scale", 0))
	}
	if n.Attrs.Int("unidirectional", 0) != 0 {
		a["causal"] = ir.IntAttr(1)
	}
	return a
}

func input(n *ir.Node, i int) *ir.Value {
	if i < len(n.Inputs) {
		return n.Inputs[i]
	}
	return nil
}

func (r *msftRewriter) attention() error {
	n := r.at
	for i, what := range map[int]string{5: "attention_bias", 6: "past_sequence_length"} {
		if input(n, i) != nil {
			return fmt.Errorf("%s is not supported", what)
		}
	}
	if n.Attrs.Int("do_rotary", 0) != 0 || n.Attrs.Int("past_present_share_buffer", 0) != 0 {
		return fmt.Errorf("do_rotary and past_present_share_buffer are not supported")
	}
	x, w, b, mask, past := n.Inputs[0], n.Inputs[1], input(n, 2), input(n, 3), input(n, 4)
	if past == nil && !r.unused(1) {
		return fmt.Errorf("a present output without past is not supported")
	}
	sizes, ok := n.Attrs.Ints("qkv_hidden_sizes")
	if !ok {
		ws := w.Type.Shape
		if len(ws) != 2 || !ws[1].IsStatic() || ws[1].Size%3 != 0 {
			return fmt.Errorf("weights %s: the Q, K, V sizes are not known", w.Type)
		}
		h := ws[1].Size / 3
		sizes = []int64{h, h, h}
	}
	qkv := r.op("MatMul", x, w)
	if b != nil {
		qkv = r.op("Add", qkv, b)
	}
	parts := r.node("", "Split", []*ir.Value{qkv, r.ints(sizes...)}, ir.Attrs{"axis": ir.IntAttr(-1)}, 3)
	ins := append([]*ir.Value{}, parts...) // parts is the Split's output list
	T := x.Type.Shape[1]
	if past != nil {
		// past [2, B, H, P, D]: keys and values are prepended, present = [2, B, H, P+S, D].
		ps := past.Type.Shape
		if len(ps) != 5 || sizes[1] != sizes[2] {
			return fmt.Errorf("past %s must be [2, B, H, P, D]", past.Type)
		}
		if ps[3].IsStatic() && T.IsStatic() {
			T = ir.Static(ps[3].Size + T.Size)
		} else {
			T = ir.Unknown()
		}
		h := n.Attrs.Int("num_heads", 1)
		d := sizes[1] / h
		heads := func(t *ir.Value) *ir.Value { // [B, S, H·D] -> [B, H, S, D]
			t4 := r.op("Reshape", t, r.ints(0, 0, h, d))
			return r.node("", "Transpose", []*ir.Value{t4}, ir.Attrs{"perm": ir.IntsAttr(0, 2, 1, 3)}, 1)[0]
		}
		flat := func(t *ir.Value) *ir.Value { // [B, H, T, D] -> [B, T, H·D]
			tt := r.node("", "Transpose", []*ir.Value{t}, ir.Attrs{"perm": ir.IntsAttr(0, 2, 1, 3)}, 1)[0]
			return r.op("Reshape", tt, r.ints(0, 0, -1))
		}
		var present []*ir.Value
		for i := 0; i < 2; i++ {
			p := r.node("", "Gather", []*ir.Value{past, r.g.AddConst(r.g.UniqueName(r.base()+"_c"), ir.NewTensorI64([]int64{}, []int64{int64(i)}))}, ir.Attrs{"axis": ir.IntAttr(0)}, 1)[0]
			full := r.node("", "Concat", []*ir.Value{p, heads(parts[1+i])}, ir.Attrs{"axis": ir.IntAttr(2)}, 1)[0]
			ins[1+i] = flat(full)
			present = append(present, r.op("Unsqueeze", full, r.ints(0)))
		}
		if !r.unused(1) {
			pv := n.Outputs[1]
			def := &ir.Node{Name: n.Name, Op: "Concat", Inputs: present, Attrs: ir.Attrs{"axis": ir.IntAttr(0)}, Outputs: []*ir.Value{pv}}
			pv.Def = def
			r.pre = append(r.pre, def)
		}
	}
	if mask != nil {
		m, err := r.additiveMask(mask, T, n.Attrs.Float("mask_filter_value", -10000), x, past)
		if err != nil {
			return err
		}
		ins = append(ins, m)
	}
	r.become(ir.CiuicDomain, "Attention", ins, r.attentionAttrs(), n.Outputs[:1])
	return nil
}

func (r *msftRewriter) multiHeadAttention() error {
	n := r.at
	q, k, v, b, mask := n.Inputs[0], input(n, 1), input(n, 2), input(n, 3), input(n, 4)
	if k == nil || v == nil || len(k.Type.Shape) != 3 || len(v.Type.Shape) != 3 {
		return fmt.Errorf("only separate 3-D key and value inputs are supported")
	}
	for i := 5; i < len(n.Inputs); i++ {
		if n.Inputs[i] != nil {
			return fmt.Errorf("input %d (attention bias, past or cache) is not supported", i)
		}
	}
	if !r.unused(1) || !r.unused(2) {
		return fmt.Errorf("the present outputs are not supported")
	}
	T := k.Type.Shape[1] // before k is replaced by an untyped sum
	if b != nil {
		var sizes []int64
		for _, t := range []*ir.Value{q, k, v} {
			d := t.Type.Shape[2]
			if !d.IsStatic() {
				return fmt.Errorf("bias split needs static hidden sizes")
			}
			sizes = append(sizes, d.Size)
		}
		bs := r.node("", "Split", []*ir.Value{b, r.ints(sizes...)}, ir.Attrs{"axis": ir.IntAttr(0)}, 3)
		q, k, v = r.op("Add", q, bs[0]), r.op("Add", k, bs[1]), r.op("Add", v, bs[2])
	}
	ins := []*ir.Value{q, k, v}
	if mask != nil {
		m, err := r.additiveMask(mask, T, n.Attrs.Float("mask_filter_value", -10000), q, nil)
		if err != nil {
			return err
		}
		ins = append(ins, m)
	}
	r.become(ir.CiuicDomain, "Attention", ins, r.attentionAttrs(), n.Outputs[:1])
	return nil
}

func (r *msftRewriter) embedLayerNorm() error {
	n := r.at
	ids, seg, word, pos := n.Inputs[0], input(n, 1), n.Inputs[2], n.Inputs[3]
	segEmb, gamma, beta, mask, posIDs := input(n, 4), input(n, 5), input(n, 6), input(n, 7), input(n, 8)
	if gamma == nil || beta == nil {
		return fmt.Errorf("gamma and beta are required")
	}
	sum := r.node("", "Gather", []*ir.Value{word, ids}, ir.Attrs{"axis": ir.IntAttr(0)}, 1)[0]
	var p *ir.Value
	if posIDs != nil {
		p = r.node("", "Gather", []*ir.Value{pos, posIDs}, ir.Attrs{"axis": ir.IntAttr(0)}, 1)[0]
	} else {
		S := ids.Type.Shape[1]
		if !S.IsStatic() {
			seqLen := r.node("", "Shape", []*ir.Value{ids}, ir.Attrs{"start": ir.IntAttr(1), "end": ir.IntAttr(2)}, 1)[0]
			p = r.op("Slice", pos, r.ints(0), seqLen, r.ints(0))
		} else {
			p = r.op("Slice", pos, r.ints(0), r.ints(S.Size), r.ints(0))
		}
	}
	sum = r.op("Add", sum, p)
	if seg != nil && segEmb != nil {
		sum = r.op("Add", sum, r.node("", "Gather", []*ir.Value{segEmb, seg}, ir.Attrs{"axis": ir.IntAttr(0)}, 1)[0])
	}
	// mask_index: the number of attended tokens per batch (zeros without a mask).
	if len(n.Outputs) > 1 && n.Outputs[1] != nil {
		mi := n.Outputs[1]
		var def *ir.Node
		if mask != nil {
			m := r.node("", "Cast", []*ir.Value{mask}, ir.Attrs{"to": ir.IntAttr(ir.I32.ONNXCode())}, 1)[0]
			def = &ir.Node{Name: n.Name, Op: "ReduceSum", Inputs: []*ir.Value{m, r.ints(1)}, Attrs: ir.Attrs{"keepdims": ir.IntAttr(0)}, Outputs: []*ir.Value{mi}}
		} else {
			batch := r.node("", "Shape", []*ir.Value{ids}, ir.Attrs{"start": ir.IntAttr(0), "end": ir.IntAttr(1)}, 1)[0]
			def = &ir.Node{Name: n.Name, Op: "ConstantOfShape", Inputs: []*ir.Value{batch},
				Attrs: ir.Attrs{"value": ir.TensorAttr(&ir.Tensor{DType: ir.I32, Shape: []int64{1}, Data: make([]byte, 4)})}, Outputs: []*ir.Value{mi}}
		}
		mi.Def = def
		r.pre = append(r.pre, def)
	}
	if len(n.Outputs) > 2 && n.Outputs[2] != nil {
		es := n.Outputs[2]
		def := &ir.Node{Name: n.Name, Op: "Identity", Inputs: []*ir.Value{sum}, Outputs: []*ir.Value{es}}
		es.Def = def
		r.pre = append(r.pre, def)
	}
	eps := n.Attrs.Float("epsilon", 1e-12)
	r.become("", "LayerNormalization", []*ir.Value{sum, gamma, beta},
		ir.Attrs{"axis": ir.IntAttr(-1), "epsilon": ir.FloatAttr(eps)}, n.Outputs[:1])
	return nil
}
