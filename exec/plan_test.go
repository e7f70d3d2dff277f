package exec

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ciuic/ciuic/codegen"
	"github.com/ciuic/ciuic/ir"
	"github.com/ciuic/ciuic/ops"
)

// smallNet is x[4, 16] -> MatMul W[16, 32] -> Add b -> Relu -> Reshape [8, 16] ->
// Sigmoid -> Mul with itself -> Reshape [4, 32] -> MatMul W2[32, 8] -> Tanh: views,
// in-place elementwise ops and matrix products with packed weights.
func smallNet(tb testing.TB) *ir.Graph {
	rng := rand.New(rand.NewPCG(3, 4))
	data := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		return v
	}
	g := ir.NewGraph("small")
	x := g.AddInput("x", ir.T(ir.F32, ir.StaticShape(4, 16)))
	w := g.AddConst("w", ir.NewTensorF32([]int64{16, 32}, data(16*32)))
	b := g.AddConst("b", ir.NewTensorF32([]int64{32}, data(32)))
	w2 := g.AddConst("w2", ir.NewTensorF32([]int64{32, 8}, data(32*8)))
	s1 := g.AddConst("s1", ir.NewTensorI64([]int64{2}, []int64{8, 16}))
	s2 := g.AddConst("s2", ir.NewTensorI64([]int64{2}, []int64{4, 32}))
	op := func(name string, in ...*ir.Value) *ir.Value { return g.NewNode(name, in, nil).Outputs[0] }
	h := op("Relu", op("Add", op("MatMul", x, w), b))
	r := op("Sigmoid", op("Reshape", h, s1))
	m := op("Reshape", op("Mul", r, r), s2)
	g.Outputs = []*ir.Value{op("Tanh", op("MatMul", m, w2)), h}
	if err := ir.InferTypes(g); err != nil {
		tb.Fatal(err)
	}
	return g
}

// blockNet is one fused transformer block as the passes leave it: ciuic.Dense to Q, K,
// V, Split, ciuic.Attention, ciuic.Dense, ciuic.SkipLayerNorm with both outputs, then
// ciuic.FusedElementwise and an Add of the residual: into-variants throughout, and
// in-place outputs (both of SkipLayerNorm's, the fused op's).
func blockNet(tb testing.TB) *ir.Graph {
	rng := rand.New(rand.NewPCG(5, 6))
	data := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64() / 4)
		}
		return v
	}
	const T, D = 40, 32
	g := ir.NewGraph("block")
	x := g.AddInput("x", ir.T(ir.F32, ir.StaticShape(1, T, D)))
	c := func(name string, shape ...int64) *ir.Value {
		n := int64(1)
		for _, d := range shape {
			n *= d
		}
		return g.AddConst(name, ir.NewTensorF32(shape, data(int(n))))
	}
	ciuic := func(op string, in []*ir.Value, attrs ir.Attrs, nout int) []*ir.Value {
		n := g.NewNode(op, in, attrs)
		n.Domain = ir.CiuicDomain
		for len(n.Outputs) < nout {
			n.Outputs = append(n.Outputs, &ir.Value{Name: fmt.Sprintf("%s_%d", n.Outputs[0].Name, len(n.Outputs)), Def: n})
		}
		return n.Outputs
	}
	h := g.NewNode("Add", []*ir.Value{x, c("b0", D)}, nil).Outputs[0] // an arena value, dying at SkipLayerNorm
	qkv := ciuic("Dense", []*ir.Value{h, c("wqkv", D, 3*D), c("bqkv", 3*D)}, nil, 1)[0]
	sizes := g.AddConst("sizes", ir.NewTensorI64([]int64{3}, []int64{D, D, D}))
	split := g.NewNode("Split", []*ir.Value{qkv, sizes}, ir.Attrs{"axis": ir.IntAttr(-1)})
	for len(split.Outputs) < 3 {
		split.Outputs = append(split.Outputs, &ir.Value{Name: fmt.Sprintf("split_%d", len(split.Outputs)), Def: split})
	}
	att := ciuic("Attention", split.Outputs, ir.Attrs{"num_heads": ir.IntAttr(4), "causal": ir.IntAttr(1)}, 1)[0]
	proj := ciuic("Dense", []*ir.Value{att, c("wo", D, D), c("bo", D)}, nil, 1)[0]
	ln := ciuic("SkipLayerNorm", []*ir.Value{h, proj, c("gamma", D), c("beta", D)}, ir.Attrs{"epsilon": ir.FloatAttr(1e-5)}, 2)
	act := ciuic("FusedElementwise", []*ir.Value{ln[0]}, ir.Attrs{"expr": ir.StringAttr("Mul(x0, Sigmoid(x0))")}, 1)[0]
	out := g.NewNode("Add", []*ir.Value{act, ln[1]}, nil).Outputs[0]
	g.Outputs = []*ir.Value{out}
	if err := ir.InferTypes(g); err != nil {
		tb.Fatal(err)
	}
	return g
}

