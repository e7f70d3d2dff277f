package ir

import (
	"bytes"
	"errors"
	"fmt"
	"html"
	"os/exec"
	"strconv"
	"strings"

	"github.com/emicklei/dot"
)

// DotOptions controls how Dot draws a graph. The zero value is a sensible default.
type DotOptions struct {
	Title     string // caption above the drawing; the graph's Name when empty
	HideNames bool   // leave out the nodes' provenance names (the smaller second line)
}

// Drawing style, in one place so the look can be changed without reading the code.
const (
	dotFont       = "Helvetica"
	dotOpFill     = "#e8eef7"
	dotOpLine     = "#4a6a94"
	dotCiuicFill  = "#fde7c8" // ciuic's own (fused) ops stand out from plain ONNX ops
	dotInputFill  = "#d8f0d8"
	dotOutputFill = "#f6d5d0"
	dotConstFill  = "#eeeeee"
	dotConstLine  = "#999999"
	dotGrey       = "#666666"

	dotMaxList   = 6  // lists longer than this are abbreviated
	dotMaxString = 32 // strings longer than this (in runes) are cut
	dotMaxValues = 6  // tensors with at most this many elements show their values
)

// Dot renders g in the Graphviz DOT language. Graph inputs are green ellipses, outputs
// red house shapes, operators rounded boxes that show the op and its attributes, and
// constants small grey notes next to each node that reads them. Edges carry the type of
// the value that flows along them. Nodes sharing a Group are drawn inside a cluster.
//
// Dot only reads g, and draws even graphs that fail Verify (a value with no definition
// becomes a red dashed ellipse), since drawing is how one debugs such graphs. The output
// is deterministic: IDs follow the order of Inputs, Nodes and Outputs.
func Dot(g *Graph, opts DotOptions) string {
	w := &dotWriter{
		root:     dot.NewGraph(dot.Directed),
		opts:     opts,
		clusters: map[string]*dot.Graph{},
		defs:     map[*Value]dot.Node{},
	}
	w.draw(g)
	return w.root.String()
}

type dotWriter struct {
	root     *dot.Graph
	opts     DotOptions
	seq      int
	clusters map[string]*dot.Graph
	defs     map[*Value]dot.Node // the drawn source of each non-constant value
}

// newNode creates a node in parent. emicklei/dot prints nodes sorted by their key, so
// the keys are zero-padded creation numbers: the DOT text lists nodes in creation order.
func (w *dotWriter) newNode(parent *dot.Graph, attrs ...any) dot.Node {
	w.seq++
	n := parent.Node(fmt.Sprintf("%09d", w.seq)).Attr("fontname", dotFont)
	n.Attrs(attrs...)
	return n
}

func (w *dotWriter) cluster(group string) *dot.Graph {
	if group == "" {
		return w.root
	}
	if c, ok := w.clusters[group]; ok {
		return c
	}
	c := w.root.Subgraph(group, dot.ClusterOption{})
	c.Attr("label", dotQuote(group))
	c.Attr("style", "rounded,dashed")
	c.Attr("color", dotOpLine)
	c.Attr("fontname", dotFont)
	c.Attr("fontsize", "10")
	c.Attr("labeljust", "l")
	w.clusters[group] = c
	return c
}

