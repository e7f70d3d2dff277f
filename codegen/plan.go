// Package codegen turns an optimised ir.Graph into a Plan, the executable form of a
// model, and reads and writes it as a .ciuic file. A Plan records, for every node, the
// kernel chosen for it (op, dtype and implementation); a static memory plan that puts
// every intermediate in one arena, reusing the space of dead tensors and running
// elementwise ops in place; the constant right operands of matrix products pre-packed
// for the chosen GEMM kernel; and the schedule (the dependency levels and which parts
// of the graph are independent). Codegen decides; package exec runs what it decided.
package codegen

import (
	"fmt"
	"runtime"
	"slices"
	"sort"
	"time"

	"golang.org/x/sys/cpu"

	"github.com/ciuic/ciuic/ir"
	"github.com/ciuic/ciuic/ops"
)

// Plan is a compiled model.
type Plan struct {
	// Graph is the optimised graph. After Load, its constants alias the mapped file:
	// they are read-only and valid until Close.
	Graph   *ir.Graph
	Target  Target
	Kernels []KernelChoice // one per node of Graph, in order
	Memory  *MemoryPlan
	Sched   Schedule
	// Packed holds the pre-packed form of constant GEMM right operands.
	Packed map[*ir.Value]*ops.PackedMatrix
	// PackedInt8 holds the packed form (panels and column sums) of the constant 8-bit
	// weights of MatMulInteger and ciuic.DenseInt8.
	PackedInt8 map[*ir.Value]*ops.PackedInt8
	// LoadTime is how long Load took (zero for a plan made by Compile); ciuic run and
	// bench add the session preparation (exec.NewPlanSession) to it.
	LoadTime time.Duration

	close func() error
}

// Target is the machine a plan was compiled for.
type Target struct {
	Arch string `json:"arch"`
	// Gemm is the fp32 GEMM implementation the packed weights are laid out for.
	Gemm string `json:"gemm"`
	// GemmInt8 is the int8 GEMM implementation the packed 8-bit weights are laid out
	// for ("vnni", "avx2", "go"); empty if the plan has none.
	GemmInt8 string `json:"gemm_int8,omitempty"`
	// Required are the CPU features the plan needs (those of Gemm and GemmInt8); Load
	// refuses to run a plan on a CPU that lacks one. Features lists everything the
	// compiling CPU had.
	Required []string `json:"required"`
	Features []string `json:"features"`
}

// KernelChoice records which kernel runs a node.
type KernelChoice struct {
	Op    string `json:"op"`
	DType string `json:"dtype"`
	// Impl names the implementation: "gemm/avx512" for the packed GEMM, "gemm-int8/vnni"
	// for the int8 one, "view" for ops that only relabel memory, "ref" for the others.
	Impl string `json:"impl"`
	// Into is set when the kernel writes into the arena directly; otherwise its result
	// is copied there.
	Into bool `json:"into"`
}

// Schedule is the dependency structure the executor needs beyond the data edges.
type Schedule struct {
	// Level[i] is the length of the longest chain of nodes ending at node i: nodes of
	// one level never depend on each other.
	Level []int `json:"level"`
	// Components are the sets of nodes connected by data edges (constants and graph
	// inputs do not connect): different components can run entirely in parallel.
	Components [][]int `json:"components"`
}

// Options configure Compile.
type Options struct {
	// Bindings gives sizes to symbolic dims (ciuicc -shape N=8). Values whose size
	// depends on an unbound dim are left to the kernels to allocate; a runtime that
	// sees other sizes plans again for them.
	Bindings map[string]int64
}

// features names the CPU features ciuic's kernels can use, as x/sys/cpu reports them.
func features() map[string]bool {
	return map[string]bool{
		"avx2": cpu.X86.HasAVX2, "fma": cpu.X86.HasFMA, "avx512f": cpu.X86.HasAVX512F,
		"avx512dq": cpu.X86.HasAVX512DQ, "avx512bw": cpu.X86.HasAVX512BW, "avx512vnni": cpu.X86.HasAVX512VNNI,
		"avxvnni": cpu.X86.HasAVXVNNI, "neon": cpu.ARM64.HasASIMD,
	}
}

// gemmFeatures are the features each GEMM implementation needs.
var gemmFeatures = map[string][]string{"avx512": {"avx512f", "avx512dq"}, "avx2": {"avx2", "fma"}, "go": nil}

// gemmInt8Features are the features each int8 GEMM implementation needs: VNNI panels
// are 48 columns wide and multiplied with VPDPBUSD, AVX2 ones 8 wide.
var gemmInt8Features = map[string][]string{"vnni": {"avx512f", "avx512bw", "avx512vnni"}, "avx2": {"avx2"}, "go": nil}

