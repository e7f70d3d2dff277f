// Command ciuicc compiles a model: it loads it into ciuic's IR, verifies it, and writes the
// form asked for with -emit (IR text, Graphviz dot or SVG, or a JSON summary).
//
//	ciuicc -emit svg -o model.svg model.ciu
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/ciuic/ciuic/cmd/internal/cli"
	"github.com/ciuic/ciuic/frontend"
	"github.com/ciuic/ciuic/frontend/onnx"
	"github.com/ciuic/ciuic/frontend/safetensors"
	"github.com/ciuic/ciuic/ir"
	"github.com/ciuic/ciuic/passes"

	_ "github.com/ciuic/ciuic/ops/sparse" // ciuic.SparseAttention, registered on import like a custom operator
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

const usage = `usage: ciuicc [flags] MODEL

Compiles MODEL (%s) and writes the form chosen with -emit.

Flags:
`

// emitKinds maps -emit values to output file extensions, for choosing a kind from -o.
var emitKinds = map[string]string{"ir": ".ciu", "dot": ".dot", "svg": ".svg", "stats": ".json", "onnx": ".onnx", "plan": ".ciuic"}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ciuicc", flag.ContinueOnError)
	fs.SetOutput(stderr)
	emit := fs.String("emit", "", "output kind: ir | dot | svg | stats | onnx | plan (default: from -o's extension, else ir; plan is the compiled .ciuic model)")
	shapes := shapeFlag{}
	fs.Var(shapes, "shape", "plan memory for these sizes of symbolic dims: NAME=SIZE (repeatable)")
	out := fs.String("o", "", "output file (written atomically; default: standard output)")
	var cf cli.CompileFlags
	cf.Register(fs)
	fs.Usage = func() {
		var exts []string
		for _, f := range frontend.Formats {
			exts = append(exts, f.Ext)
		}
		fmt.Fprintf(stderr, usage, strings.Join(exts, ", "))
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	kind := *emit
	if kind == "" {
		kind = "ir"
		for k, ext := range emitKinds {
			if *out != "" && strings.EqualFold(filepath.Ext(*out), ext) {
				kind = k
			}
		}
	}
	if _, ok := emitKinds[kind]; !ok {
		fmt.Fprintf(stderr, "ciuicc: unknown -emit %q (want ir, dot, svg, stats, onnx or plan)\n", kind)
		return 2
	}
	g, res, err := cf.Compile(fs.Arg(0))
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if cf.Explain {
		for _, r := range res.Remarks {
			fmt.Fprintln(stderr, r)
		}
	}
	if res.Quantization != nil {
		fmt.Fprint(stderr, res.Quantization)
	}
	data, err := render(g, res, kind, *out, shapes)
	if err != nil {
		fmt.Fprintf(stderr, "ciuicc: %v\n", err)
		return 1
	}
	if *out == "" {
		stdout.Write(data)
		return 0
	}
	if err := cli.WriteFileAtomic(*out, data); err != nil {
		fmt.Fprintf(stderr, "ciuicc: %v\n", err)
		return 1
	}
	return 0
}

// render produces the bytes of one output kind. For IR text written to a file, the weights
// go to a safetensors file beside it, so the output parses back on its own.
func render(g *ir.Graph, res *passes.Result, kind, out string, shapes shapeFlag) ([]byte, error) {
	switch kind {
	case "ir":
		if out != "" && len(g.Consts) > 0 {
			if err := writeWeights(g, out); err != nil {
				return nil, err
			}
		}
		return []byte(ir.Print(g)), nil
	case "dot":
		return []byte(ir.Dot(g, ir.DotOptions{})), nil
	case "onnx":
		return onnx.Write(g)
	case "plan":
		return renderPlan(g, shapes)
	case "svg":
		return ir.RenderSVG(ir.Dot(g, ir.DotOptions{}))
	case "stats":
		b, err := json.MarshalIndent(stats{Stats: ir.ComputeStats(g), Passes: res.Passes, Quantization: res.Quantization, Plan: planStats(g, shapes)}, "", "  ")
		return append(b, '\n'), err
	}
	return nil, fmt.Errorf("unknown kind %q", kind)
}

// stats is the -emit stats object: the graph's summary plus what each pass changed.
type stats struct {
	ir.Stats
	Passes       []passes.PassResult `json:"passes"`
	Quantization *passes.QuantReport `json:"quantization,omitempty"`
	Plan         planSummary         `json:"plan"` // plan.go: arena vs sum of intermediates
}

// writeWeights stores the graph's non-inline constants in OUT.safetensors (OUT without its
// extension) and points the graph at it.
func writeWeights(g *ir.Graph, out string) error {
	tensors := map[string]*ir.Tensor{}
	for _, c := range g.Consts {
		if c.Const.DType != ir.String && c.Const.NumElements() > ir.InlineConstLimit {
			tensors[c.Name] = c.Const
		}
	}
	if len(tensors) == 0 {
		g.WeightsFile = ""
		return nil
	}
	path := strings.TrimSuffix(out, filepath.Ext(out)) + ".safetensors"
	if err := safetensors.Write(path, tensors, nil); err != nil {
		return err
	}
	g.WeightsFile = filepath.Base(path)
	return nil
}
