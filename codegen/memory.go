package codegen

import (
	"fmt"
	"slices"
	"sort"

	"github.com/ciuic/ciuic/ir"
	"github.com/ciuic/ciuic/ops"
)

// Align is the alignment of every arena buffer and of every weight in a .ciuic file:
// one cache line, and the widest vector load (AVX-512).
const Align = 64

// Storage says where a value's elements live during a run.
type Storage uint8

const (
	// External values are graph inputs and constants: owned by the caller or the file.
	External Storage = iota
	// Arena values own a buffer at Offset in the run's arena.
	Arena
	// Alias values share the buffer of Value.Alias: views (Reshape, Squeeze, ...)
	// and outputs computed in place over a dying input.
	Alias
	// Dynamic values have no static size (unbound symbolic dims, strings): the
	// kernel allocates them at run time, as a Session does.
	Dynamic
)

func (s Storage) String() string {
	return [...]string{"external", "arena", "alias", "dynamic"}[s]
}

// ValuePlan is where one value lives.
type ValuePlan struct {
	Storage Storage
	Shape   []int // static shape under the plan's bindings (nil for Dynamic)
	Offset  int64 // Arena: byte offset of the buffer
	Bytes   int64 // element bytes (Arena, Alias)
	// Alias is the value whose memory an Alias value shares (possibly itself an alias
	// of an External value: a view of a graph input).
	Alias *ir.Value
	// InPlace marks an Alias computed by an elementwise kernel over its dying input,
	// as opposed to a view that computes nothing.
	InPlace bool
}

// MemoryPlan is the static memory plan of one graph for one binding of its symbolic dims.
type MemoryPlan struct {
	Bindings map[string]int64
	Values   map[*ir.Value]*ValuePlan
	// ArenaBytes is the size of the arena one run needs; NaiveBytes is the sum of the
	// sizes of every node output that needs memory of its own, the arena size with no
	// reuse at all.
	ArenaBytes, NaiveBytes int64
	// After[i] lists the nodes that must finish before node i starts because node i
	// writes memory they use and the data edges do not already order them: the
	// executor adds them to the data dependencies so that parallel runs stay correct.
	// Reuse of dead buffers and in-place writes add none (PlanMemory only reuses bytes
	// whose users all happen before the writer); an op that updates an input it is
	// given (ops.UpdatedInput) waits for that input's other users.
	After [][]int
}

// viewOps compute nothing: their output is their first input under another shape.
var viewOps = map[string]bool{"Reshape": true, "Squeeze": true, "Unsqueeze": true, "Flatten": true, "Identity": true}

// IsView reports whether node n can run as a view of its first input (no copy).
func IsView(n *ir.Node) bool {
	return n.Domain == "" && viewOps[n.Op] && len(n.Inputs) > 0 && n.Inputs[0] != nil
}

// staticShape resolves t's shape with bindings; ok is false if a dim stays unknown.
func staticShape(s ir.Shape, bind map[string]int64) ([]int, bool) {
	out := make([]int, len(s))
	for i, d := range s {
		switch {
		case d.IsStatic():
			out[i] = int(d.Size)
		case d.Name != "" && d.Name != "?":
			v, ok := bind[d.Name]
			if !ok || v < 0 {
				return nil, false
			}
			out[i] = int(v)
		default:
			return nil, false
		}
	}
	return out, true
}

func alignUp(n int64) int64 { return (n + Align - 1) &^ (Align - 1) }

// buffer is one arena allocation shared by a root value and its aliases.
type buffer struct {
	root        *ir.Value
	size        int64 // aligned
	start, end  int   // node positions: defined at start, last used at end
	offset      int64
	users       []int // nodes that read or write it
	writers     []int // nodes other than the root's that write it: in place, or updating an input
	outputOfRun bool  // holds a graph output: live to the end
}

