package text

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/alecthomas/participle/v2"
	"github.com/alecthomas/participle/v2/lexer"

	"github.com/ciuic/ciuic/frontend/safetensors"
	"github.com/ciuic/ciuic/ir"
)

// Option changes how Parse reads a model.
type Option func(*config)

type config struct {
	weightsDir string
	dirSet     bool
}

// WeightsDir makes Parse resolve a relative `weights "file"` path against dir instead of
// the folder of the model file.
func WeightsDir(dir string) Option {
	return func(c *config) { c.weightsDir, c.dirSet = dir, true }
}

// ParseFile reads a model from path; its weights file is resolved relative to path's folder.
func ParseFile(path string) (*ir.Graph, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, src)
}

// Parse reads the model text src (filename is used in positions and, unless WeightsDir is
// given, to find the weights file) and returns a type-checked, verified graph. Any error is
// an ErrorList holding every problem found, each with its position.
func Parse(filename string, src []byte, opts ...Option) (*ir.Graph, error) {
	cfg := config{weightsDir: filepath.Dir(filename)}
	for _, o := range opts {
		o(&cfg)
	}
	m, err := parser.ParseBytes(filename, src)
	if err != nil {
		return nil, syntaxError(filename, err)
	}
	b := &builder{
		cfg:     cfg,
		used:    namesIn(filename, src),
		nodePos: map[*ir.Node]lexer.Position{},
		valPos:  map[*ir.Value]lexer.Position{},
	}
	g := b.graph(m.Graph, nil)
	if len(b.errs) == 0 {
		b.check(g, m.Graph.Pos)
	}
	if len(b.errs) > 0 {
		b.errs.sort()
		return nil, b.errs
	}
	return g, nil
}

// Format returns the canonical text of g; it is ir.Print.
func Format(g *ir.Graph) string { return ir.Print(g) }

func syntaxError(filename string, err error) error {
	var perr participle.Error
	if errors.As(err, &perr) {
		pos := perr.Position()
		if pos.Filename == "" {
			pos.Filename = filename
		}
		msg := perr.Message()
		// The lexer quotes the whole rest of the file; the first character is the news.
		if _, rest, ok := strings.Cut(msg, "invalid input text "); ok {
			if s, err := strconv.Unquote(rest); err == nil && s != "" {
				msg = fmt.Sprintf("unexpected character %q", []rune(s)[0])
			}
		}
		return ErrorList{{Pos: pos, Msg: msg}}
	}
	return ErrorList{{Pos: lexer.Position{Filename: filename, Line: 1, Column: 1}, Msg: err.Error()}}
}

// namesIn returns every name written in src, so that names generated for nested
// expressions never clash with one the user wrote, wherever it is in the file.
func namesIn(filename string, src []byte) map[string]bool {
	names := map[string]bool{}
	lx, err := textLexer.LexString(filename, string(src))
	if err != nil {
		return names
	}
	syms := textLexer.Symbols()
	for {
		tok, err := lx.Next()
		if err != nil || tok.EOF() {
			return names
		}
		switch tok.Type {
		case syms["Local"], syms["Global"]:
			names[unquoteName(tok.Value[1:])] = true
		case syms["Ident"], syms["String"]:
			names[unquoteName(tok.Value)] = true
		}
	}
}

func unquoteName(s string) string {
	if strings.HasPrefix(s, `"`) {
		if u, err := strconv.Unquote(s); err == nil {
			return u
		}
	}
	return s
}

// builder turns the AST into an ir.Graph, collecting every problem instead of stopping
// at the first.
type builder struct {
	cfg  config
	errs ErrorList
	used map[string]bool
	tmp  int

	// Where each node and value came from, to place the verifier's errors.
	nodePos map[*ir.Node]lexer.Position
	valPos  map[*ir.Value]lexer.Position
	// Declared graph output types, checked after inference.
	outTypes []declaredOutput

	// The weights file of the outermost graph, opened on first use.
	weightsName string
	weightsPos  lexer.Position
	weightsOpen bool
	weights     *safetensors.File
}

type declaredOutput struct {
	v   *ir.Value
	t   ir.Type
	pos lexer.Position
}

func (b *builder) errorf(pos lexer.Position, format string, args ...any) {
	b.errs = append(b.errs, &Error{Pos: pos, Msg: fmt.Sprintf(format, args...)})
}

// scope holds the names defined in one graph; nested graphs may read their parents' values.
type scope struct {
	parent *scope
	g      *ir.Graph
	vals   map[string]*ir.Value
	pos    map[string]lexer.Position
}

