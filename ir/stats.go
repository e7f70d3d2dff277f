package ir

// Stats summarises a graph for `ciuicc -emit stats` and reports. Its JSON form is part of
// the CLI contract: fields are only ever added.
type Stats struct {
	Name        string         `json:"name"`
	Nodes       int            `json:"nodes"`
	Ops         map[string]int `json:"ops"` // domain-qualified op -> count
	Weights     int            `json:"weights"`
	WeightBytes int64          `json:"weight_bytes"`
	Inputs      []ValueInfo    `json:"inputs"`
	Outputs     []ValueInfo    `json:"outputs"`
}

// ValueInfo is a graph input or output as reported in Stats.
type ValueInfo struct {
	Name  string   `json:"name"`
	DType string   `json:"dtype"`
	Shape []string `json:"shape"` // dims as printed: "128", "N", "?"
}

// ComputeStats counts the graph's nodes, ops and weights.
func ComputeStats(g *Graph) Stats {
	s := Stats{Name: g.Name, Nodes: len(g.Nodes), Ops: map[string]int{}, Weights: len(g.Consts), WeightBytes: g.WeightBytes()}
	for _, n := range g.Nodes {
		s.Ops[n.OpName()]++
	}
	info := func(v *Value) ValueInfo {
		vi := ValueInfo{Name: v.Name, DType: v.Type.DType.String(), Shape: []string{}}
		for _, d := range v.Type.Shape {
			vi.Shape = append(vi.Shape, d.String())
		}
		return vi
	}
	s.Inputs, s.Outputs = []ValueInfo{}, []ValueInfo{}
	for _, v := range g.Inputs {
		s.Inputs = append(s.Inputs, info(v))
	}
	for _, v := range g.Outputs {
		s.Outputs = append(s.Outputs, info(v))
	}
	return s
}
