package ir

import (
	"fmt"
	"strings"
)

// CiuicDomain is the domain of the ops ciuic adds to ONNX's (docs/ops.md).
const CiuicDomain = "ciuic"

// Ops ciuic introduces: fused forms made by passes/ and ops for LLMs. Their kernels are
// registered in ops/ through the same public API a user's custom operator uses.

func init() {
	MustRegister(&Schema{Domain: CiuicDomain, Op: "Dense", MinInputs: 2, MaxInputs: 3, MinOutputs: 1, MaxOutputs: 1,
		Attrs: map[string]AttrSpec{"activation": {Kind: AttrString}},
		Infer: inferDense, Doc: `act(X[..., K] @ W[K, N] + B[N]); activation "" | relu | gelu | gelu_tanh | sigmoid | tanh | silu`})
	MustRegister(&Schema{Domain: CiuicDomain, Op: "SkipLayerNorm", MinInputs: 3, MaxInputs: 5, MinOutputs: 1, MaxOutputs: 2,
		Attrs: map[string]AttrSpec{"epsilon": {Kind: AttrFloat}},
		Infer: inferSkipLayerNorm, Doc: "LayerNormalization(X + Skip [+ Bias]) over the last dim, scale Gamma, bias Beta; output 1 is the sum"})
	MustRegister(&Schema{Domain: CiuicDomain, Op: "RMSNorm", MinInputs: 2, MaxInputs: 2, MinOutputs: 1, MaxOutputs: 1,
		Attrs: map[string]AttrSpec{"epsilon": {Kind: AttrFloat}},
		Infer: inferRMSNorm, Doc: "X / sqrt(mean(X², last dim) + epsilon) * Scale"})
	MustRegister(&Schema{Domain: CiuicDomain, Op: "Attention", MinInputs: 3, MaxInputs: 4, MinOutputs: 1, MaxOutputs: 1,
		Attrs: map[string]AttrSpec{"num_heads": {Kind: AttrInt, Required: true}, "kv_num_heads": {Kind: AttrInt},
			"scale": {Kind: AttrFloat}, "causal": {Kind: AttrInt}, "mask_kind": {Kind: AttrString}, "mask_filter": {Kind: AttrFloat}},
		Infer: inferAttention, Doc: "softmax(Q·Kᵀ·scale + mask)·V per head; Q [B, S, H·D], K/V [B, T, Hkv·D] or [B, Hkv, T, D] (a KV cache), optional mask broadcast to [B, H, S, T]: additive, or with mask_filter f multiplicative, s·m − (1−m)·f"})
	MustRegister(&Schema{Domain: CiuicDomain, Op: "FusedElementwise", MinInputs: 1, MaxInputs: Variadic, MinOutputs: 1, MaxOutputs: 1,
		Attrs: map[string]AttrSpec{"expr": {Kind: AttrString, Required: true}},
		Infer: inferFusedElementwise, Doc: `one pass over memory computing expr, e.g. "Relu(Add(Mul(x0, x1), x2))", over broadcast inputs x0, x1, ...`})
}

// DenseActivations lists the epilogue activations ciuic.Dense accepts.
var DenseActivations = []string{"", "relu", "gelu", "gelu_tanh", "sigmoid", "tanh", "silu"}

func inferDense(n *Node) ([]Type, error) {
	dt, err := sameDType(n, 0, 1, 2)
	if err != nil {
		return nil, err
	}
	act := n.Attrs.String("activation", "")
	ok := false
	for _, a := range DenseActivations {
		ok = ok || a == act
	}
	if !ok {
		return nil, fmt.Errorf("unknown activation %q (want one of %q)", act, DenseActivations)
	}
	x, w := inType(n, 0).Shape, inType(n, 1).Shape
	if len(w) != 2 {
		return nil, fmt.Errorf("W must be 2-D, got %s", w)
	}
	s, err := matmulShape(x, w)
	if err != nil {
		return nil, err
	}
	if hasInput(n, 2) {
		b := inType(n, 2).Shape
		if len(b) != 1 || !dimEqual(b[0], w[1]) {
			return nil, fmt.Errorf("B %s must be 1-D of size N=%s", b, w[1])
		}
	}
	return one(Type{DType: dt, Shape: s}), nil
}

