package ir

import (
	"math"
	"strconv"
	"strings"
)

// InlineConstLimit is the largest number of elements a constant may have for Print to
// write its data inline (`@shape: i64[2] = [0, -1]`). Larger constants are printed as a
// declaration (`@w: f32[784, 128]`) whose data lives in the graph's weights file.
// String tensors are always inline: safetensors cannot hold them.
const InlineConstLimit = 16

// Print returns the canonical text form of g, the Ciuic model language (docs/language.md):
//
//	graph mlp(x: f32[N, 784]) -> (y: f32[N, 10]) {
//	  weights "mlp.safetensors"
//	  @fc1.weight: f32[784, 128]
//	  @shape: i64[2] = [0, -1]
//	  %h: f32[N, 128] = MatMul(%x, @fc1.weight)
//	  %q: f32[N, 4], %k: f32[N, 4], _ = Split(%a, @sizes) {axis: 1}
//	  %o: f32[N, 10] = ciuic.Dense(%a, @w, @b) {activation: "relu"} [name: "fc1/MatMul"]
//	}
//
// The output is deterministic: attributes are sorted by name, and everything else keeps
// the graph's order. Parsing the text (frontend/text) and printing again gives the same
// text, so printed graphs can be diffed across passes.
func Print(g *Graph) string {
	var p printer
	p.graph(g, "")
	p.b.WriteByte('\n')
	return p.b.String()
}

// String returns Print(g).
func (g *Graph) String() string { return Print(g) }

type printer struct {
	b strings.Builder
}

func (p *printer) str(s string) { p.b.WriteString(s) }

// graph prints g starting at the current position; indent is the indentation of the
// line holding the header, so the body is indented two more spaces.
func (p *printer) graph(g *Graph, indent string) {
	p.str("graph ")
	p.str(PrintName(g.Name))
	p.str("(")
	for i, v := range g.Inputs {
		if i > 0 {
			p.str(", ")
		}
		p.param(v)
	}
	p.str(") -> (")
	for i, v := range g.Outputs {
		if i > 0 {
			p.str(", ")
		}
		p.param(v)
	}
	p.str(") {\n")
	in := indent + "  "
	if g.WeightsFile != "" {
		p.str(in + "weights " + strconv.Quote(g.WeightsFile) + "\n")
	}
	for _, c := range g.Consts {
		p.str(in)
		p.constant(c)
		p.str("\n")
	}
	for _, n := range g.Nodes {
		p.str(in)
		p.node(n, in)
		p.str("\n")
	}
	p.str(indent + "}")
}

// param prints a graph input or output: a bare name and its type.
func (p *printer) param(v *Value) {
	if v == nil {
		p.str("_")
		return
	}
	p.str(PrintName(v.Name))
	if v.Type.IsValid() {
		p.str(": " + typeString(v.Type))
	}
}

func (p *printer) constant(c *Value) {
	p.str("@" + PrintName(c.Name))
	t := c.Type
	if !t.IsValid() && c.Const != nil {
		t = c.Const.Type()
	}
	if t.IsValid() {
		p.str(": " + typeString(t))
	}
	if c.Const != nil && (c.Const.DType == String || c.Const.NumElements() <= InlineConstLimit) {
		p.str(" = ")
		p.tensorData(c.Const)
	}
}

func (p *printer) node(n *Node, indent string) {
	for i, o := range n.Outputs {
		if i > 0 {
			p.str(", ")
		}
		if o == nil {
			p.str("_")
			continue
		}
		p.str("%" + PrintName(o.Name))
		if o.Type.IsValid() {
			p.str(": " + typeString(o.Type))
		}
	}
	p.str(" = ")
	p.str(PrintName(n.OpName()))
	p.str("(")
	for i, in := range n.Inputs {
		if i > 0 {
			p.str(", ")
		}
		if in == nil {
			p.str("_")
			continue
		}
		sigil := "%"
		if in.IsConst() {
			sigil = "@"
		}
		p.str(sigil + PrintName(in.Name))
	}
	p.str(")")
	if len(n.Attrs) > 0 {
		p.str(" {")
		for i, name := range n.Attrs.Names() {
			if i > 0 {
				p.str(", ")
			}
			p.str(PrintName(name) + ": ")
			p.attr(n.Attrs[name], indent)
		}
		p.str("}")
	}
	if n.Name != "" || n.Group != "" {
		var meta []string
		if n.Name != "" {
			meta = append(meta, "name: "+strconv.Quote(n.Name))
		}
		if n.Group != "" {
			meta = append(meta, "group: "+strconv.Quote(n.Group))
		}
		p.str(" [" + strings.Join(meta, ", ") + "]")
	}
}