// PlanMemory lays out every intermediate of g in one arena for the symbolic dims in
// bindings. Lifetimes follow the node order of g, which is a topological order, and
// end at the last reader (the point where a Session releases a tensor). Buffers are
// placed best-fit into the gaps dead buffers leave; elementwise kernels with an
// into-variant run in place over an input that dies at the node; view ops share their
// input's buffer. Memory is reused only where every user of the old contents is an
// ancestor of the writer in the data graph, so that reuse orders nothing the graph
// leaves independent and a parallel run keeps its independent branches, at the cost of
// separate buffers for values that may be live at the same time in some order.
func PlanMemory(g *ir.Graph, bindings map[string]int64) (*MemoryPlan, error) {
	mp := &MemoryPlan{Bindings: bindings, Values: map[*ir.Value]*ValuePlan{}, After: make([][]int, len(g.Nodes))}
	for _, v := range g.Inputs {
		mp.Values[v] = &ValuePlan{Storage: External}
	}
	for _, v := range g.Consts {
		mp.Values[v] = &ValuePlan{Storage: External}
	}
	pos := map[*ir.Node]int{}
	for i, n := range g.Nodes {
		pos[n] = i
	}
	isOutput := map[*ir.Value]bool{}
	for _, v := range g.Outputs {
		isOutput[v] = true
	}
	anc := ancestors(g, pos)
	bufOf := map[*ir.Value]*buffer{}
	var bufs []*buffer
	// lastUse is the last node position reading v (-1 if none).
	lastUse := func(v *ir.Value) int {
		last := -1
		for _, u := range v.Uses() {
			if p, ok := pos[u.Node]; ok && p > last {
				last = p
			}
		}
		return last
	}
	for i, n := range g.Nodes {
		for k, o := range n.Outputs {
			if o == nil {
				continue
			}
			shape, ok := staticShape(o.Type.Shape, bindings)
			if !ok || o.Type.DType == ir.String || o.Type.DType.Size() == 0 {
				mp.Values[o] = &ValuePlan{Storage: Dynamic}
				continue
			}
			bytes := int64(ops.NumElems(shape)) * int64(o.Type.DType.Size())
			vp := &ValuePlan{Shape: shape, Bytes: bytes}
			mp.Values[o] = vp
			if k == 0 && IsView(n) {
				in := n.Inputs[0]
				src := mp.Values[in]
				if src != nil && in.Type.DType == o.Type.DType && (src.Storage == External || src.Storage != Dynamic && src.Bytes == bytes) {
					vp.Storage, vp.Alias = Alias, in
					if b := bufOf[in]; b != nil {
						bufOf[o] = b
						b.users = append(b.users, i)
					}
					continue
				}
			}
			if k == 0 {
				if u, ok := ops.UpdatedInput(n.Domain, n.Op); ok && u < len(n.Inputs) && n.Inputs[u] != nil {
					// The kernel writes input u and returns it: output 0 is that memory,
					// whatever the input's lifetime (it may be a graph input: state).
					in := n.Inputs[u]
					src := mp.Values[in]
					if src != nil && in.Type.DType == o.Type.DType && (src.Storage == External || src.Storage != Dynamic && src.Bytes == bytes) {
						vp.Storage, vp.Alias, vp.InPlace = Alias, in, true
						if b := bufOf[in]; b != nil {
							bufOf[o] = b
							b.users = append(b.users, i)
							b.writers = append(b.writers, i)
						}
						continue
					}
					mp.Values[o] = &ValuePlan{Storage: Dynamic} // the kernel's own result
					continue
				}
			}
			if in := inPlaceInput(n, o, shape, mp, bufOf, isOutput, lastUse, anc, i); in != nil {
				b := bufOf[in]
				vp.Storage, vp.Alias, vp.InPlace = Alias, in, true
				bufOf[o] = b
				b.users = append(b.users, i)
				b.writers = append(b.writers, i)
				continue
			}
			vp.Storage = Arena
			mp.NaiveBytes += bytes
			b := &buffer{root: o, size: alignUp(bytes), start: i, end: i, users: []int{i}}
			bufOf[o] = b
			bufs = append(bufs, b)
		}
		for _, in := range n.Inputs {
			if b := bufOf[in]; b != nil {
				b.users = append(b.users, i)
			}
		}
	}
	// Lifetimes: a buffer lives from its root's node to the last reader of any value
	// sharing it; graph outputs live to the end of the run.
	for v, b := range bufOf {
		if l := lastUse(v); l > b.end {
			b.end = l
		}
		if isOutput[v] {
			b.outputOfRun = true
			b.end = len(g.Nodes)
		}
	}
	// A dead buffer's bytes go to a node only if every user of the buffer happens
	// before that node through data edges: reuse then orders nothing that the graph
	// leaves independent, so a parallel run keeps its independent branches.
	mp.ArenaBytes = assignOffsets(bufs, func(u, b *buffer) bool {
		return !u.outputOfRun && u.end < b.start && anc.allBefore(u.users, b.start)
	})
	for _, b := range bufs {
		mp.Values[b.root].Offset = b.offset
	}
	for v, vp := range mp.Values {
		if vp.Storage == Alias {
			if b := bufOf[v]; b != nil {
				vp.Offset = b.offset
			}
		}
	}
	mp.After = memoryDeps(bufs, anc, len(g.Nodes))
	return mp, nil
}

