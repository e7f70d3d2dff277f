// Package sparse produces ciuic.SparseAttention: attention that computes only the
// query-key pairs a Pattern keeps (sliding windows, local blocks, vertical stripes,
// global tokens), with a streaming softmax so that no S×T score matrix ever exists.
//
// It is an ordinary custom operator: importing the package registers the op's schema
// (ir.Register), its f32 kernel (ops.Register) and its cost (ops.RegisterCost) in init,
// through the same public API a user's operator uses (docs/custom-ops.md):
//
//	import _ "github.com/ciuic/ciuic/ops/sparse"
//
// In the IR:
//
//	%y = ciuic.SparseAttention(%q, %k, %v) {num_heads: 8, causal: 1, window_left: 255, window_right: 0}
//
// passes/sparse.go rewrites ciuic.Attention into it (docs/sparse-attention.md).
package sparse

import (
	"fmt"

	"github.com/ciuic/ciuic/ir"
	"github.com/ciuic/ciuic/ops"
)

// Domain and Op name the operator.
const (
	Domain = ir.CiuicDomain
	Op     = "SparseAttention"
)

func init() {
	attrs := map[string]ir.AttrSpec{
		"num_heads": {Kind: ir.AttrInt, Required: true}, "kv_num_heads": {Kind: ir.AttrInt}, "scale": {Kind: ir.AttrFloat},
	}
	for name, spec := range patternAttrs {
		attrs[name] = spec
	}
	ir.MustRegister(&ir.Schema{Domain: Domain, Op: Op, MinInputs: 3, MaxInputs: 4, MinOutputs: 1, MaxOutputs: 1,
		Attrs: attrs, Infer: infer,
		Doc: "softmax(Q·Kᵀ·scale + mask)·V per head over only the keys the pattern keeps (window, blocks, stripes, global tokens); Q [B, S, H·D], K/V [B, T, Hkv·D]"})
	ops.Register(Domain, Op, tiledKernel, ir.F32)
	ops.RegisterCost(Domain, Op, cost)
}

// infer checks the inputs as ciuic.Attention does and gives Y [B, S, H·Dv].
func infer(n *ir.Node) ([]ir.Type, error) {
	for i, v := range n.Inputs {
		if v != nil && v.Type.DType != ir.F32 {
			return nil, fmt.Errorf("input %d is %s, want f32", i, v.Type.DType)
		}
	}
	q, k, v := n.Inputs[0].Type.Shape, n.Inputs[1].Type.Shape, n.Inputs[2].Type.Shape
	if len(q) != 3 || len(k) != 3 || len(v) != 3 {
		return nil, fmt.Errorf("Q, K, V must be 3-D [batch, seq, hidden], got %s, %s, %s", q, k, v)
	}
	h := n.Attrs.Int("num_heads", 0)
	hkv := n.Attrs.Int("kv_num_heads", h)
	if h <= 0 || hkv <= 0 || h%hkv != 0 {
		return nil, fmt.Errorf("num_heads %d must be positive and a multiple of kv_num_heads %d", h, hkv)
	}
	if q[2].IsStatic() && q[2].Size%h != 0 {
		return nil, fmt.Errorf("Q hidden size %d is not divisible by num_heads %d", q[2].Size, h)
	}
	if q[2].IsStatic() && k[2].IsStatic() && k[2].Size*h != q[2].Size*hkv {
		return nil, fmt.Errorf("K hidden size %d does not match kv_num_heads %d with head size %d", k[2].Size, hkv, q[2].Size/h)
	}
	if _, err := PatternOf(n.Attrs); err != nil {
		return nil, err
	}
	if len(n.Inputs) > 3 && n.Inputs[3] != nil {
		m := n.Inputs[3].Type.Shape
		if _, err := ir.BroadcastShapes(m, ir.Shape{q[0], ir.Static(h), q[1], k[1]}); err != nil || len(m) > 4 {
			return nil, fmt.Errorf("mask %s does not broadcast to [batch, heads, S, T] = [%s, %d, %s, %s]", m, q[0], h, q[1], k[1])
		}
	}
	hidden := q[2]
	if v[2].IsStatic() {
		hidden = ir.Static(v[2].Size * h / hkv)
	}
	return []ir.Type{{DType: ir.F32, Shape: ir.Shape{q[0], q[1], hidden}}}, nil
}

// cost counts two multiply-adds (Q·K and P·V) per head dim for every kept pair, from
// the pattern's keys per query at the middle of the sequence; unknown dims count as 1.
func cost(in []ir.Type, attrs ir.Attrs) float64 {
	if len(in) < 3 || len(in[0].Shape) != 3 || len(in[1].Shape) != 3 {
		return -1
	}
	size := func(d ir.Dim) int {
		if d.IsStatic() {
			return int(d.Size)
		}
		return 1
	}
	B, S, T, hid := size(in[0].Shape[0]), size(in[0].Shape[1]), size(in[1].Shape[1]), size(in[0].Shape[2])
	p, err := PatternOf(attrs)
	h := int(attrs.Int("num_heads", 1))
	if err != nil || h <= 0 {
		return -1
	}
	keys := 0
	for _, sp := range p.Spans(nil, 0, T/2, T) {
		keys += sp.Hi - sp.Lo
	}
	return 4 * float64(B) * float64(S) * float64(keys) * float64(hid)
}