func (w *dotWriter) draw(g *Graph) {
	title := w.opts.Title
	if title == "" {
		title = g.Name
	}
	if title != "" {
		w.root.Attr("label", dotQuote(title))
		w.root.Attr("labelloc", "t")
		w.root.Attr("fontname", dotFont)
	}
	w.root.Attr("rankdir", "TB")

	for _, in := range g.Inputs {
		if in == nil {
			continue
		}
		n := w.newNode(w.root, "shape", "ellipse", "style", "filled", "fillcolor", dotInputFill)
		n.Attr("label", dot.HTML(valueLabel(in)))
		w.defs[in] = n
	}
	// All op nodes first, so that edges can be drawn even if Nodes is not in order.
	drawn := make([]dot.Node, len(g.Nodes))
	for i, n := range g.Nodes {
		if n == nil {
			continue
		}
		drawn[i] = w.newNode(w.cluster(n.Group),
			"shape", "box", "style", "rounded,filled", "fillcolor", opFill(n), "color", dotOpLine,
			"label", dot.HTML(w.opLabel(n)))
		for _, o := range n.Outputs {
			if o != nil {
				w.defs[o] = drawn[i]
			}
		}
	}
	for i, n := range g.Nodes {
		if n == nil {
			continue
		}
		for _, in := range n.Inputs {
			if in != nil {
				w.edge(in, drawn[i], w.cluster(n.Group))
			}
		}
	}
	for _, out := range g.Outputs {
		if out == nil {
			continue
		}
		n := w.newNode(w.root, "shape", "house", "style", "filled", "fillcolor", dotOutputFill)
		n.Attr("label", dot.HTML(valueLabel(out)))
		w.edge(out, n, w.root)
	}
}

// edge draws v flowing into to. Constants get their own note per use, placed in the
// reader's cluster, so weights sit next to the op that reads them.
func (w *dotWriter) edge(v *Value, to dot.Node, toGraph *dot.Graph) {
	if v.IsConst() {
		c := w.newNode(toGraph, "shape", "note", "style", "filled", "fillcolor", dotConstFill,
			"color", dotConstLine, "fontsize", "9", "margin", "0.05,0.02", "height", "0.3")
		c.Attr("label", dot.HTML(htmlText(v.Name)+"<BR/>"+htmlText(tensorSummary(v.Const))))
		w.root.Edge(c, to).Attrs("color", dotConstLine, "arrowsize", "0.5")
		return
	}
	from, ok := w.defs[v]
	if !ok {
		// A value nothing defines: draw it anyway, so the broken spot is visible.
		from = w.newNode(w.root, "shape", "ellipse", "style", "dashed", "color", "red", "fontcolor", "red",
			"label", dotQuote(v.Name+" (undefined)"))
		w.defs[v] = from
	}
	label := v.Type.String()
	if !v.Type.IsValid() {
		label = v.String()
	} else if v.Def != nil && len(v.Def.Outputs) > 1 {
		label = v.Name + ": " + label // which output of a multi-output op
	}
	w.root.Edge(from, to).Attrs("label", dotQuote(label), "tooltip", dotQuote(v.String()),
		"fontname", dotFont, "fontsize", "9", "fontcolor", dotGrey)
}

// valueLabel names a graph input or output, with its type below if it is known.
func valueLabel(v *Value) string {
	s := "<B>" + htmlText(v.Name) + "</B>"
	if v.Type.IsValid() {
		s += "<BR/>" + small(v.Type.String(), "10", "")
	}
	return s
}

func opFill(n *Node) string {
	if n.Domain == "ciuic" {
		return dotCiuicFill
	}
	return dotOpFill
}

// opLabel is the HTML label of an op node: the op in bold, one smaller line per
// attribute, then the provenance name in grey.
func (w *dotWriter) opLabel(n *Node) string {
	var b strings.Builder
	b.WriteString("<B>" + htmlText(n.OpName()) + "</B>")
	for _, name := range n.Attrs.Names() {
		b.WriteString("<BR/>" + small(name+"="+attrSummary(n.Attrs[name]), "10", ""))
	}
	if n.Name != "" && !w.opts.HideNames {
		b.WriteString("<BR/>" + small(n.Name, "8", dotGrey))
	}
	return b.String()
}

func small(text, size, color string) string {
	c := ""
	if color != "" {
		c = ` COLOR="` + color + `"`
	}
	return `<FONT POINT-SIZE="` + size + `"` + c + `>` + htmlText(text) + `</FONT>`
}

