package exec

import (
	"fmt"
	"runtime"

	"github.com/ciuic/ciuic/ir"
	"github.com/ciuic/ciuic/ops"
)

// Options configure a Session. The zero value is ready to use.
type Options struct {
	// Workers is the number of goroutines that may compute at once, nodes and
	// intra-op helpers together. Zero or less means runtime.GOMAXPROCS(0).
	Workers int
	// Profile records each node's start and end time in Stats.Nodes.
	Profile bool
	// Trace records what Profile records, plus the worker each node ran on, so that
	// Stats.WriteTrace can write a Chrome trace.
	Trace bool
}

// Session runs one graph many times. It is immutable after NewSession, so any number of
// goroutines may call Run at once; each run keeps its state to itself.
type Session struct {
	graph   *ir.Graph
	opts    Options
	workers int

	nodes  []node
	nslots int // one slot per value: graph inputs, constants, node outputs
	slotOf map[*ir.Value]int
	consts map[int]*ops.Tensor // constant slots, converted once and shared by every run

	inputSlots  []int
	outputSlots []int
	// release[s] is how many distinct nodes read slot s, for slots holding
	// intermediate tensors that may be dropped once read; -1 for slots never dropped
	// (graph inputs, constants, graph outputs).
	release []int
	initial []int // nodes with no producer node among their inputs

	plan *planExec // set for a session made from a compiled plan (plan.go)
}

// node is the precomputed, run-independent part of one graph node.
type node struct {
	n         *ir.Node
	kernel    ops.Kernel
	in        []int // slot per input; -1 for an omitted optional input
	out       []int // slot per output; -1 for an omitted optional output
	distinct  []int // distinct input slots, for release counting
	deps      int   // input edges coming from other nodes
	consumers []int // node index per input edge this node's outputs feed
}

// NewSession prepares g for running: it checks that g is valid, finds a kernel for every
// node (reporting every node without one in a single error), converts the constants and
// precomputes the dependency structure used by the scheduler.
func NewSession(g *ir.Graph, opts Options) (*Session, error) {
	if err := ir.Verify(g); err != nil {
		return nil, fmt.Errorf("graph %s: %w", g.Name, err)
	}
	s, err := buildSession(g, opts, func(v *ir.Value) (*ops.Tensor, error) { return constTensor(v.Const) }, nil)
	if err != nil {
		return nil, err
	}
	if err := s.prepack(); err != nil {
		return nil, fmt.Errorf("graph %s: %w", g.Name, err)
	}

	// Reference counts for releasing intermediates: only node outputs that are not
	// graph outputs are ever dropped during a run.
	s.release = make([]int, s.nslots)
	for i := range s.release {
		s.release[i] = -1
	}
	for _, nd := range s.nodes {
		for _, o := range nd.out {
			if o >= 0 {
				s.release[o] = 0
			}
		}
	}
	for _, o := range s.outputSlots {
		s.release[o] = -1
	}
	for _, nd := range s.nodes {
		for _, si := range nd.distinct {
			if s.release[si] >= 0 {
				s.release[si]++
			}
		}
	}
	return s, nil
}

// buildSession does what every kind of session needs: slots for inputs, constants
// (converted by constant) and node outputs, a kernel per node (every node without one
// reported at once), dependency counts and consumers, and the output slots. perNode, if
// set, sees each node with the dtype its kernel was chosen by.
func buildSession(g *ir.Graph, opts Options, constant func(*ir.Value) (*ops.Tensor, error), perNode func(i int, n *ir.Node, dt ir.DType)) (*Session, error) {
	s := &Session{graph: g, opts: opts, workers: opts.Workers, slotOf: map[*ir.Value]int{}, consts: map[int]*ops.Tensor{}}
	if s.workers <= 0 {
		s.workers = runtime.GOMAXPROCS(0)
	}
	slot := func(v *ir.Value) int {
		if i, ok := s.slotOf[v]; ok {
			return i
		}
		s.slotOf[v] = s.nslots
		s.nslots++
		return s.nslots - 1
	}
	for _, v := range g.Inputs {
		s.inputSlots = append(s.inputSlots, slot(v))
	}
	var errs ir.ErrorList
	for _, v := range g.Consts {
		t, err := constant(v)
		if err != nil {
			errs = append(errs, &ir.Error{Value: v, Msg: err.Error()})
			continue
		}
		s.consts[slot(v)] = t
	}
	producer := map[*ir.Value]int{}
	s.nodes = make([]node, len(g.Nodes))
	for i, n := range g.Nodes {
		nd := &s.nodes[i]
		nd.n = n
		dt := ir.Invalid
		for _, in := range n.Inputs {
			if in != nil {
				dt = in.Type.DType
				break
			}
		}
		k, ok := ops.Lookup(n.Domain, n.Op, dt)
		if !ok {
			errs = append(errs, &ir.Error{Node: n, Msg: fmt.Sprintf("no kernel for %s on %s", n.OpName(), dt)})
		}
		nd.kernel = k
		if perNode != nil {
			perNode(i, n, dt)
		}
		seen := map[int]bool{}
		for _, in := range n.Inputs {
			if in == nil {
				nd.in = append(nd.in, -1)
				continue
			}
			si := slot(in)
			nd.in = append(nd.in, si)
			if !seen[si] {
				seen[si] = true
				nd.distinct = append(nd.distinct, si)
			}
			if p, ok := producer[in]; ok {
				nd.deps++
				s.nodes[p].consumers = append(s.nodes[p].consumers, i)
			}
		}
		if nd.deps == 0 {
			s.initial = append(s.initial, i)
		}
		for _, o := range n.Outputs {
			if o == nil {
				nd.out = append(nd.out, -1)
				continue
			}
			nd.out = append(nd.out, slot(o))
			producer[o] = i
		}
	}
	if err := errs.Err(); err != nil {
		return nil, fmt.Errorf("graph %s: %w", g.Name, err)
	}
	for _, v := range g.Outputs {
		s.outputSlots = append(s.outputSlots, s.slotOf[v])
	}
	return s, nil
}

// prepack packs, once per session, the constant weight matrices of the nodes whose
// kernels multiply by a packed right operand (input 1 of MatMul, MatMulInteger,
// ciuic.Dense, ciuic.DenseInt8, and Gemm without transB), so that no run packs them again.
func (s *Session) prepack() error {
	for _, nd := range s.nodes {
		n := nd.n
		uses := n.Domain == "" && (n.Op == "MatMul" || n.Op == "MatMulInteger" || n.Op == "Gemm" && n.Attrs.Int("transB", 0) == 0) ||
			n.Domain == ir.CiuicDomain && (n.Op == "Dense" || n.Op == "DenseInt8")
		if !uses || len(nd.in) < 2 || nd.in[1] < 0 {
			continue
		}
		if t, ok := s.consts[nd.in[1]]; ok {
			if err := ops.Prepack(nil, t); err != nil {
				return &ir.Error{Node: n, Msg: err.Error()}
			}
		}
	}
	return nil
}

// Graph returns the graph the session runs. It must not be modified.
func (s *Session) Graph() *ir.Graph { return s.graph }

// Workers is the worker budget of every run of the session.
func (s *Session) Workers() int { return s.workers }

// Inputs lists the graph inputs in order, with their names and types, for callers
// that build or check inputs (and list them when some are missing).
func (s *Session) Inputs() []*ir.Value { return s.graph.Inputs }

// Outputs lists the graph outputs in order.
func (s *Session) Outputs() []*ir.Value { return s.graph.Outputs }
