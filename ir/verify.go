package ir

import (
	"fmt"
	"strings"
)

// Error is one problem found in a graph, tied to the node or value it concerns so that
// frontends can map it back to a source position.
type Error struct {
	Node  *Node  // the node at fault, or nil
	Value *Value // the value at fault when no node is (graph inputs, outputs, constants), or nil
	Msg   string
}

func (e *Error) Error() string {
	switch {
	case e.Node != nil:
		return "node " + e.Node.Ref() + ": " + e.Msg
	case e.Value != nil:
		return "value " + e.Value.String() + ": " + e.Msg
	}
	return e.Msg
}

// ErrorList is every problem found in a graph, in graph order.
type ErrorList []*Error

func (l ErrorList) Error() string {
	msgs := make([]string, len(l))
	for i, e := range l {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// Err returns l as an error, or nil if it is empty.
func (l ErrorList) Err() error {
	if len(l) == 0 {
		return nil
	}
	return l
}

// InferTypes fills in the Type of every node output by schema inference, in node order.
// Where an output already has a declared type, the inferred type must agree with it:
// inference may refine unknown dims ("?") of the declared type, nothing else.
// Nodes whose inputs could not be typed are skipped, so one mistake is reported once.
func InferTypes(g *Graph) error {
	var errs ErrorList
	failed := map[*Value]bool{}
	for _, n := range g.Nodes {
		skip := false
		for _, in := range n.Inputs {
			if in != nil && failed[in] {
				skip = true
			}
		}
		if skip {
			markFailed(n, failed)
			continue
		}
		ts, err := InferNode(n)
		if err != nil {
			errs = append(errs, &Error{Node: n, Msg: err.Error()})
			markFailed(n, failed)
			continue
		}
		for i, o := range n.Outputs {
			if o == nil {
				continue
			}
			if !o.Type.IsValid() {
				o.Type = ts[i]
				continue
			}
			merged, ok := refine(o.Type, ts[i])
			if !ok {
				errs = append(errs, &Error{Node: n, Msg: fmt.Sprintf("output %s declared %s, inferred %s", o, o.Type, ts[i])})
				continue
			}
			o.Type = merged
		}
	}
	return errs.Err()
}

func markFailed(n *Node, failed map[*Value]bool) {
	for _, o := range n.Outputs {
		if o != nil {
			failed[o] = true
		}
	}
}

// refine merges a declared and an inferred type: equal dims stay, an unknown dim on
// either side takes the other's value. ok is false on any real conflict.
func refine(declared, inferred Type) (Type, bool) {
	if declared.DType != inferred.DType || len(declared.Shape) != len(inferred.Shape) {
		return declared, false
	}
	out := Type{DType: declared.DType, Shape: make(Shape, len(declared.Shape))}
	for i, d := range declared.Shape {
		e := inferred.Shape[i]
		switch {
		case dimEqual(d, e):
			out.Shape[i] = d
		case d.IsUnknown():
			out.Shape[i] = e
		case e.IsUnknown():
			out.Shape[i] = d
		default:
			return declared, false
		}
	}
	return out, true
}

// Verify checks the graph's invariants and returns every problem found (an ErrorList), or nil:
//   - every value has exactly one definition and a unique name;
//   - every input of a node is defined before the node (topological order), by a graph input,
//     a constant or an earlier node of this graph;
//   - every node matches its op schema (arity, attributes) and its outputs' types equal the inferred ones;
//   - use lists agree with node inputs;
//   - graph outputs are defined, and there is at least one.
func Verify(g *Graph) error {
	var errs ErrorList
	defined := map[*Value]bool{}
	names := map[string]*Value{}
	define := func(v *Value, n *Node) {
		if defined[v] {
			errs = append(errs, &Error{Node: n, Value: v, Msg: fmt.Sprintf("value %s defined more than once", v)})
		}
		defined[v] = true
		if other, ok := names[v.Name]; ok && other != v {
			errs = append(errs, &Error{Node: n, Value: v, Msg: fmt.Sprintf("name %q used by two values", v.Name)})
		}
		names[v.Name] = v
	}
	for _, v := range g.Inputs {
		if !v.Type.IsValid() {
			errs = append(errs, &Error{Value: v, Msg: "graph input has no type"})
		}
		if v.Def != nil || v.Const != nil {
			errs = append(errs, &Error{Value: v, Msg: "graph input has a definition"})
		}
		define(v, nil)
	}
	for _, v := range g.Consts {
		if v.Const == nil {
			errs = append(errs, &Error{Value: v, Msg: "constant has no data"})
		} else if err := v.Const.Check(); err != nil {
			errs = append(errs, &Error{Value: v, Msg: err.Error()})
		} else if !v.Type.Equal(v.Const.Type()) {
			errs = append(errs, &Error{Value: v, Msg: fmt.Sprintf("constant declared %s, data is %s", v.Type, v.Const.Type())})
		}
		define(v, nil)
	}
	uses := map[*Value][]Use{}
	for _, n := range g.Nodes {
		for i, in := range n.Inputs {
			if in == nil {
				continue
			}
			uses[in] = append(uses[in], Use{n, i})
			if !defined[in] {
				msg := fmt.Sprintf("input %d (%s) is not defined", i, in)
				if in.Def != nil && containsNode(g.Nodes, in.Def) {
					msg = fmt.Sprintf("input %d (%s) is used before its definition by %s", i, in, in.Def.Ref())
				}
				errs = append(errs, &Error{Node: n, Msg: msg})
			}
		}
		for _, o := range n.Outputs {
			if o == nil {
				continue
			}
			if o.Def != n {
				errs = append(errs, &Error{Node: n, Msg: fmt.Sprintf("output %s does not point back to its node", o)})
			}
			define(o, n)
		}
		ts, err := InferNode(n)
		if err != nil {
			errs = append(errs, &Error{Node: n, Msg: err.Error()})
			continue
		}
		for i, o := range n.Outputs {
			if o != nil && !o.Type.Equal(ts[i]) {
				errs = append(errs, &Error{Node: n, Msg: fmt.Sprintf("output %s has type %s, inferred %s", o, o.Type, ts[i])})
			}
		}
	}
	for _, v := range g.Values() {
		if !sameUses(v.uses, uses[v]) {
			errs = append(errs, &Error{Value: v, Msg: "use list out of date (internal: edit inputs with Graph.SetInput)"})
		}
	}
	if len(g.Outputs) == 0 {
		errs = append(errs, &Error{Msg: fmt.Sprintf("graph %s has no outputs", g.Name)})
	}
	for _, o := range g.Outputs {
		if o == nil || !defined[o] {
			errs = append(errs, &Error{Value: o, Msg: "graph output is not defined"})
		}
	}
	return errs.Err()
}

func containsNode(ns []*Node, n *Node) bool {
	for _, m := range ns {
		if m == n {
			return true
		}
	}
	return false
}

func sameUses(a, b []Use) bool {
	if len(a) != len(b) {
		return false
	}
	count := map[Use]int{}
	for _, u := range a {
		count[u]++
	}
	for _, u := range b {
		count[u]--
		if count[u] < 0 {
			return false
		}
	}
	return true
}

// MustVerify panics with every problem if g is invalid. For tests and internal invariants only.
func MustVerify(g *Graph) {
	if err := Verify(g); err != nil {
		panic(fmt.Sprintf("ir: invalid graph %s:\n%v", g.Name, err))
	}
}
