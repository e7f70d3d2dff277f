package passes

import (
	"fmt"
	"math"

	"github.com/ciuic/ciuic/ir"
)

// Multi-head attention as exporters write it, around its Softmax:
//
//	Q = Transpose(Reshape(q, [B, S, H, D]), [0, 2, 1, 3])       (optionally ·scale here)
//	K = Transpose(Reshape(k, [B, T, H, D]), [0, 2, 3, 1])
//	V = Transpose(Reshape(v, [B, T, H, D]), [0, 2, 1, 3])
//	y = Reshape(Transpose(Softmax(Q·K·scale + mask)·V, [0, 2, 1, 3]), [B, S, H·D])
//
// becomes y = ciuic.Attention(q, k, v, mask) {num_heads: H, scale, mask_kind}. The
// projections that make q, k and v stay (fuse-dense turns them into Dense ops).
var attentionPat = func() *Pat {
	heads := func(x string) *Pat {
		return Op("Transpose", Op("Reshape", Var(x), Var(x+".shape")).As(x+".split")).As(x + ".t")
	}
	q := orPat(
		Comm("Mul", heads("q"), Const("qscale")),
		Op("Div", heads("q"), Const("qdiv")),
		heads("q"),
	)
	// K and V may also come from a KV cache, [B, Hkv, T, D] (past keys concatenated with
	// the new ones), with K transposed for QKᵀ and optionally scaled there.
	cacheK := Op("Transpose", Var("kc")).As("kc.t")
	k := orPat(heads("k"), Op("Div", cacheK, Const("kdiv")), cacheK)
	v := orPat(heads("v"), Var("vc"))
	qk := Op("MatMul", q, k).As("qk")
	scaled := orPat(
		Comm("Mul", qk, Const("scale")),
		Op("Div", qk, Const("div")),
		qk,
	)
	// Megatron's 0/1 mask: s·m − (1−m)·f, kept exactly as written (mask_filter).
	filtered := Op("Sub", Comm("Mul", scaled, Var("fmask")),
		Comm("Mul", Op("Sub", ConstNear("one", 1, 0), Var("fmask")), Const("filter")))
	scores := orPat(filtered, Comm("Add", scaled, Var("mask")), scaled)
	pv := Op("MatMul", Op("Softmax", scores).As("softmax"), v).As("pv")
	return Op("Reshape", Op("Transpose", pv).As("merge"), Var("merge.shape"))
}()

func fuseAttention(c *Context, g *ir.Graph) error {
	if _, err := applyRules(c, g, []Rule{onnxAttentionRule}); err != nil {
		return err
	}
	fused := 0
	for _, sm := range append([]*ir.Node{}, g.Nodes...) {
		if sm.Op != "Softmax" || sm.Domain != "" || len(sm.Outputs[0].Type.Shape) != 4 {
			continue
		}
		if isDead(g, sm) {
			continue
		}
		root, why := attentionRoot(sm)
		if root == nil {
			c.Missed(sm, "attention: %s", why)
			continue
		}
		m, why := attentionPat.Match(root.Outputs[0])
		if m == nil {
			c.Missed(sm, "attention: %s", why)
			continue
		}
		attrs, err := attentionAttrs(m)
		if err != nil {
			c.Missed(sm, "attention: %v", err)
			continue
		}
		readers := scoreShapeReaders(m)
		if err := m.interiorExcept(g, readers); err != nil {
			c.Missed(sm, "attention: %v", err)
			continue
		}
		if err := rewireShapeReaders(g, m, readers, attrs.Int("num_heads", 0)); err != nil {
			c.Missed(sm, "attention: %v", err)
			continue
		}
		in := []*ir.Value{m.V["q"], first(m.V["k"], m.V["kc"]), first(m.V["v"], m.V["vc"])}
		if mask := first(m.V["mask"], m.V["fmask"]); mask != nil {
			in = append(in, mask)
		}
		b := &Builder{g: g, at: root, group: c.NewGroup()}
		out, err := b.Op("ciuic.Attention", in, attrs)
		if err != nil {
			c.Missed(sm, "attention: %v", err)
			continue
		}
		if !out.Type.Equal(root.Outputs[0].Type) && !moreKnown(out.Type, root.Outputs[0].Type) {
			return fmt.Errorf("attention at %s: fused type %s, original %s", sm.Ref(), out.Type, root.Outputs[0].Type)
		}
		g.ReplaceAllUses(root.Outputs[0], out)
		keepName(b, root.Outputs[0], out)
		removeDead(g)
		c.Fired(sm, "attention (%d heads, mask %s) replaced %d nodes", attrs.Int("num_heads", 0), attrs.String("mask_kind", ""), len(m.Nodes))
		fused++
	}
	c.Count("attention", fused)
	if fused > 0 {
		// The fused op may know dims the unfused chain had lost (a mask broadcast to "?"):
		// let readers refine their types.
		return inferShapes(c, g)
	}
	return nil
}

