package codegen

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/ciuic/ciuic/ir"
)

// randomDAG builds a graph of n nodes over f32[R, C] values with R, C drawn from a few
// sizes: elementwise unary and binary ops (some run in place), Reshape views, MatMuls,
// and random fan-out, with a random subset of values as graph outputs.
func randomDAG(rng *rand.Rand, n int) *ir.Graph {
	g := ir.NewGraph("random")
	sizes := []int64{4, 8, 16}
	vals := []*ir.Value{g.AddInput("x", ir.T(ir.F32, ir.StaticShape(8, 8)))}
	pick := func(pred func(*ir.Value) bool) *ir.Value {
		for range 20 {
			v := vals[rng.IntN(len(vals))]
			if pred(v) {
				return v
			}
		}
		return nil
	}
	any := func(*ir.Value) bool { return true }
	for i := 0; i < n; i++ {
		a := vals[rng.IntN(len(vals))]
		var out *ir.Value
		switch rng.IntN(5) {
		case 0:
			out = g.NewNode([]string{"Relu", "Sigmoid", "Tanh"}[rng.IntN(3)], []*ir.Value{a}, nil).Outputs[0]
		case 1:
			b := pick(func(v *ir.Value) bool { return v.Type.Shape.Equal(a.Type.Shape) })
			if b == nil {
				b = a
			}
			out = g.NewNode([]string{"Add", "Mul", "Sub"}[rng.IntN(3)], []*ir.Value{a, b}, nil).Outputs[0]
		case 2:
			dims, _ := a.Type.Shape.Ints()
			s := g.AddConst(fmt.Sprintf("shape%d", i), ir.NewTensorI64([]int64{2}, []int64{dims[1], dims[0]}))
			out = g.NewNode("Reshape", []*ir.Value{a, s}, nil).Outputs[0]
		case 3:
			dims, _ := a.Type.Shape.Ints()
			m := sizes[rng.IntN(len(sizes))]
			w := g.AddConst(fmt.Sprintf("w%d", i), ir.NewTensorF32([]int64{dims[1], m}, make([]float32, dims[1]*m)))
			out = g.NewNode("MatMul", []*ir.Value{a, w}, nil).Outputs[0]
		default:
			b := pick(any)
			out = g.NewNode("Relu", []*ir.Value{b}, nil).Outputs[0]
		}
		vals = append(vals, out)
		if err := ir.InferTypes(g); err != nil {
			panic(err)
		}
	}
	for _, v := range vals[1:] {
		if len(v.Uses()) == 0 || rng.IntN(8) == 0 {
			g.Outputs = append(g.Outputs, v)
		}
	}
	return g
}

// TestPlanMemoryRandom: on random DAGs, buffers live at the same node never overlap,
// and neither do they in any other order a parallel executor may choose, as long as it
// respects the data dependencies plus the plan's memory dependencies (After), which
// must be empty.
func TestPlanMemoryRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 9))
	for iter := 0; iter < 200; iter++ {
		g := randomDAG(rng, 5+rng.IntN(40))
		mp, err := PlanMemory(g, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := mp.Check(g); err != nil {
			t.Fatalf("graph %d: %v\n%s", iter, err, ir.Print(g))
		}
		if mp.ArenaBytes > alignUp(mp.NaiveBytes)+int64(len(g.Nodes))*Align {
			t.Fatalf("arena %d bytes exceeds the naive sum %d", mp.ArenaBytes, mp.NaiveBytes)
		}
		// Reuse only takes bytes whose users all happen before the writer: no ordering
		// beyond the data edges (these graphs have no op that updates an input).
		for i, before := range mp.After {
			if len(before) > 0 {
				t.Fatalf("graph %d: node %d waits for %v\n%s", iter, i, before, ir.Print(g))
			}
		}
		// Random schedules: pick any ready node, and check that no node writes a
		// buffer while another value in the same bytes is still to be read.
		for trial := 0; trial < 5; trial++ {
			if err := simulate(g, mp, rng); err != nil {
				t.Fatalf("graph %d: %v\n%s", iter, err, ir.Print(g))
			}
		}
	}
}

