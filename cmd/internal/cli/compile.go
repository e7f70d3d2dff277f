package cli

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/ciuic/ciuic/frontend"
	"github.com/ciuic/ciuic/ir"
	"github.com/ciuic/ciuic/passes"
)

// CompileFlags are the compile options ciuicc and ciuic (given a source model) share.
type CompileFlags struct {
	Level      int
	VerifyEach bool
	Explain    bool
	DumpDir    string
	PrintAfter string
	DotAfter   string
	Quant      QuantFlags
	// SparseAttention is -sparse-attention: exact, off, or window=N[,global=G][,block=B].
	SparseAttention string
}

// QuantFlags are the -quantize options (docs/quantization.md).
type QuantFlags struct {
	Mode, CalibDir, CalibMethod, Exclude string
	Budget                               float64
	PerTensor, LMHead                    bool
}

// Register adds the compile flags to fs.
func (f *CompileFlags) Register(fs *flag.FlagSet) {
	fs.IntVar(&f.Level, "O", 2, "optimisation level: 0, 1 or 2")
	fs.BoolVar(&f.VerifyEach, "verify-each", false, "verify the graph after every pass")
	fs.BoolVar(&f.Explain, "explain", false, "print which patterns fused, and why the others did not")
	fs.StringVar(&f.DumpDir, "dump-dir", "ciuic-dump", "folder for -print-after and -dot-after files")
	fs.StringVar(&f.PrintAfter, "print-after", "", "write the IR text after these passes (comma-separated names, or all)")
	fs.StringVar(&f.SparseAttention, "sparse-attention", "exact", "dense-to-sparse attention: exact (only rewrites that change no result), off, or window=N[,global=G][,block=B] (approximate; the measured error is printed)")
	fs.StringVar(&f.DotAfter, "dot-after", "", "draw the graph after these passes (comma-separated names, or all)")
	fs.StringVar(&f.Quant.Mode, "quantize", "none", "post-training quantization: none | int8-dynamic | int8-static")
	fs.StringVar(&f.Quant.CalibDir, "calib", "", "calibration inputs for int8-static (one folder per sample of <input>.npy files); also where errors are measured")
	fs.StringVar(&f.Quant.CalibMethod, "calib-method", "minmax", "activation ranges for int8-static: minmax | percentile | entropy")
	fs.StringVar(&f.Quant.Exclude, "quantize-exclude", "", "regexp on node and output names: matching layers stay in float")
	fs.Float64Var(&f.Quant.Budget, "quantize-budget", 0, "keep the most sensitive layers in float until the output relative RMS error is at most this (0: off)")
	fs.BoolVar(&f.Quant.PerTensor, "quantize-per-tensor", false, "one weight scale per tensor instead of per output channel")
	fs.BoolVar(&f.Quant.LMHead, "quantize-lm-head", false, "quantize the LM head too (by default it stays in float: its logits decide every token)")
}

// Config turns the flags into a pass configuration.
func (f *CompileFlags) Config() (passes.Config, error) {
	if f.Level < 0 || f.Level > 2 {
		return passes.Config{}, fmt.Errorf("-O %d: want 0, 1 or 2", f.Level)
	}
	if _, err := passes.ParseSparseSpec(f.SparseAttention); err != nil {
		return passes.Config{}, err
	}
	split := func(s string) []string {
		if s == "" {
			return nil
		}
		return strings.Split(s, ",")
	}
	return passes.Config{Level: f.Level, VerifyEach: f.VerifyEach, DumpDir: f.DumpDir,
		PrintAfter: split(f.PrintAfter), DotAfter: split(f.DotAfter),
		Quantize: f.Quant.Mode, CalibDir: f.Quant.CalibDir, CalibMethod: f.Quant.CalibMethod, QuantizeExclude: f.Quant.Exclude,
		QuantizeBudget: f.Quant.Budget, PerTensor: f.Quant.PerTensor, QuantizeLMHead: f.Quant.LMHead, Progress: os.Stderr,
		SparseAttention: f.SparseAttention}, nil
}

// Compile loads a source model and optimises it as the flags say.
func (f *CompileFlags) Compile(path string) (*ir.Graph, *passes.Result, error) {
	cfg, err := f.Config()
	if err != nil {
		return nil, nil, err
	}
	g, err := frontend.Load(path)
	if err != nil {
		return nil, nil, err
	}
	res, err := passes.Run(g, cfg)
	if err != nil {
		return nil, res, fmt.Errorf("%s: %w", path, err)
	}
	for _, n := range res.Notes { // approximations the user asked for: always said
		fmt.Fprintln(os.Stderr, n)
	}
	return g, res, nil
}

// KeyValues is a repeatable NAME=VALUE flag.
type KeyValues []string

func (k *KeyValues) String() string { return strings.Join(*k, ",") }

// Set adds one NAME=VALUE.
func (k *KeyValues) Set(s string) error {
	if name, _, ok := strings.Cut(s, "="); !ok || name == "" {
		return fmt.Errorf("want NAME=VALUE, got %q", s)
	}
	*k = append(*k, s)
	return nil
}

// Map returns the pairs as a map.
func (k KeyValues) Map() map[string]string {
	m := map[string]string{}
	for _, s := range k {
		name, v, _ := strings.Cut(s, "=")
		m[name] = v
	}
	return m
}

// Dims parses NAME=SIZE pairs binding symbolic dims.
func (k KeyValues) Dims() (map[string]int, error) {
	m := map[string]int{}
	for name, v := range k.Map() {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("-dim %s=%s: size must be a non-negative integer", name, v)
		}
		m[name] = n
	}
	return m, nil
}