// attentionRoot follows a Softmax's single reader chain MatMul -> Transpose -> Reshape to
// the node that merges the heads back, where the pattern is anchored.
func attentionRoot(sm *ir.Node) (*ir.Node, string) {
	n := sm
	for _, op := range []string{"MatMul", "Transpose", "Reshape"} {
		uses := n.Outputs[0].Uses()
		if len(uses) != 1 || uses[0].Node.Op != op || uses[0].Node.Domain != "" {
			return nil, fmt.Sprintf("%s is not followed by %s (heads are not multiplied by V and merged back)", n.Ref(), op)
		}
		n = uses[0].Node
	}
	return n, ""
}

// attentionAttrs checks the matched subgraph really is multi-head attention (head splits
// agree, perms are the standard ones, scales are scalars) and returns the fused op's attributes.
func attentionAttrs(m *Match) (ir.Attrs, error) {
	perm := func(name string, want ...int64) error {
		p, _ := m.N[name].Attrs.Ints("perm")
		if fmt.Sprint(p) != fmt.Sprint(want) {
			return fmt.Errorf("%s has perm %v, want %v", m.N[name].Ref(), p, want)
		}
		return nil
	}
	checks := []error{perm("q.t", 0, 2, 1, 3), perm("merge", 0, 2, 1, 3)}
	if _, ok := m.N["k.t"]; ok {
		checks = append(checks, perm("k.t", 0, 2, 3, 1))
	} else {
		checks = append(checks, perm("kc.t", 0, 1, 3, 2))
	}
	if _, ok := m.N["v.t"]; ok {
		checks = append(checks, perm("v.t", 0, 2, 1, 3))
	}
	for _, err := range checks {
		if err != nil {
			return nil, err
		}
	}
	if axis := m.N["softmax"].Attrs.Int("axis", -1); axis != -1 && axis != 3 {
		return nil, fmt.Errorf("softmax is over axis %d, not the keys", axis)
	}
	var heads, headDim ir.Dim
	for _, x := range []string{"q", "k", "v"} {
		if _, ok := m.V[x]; !ok {
			continue // from a KV cache: checked below
		}
		in, split := m.V[x].Type.Shape, m.N[x+".split"].Outputs[0].Type.Shape
		if len(in) != 3 || len(split) != 4 {
			return nil, fmt.Errorf("%s %s is not split from [batch, seq, hidden] into heads (%s)", x, in, split)
		}
		if in[0] != split[0] || in[1] != split[1] || !split[2].IsStatic() || !split[3].IsStatic() {
			return nil, fmt.Errorf("%s split %s does not keep batch and sequence of %s", x, split, in)
		}
		if in[2] != ir.Static(split[2].Size*split[3].Size) {
			return nil, fmt.Errorf("%s split %s does not cover hidden %s", x, split, in[2])
		}
		if x == "q" {
			heads, headDim = split[2], split[3]
		} else if split[2] != heads || split[3] != headDim {
			return nil, fmt.Errorf("%s splits into %s heads of %s, q into %s of %s", x, split[2], split[3], heads, headDim)
		}
	}
	kvHeads := heads
	for _, x := range []string{"kc", "vc"} {
		c, ok := m.V[x]
		if !ok {
			continue
		}
		s := c.Type.Shape
		if len(s) != 4 || !s[1].IsStatic() || heads.Size%max(s[1].Size, 1) != 0 || s[1].Size == 0 {
			return nil, fmt.Errorf("%s %s is not a [batch, kv_heads, seq, head] cache for %s heads", c, s, heads)
		}
		if s[3] != headDim {
			return nil, fmt.Errorf("%s %s has head size %s, q has %s", c, s, s[3], headDim)
		}
		kvHeads = s[1]
	}
	if kc, vc := m.V["kc"], m.V["vc"]; (kc == nil) != (vc == nil) {
		return nil, fmt.Errorf("keys and values differ in layout (one from a cache, one split from hidden)")
	}
	merged := m.Root.Outputs[0].Type.Shape
	compatible := func(a, b ir.Dim) bool { return a == b || a.IsUnknown() }
	if q := m.V["q"].Type.Shape; len(merged) != 3 || !compatible(merged[0], q[0]) || !compatible(merged[1], q[1]) || !compatible(merged[2], q[2]) {
		return nil, fmt.Errorf("heads merge to %s, not [batch, seq, hidden] of q %s", merged, q)
	}
	scale := 1.0
	for _, name := range []string{"qscale", "scale"} {
		if v, ok := m.V[name]; ok {
			s, err := scalarOf(v)
			if err != nil {
				return nil, err
			}
			scale *= s
		}
	}
	for _, name := range []string{"qdiv", "kdiv", "div"} {
		if v, ok := m.V[name]; ok {
			s, err := scalarOf(v)
			if err != nil {
				return nil, err
			}
			scale /= s
		}
	}
	attrs := ir.Attrs{"num_heads": ir.IntAttr(heads.Size), "scale": ir.FloatAttr(float32(scale)), "mask_kind": ir.StringAttr("none")}
	if kvHeads != heads {
		attrs["kv_num_heads"] = ir.IntAttr(kvHeads.Size)
	}
	if _, ok := m.V["fmask"]; ok {
		f, err := scalarOf(m.V["filter"])
		if err != nil {
			return nil, err
		}
		attrs["mask_kind"] = ir.StringAttr("multiplicative")
		attrs["mask_filter"] = ir.FloatAttr(float32(f))
	}
	if mask := m.V["mask"]; mask != nil {
		kind, causal := maskKind(mask)
		attrs["mask_kind"] = ir.StringAttr(kind)
		if causal {
			attrs["causal"] = ir.IntAttr(1)
		}
	}
	return attrs, nil
}