// requireInt8 adds the features of the int8 implementation impl to t.
func (t *Target) requireInt8(impl string) {
	t.GemmInt8 = impl
	for _, f := range gemmInt8Features[impl] {
		if !slices.Contains(t.Required, f) {
			t.Required = append(t.Required, f)
		}
	}
}

// HostTarget describes this machine with the GEMM implementation in use.
func HostTarget() Target {
	t := Target{Arch: runtime.GOARCH, Gemm: ops.GemmImpl(), Required: slices.Clone(gemmFeatures[ops.GemmImpl()])}
	for name, ok := range features() {
		if ok {
			t.Features = append(t.Features, name)
		}
	}
	sort.Strings(t.Features)
	return t
}

// CheckHost reports why a plan for t cannot run here, or nil.
func (t Target) CheckHost() error {
	if t.Arch != runtime.GOARCH {
		return fmt.Errorf("compiled for %s, this machine is %s: compile the model again here", t.Arch, runtime.GOARCH)
	}
	if missing := t.missing(features()); len(missing) > 0 {
		gemms := "gemm " + t.Gemm
		if t.GemmInt8 != "" {
			gemms += ", gemm-int8 " + t.GemmInt8
		}
		return fmt.Errorf("compiled for a CPU with %v (%s); this CPU lacks %v: compile the model again here", t.Required, gemms, missing)
	}
	return nil
}

// int8Operand returns the constant 8-bit weight of an integer matrix product
// (MatMulInteger, ciuic.DenseInt8: input 1), which the int8 kernels use packed, or nil.
func int8Operand(n *ir.Node) *ir.Value {
	if !(n.Domain == "" && n.Op == "MatMulInteger" || n.Domain == ir.CiuicDomain && n.Op == "DenseInt8") {
		return nil
	}
	if len(n.Inputs) < 2 || n.Inputs[1] == nil || !n.Inputs[1].IsConst() {
		return nil
	}
	w := n.Inputs[1]
	if w.Const.DType != ir.I8 && w.Const.DType != ir.U8 || len(w.Const.Shape) != 2 {
		return nil
	}
	return w
}

// missing lists the features t needs that have lacks: the file's list, and the
// kernels' own needs even if the file's list lacks them.
func (t Target) missing(have map[string]bool) []string {
	var missing []string
	for _, f := range slices.Concat(t.Required, gemmFeatures[t.Gemm], gemmInt8Features[t.GemmInt8]) {
		if !have[f] && !slices.Contains(missing, f) {
			missing = append(missing, f)
		}
	}
	return missing
}

// gemmOperand returns the constant right operand of n that the GEMM kernels pack, or nil.
func gemmOperand(n *ir.Node) *ir.Value {
	if len(n.Inputs) < 2 || n.Inputs[1] == nil || !n.Inputs[1].IsConst() {
		return nil
	}
	w := n.Inputs[1]
	if w.Const.DType != ir.F32 || len(w.Const.Shape) != 2 {
		return nil
	}
	switch {
	case n.Domain == "" && n.Op == "MatMul", n.Domain == ir.CiuicDomain && n.Op == "Dense":
		return w
	case n.Domain == "" && n.Op == "Gemm" && n.Attrs.Int("transB", 0) == 0:
		return w
	}
	return nil
}

func firstDType(n *ir.Node) ir.DType {
	for _, in := range n.Inputs {
		if in != nil {
			return in.Type.DType
		}
	}
	return ir.Invalid
}

// Compile lowers g (verified and optimised) into a Plan for this machine.
func Compile(g *ir.Graph, opts Options) (*Plan, error) {
	if err := ir.Verify(g); err != nil {
		return nil, fmt.Errorf("graph %s: %w", g.Name, err)
	}
	p := &Plan{Graph: g, Target: HostTarget(), Packed: map[*ir.Value]*ops.PackedMatrix{}, PackedInt8: map[*ir.Value]*ops.PackedInt8{}}
	var errs ir.ErrorList
	for _, n := range g.Nodes {
		dt := firstDType(n)
		if _, ok := ops.Lookup(n.Domain, n.Op, dt); !ok {
			errs = append(errs, &ir.Error{Node: n, Msg: fmt.Sprintf("no kernel for %s on %s", n.OpName(), dt)})
		}
		_, _, into := ops.LookupInto(n.Domain, n.Op, dt)
		kc := KernelChoice{Op: n.OpName(), DType: dt.String(), Impl: "ref", Into: into}
		if IsView(n) {
			kc.Impl, kc.Into = "view", true
		}
		if n.Domain == "" && n.Op == "MatMulInteger" || n.Domain == ir.CiuicDomain && n.Op == "DenseInt8" {
			kc.Impl = "gemm-int8/" + ops.GemmInt8Impl()
			// The packed panels and column sums go into the file, so that loading packs
			// nothing.
			if w := int8Operand(n); w != nil && p.PackedInt8[w] == nil {
				t, err := ops.FromIR(w.Const)
				if err == nil {
					p.PackedInt8[w], err = ops.PackInt8(nil, t)
				}
				if err != nil {
					errs = append(errs, &ir.Error{Value: w, Msg: err.Error()})
					continue
				}
				p.Target.requireInt8(ops.GemmInt8Impl())
			}
		}
		if w := gemmOperand(n); w != nil || (n.Op == "MatMul" || n.Op == "Gemm") && dt == ir.F32 {
			kc.Impl = "gemm/" + ops.GemmImpl()
			if w != nil && p.Packed[w] == nil {
				t, err := ops.FromIR(w.Const)
				if err != nil {
					errs = append(errs, &ir.Error{Value: w, Msg: err.Error()})
					continue
				}
				pm, err := ops.PackB(nil, t)
				if err != nil {
					errs = append(errs, &ir.Error{Value: w, Msg: err.Error()})
					continue
				}
				p.Packed[w] = pm
			}
		}
		p.Kernels = append(p.Kernels, kc)
	}
	if err := errs.Err(); err != nil {
		return nil, fmt.Errorf("graph %s: %w", g.Name, err)
	}
	mp, err := PlanMemory(g, opts.Bindings)
	if err != nil {
		return nil, err
	}
	p.Memory = mp
	p.Sched = schedule(g)
	return p, nil
}

