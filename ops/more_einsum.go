package ops

import (
	"fmt"

	"github.com/ciuic/ciuic/ir"
)

func init() {
	Register("", "Einsum", einsumKernel, numericTypes...)
}

// einsumKernel loops over every combination of labels (output labels outermost) and
// sums the products of the operands; size-1 dims broadcast.
func einsumKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	ranks := make([]int, len(in))
	for i, t := range in {
		ranks[i] = t.Rank()
	}
	spec, err := ir.ParseEinsum(attrs.String("equation", ""), ranks)
	if err != nil {
		return nil, fmt.Errorf("Einsum: %v", err)
	}
	size := map[byte]int{}
	for i, labels := range spec.In {
		for j, c := range labels {
			d := in[i].Shape[j]
			if old, ok := size[c]; ok && old != d && old != 1 && d != 1 {
				return nil, fmt.Errorf("Einsum: label %q has sizes %d and %d", c, old, d)
			} else if !ok || old == 1 {
				size[c] = d
			}
		}
	}
	var all []byte
	seen := map[byte]bool{}
	for _, c := range spec.Out {
		all = append(all, c)
		seen[c] = true
	}
	for _, labels := range spec.In {
		for _, c := range labels {
			if !seen[c] {
				seen[c] = true
				all = append(all, c)
			}
		}
	}
	dims := make([]int, len(all))
	pos := map[byte]int{}
	for i, c := range all {
		dims[i], pos[c] = size[c], i
	}
	// Per operand, the stride of each label in the loop (0 when broadcast).
	data := make([][]float64, len(in))
	lstr := make([][]int, len(in))
	for i, t := range in {
		if data[i], err = t.Floats(); err != nil {
			return nil, err
		}
		st := strides(t.Shape)
		lstr[i] = make([]int, len(all))
		for j, c := range spec.In[i] {
			if t.Shape[j] != 1 {
				lstr[i][pos[c]] += st[j]
			}
		}
	}
	outShape := dims[:len(spec.Out)]
	nOut := NumElems(outShape)
	out := make([]float64, nOut)
	total := NumElems(dims)
	if total > 0 {
		per := total / max(nOut, 1)
		walk(dims, 0, total, func(k int, p []int) {
			prod := 1.0
			for i := range in {
				off := 0
				for d, v := range p {
					off += v * lstr[i][d]
				}
				prod *= data[i][off]
			}
			out[k/per] += prod
		})
	}
	y, err := Cast(MustFromSlice(append([]int{}, outShape...), out), in[0].DType)
	return one(y), err
}