func scalarOf(v *ir.Value) (float64, error) {
	if v.Const.NumElements() != 1 || !v.Const.DType.IsFloat() {
		return 0, fmt.Errorf("scale %s is not a float scalar", v)
	}
	return v.Const.At(0), nil
}

// maskKind classifies an additive mask: "additive" when computed at run time; for a
// constant, "causal" when it allows exactly the keys t <= s + (T - S), "banded" when
// the allowed keys of each query form a window around it, else "constant". causal is
// reported only when the mask is exactly causal, so the kernel may skip reading it.
func maskKind(mask *ir.Value) (string, bool) {
	if mask.Const == nil {
		return "additive", false
	}
	sh := mask.Const.Shape
	if len(sh) < 2 {
		return "constant", false
	}
	S, T := sh[len(sh)-2], sh[len(sh)-1]
	rows := mask.Const.NumElements() / (S * T)
	causal, banded := true, true
	const blocked = -1e4 // at least this negative counts as "not allowed"
	for r := int64(0); r < rows; r++ {
		for s := int64(0); s < S; s++ {
			first, last := int64(-1), int64(-1)
			for t := int64(0); t < T; t++ {
				v := mask.Const.At(int(r*S*T + s*T + t))
				allowed := v == 0
				if !allowed && v > blocked && !math.IsInf(v, -1) {
					return "constant", false // soft biases: keep them as a dense mask
				}
				if allowed != (t <= s+(T-S)) {
					causal = false
				}
				if allowed {
					if first < 0 {
						first = t
					} else if t != last+1 {
						banded = false
					}
					last = t
				}
			}
		}
	}
	switch {
	case causal:
		return "causal", true
	case banded:
		return "banded", false
	}
	return "constant", false
}

// first returns the first non-nil value.
func first(vs ...*ir.Value) *ir.Value {
	for _, v := range vs {
		if v != nil {
			return v
		}
	}
	return nil
}

// scoreShapeReaders finds Shape nodes outside the pattern that read one of its [B, H, S, T]
// score-shaped values (exporters compute mask slice bounds from the scores' shape). They
// need only the shape, which rewireShapeReaders rebuilds from the inputs'.
func scoreShapeReaders(m *Match) map[*ir.Node]bool {
	in := map[*ir.Node]bool{}
	for _, n := range m.Nodes {
		in[n] = true
	}
	scores := m.N["qk"].Outputs[0].Type.Shape
	readers := map[*ir.Node]bool{}
	for _, n := range m.Nodes {
		for _, o := range n.Outputs {
			if o == nil || !o.Type.Shape.Equal(scores) || hasUnknownDims(o.Type.Shape) && len(o.Type.Shape) != 4 {
				continue
			}
			for _, u := range o.Uses() {
				if !in[u.Node] && u.Node.Op == "Shape" && u.Node.Domain == "" {
					readers[u.Node] = true
				}
			}
		}
	}
	return readers
}

func hasUnknownDims(s ir.Shape) bool {
	for _, d := range s {
		if d.IsUnknown() {
			return true
		}
	}
	return false
}