func (p *printer) attr(a Attr, indent string) {
	switch a.Kind {
	case AttrInt:
		p.str(strconv.FormatInt(a.Int, 10))
	case AttrFloat:
		p.str(FormatFloat32(a.Float))
	case AttrString:
		p.str(strconv.Quote(a.Str))
	case AttrInts:
		p.list(len(a.Ints), func(i int) string { return strconv.FormatInt(a.Ints[i], 10) })
	case AttrFloats:
		p.list(len(a.Floats), func(i int) string { return FormatFloat32(a.Floats[i]) })
	case AttrStrings:
		p.list(len(a.Strs), func(i int) string { return strconv.Quote(a.Strs[i]) })
	case AttrTensor:
		if a.Tensor == nil {
			p.str("_")
			return
		}
		p.str(typeString(a.Tensor.Type()) + " ")
		p.tensorData(a.Tensor)
	case AttrGraph:
		if a.Graph == nil {
			p.str("_")
			return
		}
		p.graph(a.Graph, indent)
	default:
		p.str("_")
	}
}

func (p *printer) list(n int, elem func(int) string) {
	p.str("[")
	for i := 0; i < n; i++ {
		if i > 0 {
			p.str(", ")
		}
		p.str(elem(i))
	}
	p.str("]")
}

// tensorData prints the elements of t: a bare element for a scalar, else a flat list in
// row-major order (the shape is printed with the type).
func (p *printer) tensorData(t *Tensor) {
	n := int(t.NumElements())
	if t.Check() != nil {
		// Malformed data cannot be printed element by element; print what the type
		// promises as missing so the text does not parse silently into something else.
		p.str("_")
		return
	}
	if len(t.Shape) == 0 {
		p.str(tensorElem(t, 0))
		return
	}
	p.list(n, func(i int) string { return tensorElem(t, i) })
}

// tensorElem formats element i of t as it appears in the text form: floats always with a
// '.' or exponent (or inf, -inf, nan), integers plain, bools true/false, strings quoted.
func tensorElem(t *Tensor, i int) string {
	switch t.DType {
	case String:
		return strconv.Quote(t.Strings[i])
	case Bool:
		if t.Data[i] != 0 {
			return "true"
		}
		return "false"
	case F64:
		return formatFloat(t.At(i), 64)
	case F32, F16, BF16:
		return formatFloat(t.At(i), 32)
	case U64:
		return strconv.FormatUint(uint64(t.intAt(i)), 10)
	}
	if t.DType.IsInt() {
		return strconv.FormatInt(t.intAt(i), 10)
	}
	return "_"
}

// FormatFloat32 formats f as the shortest text that reads back as the same float32,
// always distinguishable from an integer: 1.0, 0.125, 1e-05, inf, -inf, nan.
func FormatFloat32(f float32) string { return formatFloat(float64(f), 32) }

func formatFloat(f float64, bits int) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	s := strconv.FormatFloat(f, 'g', -1, bits)
	if !strings.ContainsAny(s, ".e") {
		s += ".0"
	}
	return s
}

// typeString prints t as in the text form, quoting symbolic dims that are not identifiers.
func typeString(t Type) string {
	var b strings.Builder
	b.WriteString(t.DType.String())
	b.WriteByte('[')
	for i, d := range t.Shape {
		if i > 0 {
			b.WriteString(", ")
		}
		if d.Name != "" {
			b.WriteString(PrintName(d.Name))
		} else {
			b.WriteString(d.String())
		}
	}
	b.WriteByte(']')
	return b.String()
}

// PrintName returns name bare if it is an identifier ([A-Za-z_][A-Za-z0-9_.]*, but not
// the lone "_" that means "omitted"), else Go-quoted: "onnx::MatMul_12" prints as
// "\"onnx::MatMul_12\"".
func PrintName(name string) string {
	if IsIdent(name) {
		return name
	}
	return strconv.Quote(name)
}

// IsIdent reports whether name can be printed without quotes.
func IsIdent(name string) bool {
	if name == "" || name == "_" {
		return false
	}
	for i, r := range name {
		switch {
		case r == '_' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z':
		case i > 0 && (r == '.' || '0' <= r && r <= '9'):
		default:
			return false
		}
	}
	return true
}
