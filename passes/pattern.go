package passes

import (
	"fmt"

	"github.com/ciuic/ciuic/ir"
)

// Pat is a pattern over values: an op tree whose leaves capture values.
//
//	Op("Mul", Var("x"), ConstScalar("one", 1))          // x * 1
//	Comm("Add", Op("MatMul", Var("a"), Const("w")), Const("b")).As("sum")
//
// An op pattern matches a value defined by a node of that op whose inputs match the
// argument patterns in order (both orders for Comm). Captured names bind values in
// Match.V and, for op patterns, their nodes in Match.N.
type Pat struct {
	op          string // "" for a leaf
	domain      string
	args        []*Pat
	name        string
	constant    bool
	scalar      *float64 // leaf must be a constant whose elements all equal this
	tol         float64  // relative tolerance for scalar (0: exact)
	commutative bool
	anyArgs     bool // match the op whatever its inputs
	alts        []*Pat
}

// orPat matches the first of alts that matches.
func orPat(alts ...*Pat) *Pat { return &Pat{alts: alts} }

// Op matches a node of op (domain-qualified as "ciuic.Dense") with inputs matching args.
func Op(op string, args ...*Pat) *Pat {
	p := &Pat{op: op, args: args}
	if i := lastDot(op); i >= 0 {
		p.domain, p.op = op[:i], op[i+1:]
	}
	return p
}

// Comm is Op for a commutative binary op: the two arguments may come in either order.
func Comm(op string, a, b *Pat) *Pat {
	p := Op(op, a, b)
	p.commutative = true
	return p
}

// OpAny matches a node of op whatever its inputs.
func OpAny(op string) *Pat { p := Op(op); p.anyArgs = true; return p }

// Var matches any value and captures it as name.
func Var(name string) *Pat { return &Pat{name: name} }

// Const matches a constant value and captures it.
func Const(name string) *Pat { return &Pat{name: name, constant: true} }

// ConstScalar matches a constant whose elements all equal v (a scalar or a splat).
func ConstScalar(name string, v float64) *Pat { return &Pat{name: name, constant: true, scalar: &v} }

// ConstNear matches a constant whose elements all lie within relative tol of v: exported
// models write constants like sqrt(2) or sqrt(2/pi) at float32 or float16 precision.
func ConstNear(name string, v, tol float64) *Pat {
	return &Pat{name: name, constant: true, scalar: &v, tol: tol}
}

// As captures the value an op pattern matches (and its node) under name.
func (p *Pat) As(name string) *Pat { p.name = name; return p }

func lastDot(s string) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '.' {
			return i
		}
	}
	return -1
}

func (p *Pat) String() string {
	if p.op == "" {
		if p.constant {
			return "@" + p.name
		}
		return "%" + p.name
	}
	return p.op
}

// Match is the result of a successful match.
type Match struct {
	V     map[string]*ir.Value // captured values
	N     map[string]*ir.Node  // nodes of captured op patterns
	Root  *ir.Node
	Nodes []*ir.Node // every node the pattern matched, root first
}

// Match tries p against v. On failure it returns a reason saying where the pattern and
// the graph first differ, for -explain.
func (p *Pat) Match(v *ir.Value) (*Match, string) {
	m := &Match{V: map[string]*ir.Value{}, N: map[string]*ir.Node{}}
	if why := p.match(v, m); why != "" {
		return nil, why
	}
	if v.Def != nil {
		m.Root = v.Def
	}
	return m, ""
}

func (p *Pat) match(v *ir.Value, m *Match) string {
	if v == nil {
		return fmt.Sprintf("missing input where %s was expected", p)
	}
	if p.name != "" {
		if prev, ok := m.V[p.name]; ok && prev != v {
			return fmt.Sprintf("%s is %s in one place and %s in another", p.name, prev, v)
		}
	}
	if p.alts != nil {
		why := ""
		for _, a := range p.alts {
			snapV, snapN, nodes := copyMap(m.V), copyMap(m.N), len(m.Nodes)
			if why = a.match(v, m); why == "" {
				return ""
			}
			m.V, m.N, m.Nodes = snapV, snapN, m.Nodes[:nodes]
		}
		return why
	}
	if p.op == "" {
		if p.constant && v.Const == nil {
			return fmt.Sprintf("%s is computed at run time, not a constant", v)
		}
		if p.scalar != nil && !allNear(v.Const, *p.scalar, p.tol) {
			return fmt.Sprintf("%s is not the constant %g", v, *p.scalar)
		}
		if p.name != "" {
			m.V[p.name] = v
		}
		return ""
	}
	n := v.Def
	if n == nil || n.Op != p.op || n.Domain != p.domain {
		what := "a graph input"
		switch {
		case v.Const != nil:
			what = "a constant"
		case n != nil:
			what = "made by " + n.OpName()
		}
		return fmt.Sprintf("%s is %s, want %s", v, what, p.op)
	}
	if !p.anyArgs && len(n.Inputs) != len(p.args) {
		return fmt.Sprintf("%s has %d inputs, want %d", n.Ref(), len(n.Inputs), len(p.args))
	}
	save := len(m.Nodes)
	if !containsNode(m.Nodes, n) { // a shared subtree (x - mean used twice) is one node
		m.Nodes = append(m.Nodes, n)
	}
	why := p.matchArgs(n, n.Inputs, m)
	if why != "" && p.commutative && len(n.Inputs) == 2 {
		m.Nodes = m.Nodes[:min(save+1, len(m.Nodes))]
		why2 := p.matchArgs(n, []*ir.Value{n.Inputs[1], n.Inputs[0]}, m)
		if why2 == "" {
			why = ""
		}
	}
	if why != "" {
		m.Nodes = m.Nodes[:save]
		return why
	}
	if p.name != "" {
		m.V[p.name] = v
		m.N[p.name] = n
	}
	return ""
}