// rewireShapeReaders makes each Shape reader compute [B, H, S, T] from the shapes of q (B, S)
// and of the keys (T) instead of reading the scores, so the scores can go.
func rewireShapeReaders(g *ir.Graph, m *Match, readers map[*ir.Node]bool, heads int64) error {
	for r := range readers {
		b := &Builder{g: g, at: r}
		q := m.V["q"]
		keys, tAxis := m.V["k"], int64(1)
		if kc := m.V["kc"]; kc != nil {
			keys, tAxis = kc, 2
		}
		dim := func(v *ir.Value, axis int64) (*ir.Value, error) {
			return b.Op("Shape", []*ir.Value{v}, ir.Attrs{"start": ir.IntAttr(axis), "end": ir.IntAttr(axis + 1)})
		}
		bd, err := dim(q, 0)
		if err != nil {
			return err
		}
		sd, err := dim(q, 1)
		if err != nil {
			return err
		}
		td, err := dim(keys, tAxis)
		if err != nil {
			return err
		}
		hd := b.Const("heads", ir.NewTensorI64([]int64{1}, []int64{heads}))
		pieces := []*ir.Value{bd, hd, sd, td}
		start, end := ir.ShapeRange(r, 4)
		shape, err := b.Op("Concat", pieces[start:end], ir.Attrs{"axis": ir.IntAttr(0)})
		if err != nil {
			return err
		}
		if !shape.Type.Equal(r.Outputs[0].Type) {
			b.discard()
			return fmt.Errorf("rebuilt shape %s differs from %s", shape.Type, r.Outputs[0].Type)
		}
		g.ReplaceAllUses(r.Outputs[0], shape)
		adoptName(g, r.Outputs[0], shape)
		g.RemoveNode(r)
	}
	return nil
}

// onnxAttentionRule maps ONNX's own Attention op (opset 23) onto ciuic.Attention where
// the two agree exactly: 3-D Q, K, V with q_num_heads/kv_num_heads, an optional float
// (additive) mask, no past key/value, no softcap, only Y read, and is_causal only when
// S = T (where every causal convention coincides).
var onnxAttentionRule = Rule{Name: "onnx-attention", Pat: OpAny("Attention"), When: onnxAttentionOK, Do: onnxAttention, Fusion: true, ReportMisses: true}

func onnxAttentionOK(m *Match) error {
	n := m.Root
	q, k := n.Inputs[0].Type.Shape, n.Inputs[1].Type.Shape
	if len(q) != 3 {
		return fmt.Errorf("Q is %d-D; only the 3-D form maps onto ciuic.Attention", len(q))
	}
	for i := 4; i < len(n.Inputs); i++ {
		if n.Inputs[i] != nil {
			return fmt.Errorf("input %d (past key/value or padding lengths) is given", i)
		}
	}
	if mask := inputAt(n, 3); mask != nil && !mask.Type.DType.IsFloat() {
		return fmt.Errorf("the mask is %s, not an additive float mask", mask.Type.DType)
	}
	if n.Attrs.Float("softcap", 0) != 0 {
		return fmt.Errorf("softcap is set")
	}
	if n.Attrs.Int("qk_matmul_output_mode", 0) != 0 {
		return fmt.Errorf("qk_matmul_output_mode is set")
	}
	if n.Attrs.Int("is_causal", 0) != 0 && q[1] != k[1] {
		return fmt.Errorf("causal with query length %s and key length %s", q[1], k[1])
	}
	return nil
}

func inputAt(n *ir.Node, i int) *ir.Value {
	if i < len(n.Inputs) {
		return n.Inputs[i]
	}
	return nil
}

func onnxAttention(b *Builder, m *Match) (*ir.Value, error) {
	n := m.Root
	attrs := ir.Attrs{"num_heads": ir.IntAttr(n.Attrs.Int("q_num_heads", 0)), "mask_kind": ir.StringAttr("none")}
	if hkv := n.Attrs.Int("kv_num_heads", 0); hkv != n.Attrs.Int("q_num_heads", 0) {
		attrs["kv_num_heads"] = ir.IntAttr(hkv)
	}
	if n.Attrs.Has("scale") {
		attrs["scale"] = ir.FloatAttr(n.Attrs.Float("scale", 0))
	}
	in := []*ir.Value{n.Inputs[0], n.Inputs[1], n.Inputs[2]}
	if mask := inputAt(n, 3); mask != nil {
		in = append(in, mask)
		kind, _ := maskKind(mask)
		attrs["mask_kind"] = ir.StringAttr(kind)
	}
	if n.Attrs.Int("is_causal", 0) != 0 {
		attrs["causal"] = ir.IntAttr(1)
		attrs["mask_kind"] = ir.StringAttr("causal")
	}
	return b.Op("ciuic.Attention", in, attrs)
}
