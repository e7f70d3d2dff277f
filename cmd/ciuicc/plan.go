package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/ciuic/ciuic/codegen"
	"github.com/ciuic/ciuic/ir"
)

// shapeFlag is -shape NAME=SIZE (repeatable): sizes of symbolic dims the memory plan
// is made for.
type shapeFlag map[string]int64

func (s shapeFlag) String() string {
	var parts []string
	for k, v := range s {
		parts = append(parts, fmt.Sprintf("%s=%d", k, v))
	}
	return strings.Join(parts, ",")
}

func (s shapeFlag) Set(v string) error {
	for _, kv := range strings.Split(v, ",") {
		name, size, ok := strings.Cut(kv, "=")
		n, err := strconv.ParseInt(size, 10, 64)
		if !ok || name == "" || err != nil || n < 0 {
			return fmt.Errorf("want NAME=SIZE with a non-negative size, got %q", kv)
		}
		s[name] = n
	}
	return nil
}

// renderPlan compiles g into the .ciuic form.
func renderPlan(g *ir.Graph, shapes shapeFlag) ([]byte, error) {
	p, err := codegen.Compile(g, codegen.Options{Bindings: shapes})
	if err != nil {
		return nil, err
	}
	return p.Encode()
}

// planSummary is the plan part of -emit stats: what does not depend on the compiling
// machine (kernel implementations and packed sizes do; ciuic run -profile shows them).
type planSummary struct {
	ArenaBytes int64            `json:"arena_bytes"`
	NaiveBytes int64            `json:"intermediate_bytes_sum"`
	InPlace    int              `json:"in_place_nodes"`
	Views      int              `json:"view_nodes"`
	Dynamic    int              `json:"dynamic_values"`
	Components int              `json:"independent_components"`
	Levels     int              `json:"levels"`
	Bindings   map[string]int64 `json:"bindings,omitempty"`
	Error      string           `json:"error,omitempty"`
}

// planStats is the plan part of -emit stats: arena bytes against the sum of all
// intermediates, or why the graph cannot be planned.
func planStats(g *ir.Graph, shapes shapeFlag) planSummary {
	p, err := codegen.Compile(g, codegen.Options{Bindings: shapes})
	if err != nil {
		return planSummary{Error: err.Error()}
	}
	st := p.Stats()
	return planSummary{ArenaBytes: st.ArenaBytes, NaiveBytes: st.NaiveBytes, InPlace: st.InPlace, Views: st.Views,
		Dynamic: st.Dynamic, Components: st.Components, Levels: st.Levels, Bindings: st.Bindings}
}