func (s *scope) lookup(name string) (*ir.Value, *scope) {
	for ; s != nil; s = s.parent {
		if v, ok := s.vals[name]; ok {
			return v, s
		}
	}
	return nil, nil
}

// define adds v to the scope unless its name is taken (in this graph or an enclosing one).
func (b *builder) define(s *scope, v *ir.Value, sigil string, pos lexer.Position) bool {
	if _, in := s.lookup(v.Name); in != nil {
		b.errorf(pos, "%s%s redefined; first defined at %s", sigil, ir.PrintName(v.Name), posString(in.pos[v.Name]))
		return false
	}
	s.vals[v.Name] = v
	s.pos[v.Name] = pos
	b.valPos[v] = pos
	return true
}

func (b *builder) name(l *label) string {
	if l.Quote == "" {
		return l.Ident
	}
	return b.unquote(l.Quote, l.Pos)
}

func (b *builder) unquote(q string, pos lexer.Position) string {
	s, err := strconv.Unquote(q)
	if err != nil {
		b.errorf(pos, "bad string %s: %v", q, err)
		return q
	}
	return s
}

// sigilName strips the sigil of a %name or @name token and unquotes the rest.
func (b *builder) sigilName(tok string, pos lexer.Position) string {
	if strings.HasPrefix(tok[1:], `"`) {
		return b.unquote(tok[1:], pos)
	}
	return tok[1:]
}

func (b *builder) graph(gd *graphDef, parent *scope) *ir.Graph {
	g := ir.NewGraph(b.name(gd.Name))
	s := &scope{parent: parent, g: g, vals: map[string]*ir.Value{}, pos: map[string]lexer.Position{}}
	for _, p := range gd.Inputs {
		v := &ir.Value{Name: b.name(p.Name)}
		if p.Type == nil {
			b.errorf(p.Pos, "input %s needs a type", ir.PrintName(v.Name))
		} else {
			v.Type = b.typ(p.Type)
		}
		if b.define(s, v, "%", p.Pos) {
			g.Inputs = append(g.Inputs, v)
		}
	}
	// Weights and constants first: they are not SSA values and may be declared anywhere.
	for _, st := range gd.Stmts {
		switch {
		case st.Weights != nil:
			b.weightsDecl(g, parent, st.Weights)
		case st.Const != nil:
			b.constDecl(s, st.Const)
		}
	}
	for _, st := range gd.Stmts {
		if st.Node != nil {
			b.node(s, st.Node)
		}
	}
	for _, p := range gd.Outputs {
		name := b.name(p.Name)
		v, _ := s.lookup(name)
		if v == nil {
			b.errorf(p.Pos, "output %s is not defined", ir.PrintName(name))
			continue
		}
		g.Outputs = append(g.Outputs, v)
		if p.Type != nil {
			b.outTypes = append(b.outTypes, declaredOutput{v, b.typ(p.Type), p.Pos})
		}
	}
	g.Rebuild()
	return g
}

func (b *builder) weightsDecl(g *ir.Graph, parent *scope, w *weightsDecl) {
	file := b.unquote(w.File, w.Pos)
	switch {
	case parent != nil:
		b.errorf(w.Pos, "weights belongs in the outermost graph")
	case b.weightsName != "":
		b.errorf(w.Pos, "second weights file; first declared at %s", posString(b.weightsPos))
	default:
		b.weightsName, b.weightsPos = file, w.Pos
		g.WeightsFile = file
	}
}

// weight loads tensor name from the weights file, reporting problems at pos.
func (b *builder) weight(name string, pos lexer.Position) *ir.Tensor {
	if b.weightsName == "" {
		b.errorf(pos, "@%s has no data: no weights file declared", ir.PrintName(name))
		return nil
	}
	if !b.weightsOpen {
		b.weightsOpen = true
		path := b.weightsName
		if !filepath.IsAbs(path) {
			path = filepath.Join(b.cfg.weightsDir, path)
		}
		f, err := safetensors.ReadFile(path)
		if err != nil {
			// Name the file as the user wrote it, not as resolved on this machine.
			msg := strings.ReplaceAll(err.Error(), path, b.weightsName)
			msg = strings.TrimPrefix(msg, b.weightsName+": ")
			b.errorf(b.weightsPos, "cannot read weights file %s: %s", b.weightsName, msg)
		}
		b.weights = f
	}
	if b.weights == nil {
		return nil // reported once, at the weights line
	}
	for _, n := range b.weights.Names() {
		if n == name {
			t, err := b.weights.Tensor(name)
			if err != nil {
				b.errorf(pos, "weight @%s in %s: %v", ir.PrintName(name), b.weightsName, err)
				return nil
			}
			return t
		}
	}
	b.errorf(pos, "weight @%s not found in %s", ir.PrintName(name), b.weightsName)
	return nil
}