// simulate runs g in a random order allowed by data and memory dependencies, tracking
// which arena bytes hold which live value.
func simulate(g *ir.Graph, mp *MemoryPlan, rng *rand.Rand) error {
	pos := map[*ir.Node]int{}
	for i, n := range g.Nodes {
		pos[n] = i
	}
	deps := make([]map[int]bool, len(g.Nodes))
	for i, n := range g.Nodes {
		deps[i] = map[int]bool{}
		for _, in := range n.Inputs {
			if in != nil && in.Def != nil {
				deps[i][pos[in.Def]] = true
			}
		}
		for _, b := range mp.After[i] {
			deps[i][b] = true
		}
	}
	done := make([]bool, len(g.Nodes))
	pendingReads := map[*ir.Value]int{}
	isOut := map[*ir.Value]bool{}
	for _, o := range g.Outputs {
		isOut[o] = true
	}
	for _, v := range g.Values() {
		pendingReads[v] = len(v.Uses())
	}
	// owner: per live value in the arena, its byte range (through aliases).
	rangeOf := func(v *ir.Value) (int64, int64, bool) {
		vp := mp.Values[v]
		for vp != nil && vp.Storage == Alias {
			v = vp.Alias
			vp = mp.Values[v]
		}
		if vp == nil || vp.Storage != Arena {
			return 0, 0, false
		}
		return vp.Offset, vp.Offset + vp.Bytes, true
	}
	live := map[*ir.Value]bool{}
	for step := 0; step < len(g.Nodes); step++ {
		var ready []int
		for i := range g.Nodes {
			if done[i] {
				continue
			}
			ok := true
			for d := range deps[i] {
				ok = ok && done[d]
			}
			if ok {
				ready = append(ready, i)
			}
		}
		if len(ready) == 0 {
			return fmt.Errorf("no ready node: dependency cycle")
		}
		i := ready[rng.IntN(len(ready))]
		n := g.Nodes[i]
		for _, o := range n.Outputs {
			lo, hi, ok := rangeOf(o)
			if !ok || mp.Values[o].Storage == Alias && !mp.Values[o].InPlace {
				live[o] = true
				continue
			}
			for v := range live {
				vlo, vhi, ok := rangeOf(v)
				if !ok || vlo >= hi || lo >= vhi || (pendingReads[v] == 0 && !isOut[v]) {
					continue
				}
				// An in-place write may clobber exactly the input it reads last.
				if mp.Values[o].InPlace && pendingReads[v] == countUses(n, v) {
					continue
				}
				return fmt.Errorf("node %s writes %s over %s, which still has %d readers", n.Ref(), o, v, pendingReads[v])
			}
			live[o] = true
		}
		for _, in := range n.Inputs {
			if in != nil {
				pendingReads[in]--
			}
		}
		done[i] = true
	}
	return nil
}

func countUses(n *ir.Node, v *ir.Value) int {
	c := 0
	for _, in := range n.Inputs {
		if in == v {
			c++
		}
	}
	return c
}

// TestPlanMemoryChain: a chain of elementwise ops runs in one buffer, in place.
func TestPlanMemoryChain(t *testing.T) {
	g := ir.NewGraph("chain")
	x := g.AddInput("x", ir.T(ir.F32, ir.StaticShape(10, 10)))
	w := g.AddConst("w", ir.NewTensorF32([]int64{10, 10}, make([]float32, 100)))
	v := g.NewNode("MatMul", []*ir.Value{x, w}, nil).Outputs[0]
	for _, op := range []string{"Relu", "Sigmoid", "Tanh", "Relu"} {
		v = g.NewNode(op, []*ir.Value{v}, nil).Outputs[0]
	}
	g.Outputs = []*ir.Value{v}
	if err := ir.InferTypes(g); err != nil {
		t.Fatal(err)
	}
	mp, err := PlanMemory(g, nil)
	if err != nil {
		t.Fatal(err)
	}
	if mp.ArenaBytes != 448 || mp.NaiveBytes != 400 { // one 400-byte buffer, aligned to 448
		t.Errorf("arena %d bytes, naive %d; want 448 and 400", mp.ArenaBytes, mp.NaiveBytes)
	}
	inPlace := 0
	for _, vp := range mp.Values {
		if vp.InPlace {
			inPlace++
		}
	}
	if inPlace != 4 {
		t.Errorf("%d in-place nodes, want 4", inPlace)
	}
}

