package ir

import (
	"fmt"
	"strconv"
)

// Value is an SSA value: a graph input, a constant (weight), or an output of exactly one Node.
// Its uses are kept by the Graph's helper methods; do not edit Node.Inputs directly once a
// node is in a graph, use SetInput/ReplaceAllUses.
type Value struct {
	Name  string
	Type  Type
	Def   *Node   // defining node; nil for graph inputs and constants
	Const *Tensor // the data of a constant; nil otherwise
	uses  []Use
}

// Use is one place a value is read: input Index of Node.
type Use struct {
	Node  *Node
	Index int
}

// Uses returns the places the value is read by nodes (not graph outputs). The slice must not be modified.
func (v *Value) Uses() []Use { return v.uses }

// IsConst reports whether the value is a constant (weight or folded constant).
func (v *Value) IsConst() bool { return v.Const != nil }

func (v *Value) String() string {
	if v == nil {
		return "_"
	}
	if v.IsConst() {
		return "@" + v.Name
	}
	return "%" + v.Name
}

// Node computes its Outputs from its Inputs by the operator Op of Domain.
// A nil entry in Inputs is an omitted optional input.
type Node struct {
	Name    string // provenance name (e.g. the ONNX node name); may be empty
	Op      string
	Domain  string // "" is the ONNX default domain; "ciuic" for ciuic's own ops
	Inputs  []*Value
	Outputs []*Value
	Attrs   Attrs
	Group   string // provenance group: nodes made from one pattern share it (drawn as a cluster)
}

// OpName is the op qualified by its domain: "MatMul", "ciuic.Dense".
func (n *Node) OpName() string {
	if n.Domain == "" {
		return n.Op
	}
	return n.Domain + "." + n.Op
}

// Ref names the node in messages: its name if it has one, else its first output.
func (n *Node) Ref() string {
	if n.Name != "" {
		return fmt.Sprintf("%s %q", n.OpName(), n.Name)
	}
	if len(n.Outputs) > 0 && n.Outputs[0] != nil {
		return fmt.Sprintf("%s defining %s", n.OpName(), n.Outputs[0])
	}
	return n.OpName()
}

// Graph is a dataflow graph. Nodes are kept in a valid topological order.
type Graph struct {
	Name        string
	Inputs      []*Value
	Outputs     []*Value
	Consts      []*Value // constants and weights, in declaration order
	Nodes       []*Node
	WeightsFile string // safetensors file the text form reads weights from; may be empty

	names map[string]bool
	tmp   int
}

// NewGraph returns an empty graph.
func NewGraph(name string) *Graph { return &Graph{Name: name} }

func (g *Graph) claim(name string) string {
	if g.names == nil {
		g.names = map[string]bool{}
	}
	if name == "" || g.names[name] {
		base := name
		if base == "" {
			base = "t"
		}
		for {
			g.tmp++
			cand := base + strconv.Itoa(g.tmp)
			if base != "t" {
				cand = base + "_" + strconv.Itoa(g.tmp)
			}
			if !g.names[cand] {
				name = cand
				break
			}
		}
	}
	g.names[name] = true
	return name
}

// UniqueName returns name if no value of g has it yet, otherwise name with a suffix.
// The name is reserved.
func (g *Graph) UniqueName(name string) string { return g.claim(name) }

// HasName reports whether a value of g is called name.
func (g *Graph) HasName(name string) bool { return g.names[name] }

// AddInput appends a graph input.
func (g *Graph) AddInput(name string, t Type) *Value {
	v := &Value{Name: g.claim(name), Type: t}
	g.Inputs = append(g.Inputs, v)
	return v
}

// AddConst appends a constant value with data t.
func (g *Graph) AddConst(name string, t *Tensor) *Value {
	v := &Value{Name: g.claim(name), Type: t.Type(), Const: t}
	g.Consts = append(g.Consts, v)
	return v
}

