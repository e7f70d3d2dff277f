package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"github.com/ciuic/ciuic/exec"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/ciuic/ciuic/cmd/ciuic/demo"
	"github.com/ciuic/ciuic/cmd/internal/cli"
	"github.com/ciuic/ciuic/frontend/safetensors"
	"github.com/ciuic/ciuic/frontend/text"
	"github.com/ciuic/ciuic/ir"
)

// runDemo writes the built-in language model (or, with -block, the transformer-block
// example) to a folder, compiles it as any user model is compiled, draws it and runs it,
// so a new user sees every stage on one command.
func runDemo(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ciuic demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("o", "ciuic-demo", "folder for the demo's files")
	block := fs.Bool("block", false, "run the built-in transformer block instead of the language model")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	main := llmDemo
	if *block {
		main = demoMain
	}
	if err := main(*dir, stdout); err != nil {
		fmt.Fprintf(stderr, "ciuic demo: %v\n", err)
		return 1
	}
	return 0
}

func demoMain(dir string, w io.Writer) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	src := filepath.Join(dir, "block.ciu")
	if err := cli.WriteFileAtomic(src, demo.Source); err != nil {
		return err
	}
	if err := safetensors.Write(filepath.Join(dir, demo.WeightsFile), demo.Weights(), nil); err != nil {
		return err
	}
	g, err := text.ParseFile(src)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "model    %s (built-in transformer block, weights seeded)\n", src)
	st := ir.ComputeStats(g)
	js, _ := json.Marshal(st.Ops)
	fmt.Fprintf(w, "graph    %d nodes, %d weights (%.1f KiB), ops %s\n", st.Nodes, st.Weights, float64(st.WeightBytes)/1024, js)
	for _, v := range g.Inputs {
		fmt.Fprintf(w, "input    %%%s: %s\n", v.Name, v.Type)
	}
	for _, v := range g.Outputs {
		fmt.Fprintf(w, "output   %%%s: %s\n", v.Name, v.Type)
	}
	irPath := filepath.Join(dir, "block.ir.ciu")
	if err := cli.WriteFileAtomic(irPath, []byte(ir.Print(g))); err != nil {
		return err
	}
	fmt.Fprintf(w, "IR       %s (canonical text, every node typed)\n", irPath)
	dotSrc := ir.Dot(g, ir.DotOptions{})
	dotPath := filepath.Join(dir, "block.dot")
	if err := cli.WriteFileAtomic(dotPath, []byte(dotSrc)); err != nil {
		return err
	}
	fmt.Fprintf(w, "graphviz %s\n", dotPath)
	if svg, err := ir.RenderSVG(dotSrc); err != nil {
		fmt.Fprintf(w, "svg      skipped: %v\n", err)
	} else {
		svgPath := filepath.Join(dir, "block.svg")
		if err := cli.WriteFileAtomic(svgPath, svg); err != nil {
			return err
		}
		fmt.Fprintf(w, "svg      %s\n", svgPath)
	}
	return demoRun(g, w)
}

// demoRun runs the block on seeded inputs (batch 1, 64 tokens) and reports speed.
func demoRun(g *ir.Graph, w io.Writer) error {
	s, err := exec.NewSession(g, exec.Options{})
	if err != nil {
		return err
	}
	inputs, err := s.RandomInputs(1, map[string]int{"B": 1, "S": 64})
	if err != nil {
		return err
	}
	ctx := context.Background()
	var times []time.Duration
	var res *exec.Result
	for i := 0; i < 20; i++ {
		start := time.Now()
		if res, err = s.Execute(ctx, inputs); err != nil {
			return err
		}
		times = append(times, time.Since(start))
	}
	sortDurations(times)
	fmt.Fprintf(w, "run      B=1, S=64 on %d workers: median %.3f ms over %d runs, peak intermediates %s\n",
		s.Workers(), ms(percentile(times, 50)), len(times), bytesString(res.Stats.PeakBytes))
	fmt.Fprintf(w, "output   %s: %s\n", g.Outputs[0].Name, summarize(res.Outputs[0]))
	return nil
}
