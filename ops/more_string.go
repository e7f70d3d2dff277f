package ops

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/ciuic/ciuic/ir"
)

func init() {
	Register("", "StringConcat", stringConcatKernel, ir.String)
	Register("", "RegexFullMatch", regexFullMatchKernel, ir.String)
	Register("", "StringSplit", stringSplitKernel, ir.String)
	Register("", "StringNormalizer", stringNormalizerKernel, ir.String)
}

func stringConcatKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 2); err != nil {
		return nil, err
	}
	if in[1].DType != ir.String {
		return nil, fmt.Errorf("StringConcat: inputs must be strings")
	}
	shape, err := broadcastShapes(in[0].Shape, in[1].Shape)
	if err != nil {
		return nil, fmt.Errorf("StringConcat: %v", err)
	}
	a, b := Elems[string](in[0]), Elems[string](in[1])
	ai, bi := bcastIndex(shape, in[0].Shape), bcastIndex(shape, in[1].Shape)
	out := make([]string, NumElems(shape))
	for i := range out {
		out[i] = a[ai[i]] + b[bi[i]]
	}
	return one(MustFromSlice(shape, out)), nil
}

// regexFullMatchKernel: Go's regexp is RE2, the syntax ONNX specifies.
func regexFullMatchKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	re, err := regexp.Compile(`^(?:` + attrs.String("pattern", "") + `)$`)
	if err != nil {
		return nil, fmt.Errorf("RegexFullMatch: %v", err)
	}
	xs := Elems[string](in[0])
	out := make([]bool, len(xs))
	for i, s := range xs {
		out[i] = re.MatchString(s)
	}
	return one(MustFromSlice(append([]int{}, in[0].Shape...), out)), nil
}

// splitPy splits s as Python's str.split(sep, maxsplit) does (sep "" means runs of
// whitespace, with no empty strings).
func splitPy(s, sep string, maxsplit int) []string {
	if sep != "" {
		if maxsplit < 0 {
			return strings.Split(s, sep)
		}
		return strings.SplitN(s, sep, maxsplit+1)
	}
	var out []string
	rest := strings.TrimLeft(s, " \t\n\r\v\f")
	for rest != "" {
		if maxsplit >= 0 && len(out) == maxsplit {
			out = append(out, rest)
			break
		}
		i := strings.IndexAny(rest, " \t\n\r\v\f")
		if i < 0 {
			out = append(out, rest)
			break
		}
		out = append(out, rest[:i])
		rest = strings.TrimLeft(rest[i:], " \t\n\r\v\f")
	}
	return out
}

func stringSplitKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	xs := Elems[string](in[0])
	sep := attrs.String("delimiter", "")
	maxsplit := -1
	if attrs.Has("maxsplit") {
		maxsplit = int(attrs.Int("maxsplit", -1))
	}
	parts := make([][]string, len(xs))
	width := 0
	lens := make([]int64, len(xs))
	for i, s := range xs {
		parts[i] = splitPy(s, sep, maxsplit)
		lens[i] = int64(len(parts[i]))
		width = max(width, len(parts[i]))
	}
	out := make([]string, len(xs)*width)
	for i, p := range parts {
		copy(out[i*width:], p)
	}
	shape := append(append([]int{}, in[0].Shape...), width)
	return []*Tensor{MustFromSlice(shape, out), MustFromSlice(append([]int{}, in[0].Shape...), lens)}, nil
}

func stringNormalizerKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	x := in[0]
	xs := Elems[string](x)
	caseSens := attrs.Int("is_case_sensitive", 0) != 0
	stop := map[string]bool{}
	if a, ok := attrs["stopwords"]; ok {
		for _, w := range a.Strs {
			if !caseSens {
				w = strings.ToLower(w)
			}
			stop[w] = true
		}
	}
	var out []string
	for _, s := range xs {
		k := s
		if !caseSens {
			k = strings.ToLower(s)
		}
		if stop[k] {
			continue
		}
		switch attrs.String("case_change_action", "NONE") {
		case "LOWER":
			s = strings.ToLower(s)
		case "UPPER":
			s = strings.ToUpper(s)
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		out = []string{""} // ONNX keeps one empty string rather than an empty tensor
	}
	shape := []int{len(out)}
	if x.Rank() == 2 {
		shape = []int{1, len(out)}
	}
	return one(MustFromSlice(shape, out)), nil
}
