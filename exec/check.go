package exec

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/ciuic/ciuic/ir"
	"github.com/ciuic/ciuic/ops"
)

// InputError lists every problem with the inputs given to Run, one per line.
type InputError struct {
	Problems []string
}

func (e *InputError) Error() string {
	return "bad inputs:\n\t" + strings.Join(e.Problems, "\n\t")
}

// binding records which input first fixed a symbolic dim, for error messages.
type binding struct {
	size  int
	input string
}

// checkInputs checks inputs against the graph's input types and returns the tensors in
// graph-input order. Every problem is reported at once: missing and unknown names,
// dtype, rank and static dims, and symbolic dims bound differently by two inputs.
func (s *Session) checkInputs(inputs map[string]*ops.Tensor) ([]*ops.Tensor, error) {
	var probs []string
	out := make([]*ops.Tensor, len(s.graph.Inputs))
	known := map[string]bool{}
	bound := map[string]binding{}
	for i, v := range s.graph.Inputs {
		known[v.Name] = true
		t, ok := inputs[v.Name]
		if !ok {
			probs = append(probs, fmt.Sprintf("missing input %q (%s)", v.Name, v.Type))
			continue
		}
		if t == nil {
			probs = append(probs, fmt.Sprintf("input %q is nil, want %s", v.Name, v.Type))
			continue
		}
		if p := tensorProblem(t); p != "" {
			probs = append(probs, fmt.Sprintf("input %q: %s", v.Name, p))
			continue
		}
		bad := false
		if t.DType != v.Type.DType {
			probs = append(probs, fmt.Sprintf("input %q: dtype %s, want %s", v.Name, t.DType, v.Type.DType))
			bad = true
		}
		if len(t.Shape) != len(v.Type.Shape) {
			probs = append(probs, fmt.Sprintf("input %q: rank %d (shape %v), want rank %d (%s)", v.Name, len(t.Shape), t.Shape, len(v.Type.Shape), v.Type))
			continue
		}
		for k, d := range v.Type.Shape {
			got := t.Shape[k]
			switch {
			case d.IsStatic():
				if int64(got) != d.Size {
					probs = append(probs, fmt.Sprintf("input %q: dim %d is %d, want %d (%s)", v.Name, k, got, d.Size, v.Type))
					bad = true
				}
			case d.Name != "":
				if b, ok := bound[d.Name]; ok && b.size != got {
					probs = append(probs, fmt.Sprintf("input %q: dim %d binds %s to %d, but input %q bound it to %d", v.Name, k, d.Name, got, b.input, b.size))
					bad = true
				} else if !ok {
					bound[d.Name] = binding{got, v.Name}
				}
			}
		}
		if !bad {
			out[i] = t
		}
	}
	var extra []string
	for name := range inputs {
		if !known[name] {
			extra = append(extra, name)
		}
	}
	sort.Strings(extra)
	for _, name := range extra {
		probs = append(probs, fmt.Sprintf("unknown input %q (graph inputs: %s)", name, s.inputList()))
	}
	if len(probs) > 0 {
		return nil, &InputError{Problems: probs}
	}
	return out, nil
}

func (s *Session) inputList() string {
	parts := make([]string, len(s.graph.Inputs))
	for i, v := range s.graph.Inputs {
		parts[i] = v.Name
	}
	return strings.Join(parts, ", ")
}

// dataTypes maps each dtype to the Go slice type its Tensor data must have.
var dataTypes = func() map[ir.DType]reflect.Type {
	m := map[ir.DType]reflect.Type{}
	for _, dt := range ir.AllDTypes() {
		m[dt] = reflect.TypeOf(ops.New(dt).Data)
	}
	return m
}()

// tensorProblem checks the Tensor invariants a kernel relies on, so that a malformed
// tensor from a caller is an error here rather than a panic inside a kernel.
func tensorProblem(t *ops.Tensor) string {
	want, ok := dataTypes[t.DType]
	if !ok {
		return fmt.Sprintf("invalid dtype %s", t.DType)
	}
	if t.Data == nil || reflect.TypeOf(t.Data) != want {
		return fmt.Sprintf("%s tensor holds %T, want %v", t.DType, t.Data, want)
	}
	for _, d := range t.Shape {
		if d < 0 {
			return fmt.Sprintf("negative dim in shape %v", t.Shape)
		}
	}
	if n := reflect.ValueOf(t.Data).Len(); n != t.Len() {
		return fmt.Sprintf("shape %v needs %d elements, data has %d", t.Shape, t.Len(), n)
	}
	return ""
}

// checkOutput checks a kernel's output against the node's declared type: a kernel that
// disagrees with shape inference is a bug that would otherwise surface far away.
func checkOutput(v *ir.Value, t *ops.Tensor) string {
	if p := tensorProblem(t); p != "" {
		return fmt.Sprintf("output %s: %s", v, p)
	}
	want := v.Type
	if !want.IsValid() {
		return ""
	}
	ok := t.DType == want.DType && len(t.Shape) == len(want.Shape)
	if ok {
		for k, d := range want.Shape {
			if d.IsStatic() && int64(t.Shape[k]) != d.Size {
				ok = false
			}
		}
	}
	if !ok {
		return fmt.Sprintf("kernel produced %s for output %s, declared %s", typeString(t), v, want)
	}
	return ""
}

// typeString prints a tensor's type as the IR prints types: f32[2, 3].
func typeString(t *ops.Tensor) string {
	if t == nil {
		return "_"
	}
	var b strings.Builder
	b.WriteString(t.DType.String())
	b.WriteByte('[')
	for i, d := range t.Shape {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprint(&b, d)
	}
	b.WriteByte(']')
	return b.String()
}