func inferSkipLayerNorm(n *Node) ([]Type, error) {
	dt, err := sameDType(n, allInputs(n)...)
	if err != nil {
		return nil, err
	}
	x := inType(n, 0).Shape
	sum, err := BroadcastShapes(x, inType(n, 1).Shape)
	if err != nil || !sum.Equal(x) {
		return nil, fmt.Errorf("Skip %s must broadcast to X %s", inType(n, 1).Shape, x)
	}
	if len(x) == 0 {
		return nil, fmt.Errorf("X must have rank >= 1")
	}
	last := x[len(x)-1]
	for i := 2; i < len(n.Inputs); i++ {
		if s := inType(n, i).Shape; hasInput(n, i) && (len(s) != 1 || !dimEqual(s[0], last)) {
			return nil, fmt.Errorf("input %d %s must be 1-D of size %s", i, s, last)
		}
	}
	return []Type{{DType: dt, Shape: x.Clone()}, {DType: dt, Shape: x.Clone()}}, nil
}

func inferRMSNorm(n *Node) ([]Type, error) {
	dt, err := sameDType(n, 0, 1)
	if err != nil {
		return nil, err
	}
	x, s := inType(n, 0).Shape, inType(n, 1).Shape
	if len(x) == 0 || len(s) != 1 || !dimEqual(s[0], x[len(x)-1]) {
		return nil, fmt.Errorf("Scale %s must be 1-D of the last dim of X %s", s, x)
	}
	return one(Type{DType: dt, Shape: x.Clone()}), nil
}

func inferAttention(n *Node) ([]Type, error) {
	dt, err := sameDType(n, 0, 1, 2, 3)
	if err != nil {
		return nil, err
	}
	q, k, v := inType(n, 0).Shape, inType(n, 1).Shape, inType(n, 2).Shape
	h := n.Attrs.Int("num_heads", 0)
	hkv := n.Attrs.Int("kv_num_heads", h)
	if h <= 0 || hkv <= 0 || h%hkv != 0 {
		return nil, fmt.Errorf("num_heads %d must be positive and a multiple of kv_num_heads %d", h, hkv)
	}
	if len(q) != 3 || len(k) != len(v) || (len(k) != 3 && len(k) != 4) {
		return nil, fmt.Errorf("Q must be [batch, seq, hidden] and K, V both [batch, seq, hidden] or [batch, kv_heads, seq, head], got %s, %s, %s", q, k, v)
	}
	if q[2].IsStatic() && q[2].Size%h != 0 {
		return nil, fmt.Errorf("Q hidden size %d is not divisible by num_heads %d", q[2].Size, h)
	}
	// T, and the K and V head sizes, in either layout.
	var T, kHidden, vHidden Dim
	if len(k) == 4 {
		if k[1] != Static(hkv) || v[1] != Static(hkv) {
			return nil, fmt.Errorf("K %s and V %s must have kv_num_heads=%d heads in dim 1", k, v, hkv)
		}
		T, kHidden, vHidden = k[2], mulDim(k[3], Static(hkv)), mulDim(v[3], Static(hkv))
	} else {
		T, kHidden, vHidden = k[1], k[2], v[2]
	}
	if q[2].IsStatic() && kHidden.IsStatic() && kHidden.Size*h != q[2].Size*hkv {
		return nil, fmt.Errorf("K hidden size %d does not match kv_num_heads %d with head size %d", kHidden.Size, hkv, q[2].Size/h)
	}
	switch mk := n.Attrs.String("mask_kind", ""); mk {
	case "", "none", "causal", "padding", "constant", "banded", "additive", "multiplicative":
	default:
		return nil, fmt.Errorf("unknown mask_kind %q", mk)
	}
	if hasInput(n, 3) {
		m := inType(n, 3).Shape
		if _, err := BroadcastShapes(m, Shape{q[0], Static(h), q[1], T}); err != nil || len(m) > 4 {
			return nil, fmt.Errorf("mask %s does not broadcast to [batch, heads, S, T] = [%s, %d, %s, %s]", m, q[0], h, q[1], T)
		}
	} else if n.Attrs.Has("mask_filter") {
		return nil, fmt.Errorf("mask_filter without a mask")
	}
	hidden := q[2]
	if vHidden.IsStatic() {
		hidden = Static(vHidden.Size * h / hkv)
	}
	return one(Type{DType: dt, Shape: Shape{q[0], q[1], hidden}}), nil
}