// ancestry holds, per node, the set of nodes it depends on through data edges
// (transitively): one bit per node, n²/8 bytes in all (1.25 MB for 3,000 nodes).
type ancestry struct {
	words int      // uint64 words per node
	bits  []uint64 // node i's ancestors are bits[i*words : (i+1)*words]
}

// ancestors computes the data-edge ancestry of g's nodes; pos is their position in
// g.Nodes, a topological order, so a node's producers are complete before it.
func ancestors(g *ir.Graph, pos map[*ir.Node]int) *ancestry {
	n := len(g.Nodes)
	a := &ancestry{words: (n + 63) / 64}
	a.bits = make([]uint64, n*a.words)
	for i, nd := range g.Nodes {
		row := a.bits[i*a.words : (i+1)*a.words]
		for _, in := range nd.Inputs {
			if in == nil || in.Def == nil {
				continue
			}
			j, ok := pos[in.Def]
			if !ok || j >= i {
				continue
			}
			for k, w := range a.bits[j*a.words : (j+1)*a.words] {
				row[k] |= w
			}
			row[j/64] |= 1 << (j % 64)
		}
	}
	return a
}

// before reports whether node j happens before node i: i depends on j through data edges.
func (a *ancestry) before(j, i int) bool {
	return j >= 0 && j < i && a.bits[i*a.words+j/64]&(1<<(j%64)) != 0
}

// allBefore reports whether every node of nodes, other than i itself, happens before i.
func (a *ancestry) allBefore(nodes []int, i int) bool {
	for _, j := range nodes {
		if j != i && !a.before(j, i) {
			return false
		}
	}
	return true
}

// inPlaceInput returns the input of n whose buffer n's output o can take over, or nil.
// The input must own an arena buffer of o's size and dtype, and every value in that
// buffer must be dead after node i (its readers all come no later than n, and it is not
// a graph output), and every node that used the buffer must happen before n through
// data edges (a sibling reader of the input would otherwise have to finish first, an
// ordering the graph does not have); no other input of n may share the buffer, and no
// other output of n may have taken it already.
func inPlaceInput(n *ir.Node, o *ir.Value, shape []int, mp *MemoryPlan, bufOf map[*ir.Value]*buffer,
	isOutput map[*ir.Value]bool, lastUse func(*ir.Value) int, anc *ancestry, i int) *ir.Value {
	dt := ir.Invalid
	for _, in := range n.Inputs {
		if in != nil {
			dt = in.Type.DType
			break
		}
	}
	if _, inPlace, ok := ops.LookupInto(n.Domain, n.Op, dt); !ok || !inPlace {
		return nil
	}
	for _, in := range n.Inputs {
		b := bufOf[in]
		vp := mp.Values[in]
		if b == nil || vp == nil || in.Type.DType != o.Type.DType || !slices.Equal(vp.Shape, shape) {
			continue
		}
		dead := anc.allBefore(b.users, i)
		for v, bb := range bufOf {
			if bb == b && (isOutput[v] || lastUse(v) > i) {
				dead = false
				break
			}
		}
		for _, other := range n.Inputs {
			if other != nil && other != in && bufOf[other] == b {
				dead = false
			}
		}
		for _, other := range n.Outputs {
			if other != nil && other != o && bufOf[other] == b {
				dead = false
			}
		}
		if dead {
			return in
		}
	}
	return nil
}