// attrSummary prints an attribute briefly: scalars in full, long lists and strings cut,
// tensors as their type (and values, if only a few), graphs by name.
func attrSummary(a Attr) string {
	switch a.Kind {
	case AttrInt:
		return strconv.FormatInt(a.Int, 10)
	case AttrFloat:
		return strconv.FormatFloat(float64(a.Float), 'g', -1, 32)
	case AttrString:
		return strconv.Quote(cut(a.Str))
	case AttrInts:
		return list(len(a.Ints), func(i int) string { return strconv.FormatInt(a.Ints[i], 10) })
	case AttrFloats:
		return list(len(a.Floats), func(i int) string { return strconv.FormatFloat(float64(a.Floats[i]), 'g', -1, 32) })
	case AttrStrings:
		return list(len(a.Strs), func(i int) string { return strconv.Quote(cut(a.Strs[i])) })
	case AttrTensor:
		if a.Tensor == nil {
			return "tensor <nil>"
		}
		return tensorSummary(a.Tensor)
	case AttrGraph:
		if a.Graph == nil || a.Graph.Name == "" {
			return "graph"
		}
		return "graph " + a.Graph.Name
	}
	return a.Kind.String()
}

// tensorSummary is "f32[784, 128]", or "i64[2] [-1, 784]" and "f32[] 2" for small tensors.
func tensorSummary(t *Tensor) string {
	s := t.Type().String()
	n := t.NumElements()
	if n < 1 || n > dotMaxValues || t.Check() != nil {
		return s
	}
	var elem func(i int) string
	switch {
	case t.DType == String:
		elem = func(i int) string { return strconv.Quote(cut(t.Strings[i])) }
	case t.DType.IsFloat():
		elem = func(i int) string { return strconv.FormatFloat(t.At(i), 'g', 4, 64) }
	case t.DType.IsInt() || t.DType == Bool:
		elem = func(i int) string { return strconv.FormatInt(t.intAt(i), 10) }
	default:
		return s
	}
	if len(t.Shape) == 0 {
		return s + " " + elem(0) // a scalar: f32[] 2
	}
	return s + " " + list(int(n), elem)
}

func list(n int, elem func(int) string) string {
	var b strings.Builder
	b.WriteByte('[')
	shown := n
	if n > dotMaxList {
		shown = dotMaxList - 2
	}
	for i := 0; i < shown; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(elem(i))
	}
	if shown < n {
		fmt.Fprintf(&b, ", … %d in all", n)
	}
	b.WriteByte(']')
	return b.String()
}

func cut(s string) string {
	r := []rune(s)
	if len(r) <= dotMaxString {
		return s
	}
	return strings.TrimRight(string(r[:dotMaxString-1]), " ") + "…"
}

// htmlText escapes s for a Graphviz HTML-like label. Control characters, which the
// HTML label parser rejects, become spaces.
func htmlText(s string) string {
	return html.EscapeString(strings.Map(printable, strings.ToValidUTF8(s, "\uFFFD")))
}

func printable(r rune) rune {
	if r < 0x20 || r == 0x7f {
		return ' '
	}
	return r
}

// dotQuote quotes s as a DOT string. emicklei/dot quotes strings with Go's %q, whose
// escapes (\t, \x00, \u00e9) DOT does not know, so labels are passed as literals quoted here.
func dotQuote(s string) dot.Literal {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		default:
			b.WriteRune(printable(r))
		}
	}
	b.WriteByte('"')
	return dot.Literal(b.String())
}

// ErrNoGraphviz is returned by RenderSVG when the dot program cannot be found.
var ErrNoGraphviz = errors.New(`the "dot" program (Graphviz) is not installed; install it with: ` +
	`apt-get install graphviz (Debian/Ubuntu) or brew install graphviz (macOS), or use -emit dot`)

// RenderSVG runs Graphviz's dot program on dotSrc and returns the SVG it draws.
func RenderSVG(dotSrc string) ([]byte, error) {
	path, err := exec.LookPath("dot")
	if err != nil {
		return nil, ErrNoGraphviz
	}
	cmd := exec.Command(path, "-Tsvg")
	cmd.Stdin = strings.NewReader(dotSrc)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("dot -Tsvg: %v: %s", err, strings.TrimSpace(stderr.String()))
	}
	return out.Bytes(), nil
}