// ElementwiseOps are the ops ciuic.FusedElementwise's expressions may use, with arity.
var ElementwiseOps = map[string]int{
	"Add": 2, "Sub": 2, "Mul": 2, "Div": 2, "Max": 2, "Min": 2, "Pow": 2,
	"Relu": 1, "Sigmoid": 1, "Tanh": 1, "Exp": 1, "Log": 1, "Sqrt": 1, "Neg": 1, "Abs": 1,
	"Erf": 1, "Reciprocal": 1, "Gelu": 1, "Softplus": 1,
}

// Expr is a parsed ciuic.FusedElementwise expression: an op applied to sub-expressions,
// or an input reference x<Input>.
type Expr struct {
	Op    string // "" for an input reference
	Input int
	Args  []*Expr
}

func (e *Expr) String() string {
	if e.Op == "" {
		return fmt.Sprintf("x%d", e.Input)
	}
	parts := make([]string, len(e.Args))
	for i, a := range e.Args {
		parts[i] = a.String()
	}
	return e.Op + "(" + strings.Join(parts, ", ") + ")"
}

// ParseExpr parses a FusedElementwise expression such as "Relu(Add(x0, x1))"; nin is the
// number of inputs it may refer to.
func ParseExpr(s string, nin int) (*Expr, error) {
	p := exprParser{s: s}
	e, err := p.expr(nin)
	if err != nil {
		return nil, fmt.Errorf("expr %q: %v", s, err)
	}
	p.space()
	if p.i != len(s) {
		return nil, fmt.Errorf("expr %q: unexpected %q at offset %d", s, s[p.i:], p.i)
	}
	return e, nil
}

type exprParser struct {
	s string
	i int
}

func (p *exprParser) space() {
	for p.i < len(p.s) && p.s[p.i] == ' ' {
		p.i++
	}
}

func (p *exprParser) expr(nin int) (*Expr, error) {
	p.space()
	start := p.i
	for p.i < len(p.s) && (isAlnum(p.s[p.i])) {
		p.i++
	}
	word := p.s[start:p.i]
	if word == "" {
		return nil, fmt.Errorf("expected an op or input at offset %d", start)
	}
	p.space()
	if p.i >= len(p.s) || p.s[p.i] != '(' {
		var k int
		if _, err := fmt.Sscanf(word, "x%d", &k); err != nil || fmt.Sprintf("x%d", k) != word {
			return nil, fmt.Errorf("%q is not an input x0..x%d", word, nin-1)
		}
		if k < 0 || k >= nin {
			return nil, fmt.Errorf("input %s out of range (%d inputs)", word, nin)
		}
		return &Expr{Input: k}, nil
	}
	arity, ok := ElementwiseOps[word]
	if !ok {
		return nil, fmt.Errorf("op %q cannot be fused", word)
	}
	p.i++ // (
	e := &Expr{Op: word}
	for {
		a, err := p.expr(nin)
		if err != nil {
			return nil, err
		}
		e.Args = append(e.Args, a)
		p.space()
		if p.i < len(p.s) && p.s[p.i] == ',' {
			p.i++
			continue
		}
		if p.i < len(p.s) && p.s[p.i] == ')' {
			p.i++
			break
		}
		return nil, fmt.Errorf("expected , or ) at offset %d", p.i)
	}
	if len(e.Args) != arity {
		return nil, fmt.Errorf("%s takes %d arguments, got %d", word, arity, len(e.Args))
	}
	return e, nil
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}

func inferFusedElementwise(n *Node) ([]Type, error) {
	if _, err := ParseExpr(n.Attrs.String("expr", ""), len(n.Inputs)); err != nil {
		return nil, err
	}
	if err := requireFloat(n, 0); err != nil {
		return nil, err
	}
	return broadcastOp(false)(n)
}
