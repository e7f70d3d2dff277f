package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/ciuic/ciuic/cmd/internal/cli"
	"github.com/ciuic/ciuic/codegen"
	"github.com/ciuic/ciuic/exec"
	"github.com/ciuic/ciuic/ir"
	"github.com/ciuic/ciuic/ops"
	"github.com/ciuic/ciuic/ops/npy"
)

// sessionFlags are what run and bench share: the model, its compile flags, threads and
// where the inputs come from.
type sessionFlags struct {
	compile cli.CompileFlags
	threads int
	inputs  cli.KeyValues
	dims    cli.KeyValues
	random  bool
	seed    uint64
}

func (f *sessionFlags) register(fs *flag.FlagSet) {
	f.compile.Register(fs)
	fs.IntVar(&f.threads, "threads", 0, "worker goroutines (default: all CPUs)")
	fs.Var(&f.inputs, "input", "graph input from a .npy file: NAME=FILE.npy (repeatable)")
	fs.BoolVar(&f.random, "random-inputs", false, "fill inputs not given with -input with seeded random values")
	fs.Uint64Var(&f.seed, "seed", 1, "seed for -random-inputs")
	fs.Var(&f.dims, "dim", "size of a symbolic dim for -random-inputs: NAME=SIZE (repeatable; default 1)")
}

// open compiles the model and builds a session and its inputs.
func (f *sessionFlags) open(model string, opts exec.Options) (*exec.Session, map[string]*ops.Tensor, error) {
	opts.Workers = f.threads
	dims, err := f.dims.Dims()
	if err != nil {
		return nil, nil, err
	}
	var s *exec.Session
	if isPlan(model) { // compiled by ciuicc: loaded, not compiled (plan.go)
		if s, err = openPlan(model, opts); err != nil {
			return nil, nil, err
		}
	} else {
		g, _, err := f.compile.Compile(model)
		if err != nil {
			return nil, nil, err
		}
		// A source model runs as ciuicc would compile it: a plan made in memory (kernels
		// chosen, intermediates in one planned arena, weights packed once), so that run
		// and bench measure what a .ciuic file gives. Symbolic dims are planned for the
		// sizes of -dim (re-planned when the inputs differ).
		bind := map[string]int64{}
		for name, n := range dims {
			bind[name] = int64(n)
		}
		p, err := codegen.Compile(g, codegen.Options{Bindings: bind})
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", model, err)
		}
		if s, err = exec.NewPlanSession(p, opts); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", model, err)
		}
	}
	inputs := map[string]*ops.Tensor{}
	for name, path := range f.inputs.Map() {
		t, err := npy.ReadFile(path)
		if err != nil {
			return nil, nil, err
		}
		inputs[name] = t
	}
	var missing []string
	for _, v := range s.Inputs() {
		if _, ok := inputs[v.Name]; !ok {
			missing = append(missing, fmt.Sprintf("%s: %s", v.Name, v.Type))
		}
	}
	if len(missing) > 0 {
		if !f.random {
			return nil, nil, fmt.Errorf("%s: missing inputs (give -input NAME=FILE.npy or -random-inputs):\n\t%s", model, strings.Join(missing, "\n\t"))
		}
		rnd, err := s.RandomInputs(f.seed, dims)
		if err != nil {
			return nil, nil, err
		}
		for name, t := range rnd {
			if _, given := inputs[name]; !given {
				inputs[name] = t
			}
		}
	}
	return s, inputs, nil
}

func parseFlags(fs *flag.FlagSet, args []string, usage string) (string, int) {
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: %s\n\nFlags:\n", usage)
		fs.PrintDefaults()
	}
	// Accept flags after the model too: ciuic run model.ciu -threads 2.
	var model string
	rest := args
	for {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return "", 0
			}
			return "", 2
		}
		if fs.NArg() == 0 {
			break
		}
		if model != "" {
			fmt.Fprintf(fs.Output(), "%s: one model expected, got %q and %q\n", fs.Name(), model, fs.Arg(0))
			return "", 2
		}
		model, rest = fs.Arg(0), fs.Args()[1:]
	}
	if model == "" {
		fs.Usage()
		return "", 2
	}
	return model, -1
}