func randomInput(g *ir.Graph, seed uint64) map[string]*ops.Tensor {
	rng := rand.New(rand.NewPCG(seed, 1))
	in := map[string]*ops.Tensor{}
	for _, v := range g.Inputs {
		dims, _ := v.Type.Shape.Ints()
		shape := make([]int, len(dims))
		for i, d := range dims {
			shape[i] = int(d)
		}
		t := ops.New(ir.F32, shape...)
		for i := range t.F32() {
			t.F32()[i] = float32(rng.NormFloat64())
		}
		in[v.Name] = t
	}
	return in
}

// loadPlan compiles g, writes it, and loads it back.
func loadPlan(t *testing.T, g *ir.Graph) *codegen.Plan {
	t.Helper()
	p, err := codegen.Compile(g, codegen.Options{})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "m.ciuic")
	if err := p.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	lp, err := codegen.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lp.Close() })
	return lp
}

func bitsEqual(t *testing.T, name string, got, want *ops.Tensor) {
	t.Helper()
	if !slices.Equal(got.Shape, want.Shape) || got.DType != want.DType {
		t.Fatalf("%s: got %s, want %s", name, typeString(got), typeString(want))
	}
	g, w := got.F32(), want.F32()
	for i := range w {
		if math.Float32bits(g[i]) != math.Float32bits(w[i]) {
			t.Fatalf("%s[%d] = %v, Session gives %v", name, i, g[i], w[i])
		}
	}
}

// TestPlanRoundTrip: Compile -> WriteFile -> Load -> run gives exactly what a Session
// running the source graph gives, for one, two and eight workers and repeated runs (the
// arena is reused).
func TestPlanRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		g    *ir.Graph
	}{{"small", smallNet(t)}, {"block", blockNet(t)}, {"mlp branches", mlpGraph(t, true)}, {"mlp chain", mlpGraph(t, false)}} {
		t.Run(tc.name, func(t *testing.T) {
			ref, err := NewSession(tc.g, Options{Workers: 1})
			if err != nil {
				t.Fatal(err)
			}
			p := loadPlan(t, tc.g)
			if st := p.Stats(); tc.name == "block" && st.InPlace < 4 {
				t.Errorf("block: %d in-place outputs, want SkipLayerNorm's two, the fused op's and the last Add's", st.InPlace)
			}
			for i, k := range p.Kernels {
				if n := tc.g.Nodes[i]; !k.Into && n.Op != "Concat" {
					t.Errorf("%s has no into-variant", n.OpName())
				}
			}
			if p.Memory.ArenaBytes >= p.Memory.NaiveBytes && tc.name != "small" {
				t.Errorf("arena %d bytes, no smaller than the sum of intermediates %d", p.Memory.ArenaBytes, p.Memory.NaiveBytes)
			}
			for _, workers := range []int{1, 2, 8} {
				s, err := NewPlanSession(p, Options{Workers: workers})
				if err != nil {
					t.Fatal(err)
				}
				for seed := uint64(1); seed <= 3; seed++ {
					in := randomInput(tc.g, seed)
					want, err := ref.RunOrdered(context.Background(), in)
					if err != nil {
						t.Fatal(err)
					}
					got, err := s.RunOrdered(context.Background(), in)
					if err != nil {
						t.Fatal(err)
					}
					for i := range want {
						bitsEqual(t, tc.g.Outputs[i].Name, got[i], want[i])
					}
				}
			}
		})
	}
}

