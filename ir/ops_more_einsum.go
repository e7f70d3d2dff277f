package ir

import (
	"fmt"
	"sort"
	"strings"
)

func init() {
	MustRegister(&Schema{Op: "Einsum", MinInputs: 1, MaxInputs: Variadic, MinOutputs: 1, MaxOutputs: 1,
		Attrs: map[string]AttrSpec{"equation": {Kind: AttrString, Required: true}},
		Infer: inferEinsum, Doc: "Einstein summation by the equation attribute (with ... broadcasting)"})
}

// EinsumSpec is a parsed Einsum equation with the ellipsis expanded for given input
// ranks: one label per dim of each operand and of the output. Ellipsis dims get the
// labels '0', '1', ... (right-aligned, as numpy broadcasts them).
type EinsumSpec struct {
	In  [][]byte
	Out []byte
}

// ParseEinsum parses equation for operands of the given ranks.
func ParseEinsum(eq string, ranks []int) (*EinsumSpec, error) {
	eq = strings.ReplaceAll(eq, " ", "")
	lhs, rhs, explicit := strings.Cut(eq, "->")
	terms := strings.Split(lhs, ",")
	if len(terms) != len(ranks) {
		return nil, fmt.Errorf("equation %q has %d operands, got %d inputs", eq, len(terms), len(ranks))
	}
	spec := &EinsumSpec{}
	ell := 0
	count := map[byte]int{}
	for i, t := range terms {
		pre, post, has := strings.Cut(t, "...")
		n := len(pre) + len(post)
		if !has && n != ranks[i] || has && n > ranks[i] {
			return nil, fmt.Errorf("operand %d %q does not match rank %d", i, t, ranks[i])
		}
		var labels []byte
		labels = append(labels, pre...)
		if has {
			k := ranks[i] - n
			ell = max(ell, k)
			for j := 0; j < k; j++ {
				labels = append(labels, byte('0'+ell-k+j))
			}
		}
		labels = append(labels, post...)
		for _, c := range []byte(pre + post) {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
				return nil, fmt.Errorf("bad label %q in %q", c, eq)
			}
			count[c]++
		}
		spec.In = append(spec.In, labels)
	}
	// Re-label ellipsis dims now that the widest ellipsis is known.
	for i, t := range terms {
		pre, _, has := strings.Cut(t, "...")
		if !has {
			continue
		}
		k := ranks[i] - (len(t) - 3)
		for j := 0; j < k; j++ {
			spec.In[i][len(pre)+j] = byte('0' + ell - k + j)
		}
	}
	var ellLabels []byte
	for j := 0; j < ell; j++ {
		ellLabels = append(ellLabels, byte('0'+j))
	}
	if explicit {
		pre, post, has := strings.Cut(rhs, "...")
		spec.Out = append(spec.Out, pre...)
		if has || ell > 0 && !has && false {
			spec.Out = append(spec.Out, ellLabels...)
		}
		spec.Out = append(spec.Out, post...)
	} else {
		var once []byte
		for c, n := range count {
			if n == 1 {
				once = append(once, c)
			}
		}
		sort.Slice(once, func(i, j int) bool { return once[i] < once[j] })
		spec.Out = append(append(spec.Out, ellLabels...), once...)
	}
	return spec, nil
}

func inferEinsum(n *Node) ([]Type, error) {
	var ranks []int
	for i := range n.Inputs {
		ranks = append(ranks, len(inType(n, i).Shape))
	}
	spec, err := ParseEinsum(n.Attrs.String("equation", ""), ranks)
	if err != nil {
		return nil, err
	}
	size := map[byte]Dim{}
	for i, labels := range spec.In {
		for j, c := range labels {
			d := inType(n, i).Shape[j]
			if old, ok := size[c]; !ok || old.IsStatic() && old.Size == 1 {
				size[c] = d
			}
		}
	}
	out := make(Shape, len(spec.Out))
	for i, c := range spec.Out {
		d, ok := size[c]
		if !ok {
			return nil, fmt.Errorf("output label %q is not in any operand", c)
		}
		out[i] = d
	}
	return one(Type{DType: inType(n, 0).DType, Shape: out}), nil
}