// NewNode builds a node with fresh output values (types left for inference) and appends it
// to the graph. outNames may be shorter than nOut; missing names are generated.
func (g *Graph) NewNode(op string, inputs []*Value, attrs Attrs, outNames ...string) *Node {
	n := &Node{Op: op, Attrs: attrs}
	if len(outNames) == 0 {
		outNames = []string{""}
	}
	for _, name := range outNames {
		n.Outputs = append(n.Outputs, &Value{Name: g.claim(name), Def: n})
	}
	n.Inputs = make([]*Value, len(inputs))
	for i, in := range inputs {
		g.SetInput(n, i, in)
	}
	g.Nodes = append(g.Nodes, n)
	return n
}

// AddNode appends a node built by the caller; its outputs must be fresh values.
// It records uses, claims output names and sets the outputs' Def.
func (g *Graph) AddNode(n *Node) *Node {
	for _, o := range n.Outputs {
		if o != nil {
			o.Name = g.claim(o.Name)
			o.Def = n
		}
	}
	for i, in := range n.Inputs {
		if in != nil {
			in.uses = append(in.uses, Use{n, i})
		}
	}
	g.Nodes = append(g.Nodes, n)
	return n
}

// InsertBefore is like AddNode but places n just before node at (which must be in g).
func (g *Graph) InsertBefore(at *Node, n *Node) *Node {
	g.AddNode(n)
	g.Nodes = g.Nodes[:len(g.Nodes)-1]
	for i, m := range g.Nodes {
		if m == at {
			g.Nodes = append(g.Nodes[:i], append([]*Node{n}, g.Nodes[i:]...)...)
			return n
		}
	}
	panic("ir: InsertBefore: node not in graph: " + at.Ref())
}

// SetInput sets input i of n to v (which may be nil), keeping use lists consistent.
func (g *Graph) SetInput(n *Node, i int, v *Value) {
	if old := n.Inputs[i]; old != nil {
		old.removeUse(n, i)
	}
	n.Inputs[i] = v
	if v != nil {
		v.uses = append(v.uses, Use{n, i})
	}
}

func (v *Value) removeUse(n *Node, i int) {
	for k, u := range v.uses {
		if u.Node == n && u.Index == i {
			v.uses = append(v.uses[:k], v.uses[k+1:]...)
			return
		}
	}
}

// ReplaceAllUses makes every reader of old (nodes and graph outputs) read new instead.
// If old is a graph output, new takes its place in Outputs (and keeps its own name
// unless it is an internal value, in which case it takes old's name so the graph's
// interface does not change).
func (g *Graph) ReplaceAllUses(old, new *Value) {
	for len(old.uses) > 0 {
		u := old.uses[0]
		g.SetInput(u.Node, u.Index, new)
	}
	for i, o := range g.Outputs {
		if o != old {
			continue
		}
		if new.Def != nil && !g.isInterface(new) {
			// Swap names so the graph's interface keeps its output name and names stay unique.
			old.Name, new.Name = new.Name, old.Name
		}
		g.Outputs[i] = new
	}
}

func (g *Graph) isInterface(v *Value) bool {
	for _, in := range g.Inputs {
		if in == v {
			return true
		}
	}
	for _, o := range g.Outputs {
		if o == v {
			return true
		}
	}
	return false
}

// RemoveNode deletes n from the graph. Its outputs must have no uses left.
func (g *Graph) RemoveNode(n *Node) {
	for _, o := range n.Outputs {
		if o != nil && len(o.uses) > 0 {
			panic(fmt.Sprintf("ir: RemoveNode %s: output %s still used", n.Ref(), o))
		}
	}
	for i, in := range n.Inputs {
		if in != nil {
			in.removeUse(n, i)
		}
	}
	for i, m := range g.Nodes {
		if m == n {
			g.Nodes = append(g.Nodes[:i], g.Nodes[i+1:]...)
			break
		}
	}
	for _, o := range n.Outputs {
		if o != nil {
			delete(g.names, o.Name)
		}
	}
}

// RemoveUnusedConsts drops constants that no node reads and that are not graph outputs.
// It returns how many were removed.
func (g *Graph) RemoveUnusedConsts() int {
	keep := g.Consts[:0]
	removed := 0
	for _, c := range g.Consts {
		if len(c.uses) > 0 || g.isInterface(c) {
			keep = append(keep, c)
		} else {
			delete(g.names, c.Name)
			removed++
		}
	}
	for i := len(keep); i < len(g.Consts); i++ {
		g.Consts[i] = nil
	}
	g.Consts = keep
	return removed
}

