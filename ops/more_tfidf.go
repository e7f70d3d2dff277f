package ops

import (
	"fmt"
	"strings"

	"github.com/ciuic/ciuic/ir"
)

func init() {
	Register("", "TfIdfVectorizer", tfidfKernel, ir.I32, ir.I64, ir.String)
}

// tfidfKernel counts, per row, every n-gram of length min_gram_length..max_gram_length
// whose items are skip+1 apart (skip 0..max_skip_count; unigrams once) and that is in
// the pool; the pool lists n-grams by length, ngram_counts[n-1] being where the
// n-grams start, and ngram_indexes maps them to output columns.
func tfidfKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	x := in[0]
	var toks []string
	if x.DType == ir.String {
		toks = Elems[string](x)
	} else {
		v, err := x.Ints()
		if err != nil {
			return nil, err
		}
		for _, t := range v {
			toks = append(toks, fmt.Sprint(t))
		}
	}
	var pool []string
	if p, ok := attrs.Ints("pool_int64s"); ok {
		for _, t := range p {
			pool = append(pool, fmt.Sprint(t))
		}
	} else if a, ok := attrs["pool_strings"]; ok {
		pool = a.Strs
	}
	counts, _ := attrs.Ints("ngram_counts")
	idx, _ := attrs.Ints("ngram_indexes")
	weights, _ := attrs.Floats("weights")
	D := 0
	for _, v := range idx {
		D = max(D, int(v)+1)
	}
	// n-gram key (items joined by NUL) -> position in ngram_indexes
	gram := map[string]int{}
	k := 0
	for n := 1; n <= len(counts); n++ {
		start := int(counts[n-1])
		end := len(pool)
		if n < len(counts) {
			end = int(counts[n])
		}
		for p := start; p+n <= end; p += n {
			gram[strings.Join(pool[p:p+n], "\x00")] = k
			k++
		}
	}
	minN, maxN := int(attrs.Int("min_gram_length", 1)), int(attrs.Int("max_gram_length", 1))
	maxSkip := int(attrs.Int("max_skip_count", 0))
	rows, width := 1, len(toks)
	if x.Rank() == 2 {
		rows, width = x.Shape[0], x.Shape[1]
	}
	out := make([]float64, rows*D)
	for r := 0; r < rows; r++ {
		row := toks[r*width:][:width]
		cnt := out[r*D:][:D]
		for n := minN; n <= maxN; n++ {
			for skip := 0; skip <= maxSkip; skip++ {
				if n == 1 && skip > 0 {
					break
				}
				for i := 0; i+(n-1)*(skip+1) < len(row); i++ {
					items := make([]string, n)
					for j := range items {
						items[j] = row[i+j*(skip+1)]
					}
					if g, ok := gram[strings.Join(items, "\x00")]; ok && g < len(idx) {
						cnt[idx[g]]++
					}
				}
			}
		}
		mode := attrs.String("mode", "TF")
		for g, c := range idx {
			w := 1.0
			if g < len(weights) {
				w = float64(weights[g])
			}
			switch mode {
			case "IDF":
				if cnt[c] > 0 {
					cnt[c] = w
				}
			case "TFIDF":
				cnt[c] *= w
			}
		}
	}
	shape := []int{D}
	if x.Rank() == 2 {
		shape = []int{rows, D}
	}
	y, err := Cast(MustFromSlice(shape, out), ir.F32)
	return one(y), err
}