func (p *Pat) matchArgs(n *ir.Node, inputs []*ir.Value, m *Match) string {
	if p.anyArgs {
		return ""
	}
	// Bindings made by a failed attempt must not leak into the next one.
	snapV := copyMap(m.V)
	snapN := copyMap(m.N)
	for i, a := range p.args {
		if why := a.match(inputs[i], m); why != "" {
			m.V, m.N = snapV, snapN
			return why
		}
	}
	return ""
}

func copyMap[V any](m map[string]V) map[string]V {
	c := make(map[string]V, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

func allNear(t *ir.Tensor, v, tol float64) bool {
	if t == nil || !t.DType.IsNumeric() {
		return false
	}
	n := int(t.NumElements())
	for i := 0; i < n; i++ {
		if d := t.At(i) - v; d > tol*abs(v) || -d > tol*abs(v) {
			return false
		}
	}
	return n > 0
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}

// Interior checks that the matched nodes other than the root are used only inside the
// match, so replacing the root removes them instead of duplicating their work.
func (m *Match) Interior(g *ir.Graph) error { return m.interiorExcept(g, nil) }

// interiorExcept is Interior, with readers outside the pattern that may stay (the caller
// rewires them) listed in allowed.
func (m *Match) interiorExcept(g *ir.Graph, allowed map[*ir.Node]bool) error {
	in := map[*ir.Node]bool{}
	for _, n := range m.Nodes {
		in[n] = true
	}
	outs := map[*ir.Value]bool{}
	for _, o := range g.Outputs {
		outs[o] = true
	}
	for _, n := range m.Nodes {
		if n == m.Root {
			continue
		}
		for _, o := range n.Outputs {
			if o == nil {
				continue
			}
			if outs[o] {
				return fmt.Errorf("%s is a graph output, needed outside the pattern", o)
			}
			for _, u := range o.Uses() {
				if !in[u.Node] && !allowed[u.Node] {
					return fmt.Errorf("%s is also used by %s outside the pattern", o, u.Node.Ref())
				}
			}
		}
	}
	return nil
}

// Rule is a rewrite: when Pat matches (and When, if set, returns nil), Do builds the
// replacement for the root's first output.
type Rule struct {
	Name string
	Pat  *Pat
	When func(m *Match) error
	Do   func(b *Builder, m *Match) (*ir.Value, error)
	// Fusion marks a fusing rule: its new nodes share a provenance group and each
	// firing is a remark for -explain.
	Fusion bool
	// ReportMisses records, for -explain, why the rule did not fire where its root op
	// matched; for rules whose root op is specific enough that a miss is news.
	ReportMisses bool
}

// applyRules rewrites g with rules until none applies (first match wins at each node),
// counting each firing under the rule's name. It returns how many rewrites it made.
func applyRules(c *Context, g *ir.Graph, rules []Rule) (int, error) {
	total := 0
	for round := 0; round < 100; round++ {
		changed := false
		for i := 0; i < len(g.Nodes); i++ {
			n := g.Nodes[i]
			if len(n.Outputs) == 0 || n.Outputs[0] == nil || isDead(g, n) {
				continue // a root already replaced is dead until the sweep below
			}
			fired, err := tryRules(c, g, n, rules)
			if err != nil {
				return total, err
			}
			if fired {
				changed = true
				total++
			}
		}
		if !changed {
			return total, nil
		}
		removeDead(g)
	}
	return total, fmt.Errorf("rewrite rules did not converge after 100 rounds")
}

func tryRules(c *Context, g *ir.Graph, n *ir.Node, rules []Rule) (bool, error) {
	// Rules replace a node's first output; other outputs that are still read keep it alive.
	for _, o := range n.Outputs[1:] {
		if o != nil && (len(o.Uses()) > 0 || isOutput(g, o)) {
			return false, nil
		}
	}
	for _, r := range rules {
		if r.Pat.op != "" && (r.Pat.op != n.Op || r.Pat.domain != n.Domain) {
			continue
		}
		m, why := r.Pat.Match(n.Outputs[0])
		if m == nil {
			if r.ReportMisses && c != nil {
				c.Missed(n, "%s: %s", r.Name, why)
			}
			continue
		}
		if err := m.Interior(g); err != nil {
			if r.ReportMisses && c != nil {
				c.Missed(n, "%s: %v", r.Name, err)
			}
			continue
		}
		if r.When != nil {
			if err := r.When(m); err != nil {
				if r.ReportMisses && c != nil {
					c.Missed(n, "%s: %v", r.Name, err)
				}
				continue
			}
		}
		b := &Builder{g: g, at: n}
		if r.Fusion && c != nil {
			b.group = c.groupOf(m.Nodes)
		}
		nv, err := r.Do(b, m)
		if err != nil {
			return false, fmt.Errorf("rule %s at %s: %w", r.Name, n.Ref(), err)
		}
		if nv == nil { // Do decided not to rewrite after all
			b.discard()
			continue
		}
		old := n.Outputs[0]
		if isOutput(g, old) && (nv.Def == nil || isOutput(g, nv)) {
			// Replacing a graph output by an input, a constant or another output would
			// rename the graph's interface; keep the node.
			continue
		}
		if err := b.finish(old, nv); err != nil {
			return false, fmt.Errorf("rule %s at %s: %w", r.Name, n.Ref(), err)
		}
		if c != nil { // remarks name the nodes as they were, before names move
			c.Count(r.Name, 1)
			if r.Fusion {
				names := make([]string, 0, len(m.Nodes))
				for _, mn := range m.Nodes {
					names = append(names, mn.Ref())
				}
				c.Fired(n, "%s replaced %d nodes: %v", r.Name, len(m.Nodes), names)
			}
		}
		g.ReplaceAllUses(old, nv)
		keepName(b, old, nv)
		return true, nil
	}
	return false, nil
}

// Builder creates the nodes of a rewrite just before the node the rule matched at, so the
// graph stays in topological order, and tags them with the rewrite's provenance group.
type Builder struct {
	g     *ir.Graph
	at    *ir.Node
	group string
	made  []*ir.Node
}

// Graph is the graph being rewritten.
func (b *Builder) Graph() *ir.Graph { return b.g }

// Op adds a node computing op from inputs and returns its first output. The output type
// is inferred; an inference error is returned.
func (b *Builder) Op(op string, inputs []*ir.Value, attrs ir.Attrs) (*ir.Value, error) {
	outs, err := b.OpN(op, inputs, attrs, 1)
	if err != nil {
		return nil, err
	}
	return outs[0], nil
}

// OpN is Op for a node with nout outputs.
func (b *Builder) OpN(op string, inputs []*ir.Value, attrs ir.Attrs, nout int) ([]*ir.Value, error) {
	n := &ir.Node{Op: op, Inputs: append([]*ir.Value{}, inputs...), Attrs: attrs, Group: b.group}
	if i := lastDot(op); i >= 0 {
		n.Domain, n.Op = op[:i], op[i+1:]
	}
	for k := 0; k < nout; k++ {
		n.Outputs = append(n.Outputs, &ir.Value{Name: ""})
	}
	ts, err := ir.InferNode(n)
	if err != nil {
		return nil, fmt.Errorf("building %s: %v", n.OpName(), err)
	}
	for k, o := range n.Outputs {
		o.Type = ts[k]
	}
	b.g.InsertBefore(b.at, n)
	b.made = append(b.made, n)
	return n.Outputs, nil
}

// Const adds a constant to the graph.
func (b *Builder) Const(name string, t *ir.Tensor) *ir.Value { return b.g.AddConst(name, t) }

// Name sets the provenance name of the node that defines v (a node this builder made).
func (b *Builder) Name(v *ir.Value, name string) {
	if v.Def != nil {
		v.Def.Name = name
	}
}

// discard removes the nodes of an abandoned rewrite (nothing reads them yet).
func (b *Builder) discard() {
	for i := len(b.made) - 1; i >= 0; i-- {
		b.g.RemoveNode(b.made[i])
	}
	b.made = nil
}

// finish checks the replacement keeps the type of the value it replaces.
func (b *Builder) finish(old, nv *ir.Value) error {
	if !nv.Type.Equal(old.Type) {
		return fmt.Errorf("replacement %s has type %s, the original %s has %s", nv, nv.Type, old, old.Type)
	}
	return nil
}

func isDead(g *ir.Graph, n *ir.Node) bool {
	for _, o := range n.Outputs {
		if o != nil && (len(o.Uses()) > 0 || isOutput(g, o)) {
			return false
		}
	}
	return true
}

// keepName gives a value made by a rewrite the name of the value it replaced, so names
// (and with them provenance and diffs) survive optimisation.
func keepName(b *Builder, old, nv *ir.Value) {
	for _, n := range b.made {
		if nv.Def == n {
			adoptName(b.g, old, nv)
			return
		}
	}
}

// adoptName swaps the names of a replaced value and its replacement (ReplaceAllUses has
// already done so when the value is a graph output).
func adoptName(g *ir.Graph, old, nv *ir.Value) {
	if old.Def != nil && !isOutput(g, nv) {
		old.Name, nv.Name = nv.Name, old.Name
	}
}

func containsNode(ns []*ir.Node, n *ir.Node) bool {
	for _, m := range ns {
		if m == n {
			return true
		}
	}
	return false
}
