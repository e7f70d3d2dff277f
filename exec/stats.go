package exec

import (
	"bufio"
	"encoding/json"
	"io"
	"sort"
	"time"

	"github.com/ciuic/ciuic/ir"
)

// Stats describe one run.
type Stats struct {
	Workers int
	Wall    time.Duration
	// PeakBytes is the largest total size of node-computed tensors alive at once
	// (graph outputs included, inputs and constants not). A buffer shared by views
	// counts once. It shows how much releasing intermediates after their last
	// reader saves: on a chain it stays near two tensors, not the sum of all.
	PeakBytes int64
	// Nodes has one entry per graph node, in graph order, when Options.Profile or
	// Options.Trace is set; nil otherwise.
	Nodes []NodeStat
}

// NodeStat is one node's run: its kernel's start and end, measured from the start of
// the run, and the worker token it held.
type NodeStat struct {
	Node       *ir.Node
	Start, End time.Duration
	Worker     int
}

// Duration is how long the node's kernel ran.
func (n NodeStat) Duration() time.Duration { return n.End - n.Start }

// OpStat sums the time of every node of one op type.
type OpStat struct {
	Op    string // qualified: "MatMul", "ciuic.Dense"
	Count int
	Total time.Duration
}

// ByOp sums node times per op type, longest total first (ties by name).
func (s *Stats) ByOp() []OpStat {
	idx := map[string]int{}
	var out []OpStat
	for _, n := range s.Nodes {
		if n.Node == nil {
			continue
		}
		op := n.Node.OpName()
		i, ok := idx[op]
		if !ok {
			i = len(out)
			idx[op] = i
			out = append(out, OpStat{Op: op})
		}
		out[i].Count++
		out[i].Total += n.Duration()
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Total != out[j].Total {
			return out[i].Total > out[j].Total
		}
		return out[i].Op < out[j].Op
	})
	return out
}

// TopNodes returns the n slowest nodes, slowest first.
func (s *Stats) TopNodes(n int) []NodeStat {
	ns := make([]NodeStat, 0, len(s.Nodes))
	for _, st := range s.Nodes {
		if st.Node != nil {
			ns = append(ns, st)
		}
	}
	sort.SliceStable(ns, func(i, j int) bool { return ns[i].Duration() > ns[j].Duration() })
	return ns[:min(n, len(ns))]
}

// traceEvent is one complete event ("ph": "X") of the Chrome trace-event format,
// which Perfetto and chrome://tracing open.
type traceEvent struct {
	Name string            `json:"name"`
	Cat  string            `json:"cat"`
	Ph   string            `json:"ph"`
	Ts   float64           `json:"ts"`  // microseconds
	Dur  float64           `json:"dur"` // microseconds
	Pid  int               `json:"pid"`
	Tid  int               `json:"tid"`
	Args map[string]string `json:"args,omitempty"`
}

type traceFile struct {
	TraceEvents     []traceEvent `json:"traceEvents"`
	DisplayTimeUnit string       `json:"displayTimeUnit"`
}

// WriteTrace writes the run's node timeline as Chrome trace-event JSON: one row per
// worker, one slice per node, named by its op and annotated with its reference. It
// needs Options.Trace or Options.Profile (without them the trace is empty).
func (s *Stats) WriteTrace(w io.Writer) error {
	f := traceFile{TraceEvents: []traceEvent{}, DisplayTimeUnit: "ms"}
	for _, n := range s.Nodes {
		if n.Node == nil {
			continue
		}
		f.TraceEvents = append(f.TraceEvents, traceEvent{
			Name: n.Node.OpName(),
			Cat:  "node",
			Ph:   "X",
			Ts:   float64(n.Start.Nanoseconds()) / 1e3,
			Dur:  float64(n.Duration().Nanoseconds()) / 1e3,
			Pid:  1,
			Tid:  n.Worker,
			Args: map[string]string{"node": n.Node.Ref()},
		})
	}
	sort.SliceStable(f.TraceEvents, func(i, j int) bool { return f.TraceEvents[i].Ts < f.TraceEvents[j].Ts })
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetIndent("", " ")
	if err := enc.Encode(f); err != nil {
		return err
	}
	return bw.Flush()
}
