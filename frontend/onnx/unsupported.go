package onnx

import (
	"fmt"
	"sort"
	"strings"

	"github.com/ciuic/ciuic/frontend/onnx/onnxpb"
	"github.com/ciuic/ciuic/ir"
)

// UnsupportedError lists everything in a model that ciuic cannot import: ops the IR
// has no schema for and dtypes it cannot hold. It is returned before any lowering, so
// one attempt reports all of it.
type UnsupportedError struct {
	File   string
	Ops    []UnsupportedOp    // most frequent first
	DTypes []UnsupportedDType // sorted by name
}

// UnsupportedOp is one op type the IR does not know, and how often the model uses it.
type UnsupportedOp struct {
	Domain string // "" for the ONNX domain
	Op     string
	Opset  int64 // the version the model imports for Domain; 0 if it imports none
	Count  int
}

// UnsupportedDType is one dtype the IR cannot hold, and the tensors that have it.
type UnsupportedDType struct {
	DType   string   // ONNX name, lower case: complex64, float8e4m3fn, sequence, ...
	Tensors []string // names of the tensors or values of that type, in model order
}

func (e *UnsupportedError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	b.WriteString(": ")
	if len(e.Ops) > 0 {
		total := 0
		for _, o := range e.Ops {
			total += o.Count
		}
		if total == 1 {
			b.WriteString("1 unsupported op: ")
		} else {
			fmt.Fprintf(&b, "%d unsupported ops: ", total)
		}
		for i, o := range e.Ops {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(o.String())
		}
	}
	if len(e.DTypes) > 0 {
		if len(e.Ops) > 0 {
			b.WriteString("; ")
		}
		b.WriteString("unsupported dtypes: ")
		for i, d := range e.DTypes {
			if i > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "%s (tensor %q", d.DType, d.Tensors[0])
			if more := len(d.Tensors) - 1; more > 0 {
				fmt.Fprintf(&b, " and %d more", more)
			}
			b.WriteString(")")
		}
	}
	return b.String()
}

// String prints the op as in UnsupportedError's message: com.microsoft.FusedMatMul (opset 1) x2.
func (o UnsupportedOp) String() string {
	name := o.Op
	if o.Domain != "" {
		name = o.Domain + "." + o.Op
	}
	if o.Opset == 0 {
		return fmt.Sprintf("%s (domain not imported) x%d", name, o.Count)
	}
	return fmt.Sprintf("%s (opset %d) x%d", name, o.Opset, o.Count)
}

// checkSupported walks the model, subgraphs included, and returns an *UnsupportedError
// if any op or dtype is unsupported.
func checkSupported(file string, g *onnxpb.GraphProto, opsets map[string]int64) error {
	c := &checker{opsets: opsets, ops: map[[2]string]int{}, dtypes: map[string][]string{}}
	c.graph(g)
	if len(c.ops) == 0 && len(c.dtypes) == 0 {
		return nil
	}
	e := &UnsupportedError{File: file}
	for k, n := range c.ops {
		v, imported := opsets[k[0]]
		if !imported {
			v = 0
		}
		e.Ops = append(e.Ops, UnsupportedOp{Domain: k[0], Op: k[1], Opset: v, Count: n})
	}
	sort.Slice(e.Ops, func(i, j int) bool {
		a, b := e.Ops[i], e.Ops[j]
		if a.Count != b.Count {
			return a.Count > b.Count
		}
		if a.Domain != b.Domain {
			return a.Domain < b.Domain
		}
		return a.Op < b.Op
	})
	for d, ts := range c.dtypes {
		e.DTypes = append(e.DTypes, UnsupportedDType{DType: d, Tensors: ts})
	}
	sort.Slice(e.DTypes, func(i, j int) bool { return e.DTypes[i].DType < e.DTypes[j].DType })
	return e
}

type checker struct {
	opsets map[string]int64
	ops    map[[2]string]int   // (domain, op) -> count
	dtypes map[string][]string // dtype name -> tensors
}

func (c *checker) dtype(code int32, tensor string) {
	if code == 0 {
		return
	}
	if _, ok := dtypes[onnxpb.TensorProto_DataType(code)]; !ok {
		name := dtypeName(code)
		c.dtypes[name] = append(c.dtypes[name], tensor)
	}
}

func (c *checker) typ(t *onnxpb.TypeProto, name string) {
	if t == nil || t.GetValue() == nil {
		return
	}
	if tt := t.GetTensorType(); tt != nil {
		c.dtype(tt.GetElemType(), name)
		return
	}
	kind := typeKind(t)
	c.dtypes[kind] = append(c.dtypes[kind], name)
}

func (c *checker) graph(g *onnxpb.GraphProto) {
	for _, t := range g.GetInitializer() {
		c.dtype(t.GetDataType(), t.GetName())
	}
	for _, vi := range g.GetInput() {
		c.typ(vi.GetType(), vi.GetName())
	}
	for _, vi := range g.GetOutput() {
		c.typ(vi.GetType(), vi.GetName())
	}
	for _, vi := range g.GetValueInfo() {
		c.typ(vi.GetType(), vi.GetName())
	}
	for _, n := range g.GetNode() {
		domain, op := normDomain(n.GetDomain()), n.GetOpType()
		if to, ok := renamed[op]; ok && domain == "" {
			op = to
		}
		_, imported := c.opsets[domain]
		// Scan-8 (batched, with sequence_lens) differs from the Scan the IR holds.
		scan8 := domain == "" && op == "Scan" && c.opsets[""] < 9
		if !imported || scan8 || (ir.LookupSchema(domain, op) == nil && !(domain == "" && op == "Constant")) {
			c.ops[[2]string{domain, n.GetOpType()}]++
		}
		out := n.GetName()
		if len(n.GetOutput()) > 0 {
			out = n.GetOutput()[0]
		}
		for _, a := range n.GetAttribute() {
			if a.T != nil {
				c.dtype(a.T.GetDataType(), out)
			}
			if (a.GetName() == "to" || a.GetName() == "dtype") && attrType(a) == onnxpb.AttributeProto_INT {
				c.dtype(int32(a.GetI()), out)
			}
			if a.G != nil {
				c.graph(a.G)
			}
			for _, sg := range a.GetGraphs() {
				c.graph(sg)
			}
		}
	}
}