// TestPlanAllocs: in steady state a one-worker run of a plan allocates nothing
// (TestPlanZeroAllocs runs a transformer block with one and two workers).
func TestPlanAllocs(t *testing.T) {
	g := smallNet(t)
	p := loadPlan(t, g)
	st := p.Stats()
	if st.InPlace == 0 || st.Views == 0 {
		t.Fatalf("plan has %d in-place nodes and %d views, want some of each", st.InPlace, st.Views)
	}
	s, err := NewPlanSession(p, Options{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	in := randomInput(g, 1)
	ins := []*ops.Tensor{in["x"]}
	outs := []*ops.Tensor{ops.New(ir.F32, 4, 8), ops.New(ir.F32, 4, 32)}
	ctx := context.Background()
	if err := s.ExecuteInto(ctx, ins, outs); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(20, func() {
		if err := s.ExecuteInto(ctx, ins, outs); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 && !raceEnabled {
		t.Errorf("%v allocations per run with 2 GEMM nodes, want 0", allocs)
	}

	// Without GEMMs nothing at all is allocated.
	e := ir.NewGraph("elementwise")
	x := e.AddInput("x", ir.T(ir.F32, ir.StaticShape(4, 16)))
	b := e.AddConst("b", ir.NewTensorF32([]int64{16}, make([]float32, 16)))
	shape := e.AddConst("s", ir.NewTensorI64([]int64{1}, []int64{64}))
	op := func(name string, in ...*ir.Value) *ir.Value { return e.NewNode(name, in, nil).Outputs[0] }
	e.Outputs = []*ir.Value{op("Tanh", op("Reshape", op("Sigmoid", op("Relu", op("Add", x, b))), shape))}
	if err := ir.InferTypes(e); err != nil {
		t.Fatal(err)
	}
	s, err = NewPlanSession(loadPlan(t, e), Options{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	outs = []*ops.Tensor{ops.New(ir.F32, 64)}
	if err := s.ExecuteInto(ctx, ins, outs); err != nil {
		t.Fatal(err)
	}
	if allocs := testing.AllocsPerRun(20, func() { s.ExecuteInto(ctx, ins, outs) }); allocs != 0 && !raceEnabled {
		t.Errorf("elementwise plan: %v allocations per run, want 0", allocs)
	}
}

// TestPlanPacksOnce: a plan session packs nothing for its f32 weights (their panels are
// in the plan), nor for its int8 weights (their panels and column sums are too); runs
// pack nothing.
func TestPlanPacksOnce(t *testing.T) {
	g := ir.NewGraph("int8")
	x := g.AddInput("x", ir.T(ir.F32, ir.StaticShape(4, 16)))
	wdata := make([]byte, 16*8)
	for i := range wdata {
		wdata[i] = byte(i*37 + 5)
	}
	w := g.AddConst("w", &ir.Tensor{DType: ir.I8, Shape: []int64{16, 8}, Data: wdata})
	ws := g.AddConst("ws", ir.NewTensorF32([]int64{1}, []float32{0.02}))
	w2 := g.AddConst("w2", ir.NewTensorF32([]int64{8, 8}, make([]float32, 64)))
	d := g.NewNode("DenseInt8", []*ir.Value{x, w, ws}, nil)
	d.Domain = ir.CiuicDomain
	g.Outputs = []*ir.Value{g.NewNode("MatMul", []*ir.Value{d.Outputs[0], w2}, nil).Outputs[0]}
	if err := ir.InferTypes(g); err != nil {
		t.Fatal(err)
	}
	p := loadPlan(t, g)
	before := ops.GemmPacks()
	s, err := NewPlanSession(p, Options{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	if n := ops.GemmPacks() - before; n != 0 {
		t.Errorf("loading packed %d matrices, want 0 (the int8 panels are in the plan too)", n)
	}
	before = ops.GemmPacks()
	for seed := uint64(1); seed <= 2; seed++ {
		if _, err := s.RunOrdered(context.Background(), randomInput(g, seed)); err != nil {
			t.Fatal(err)
		}
	}
	if n := ops.GemmPacks() - before; n != 0 {
		t.Errorf("runs packed %d matrices, want 0", n)
	}
}

// TestPlanBranchesIndependent: the memory plan of four independent MLP branches adds
// no ordering between them (issue 9: a plan keeps the graph's inter-op parallelism),
// so the executor's dependencies (data plus memory) leave every branch unreachable
// from the others.
func TestPlanBranchesIndependent(t *testing.T) {
	g := mlpGraph(t, true)
	p := loadPlan(t, g)
	for i, before := range p.Memory.After {
		if len(before) > 0 {
			t.Errorf("node %d %s waits for %v: memory reuse orders nodes the graph does not", i, g.Nodes[i].OpName(), before)
		}
	}
	s, err := NewPlanSession(p, Options{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	l := s.plan.def
	// reach[i]: the nodes that wait, directly or not, for node i.
	reach := make([]map[int]bool, len(g.Nodes))
	for i := len(g.Nodes) - 1; i >= 0; i-- {
		reach[i] = map[int]bool{}
		for _, c := range l.consumers[i] {
			reach[i][c] = true
			for r := range reach[c] {
				reach[i][r] = true
			}
		}
	}
	branch := func(i int) int { return i / 3 } // MatMul, Relu, MatMul per branch; then Concat
	for i := 0; i < 12; i++ {
		for j := range reach[i] {
			if j < 12 && branch(j) != branch(i) {
				t.Fatalf("node %d (branch %d) waits for node %d (branch %d)", j, branch(j), i, branch(i))
			}
		}
	}
	if len(l.initial) != 4 {
		t.Errorf("%d nodes ready at the start, want the 4 branch heads", len(l.initial))
	}
}

// rendezvous is the state of the test op ciuic.test.Rendezvous: each call waits until
// want calls have arrived, so a graph with two of them on independent branches runs
// only if both branches run at the same time.
var rendezvous struct {
	once sync.Once
	mu   sync.Mutex
	n    int
	all  chan struct{}
}

const rendezvousWant = 2

func registerRendezvous(t *testing.T) {
	rendezvous.once.Do(func() {
		err := ir.Register(&ir.Schema{Domain: "ciuic.test", Op: "Rendezvous", MinInputs: 1, MaxInputs: 1, MinOutputs: 1, MaxOutputs: 1,
			Infer: func(n *ir.Node) ([]ir.Type, error) { return []ir.Type{n.Inputs[0].Type}, nil }})
		if err != nil {
			t.Fatal(err)
		}
		ops.Register("ciuic.test", "Rendezvous", func(_ *ops.KernelContext, in []*ops.Tensor, _ ir.Attrs) ([]*ops.Tensor, error) {
			rendezvous.mu.Lock()
			rendezvous.n++
			if rendezvous.n == rendezvousWant {
				close(rendezvous.all)
			}
			all := rendezvous.all
			rendezvous.mu.Unlock()
			select {
			case <-all:
				return []*ops.Tensor{in[0].Clone()}, nil
			case <-time.After(10 * time.Second):
				return nil, fmt.Errorf("the other branch did not start: the plan ran independent branches one after the other")
			}
		}, ir.F32)
	})
	rendezvous.mu.Lock()
	rendezvous.n, rendezvous.all = 0, make(chan struct{})
	rendezvous.mu.Unlock()
}

// TestPlanBranchesOverlap: a two-worker run of a plan runs independent branches at the
// same time. Branch a is Rendezvous -> MatMul -> MatMul, branch b a Rendezvous whose
// output fits in the bytes branch a's intermediates leave: a planner that reused them
// would make b wait for a, and a's Rendezvous would wait for b's in vain.
func TestPlanBranchesOverlap(t *testing.T) {
	registerRendezvous(t)
	g := ir.NewGraph("rendezvous")
	x := g.AddInput("x", ir.T(ir.F32, ir.StaticShape(16, 16)))
	w := g.AddConst("w", ir.NewTensorF32([]int64{16, 16}, make([]float32, 256)))
	meet := func() *ir.Value {
		n := g.NewNode("Rendezvous", []*ir.Value{x}, nil)
		n.Domain = "ciuic.test"
		return n.Outputs[0]
	}
	a := meet()
	a = g.NewNode("MatMul", []*ir.Value{a, w}, nil).Outputs[0]
	a = g.NewNode("MatMul", []*ir.Value{a, w}, nil).Outputs[0]
	b := meet()
	g.Outputs = []*ir.Value{g.NewNode("Concat", []*ir.Value{a, b}, ir.Attrs{"axis": ir.IntAttr(0)}).Outputs[0]}
	if err := ir.InferTypes(g); err != nil {
		t.Fatal(err)
	}
	p := loadPlan(t, g)
	s, err := NewPlanSession(p, Options{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	for run := 0; run < 3; run++ {
		registerRendezvous(t)
		in := randomInput(g, uint64(run))
		out, err := s.RunOrdered(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		// Rows 16..31 are branch b: x itself.
		x := in["x"].F32()
		for i, v := range out[0].F32()[256:] {
			if math.Float32bits(v) != math.Float32bits(x[i]) {
				t.Fatalf("out[%d] = %v, want x[%d] = %v", 256+i, v, i, x[i])
			}
		}
	}
}