// schedule computes dependency levels and connected components.
func schedule(g *ir.Graph) Schedule {
	pos := map[*ir.Node]int{}
	for i, n := range g.Nodes {
		pos[n] = i
	}
	s := Schedule{Level: make([]int, len(g.Nodes))}
	parent := make([]int, len(g.Nodes))
	for i := range parent {
		parent[i] = i
	}
	var find func(int) int
	find = func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	for i, n := range g.Nodes {
		for _, in := range n.Inputs {
			if in == nil || in.Def == nil {
				continue
			}
			if j, ok := pos[in.Def]; ok {
				s.Level[i] = max(s.Level[i], s.Level[j]+1)
				parent[find(i)] = find(j)
			}
		}
	}
	idx := map[int]int{}
	for i := range g.Nodes {
		r := find(i)
		k, ok := idx[r]
		if !ok {
			k = len(s.Components)
			idx[r] = k
			s.Components = append(s.Components, nil)
		}
		s.Components[k] = append(s.Components[k], i)
	}
	return s
}

// Close releases the mapped file of a loaded plan. The plan's constants must not be
// used afterwards.
func (p *Plan) Close() error {
	if p.close == nil {
		return nil
	}
	c := p.close
	p.close = nil
	return c()
}

// Stats summarises a plan for ciuicc -emit stats and ciuic run -profile.
type Stats struct {
	ArenaBytes  int64            `json:"arena_bytes"`
	NaiveBytes  int64            `json:"intermediate_bytes_sum"`
	PackedBytes int64            `json:"packed_weight_bytes"`
	InPlace     int              `json:"in_place_nodes"`
	Views       int              `json:"view_nodes"`
	Dynamic     int              `json:"dynamic_values"`
	Components  int              `json:"independent_components"`
	MemoryDeps  int              `json:"memory_deps"` // entries of MemoryPlan.After: orderings memory reuse adds
	Levels      int              `json:"levels"`
	Kernels     map[string]int   `json:"kernels"` // impl -> node count
	Bindings    map[string]int64 `json:"bindings,omitempty"`
	Target      Target           `json:"target"`
	LoadMs      float64          `json:"load_ms,omitempty"`
}

// Stats returns the plan's summary.
func (p *Plan) Stats() Stats {
	s := Stats{Kernels: map[string]int{}, Target: p.Target, Components: len(p.Sched.Components),
		LoadMs: float64(p.LoadTime) / 1e6}
	if p.Memory != nil {
		s.ArenaBytes, s.NaiveBytes, s.Bindings = p.Memory.ArenaBytes, p.Memory.NaiveBytes, p.Memory.Bindings
		for _, a := range p.Memory.After {
			s.MemoryDeps += len(a)
		}
		for _, vp := range p.Memory.Values {
			switch {
			case vp.Storage == Alias && vp.InPlace:
				s.InPlace++
			case vp.Storage == Alias:
				s.Views++
			case vp.Storage == Dynamic:
				s.Dynamic++
			}
		}
	}
	for _, l := range p.Sched.Level {
		s.Levels = max(s.Levels, l+1)
	}
	for _, k := range p.Kernels {
		s.Kernels[k.Impl]++
	}
	for _, pm := range p.Packed {
		s.PackedBytes += int64(pm.Bytes())
	}
	for _, pm := range p.PackedInt8 {
		s.PackedBytes += int64(pm.Bytes())
	}
	return s
}
