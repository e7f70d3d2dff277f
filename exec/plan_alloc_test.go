package exec

import (
	"context"
	"math"
	"slices"
	"testing"

	"github.com/ciuic/ciuic/codegen"
	"github.com/ciuic/ciuic/frontend"
	"github.com/ciuic/ciuic/ir"
	"github.com/ciuic/ciuic/ops"
	"github.com/ciuic/ciuic/passes"
)

// stillAllocating lists the ops whose kernels may still allocate per call (none now:
// keep the mechanism for kernels being made allocation-free). TestPlanZeroAllocs
// measures each node alone, stubs out those of these ops that allocate to count what
// the executor and the other kernels allocate, and logs them.
var stillAllocating = []string{}

// TestPlanZeroAllocs: a run of a compiled transformer block (ciuic.Dense with and
// without GELU, LayerNormalization, ciuic.SkipLayerNorm, ciuic.Attention, Add; and
// quantized: ciuic.DenseInt8) into the caller's outputs allocates nothing, with one
// worker and with two: not the scheduler, not the parallel-for, not the GEMM.
func TestPlanZeroAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	for _, quant := range []string{"", passes.QuantizeDynamic} {
		t.Run("quantize="+quant, func(t *testing.T) { testPlanZeroAllocs(t, quant) })
	}
}

func testPlanZeroAllocs(t *testing.T, quant string) {
	g, err := frontend.Load("../testdata/models/block.ciu")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := passes.Run(g, passes.Config{Level: 2, Quantize: quant}); err != nil {
		t.Fatal(err)
	}
	bind := map[string]int64{"B": 1, "S": 128} // enough rows that every kernel splits its work with two workers
	p, err := codegen.Compile(g, codegen.Options{Bindings: bind})
	if err != nil {
		t.Fatal(err)
	}
	var dense, gelu int
	for _, n := range p.Graph.Nodes {
		if n.OpName() == "ciuic.Dense" || n.OpName() == "ciuic.DenseInt8" {
			dense++
			if n.Attrs.String("activation", "") == "gelu" {
				gelu++
			}
		}
	}
	if dense < 4 || gelu == 0 {
		t.Fatalf("the block compiled to %d ciuic.Dense(Int8) nodes, %d with GELU: the passes changed, fix the test", dense, gelu)
	}
	if quant != "" && ir.ComputeStats(p.Graph).Ops["ciuic.DenseInt8"] < 4 {
		t.Fatalf("quantized block has no DenseInt8 nodes:\n%s", ir.Print(p.Graph))
	}
	ins, outs := planTensors(p.Graph.Inputs, bind), planTensors(p.Graph.Outputs, bind)
	ctx := context.Background()
	for _, workers := range []int{1, 2} {
		s, err := NewPlanSession(p, Options{Workers: workers})
		if err != nil {
			t.Fatal(err)
		}
		for i, n := range nodeAllocs(t, s, ins, outs) {
			nd := p.Graph.Nodes[i]
			if n == 0 {
				continue
			}
			if !slices.Contains(stillAllocating, nd.OpName()) {
				t.Errorf("workers=%d: %s: %v allocations per call", workers, nd.Ref(), n)
				continue
			}
			t.Logf("workers=%d: %s: %v allocations per call, stubbed out (its op is in stillAllocating)", workers, nd.Ref(), n)
			s.plan.into[i] = func(*ops.KernelContext, []*ops.Tensor, []*ops.Tensor, ir.Attrs) error { return nil }
		}
		run := func() {
			if err := s.ExecuteInto(ctx, ins, outs); err != nil {
				t.Fatal(err)
			}
		}
		for range 3 {
			run() // the run state, the GEMM's pooled jobs, the helpers
		}
		// The least of three measures, as in nodeAllocs: the first runs with two
		// workers may still start a helper goroutine.
		n := math.Inf(1)
		for range 3 {
			n = min(n, testing.AllocsPerRun(50, run))
		}
		if n != 0 {
			t.Errorf("workers=%d: %v allocations per run, want 0", workers, n)
		}
	}
}

// nodeAllocs measures what each node of a run allocates per call (with its run's
// parallel-for: the first worker's with several).
func nodeAllocs(t *testing.T, s *Session, ins, outs []*ops.Tensor) []float64 {
	ctx := context.Background()
	for range 6 {
		if err := s.ExecuteInto(ctx, ins, outs); err != nil {
			t.Fatal(err)
		}
	}
	st, err := s.plan.state(s, s.plan.def)
	if err != nil {
		t.Fatal(err)
	}
	defer s.plan.put(st)
	kctx := &ops.KernelContext{}
	if st.sched != nil {
		kctx.Parallel = st.sched.jobs[0].forFn
		id, err := st.tok.acquire(ctx) // what the goroutine running a node holds
		if err != nil {
			t.Fatal(err)
		}
		defer st.tok.release(id)
	}
	for k, si := range s.inputSlots {
		st.values[si] = ins[k]
	}
	for si, c := range s.consts {
		st.values[si] = c
	}
	allocs := make([]float64, len(s.nodes))
	for i, nd := range s.nodes {
		kctx.NumOutputs = len(nd.out)
		// The least of three measures: a kernel's scratch grows once, the first time
		// a second worker joins one of its calls (which the warm-up runs may not have
		// seen); what a call allocates every time shows in all three.
		allocs[i] = math.Inf(1)
		for range 3 {
			allocs[i] = min(allocs[i], testing.AllocsPerRun(10, func() {
				if err := s.plan.runNode(s, st, i, kctx); err != nil {
					t.Fatal(err)
				}
			}))
		}
	}
	return allocs
}

// planTensors makes zero tensors of the values' types, symbolic dims bound by bind.
func planTensors(vs []*ir.Value, bind map[string]int64) []*ops.Tensor {
	var ts []*ops.Tensor
	for _, v := range vs {
		var dims []int
		for _, d := range v.Type.Shape {
			n := int(d.Size)
			if !d.IsStatic() {
				n = int(bind[d.Name])
			}
			dims = append(dims, n)
		}
		ts = append(ts, ops.New(v.Type.DType, dims...))
	}
	return ts
}