// TestPlanMemoryReuse: in a chain of MatMuls (no in-place), buffers alternate between
// two places.
func TestPlanMemoryReuse(t *testing.T) {
	g := ir.NewGraph("matmuls")
	v := g.AddInput("x", ir.T(ir.F32, ir.StaticShape(16, 16)))
	for i := 0; i < 6; i++ {
		w := g.AddConst(fmt.Sprintf("w%d", i), ir.NewTensorF32([]int64{16, 16}, make([]float32, 256)))
		v = g.NewNode("MatMul", []*ir.Value{v, w}, nil).Outputs[0]
	}
	g.Outputs = []*ir.Value{v}
	if err := ir.InferTypes(g); err != nil {
		t.Fatal(err)
	}
	mp, err := PlanMemory(g, nil)
	if err != nil {
		t.Fatal(err)
	}
	if mp.ArenaBytes != 2*1024 || mp.NaiveBytes != 6*1024 {
		t.Errorf("arena %d, naive %d; want 2048 and 6144", mp.ArenaBytes, mp.NaiveBytes)
	}
	if err := mp.Check(g); err != nil {
		t.Fatal(err)
	}
}

// TestPlanMemoryBranches: a branch never takes the bytes another branch's dead values
// leave, nor does a node run in place over a value a sibling still reads in some
// order: either would make one branch wait for the other. After the branches meet,
// their bytes are reused.
func TestPlanMemoryBranches(t *testing.T) {
	g := ir.NewGraph("branches")
	x := g.AddInput("x", ir.T(ir.F32, ir.StaticShape(16, 16)))
	w := g.AddConst("w", ir.NewTensorF32([]int64{16, 16}, make([]float32, 256)))
	mm := func(v *ir.Value) *ir.Value { return g.NewNode("MatMul", []*ir.Value{v, w}, nil).Outputs[0] }
	a1 := mm(x)                                                // node 0
	a2 := mm(a1)                                               // node 1: a1 dies
	a3 := mm(a2)                                               // node 2: a2 dies
	b1 := mm(x)                                                // node 3: the other branch, 1 KiB like a1 and a2
	r := g.NewNode("Relu", []*ir.Value{b1}, nil).Outputs[0]    // node 4: a sibling reader of b1
	s := g.NewNode("Sigmoid", []*ir.Value{b1}, nil).Outputs[0] // node 5: b1's last reader
	sum := g.NewNode("Add", []*ir.Value{a3, r}, nil).Outputs[0]
	sum = g.NewNode("Add", []*ir.Value{sum, s}, nil).Outputs[0]
	c := mm(sum) // node 8: everything before it has happened
	g.Outputs = []*ir.Value{c}
	if err := ir.InferTypes(g); err != nil {
		t.Fatal(err)
	}
	mp, err := PlanMemory(g, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := mp.Check(g); err != nil {
		t.Fatal(err)
	}
	for i, before := range mp.After {
		if len(before) > 0 {
			t.Errorf("node %d waits for %v", i, before)
		}
	}
	if vp := mp.Values[s]; vp.Storage != Arena {
		t.Errorf("Sigmoid over b1 is %s, want its own buffer: Relu reads b1 and need not come first", vp.Storage)
	}
	overlap := func(u, v *ir.Value) bool {
		p, q := mp.Values[u], mp.Values[v]
		return p.Offset < q.Offset+q.Bytes && q.Offset < p.Offset+p.Bytes
	}
	for _, v := range []*ir.Value{b1, r, s} {
		for _, a := range []*ir.Value{a1, a2} {
			if overlap(v, a) {
				t.Errorf("%s shares bytes with %s of the other branch", v, a)
			}
		}
	}
	if !overlap(c, a1) && !overlap(c, a2) && !overlap(c, b1) {
		t.Errorf("the last MatMul reuses none of the branches' dead buffers")
	}
}