// Rebuild recomputes use lists and the name table from Inputs, Consts and Nodes.
// Frontends that build Node and Value structs directly call it once at the end.
func (g *Graph) Rebuild() {
	g.names = map[string]bool{}
	for _, v := range g.Inputs {
		v.uses = nil
		g.names[v.Name] = true
	}
	for _, v := range g.Consts {
		v.uses = nil
		g.names[v.Name] = true
	}
	for _, n := range g.Nodes {
		for _, o := range n.Outputs {
			if o != nil {
				o.uses = nil
				o.Def = n
				g.names[o.Name] = true
			}
		}
	}
	for _, n := range g.Nodes {
		for i, in := range n.Inputs {
			if in != nil {
				in.uses = append(in.uses, Use{n, i})
			}
		}
	}
}

// Values returns every value of the graph: inputs, constants, then node outputs in order.
func (g *Graph) Values() []*Value {
	vs := append(append([]*Value{}, g.Inputs...), g.Consts...)
	for _, n := range g.Nodes {
		for _, o := range n.Outputs {
			if o != nil {
				vs = append(vs, o)
			}
		}
	}
	return vs
}

// Lookup finds a value by name, or nil.
func (g *Graph) Lookup(name string) *Value {
	for _, v := range g.Values() {
		if v.Name == name {
			return v
		}
	}
	return nil
}

// WeightBytes is the total size of the graph's constants.
func (g *Graph) WeightBytes() int64 {
	var n int64
	for _, c := range g.Consts {
		n += c.Const.Bytes()
	}
	return n
}

// SortTopological reorders Nodes into a topological order that keeps the current order
// wherever it is already valid. It returns an error naming a node on a cycle, if any.
func (g *Graph) SortTopological() error {
	pending := map[*Node]int{}
	for _, n := range g.Nodes {
		c := 0
		for _, in := range n.Inputs {
			if in != nil && in.Def != nil {
				c++
			}
		}
		pending[n] = c
	}
	pos := map[*Node]int{}
	for i, n := range g.Nodes {
		pos[n] = i
	}
	// Kahn's algorithm with a min-heap on the original position keeps the order stable.
	out := make([]*Node, 0, len(g.Nodes))
	readySet := map[*Node]bool{}
	for _, n := range g.Nodes {
		if pending[n] == 0 {
			readySet[n] = true
		}
	}
	h := &nodeHeap{pos: pos}
	for n := range readySet {
		h.push(n)
	}
	for h.len() > 0 {
		n := h.pop()
		out = append(out, n)
		for _, o := range n.Outputs {
			if o == nil {
				continue
			}
			for _, u := range o.uses {
				if _, inGraph := pending[u.Node]; !inGraph {
					continue
				}
				pending[u.Node]--
				if pending[u.Node] == 0 {
					h.push(u.Node)
				}
			}
		}
	}
	if len(out) != len(g.Nodes) {
		for _, n := range g.Nodes {
			if pending[n] > 0 {
				return fmt.Errorf("graph %s: cycle through node %s", g.Name, n.Ref())
			}
		}
	}
	g.Nodes = out
	return nil
}

type nodeHeap struct {
	pos   map[*Node]int
	items []*Node
}

func (h *nodeHeap) len() int { return len(h.items) }

func (h *nodeHeap) less(i, j int) bool { return h.pos[h.items[i]] < h.pos[h.items[j]] }

func (h *nodeHeap) push(n *Node) {
	h.items = append(h.items, n)
	for i := len(h.items) - 1; i > 0; {
		p := (i - 1) / 2
		if !h.less(i, p) {
			break
		}
		h.items[p], h.items[i] = h.items[i], h.items[p]
		i = p
	}
}

func (h *nodeHeap) pop() *Node {
	top := h.items[0]
	last := len(h.items) - 1
	h.items[0] = h.items[last]
	h.items = h.items[:last]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < len(h.items) && h.less(l, m) {
			m = l
		}
		if r < len(h.items) && h.less(r, m) {
			m = r
		}
		if m == i {
			break
		}
		h.items[m], h.items[i] = h.items[i], h.items[m]
		i = m
	}
	return top
}
