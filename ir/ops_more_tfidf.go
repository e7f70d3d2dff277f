package ir

import "fmt"

func init() {
	MustRegister(&Schema{Op: "TfIdfVectorizer", MinInputs: 1, MaxInputs: 1, MinOutputs: 1, MaxOutputs: 1,
		Attrs: map[string]AttrSpec{"max_gram_length": {Kind: AttrInt}, "max_skip_count": {Kind: AttrInt}, "min_gram_length": {Kind: AttrInt},
			"mode": {Kind: AttrString}, "ngram_counts": {Kind: AttrInts}, "ngram_indexes": {Kind: AttrInts},
			"pool_int64s": {Kind: AttrInts}, "pool_strings": {Kind: AttrStrings}, "weights": {Kind: AttrFloats}},
		Infer: func(n *Node) ([]Type, error) {
			x := inType(n, 0).Shape
			idx, _ := n.Attrs.Ints("ngram_indexes")
			d := int64(0)
			for _, v := range idx {
				d = max(d, v+1)
			}
			switch len(x) {
			case 1:
				return one(Type{DType: F32, Shape: Shape{Static(d)}}), nil
			case 2:
				return one(Type{DType: F32, Shape: Shape{x[0], Static(d)}}), nil
			}
			return nil, fmt.Errorf("input must be 1-D or 2-D, got %s", x)
		}, Doc: "n-gram (with skips) counts of the pool's n-grams: TF, IDF or TFIDF"})
}
