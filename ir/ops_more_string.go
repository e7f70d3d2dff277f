package ir

import "fmt"

func init() {
	MustRegister(&Schema{Op: "StringConcat", MinInputs: 2, MaxInputs: 2, MinOutputs: 1, MaxOutputs: 1,
		Infer: broadcastOp(false), Doc: "elementwise string concatenation, broadcast"})
	MustRegister(&Schema{Op: "RegexFullMatch", MinInputs: 1, MaxInputs: 1, MinOutputs: 1, MaxOutputs: 1,
		Attrs: map[string]AttrSpec{"pattern": {Kind: AttrString}},
		Infer: func(n *Node) ([]Type, error) {
			return one(Type{DType: Bool, Shape: inType(n, 0).Shape.Clone()}), nil
		}, Doc: "whether each string fully matches the RE2 pattern"})
	MustRegister(&Schema{Op: "StringSplit", MinInputs: 1, MaxInputs: 1, MinOutputs: 2, MaxOutputs: 2,
		Attrs: map[string]AttrSpec{"delimiter": {Kind: AttrString}, "maxsplit": {Kind: AttrInt}},
		Infer: func(n *Node) ([]Type, error) {
			x := inType(n, 0).Shape
			return []Type{{DType: String, Shape: append(x.Clone(), Unknown())}, {DType: I64, Shape: x.Clone()}}, nil
		}, Doc: "split strings (Python str.split), padded with empty strings; and the counts"})
	MustRegister(&Schema{Op: "StringNormalizer", MinInputs: 1, MaxInputs: 1, MinOutputs: 1, MaxOutputs: 1,
		Attrs: map[string]AttrSpec{"case_change_action": {Kind: AttrString}, "is_case_sensitive": {Kind: AttrInt},
			"locale": {Kind: AttrString}, "stopwords": {Kind: AttrStrings}},
		Infer: func(n *Node) ([]Type, error) {
			x := inType(n, 0).Shape
			if len(x) == 2 && !(x[0].IsStatic() && x[0].Size == 1) || len(x) > 2 || len(x) == 0 {
				return nil, fmt.Errorf("input must be [C] or [1, C], got %s", x)
			}
			out := x.Clone()
			out[len(out)-1] = Unknown()
			return one(Type{DType: String, Shape: out}), nil
		}, Doc: "drop stopwords and change case"})
}
