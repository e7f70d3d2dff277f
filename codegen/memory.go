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
	// writes memory they use (reuse of a dead buffer, in-place writes): the executor
	// adds them to the data dependencies so that parallel runs stay correct.
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
	outputOfRun bool  // holds a graph output: live to the end
}

// PlanMemory lays out every intermediate of g in one arena for the symbolic dims in
// bindings. Lifetimes follow the node order of g, which is a topological order, and
// end at the last reader (the point where a Session releases a tensor). Buffers are
// placed best-fit into the gaps dead buffers leave; elementwise kernels with an
// into-variant run in place over an input that dies at the node; view ops share their
// input's buffer.
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
						}
						continue
					}
					mp.Values[o] = &ValuePlan{Storage: Dynamic} // the kernel's own result
					continue
				}
			}
			if in := inPlaceInput(n, o, shape, mp, bufOf, isOutput, lastUse, i); in != nil {
				b := bufOf[in]
				vp.Storage, vp.Alias, vp.InPlace = Alias, in, true
				bufOf[o] = b
				b.users = append(b.users, i)
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
	mp.ArenaBytes = assignOffsets(bufs)
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
	mp.After = memoryDeps(bufs, len(g.Nodes))
	return mp, nil
}

// inPlaceInput returns the input of n whose buffer n's output o can take over, or nil.
// The input must own an arena buffer of o's size and dtype, and every value in that
// buffer must be dead after node i (its readers all come no later than n, and it is not
// a graph output); no other input of n may share the buffer, and no other output of n
// may have taken it already.
func inPlaceInput(n *ir.Node, o *ir.Value, shape []int, mp *MemoryPlan, bufOf map[*ir.Value]*buffer,
	isOutput map[*ir.Value]bool, lastUse func(*ir.Value) int, i int) *ir.Value {
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
		dead := true
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

// assignOffsets places buffers in one arena, in order of definition: before node p
// allocates, the buffers whose last use came before p are freed; each allocation takes
// the smallest free gap it fits (best fit), else grows the arena. It returns the arena
// size.
func assignOffsets(bufs []*buffer) int64 {
	type gap struct{ off, size int64 }
	var free []gap // sorted by offset, coalesced
	var top int64
	release := func(off, size int64) {
		free = append(free, gap{off, size})
		sort.Slice(free, func(i, j int) bool { return free[i].off < free[j].off })
		merged := free[:1]
		for _, g := range free[1:] {
			last := &merged[len(merged)-1]
			if last.off+last.size == g.off {
				last.size += g.size
			} else {
				merged = append(merged, g)
			}
		}
		free = merged
		// A gap at the top of the arena gives its space back to the top.
		if l := free[len(free)-1]; l.off+l.size == top {
			top = l.off
			free = free[:len(free)-1]
		}
	}
	order := append([]*buffer(nil), bufs...)
	sort.SliceStable(order, func(i, j int) bool { return order[i].start < order[j].start })
	byEnd := append([]*buffer(nil), bufs...)
	sort.SliceStable(byEnd, func(i, j int) bool { return byEnd[i].end < byEnd[j].end })
	var arena int64
	next := 0 // in byEnd: first buffer not yet freed
	for _, b := range order {
		for next < len(byEnd) && byEnd[next].end < b.start {
			if byEnd[next].start < b.start { // placed already
				release(byEnd[next].offset, byEnd[next].size)
			}
			next++
		}
		best := -1
		for k, g := range free {
			if g.size >= b.size && (best < 0 || g.size < free[best].size) {
				best = k
			}
		}
		if best >= 0 {
			b.offset = free[best].off
			free[best].off += b.size
			free[best].size -= b.size
			if free[best].size == 0 {
				free = append(free[:best], free[best+1:]...)
			}
		} else {
			b.offset = top
			top += b.size
		}
		arena = max(arena, top)
	}
	return arena
}

// memoryDeps returns, per node, the nodes that use memory the node writes over: for a
// buffer b placed at node p over (part of) a dead buffer u, every user of u; for an
// in-place write into b at node q, every earlier user of b. In a sequential run in graph
// order these all come before the writer already; a parallel run must wait for them.
func memoryDeps(bufs []*buffer, nnodes int) [][]int {
	after := make([][]int, nnodes)
	seen := make([]map[int]bool, nnodes)
	add := func(node, before int) {
		if before == node || before < 0 {
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
		// In-place writers: every user before them.
		for _, w := range b.users {
			if w == b.start {
				continue
			}
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