// assignOffsets places buffers in one arena, in order of definition. Buffer b may share
// bytes with an earlier buffer u only if reusable(u, b) (u is dead by the time b is
// written); b takes the smallest gap between the others that it fits (best fit), else
// the space above them. It returns the arena size.
func assignOffsets(bufs []*buffer, reusable func(u, b *buffer) bool) int64 {
	type span struct{ off, end int64 }
	order := append([]*buffer(nil), bufs...)
	sort.SliceStable(order, func(i, j int) bool { return order[i].start < order[j].start })
	var arena int64
	var taken []span
	for k, b := range order {
		taken = taken[:0]
		for _, u := range order[:k] {
			if !reusable(u, b) {
				taken = append(taken, span{u.offset, u.offset + u.size})
			}
		}
		sort.Slice(taken, func(i, j int) bool { return taken[i].off < taken[j].off })
		var top int64 // end of the taken spans seen so far
		best, bestSize := int64(-1), int64(0)
		for _, t := range taken {
			if gap := t.off - top; gap >= b.size && (best < 0 || gap < bestSize) {
				best, bestSize = top, gap
			}
			top = max(top, t.end)
		}
		if best < 0 {
			best = top
		}
		b.offset = best
		arena = max(arena, b.offset+b.size)
	}
	return arena
}

// memoryDeps returns, per node, the nodes that use memory the node writes over and do
// not already happen before it through data edges: for a buffer b placed at node p over
// (part of) a dead buffer u, the users of u; for an in-place write into b at node q, the
// earlier users of b. assignOffsets and inPlaceInput only reuse memory whose users all
// happen before the writer, so what remains comes from kernels that update an input
// they are given (ops.UpdatedInput). A parallel run waits for these too.
func memoryDeps(bufs []*buffer, anc *ancestry, nnodes int) [][]int {
	after := make([][]int, nnodes)
	seen := make([]map[int]bool, nnodes)
	add := func(node, before int) {
		if before == node || before < 0 || anc.before(before, node) {
			return
		}
		if seen[node] == nil {
			seen[node] = map[int]bool{}
		}
		if !seen[node][before] {
			seen[node][before] = true
			after[node] = append(after[node], before)
		}
	}
	for _, b := range bufs {
		for _, u := range bufs {
			if u == b || u.end >= b.start || u.offset >= b.offset+b.size || b.offset >= u.offset+u.size {
				continue
			}
			for _, x := range u.users {
				add(b.start, x)
			}
		}
		// In-place writers: every user before them. (Readers need no order among
		// themselves.)
		for _, w := range b.writers {
			for _, x := range b.users {
				if x < w {
					add(w, x)
				}
			}
		}
	}
	for i := range after {
		sort.Ints(after[i])
	}
	return after
}

// Check verifies the plan's central invariant: two arena buffers that are live at the
// same node never overlap. Tests call it on random graphs.
func (mp *MemoryPlan) Check(g *ir.Graph) error {
	type iv struct {
		v          *ir.Value
		off, size  int64
		start, end int
	}
	pos := map[*ir.Node]int{}
	for i, n := range g.Nodes {
		pos[n] = i
	}
	root := func(v *ir.Value) *ir.Value {
		for mp.Values[v] != nil && mp.Values[v].Storage == Alias {
			v = mp.Values[v].Alias
		}
		return v
	}
	live := map[*ir.Value]*iv{}
	for _, v := range g.Values() {
		vp := mp.Values[v]
		if vp == nil || v.Def == nil {
			continue
		}
		r := root(v)
		rp := mp.Values[r]
		if rp == nil || rp.Storage != Arena {
			continue
		}
		x := live[r]
		if x == nil {
			x = &iv{v: r, off: rp.Offset, size: rp.Bytes, start: pos[r.Def], end: pos[r.Def]}
			live[r] = x
		}
		for _, u := range v.Uses() {
			x.end = max(x.end, pos[u.Node])
		}
		for _, o := range g.Outputs {
			if o == v {
				x.end = len(g.Nodes)
			}
		}
	}
	var all []*iv
	for _, x := range live {
		if x.off < 0 || x.off+x.size > mp.ArenaBytes {
			return fmt.Errorf("%s: buffer [%d, %d) outside the arena of %d bytes", x.v, x.off, x.off+x.size, mp.ArenaBytes)
		}
		all = append(all, x)
	}
	for i, a := range all {
		for _, b := range all[i+1:] {
			overlapT := a.start <= b.end && b.start <= a.end
			overlapM := a.off < b.off+b.size && b.off < a.off+a.size && a.size > 0 && b.size > 0
			if overlapT && overlapM {
				return fmt.Errorf("%s [%d, %d) live at nodes %d..%d overlaps %s [%d, %d) live at nodes %d..%d",
					a.v, a.off, a.off+a.size, a.start, a.end, b.v, b.off, b.off+b.size, b.start, b.end)
			}
		}
	}
	return nil
}