func (b *builder) constDecl(s *scope, c *constDecl) {
	name := b.sigilName(c.Name, c.Pos)
	v := &ir.Value{Name: name}
	var t *ir.Tensor
	switch {
	case c.Value != nil:
		var typ ir.Type
		if c.Type != nil {
			typ = b.typ(c.Type)
		} else {
			typ = literalType(c.Value)
		}
		t = b.tensor(typ, c.Value, "@"+ir.PrintName(name), c.Pos)
	default:
		t = b.weight(name, c.Pos)
		if t != nil && c.Type != nil {
			if want := b.typ(c.Type); want.IsValid() && !want.Equal(t.Type()) {
				b.errorf(c.Type.Pos, "@%s declared %s, but %s has %s", ir.PrintName(name), want, b.weightsName, t.Type())
			}
		}
	}
	if t == nil {
		t = &ir.Tensor{} // keeps the name defined so later references do not cascade
	}
	v.Const = t
	v.Type = t.Type()
	if b.define(s, v, "@", c.Pos) {
		s.g.Consts = append(s.g.Consts, v)
	}
}

// typ converts a written type; problems are reported and give an invalid type.
func (b *builder) typ(t *typeDef) ir.Type {
	dt, ok := ir.ParseDType(t.DType)
	if !ok {
		b.errorf(t.Pos, "unknown dtype %s", t.DType)
	}
	shape := ir.Shape{}
	for _, d := range t.Dims {
		switch {
		case d.Size != nil:
			n, err := strconv.ParseInt(*d.Size, 10, 64)
			if err != nil || n < 0 {
				b.errorf(d.Pos, "bad dimension %s", *d.Size)
				n = 0
			}
			shape = append(shape, ir.Static(n))
		case d.Unknown:
			shape = append(shape, ir.Unknown())
		case d.Quote != "":
			shape = append(shape, ir.Sym(b.unquote(d.Quote, d.Pos)))
		default:
			shape = append(shape, ir.Sym(d.Name))
		}
	}
	if !ok {
		return ir.Type{}
	}
	return ir.Type{DType: dt, Shape: shape}
}

// node builds a statement's node and the nodes of any calls nested in its arguments.
func (b *builder) node(s *scope, nd *nodeDef) {
	n := b.call(s, nd.Call)
	for _, o := range nd.Outputs {
		if o.Skip {
			n.Outputs = append(n.Outputs, nil)
			continue
		}
		v := &ir.Value{Name: b.sigilName(o.Name, o.Pos), Def: n}
		if o.Type != nil {
			v.Type = b.typ(o.Type)
		}
		b.define(s, v, "%", o.Pos)
		n.Outputs = append(n.Outputs, v)
	}
	seen := map[string]lexer.Position{}
	for _, m := range nd.Meta {
		if p, dup := seen[m.Key]; dup {
			b.errorf(m.Pos, "%s repeated; first given at %s", m.Key, posString(p))
			continue
		}
		seen[m.Key] = m.Pos
		val := b.unquote(m.Value, m.Pos)
		switch m.Key {
		case "name":
			n.Name = val
		case "group":
			n.Group = val
		default:
			b.errorf(m.Pos, "unknown node property %s (want name or group)", m.Key)
		}
	}
	s.g.Nodes = append(s.g.Nodes, n)
}

// call builds the node of c without outputs. Nodes of calls nested in its arguments are
// appended to the graph first, so the graph stays in topological order.
func (b *builder) call(s *scope, c *call) *ir.Node {
	full := b.name(c.Op)
	n := &ir.Node{Op: full}
	if i := strings.LastIndexByte(full, '.'); i >= 0 {
		n.Domain, n.Op = full[:i], full[i+1:]
	}
	b.nodePos[n] = c.Op.Pos
	schema := ir.LookupSchema(n.Domain, n.Op)
	if schema == nil {
		b.errorf(c.Op.Pos, "unknown op %s", full)
	}
	for _, a := range c.Args {
		n.Inputs = append(n.Inputs, b.arg(s, a))
	}
	seen := map[string]lexer.Position{}
	for _, a := range c.Attrs {
		name := b.name(a.Name)
		if p, dup := seen[name]; dup {
			b.errorf(a.Pos, "attribute %s repeated; first given at %s", name, posString(p))
			continue
		}
		seen[name] = a.Pos
		var hint ir.AttrKind
		if schema != nil {
			hint = schema.Attrs[name].Kind
		}
		if v, ok := b.attrValue(s, a.Value, hint); ok {
			if n.Attrs == nil {
				n.Attrs = ir.Attrs{}
			}
			n.Attrs[name] = v
		}
	}
	return n
}