func runRun(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ciuic run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f sessionFlags
	f.register(fs)
	outDir := fs.String("output-dir", "", "write each graph output as DIR/<name>.npy")
	profile := fs.Bool("profile", false, "print time per op type and the slowest nodes")
	trace := fs.String("trace", "", "write a Chrome trace-event JSON file (open in Perfetto)")
	model, code := parseFlags(fs, args, "ciuic run MODEL [flags]")
	if code >= 0 {
		return code
	}
	s, inputs, err := f.open(model, exec.Options{Profile: *profile, Trace: *trace != ""})
	if err != nil {
		fmt.Fprintf(stderr, "ciuic run: %v\n", err)
		return 1
	}
	res, err := s.Execute(context.Background(), inputs)
	if err != nil {
		fmt.Fprintf(stderr, "ciuic run: %s: %v\n", model, err)
		return 1
	}
	for i, v := range s.Outputs() {
		fmt.Fprintf(stdout, "%s: %s\n", v.Name, summarize(res.Outputs[i]))
		if *outDir != "" {
			if err := os.MkdirAll(*outDir, 0o755); err != nil {
				fmt.Fprintf(stderr, "ciuic run: %v\n", err)
				return 1
			}
			if err := npy.WriteFile(filepath.Join(*outDir, v.Name+".npy"), res.Outputs[i]); err != nil {
				fmt.Fprintf(stderr, "ciuic run: %v\n", err)
				return 1
			}
		}
	}
	fmt.Fprintf(stdout, "time %.3f ms, %d workers, peak intermediates %s\n", ms(res.Stats.Wall), res.Stats.Workers, bytesString(res.Stats.PeakBytes))
	if *profile {
		printProfile(stdout, &res.Stats)
		printPlanProfile(stdout, s)
	}
	if *trace != "" {
		var b strings.Builder
		if err := res.Stats.WriteTrace(&b); err != nil {
			fmt.Fprintf(stderr, "ciuic run: %v\n", err)
			return 1
		}
		if err := cli.WriteFileAtomic(*trace, []byte(b.String())); err != nil {
			fmt.Fprintf(stderr, "ciuic run: %v\n", err)
			return 1
		}
	}
	return 0
}

// summarize prints a tensor's type and, for numbers, a few statistics and the first values.
func summarize(t *ops.Tensor) string {
	typ := fmt.Sprintf("%s%v", t.DType, t.Shape)
	vals, err := t.Floats()
	if err != nil || len(vals) == 0 {
		return typ
	}
	lo, hi, sum := math.Inf(1), math.Inf(-1), 0.0
	for _, v := range vals {
		lo, hi, sum = math.Min(lo, v), math.Max(hi, v), sum+v
	}
	head := vals[:min(len(vals), 4)]
	parts := make([]string, len(head))
	for i, v := range head {
		parts[i] = fmt.Sprintf("%.5g", v)
	}
	more := ""
	if len(vals) > len(head) {
		more = ", ..."
	}
	return fmt.Sprintf("%s min %.5g max %.5g mean %.5g [%s%s]", typ, lo, hi, sum/float64(len(vals)), strings.Join(parts, ", "), more)
}

func printProfile(w io.Writer, st *exec.Stats) {
	fmt.Fprintf(w, "\n%-28s %8s %10s %7s\n", "op", "count", "total ms", "share")
	var total time.Duration
	for _, o := range st.ByOp() {
		total += o.Total
	}
	for _, o := range st.ByOp() {
		fmt.Fprintf(w, "%-28s %8d %10.3f %6.1f%%\n", o.Op, o.Count, ms(o.Total), 100*float64(o.Total)/float64(max(total, 1)))
	}
	fmt.Fprintf(w, "\n%-40s %-20s %10s\n", "slowest nodes", "op", "ms")
	for _, n := range st.TopNodes(10) {
		fmt.Fprintf(w, "%-40s %-20s %10.3f\n", nodeLabel(n.Node), n.Node.OpName(), ms(n.Duration()))
	}
}

func nodeLabel(n *ir.Node) string {
	if n.Name != "" {
		return n.Name
	}
	if len(n.Outputs) > 0 && n.Outputs[0] != nil {
		return n.Outputs[0].String()
	}
	return "?"
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

func bytesString(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// percentile returns the p-th percentile (0..100) of sorted durations, nearest rank.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[max(0, min(len(sorted)-1, i))]
}

func sortDurations(ds []time.Duration) {
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
}
