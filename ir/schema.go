package ir

import (
	"fmt"
	"sort"
	"sync"
)

// Variadic as Schema.MaxInputs or MaxOutputs means "any number".
const Variadic = -1

// AttrSpec describes one attribute an op accepts.
type AttrSpec struct {
	Kind     AttrKind
	Required bool
}

// Schema describes an operator: its arity, its attributes, and how to infer output types.
// Adding an op to ciuic is one Schema entry (plus its kernel in ops/).
type Schema struct {
	Domain     string // "" for ONNX's default domain, "ciuic" for ciuic's own ops
	Op         string
	MinInputs  int
	MaxInputs  int // Variadic for any number
	MinOutputs int
	MaxOutputs int // Variadic for any number
	Attrs      map[string]AttrSpec
	// Infer computes the output types of n from the types (and, where it needs them,
	// the constant values) of its inputs and from its attributes. It may assume the
	// node already matches the arity and attribute rules above. An error describes
	// what is wrong without naming the node (the caller adds it).
	Infer func(n *Node) ([]Type, error)
	Doc   string // one line, used by docs and -h output
}

var (
	schemaMu sync.RWMutex
	schemas  = map[string]*Schema{}
)

func schemaKey(domain, op string) string {
	if domain == "" || domain == "ai.onnx" {
		return op
	}
	return domain + "." + op
}

// Register adds an op schema. It returns an error if the op is already registered.
// Custom operators (see package ops) register their schema here.
func Register(s *Schema) error {
	if s.Op == "" || s.Infer == nil {
		return fmt.Errorf("ir.Register: schema needs Op and Infer")
	}
	schemaMu.Lock()
	defer schemaMu.Unlock()
	k := schemaKey(s.Domain, s.Op)
	if _, dup := schemas[k]; dup {
		return fmt.Errorf("ir.Register: op %s already registered", k)
	}
	schemas[k] = s
	return nil
}

// MustRegister is Register that panics on error, for package initialisation.
func MustRegister(s *Schema) {
	if err := Register(s); err != nil {
		panic(err)
	}
}

// LookupSchema returns the schema of op in domain ("" or "ai.onnx" for ONNX), or nil.
func LookupSchema(domain, op string) *Schema {
	schemaMu.RLock()
	defer schemaMu.RUnlock()
	return schemas[schemaKey(domain, op)]
}

// Schemas returns every registered schema sorted by domain and op.
func Schemas() []*Schema {
	schemaMu.RLock()
	defer schemaMu.RUnlock()
	out := make([]*Schema, 0, len(schemas))
	for _, s := range schemas {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Domain != out[j].Domain {
			return out[i].Domain < out[j].Domain
		}
		return out[i].Op < out[j].Op
	})
	return out
}

// InferNode checks n against its schema (arity, attribute names and kinds) and returns
// the inferred output types. Every problem found is returned, joined.
func InferNode(n *Node) ([]Type, error) {
	s := LookupSchema(n.Domain, n.Op)
	if s == nil {
		return nil, fmt.Errorf("unknown op %s", n.OpName())
	}
	var errs []error
	nin := len(n.Inputs)
	if nin < s.MinInputs || (s.MaxInputs != Variadic && nin > s.MaxInputs) {
		errs = append(errs, fmt.Errorf("%s takes %s, got %d", n.OpName(), arity(s.MinInputs, s.MaxInputs, "input"), nin))
	}
	for i := 0; i < s.MinInputs && i < nin; i++ {
		if n.Inputs[i] == nil {
			errs = append(errs, fmt.Errorf("%s: required input %d is missing", n.OpName(), i))
		}
	}
	nout := len(n.Outputs)
	if nout < s.MinOutputs || (s.MaxOutputs != Variadic && nout > s.MaxOutputs) {
		errs = append(errs, fmt.Errorf("%s has %s, got %d", n.OpName(), arity(s.MinOutputs, s.MaxOutputs, "output"), nout))
	}
	for _, name := range n.Attrs.Names() {
		spec, ok := s.Attrs[name]
		if !ok {
			errs = append(errs, fmt.Errorf("%s has no attribute %q", n.OpName(), name))
			continue
		}
		if got := n.Attrs[name].Kind; got != spec.Kind {
			errs = append(errs, fmt.Errorf("%s attribute %q must be %s, got %s", n.OpName(), name, spec.Kind, got))
		}
	}
	for _, name := range sortedKeys(s.Attrs) {
		if s.Attrs[name].Required && !n.Attrs.Has(name) {
			errs = append(errs, fmt.Errorf("%s needs attribute %q", n.OpName(), name))
		}
	}
	for i, in := range n.Inputs {
		if in != nil && !in.Type.IsValid() {
			errs = append(errs, fmt.Errorf("input %d (%s) has no type", i, in))
		}
	}
	if len(errs) > 0 {
		return nil, joinErrs(errs)
	}
	ts, err := s.Infer(n)
	if err != nil {
		return nil, err
	}
	if len(ts) < len(n.Outputs) {
		return nil, fmt.Errorf("internal: %s inferred %d types for %d outputs", n.OpName(), len(ts), len(n.Outputs))
	}
	return ts[:len(n.Outputs)], nil
}

func arity(min, max int, what string) string {
	plural := func(k int) string {
		if k == 1 {
			return what
		}
		return what + "s"
	}
	switch {
	case max == Variadic:
		return fmt.Sprintf("at least %d %s", min, plural(min))
	case min == max:
		return fmt.Sprintf("%d %s", min, plural(min))
	default:
		return fmt.Sprintf("%d to %d %s", min, max, plural(max))
	}
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// joinErrs joins errors with "; " so a node's problems read as one line.
func joinErrs(errs []error) error {
	if len(errs) == 1 {
		return errs[0]
	}
	msg := errs[0].Error()
	for _, e := range errs[1:] {
		msg += "; " + e.Error()
	}
	return fmt.Errorf("%s", msg)
}