// fresh returns a name for a nested call's result that no name in the file uses.
func (b *builder) fresh() string {
	for {
		b.tmp++
		name := "t" + strconv.Itoa(b.tmp)
		if !b.used[name] {
			b.used[name] = true
			return name
		}
	}
}

func (b *builder) arg(s *scope, a *arg) *ir.Value {
	switch {
	case a.Skip:
		return nil
	case a.Call != nil:
		n := b.call(s, a.Call)
		out := &ir.Value{Name: b.fresh(), Def: n}
		b.valPos[out] = a.Call.Pos
		n.Outputs = []*ir.Value{out}
		s.g.Nodes = append(s.g.Nodes, n)
		return out
	case a.Local != "":
		name := b.sigilName(a.Local, a.Pos)
		v, _ := s.lookup(name)
		switch {
		case v == nil:
			b.errorf(a.Pos, "undefined value %%%s", ir.PrintName(name))
		case v.IsConst():
			b.errorf(a.Pos, "%%%s is a constant: write @%[1]s", ir.PrintName(name))
		}
		return v
	default:
		name := b.sigilName(a.Global, a.Pos)
		v, _ := s.lookup(name)
		if v == nil {
			// An undeclared constant is a weight from the file, typed by the file.
			v = &ir.Value{Name: name}
			t := b.weight(name, a.Pos)
			if t == nil {
				t = &ir.Tensor{}
			}
			v.Const, v.Type = t, t.Type()
			b.define(s, v, "@", a.Pos)
			s.g.Consts = append(s.g.Consts, v)
		} else if !v.IsConst() {
			b.errorf(a.Pos, "@%s is not a constant: write %%%[1]s", ir.PrintName(name))
		}
		return v
	}
}

// check infers types and verifies the graph, mapping every problem to its position.
func (b *builder) check(g *ir.Graph, pos lexer.Position) {
	inferErr := ir.InferTypes(g)
	if inferErr != nil {
		b.irErrors(inferErr, pos)
	} else {
		b.inferNested(g, pos)
	}
	for _, d := range b.outTypes {
		if d.t.IsValid() && d.v.Type.IsValid() && !compatible(d.t, d.v.Type) {
			b.errorf(d.pos, "output %s declared %s, inferred %s", ir.PrintName(d.v.Name), d.t, d.v.Type)
		}
	}
	if len(b.errs) > 0 {
		return
	}
	if err := ir.Verify(g); err != nil {
		b.irErrors(err, pos)
	}
}

// inferNested types the bodies of graph attributes (If, Loop, Scan), which InferTypes
// does not enter. They may read values of the enclosing graph, typed by now.
func (b *builder) inferNested(g *ir.Graph, pos lexer.Position) {
	for _, n := range g.Nodes {
		for _, name := range n.Attrs.Names() {
			if sub := n.Attrs[name].Graph; sub != nil {
				if err := ir.InferTypes(sub); err != nil {
					b.irErrors(err, b.nodePos[n])
					continue
				}
				b.inferNested(sub, pos)
			}
		}
	}
}

// compatible reports whether an inferred type matches a declared one, where a declared
// "?" dim accepts anything.
func compatible(declared, inferred ir.Type) bool {
	if declared.DType != inferred.DType || len(declared.Shape) != len(inferred.Shape) {
		return false
	}
	for i, d := range declared.Shape {
		if d.IsUnknown() {
			continue
		}
		if want, got := (ir.Shape{d}), (ir.Shape{inferred.Shape[i]}); !want.Equal(got) {
			return false
		}
	}
	return true
}

func (b *builder) irErrors(err error, fallback lexer.Position) {
	var list ir.ErrorList
	if !errors.As(err, &list) {
		b.errorf(fallback, "%v", err)
		return
	}
	for _, e := range list {
		pos, ok := fallback, false
		if e.Node != nil {
			pos, ok = b.nodePos[e.Node]
		}
		if !ok && e.Value != nil {
			pos, ok = b.valPos[e.Value]
		}
		if !ok {
			pos = fallback
		}
		msg := e.Msg
		if e.Node != nil && !strings.HasPrefix(msg, e.Node.OpName()) {
			msg = e.Node.OpName() + ": " + msg
		}
		b.errorf(pos, "%s", msg)
	}
}
