package passes

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/ciuic/ciuic/ir"
)

// Pass is one optimisation step.
type Pass struct {
	Name     string
	Run      func(c *Context, g *ir.Graph) error
	Level    int  // the lowest -O level that runs it
	Required bool // runs at every level, even -O0
	Doc      string
}

// passes is the pipeline, in order. Ordering constraints between passes are the data in
// order below, checked by TestPassOrder.
var passes = []Pass{
	{Name: "infer-shapes", Run: inferShapes, Required: true, Doc: "type and shape inference with symbolic dims"},
	{Name: "simplify", Run: simplify, Level: 1, Doc: "Identity/Dropout removal, x*1, x+0, Reshape chains, Transpose pairs, no-op Casts"},
	{Name: "quantize-import", Run: quantizeImport, Doc: "onnxruntime's DynamicQuantizeLinear+MatMulInteger and QDQ MatMuls of pre-quantized models -> ciuic.DenseInt8"},
	{Name: "fold-constants", Run: foldConstants, Level: 1, Doc: "evaluate nodes whose inputs are all constants (bounded size)"},
	{Name: "cse", Run: cse, Level: 1, Doc: "merge nodes that compute the same thing from the same inputs"},
	{Name: "fuse-gelu", Run: fuseGelu, Level: 2, Doc: "erf and tanh forms of GELU -> Gelu"},
	{Name: "fuse-layernorm", Run: fuseLayerNorm, Level: 2, Doc: "decomposed LayerNorm -> LayerNormalization, decomposed RMSNorm -> ciuic.RMSNorm"},
	{Name: "fuse-attention", Run: fuseAttention, Level: 2, Doc: "multi-head attention subgraph -> ciuic.Attention"},
	{Name: "sparse-attention", Run: sparseAttention, Level: 2, Doc: "ciuic.Attention whose mask keeps only a window -> ciuic.SparseAttention (exact); any attention on -sparse-attention window=N (approximate)"},
	{Name: "fuse-skip-layernorm", Run: fuseSkipLayerNorm, Level: 2, Doc: "Add + LayerNormalization -> ciuic.SkipLayerNorm"},
	{Name: "fuse-dense", Run: fuseDense, Level: 2, Doc: "MatMul with constant weights (+ bias, + activation) -> ciuic.Dense"},
	{Name: "quantize", Run: quantize, Doc: "-quantize int8-*: calibrate, measure, and insert QuantizeLinear/DequantizeLinear around Dense/MatMul"},
	{Name: "quantize-lower", Run: quantizeLower, Doc: "QDQ Dense/MatMul -> ciuic.DenseInt8 with bias and activation in the epilogue; redundant Q/DQ pairs removed"},
	{Name: "fuse-elementwise", Run: fuseElementwise, Level: 2, Doc: "trees of elementwise ops -> one ciuic.FusedElementwise"},
	{Name: "dead-code", Run: deadCode, Required: true, Doc: "remove nodes and constants nothing reads"},
}

// order lists "a runs before b" constraints between passes.
var order = [][2]string{
	{"infer-shapes", "simplify"},   // simplify reads types
	{"simplify", "fold-constants"}, // fewer nodes to fold
	{"fold-constants", "cse"},      // folded constants expose equal subtrees
	{"cse", "fuse-gelu"},           // fusions see one copy of shared subtrees
	{"fuse-gelu", "fuse-layernorm"},
	{"fuse-layernorm", "fuse-attention"},      // attention patterns start after the norms
	{"fuse-layernorm", "fuse-skip-layernorm"}, // needs LayerNormalization nodes
	{"fuse-attention", "fuse-dense"},          // attention keeps its Q/K/V projections as MatMul+Add until then
	{"fuse-skip-layernorm", "fuse-dense"},     // the residual Add must not be taken as a Dense bias first
	{"fuse-gelu", "fuse-dense"},               // Dense absorbs the Gelu that fuse-gelu makes
	{"fuse-dense", "fuse-elementwise"},        // Dense takes its activation before chains form
	{"fuse-attention", "sparse-attention"},    // rewrites the ciuic.Attention fusion makes
	{"sparse-attention", "fuse-elementwise"},  // the mask arithmetic it makes dead must not be fused first
	{"fuse-elementwise", "dead-code"},
	{"simplify", "quantize-import"},        // sees MatMulInteger patterns without Identity in between
	{"quantize-import", "fold-constants"},  // int8 weights must not be folded into f32 constants
	{"fuse-dense", "quantize"},             // quantizes whole Dense layers (bias and activation included)
	{"quantize", "quantize-lower"},         // lowers the QDQ form the quantize pass makes
	{"quantize-lower", "fuse-elementwise"}, // bias Adds and activations join DenseInt8 before chains form
}

// Passes returns the pass table, in pipeline order.
func Passes() []Pass { return append([]Pass{}, passes...) }

// Config carries every option of a pipeline run; nothing is read from globals.
type Config struct {
	Level        int      // -O level: 0, 1 or 2
	Disable      []string // pass names to skip (required passes cannot be skipped)
	VerifyEach   bool     // run ir.Verify after every pass
	DumpDir      string   // where PrintAfter/DotAfter write their files
	PrintAfter   []string // pass names (or "all") to print the IR text after
	DotAfter     []string // pass names (or "all") to draw after
	FoldMaxBytes int64    // largest constant fold-constants may create (default 1 MiB)
	// SparseAttention is the -sparse-attention value: "" or "exact" (rewrite only what
	// changes no result), "off", or "window=N[,global=G][,block=B]" (approximate).
	SparseAttention string

	// Quantization (passes quantize*, docs/quantization.md).
	Quantize        string    // "" or "none", "int8-dynamic", "int8-static"
	CalibDir        string    // calibration inputs for int8-static: .npy files (one folder per sample)
	CalibMethod     string    // activation ranges: "minmax" (default), "percentile", "entropy"
	QuantizeExclude string    // regexp on node and output names: matching layers stay float
	QuantizeBudget  float64   // > 0: keep the most sensitive layers float until output rel. RMS error <= this
	PerTensor       bool      // one weight scale per tensor instead of per output channel
	QuantizeLMHead  bool      // quantize the LM head too (by default it stays float)
	Progress        io.Writer // where calibration draws its progress bar (nil: none)
}

// Remark is one line of -explain output: a fusion that fired, or a pattern that matched
// partly and the first condition that failed.
type Remark struct {
	Pass   string
	Node   string // the node the pattern was anchored at
	Fired  bool
	Detail string
}

func (r Remark) String() string {
	did := "rewritten" // fusions say "fused", other rewrites (sparse attention, quantization) "rewritten"
	if strings.HasPrefix(r.Pass, "fuse") {
		did = "fused"
	}
	verb := "not " + did
	if r.Fired {
		verb = did
	}
	return fmt.Sprintf("%s: %s at %s: %s", r.Pass, verb, r.Node, r.Detail)
}

// Context is what a pass sees besides the graph: the config, and places to report.
type Context struct {
	Config
	pass    string
	counts  map[string]int
	remarks []Remark
	notes   []string
	groups  int
	quant   *QuantReport
}

// Count records n changes of the given kind ("removed Identity", "fused") for the summary.
func (c *Context) Count(kind string, n int) {
	if n != 0 {
		c.counts[kind] += n
	}
}

// Fired records a fusion, for -explain.
func (c *Context) Fired(at *ir.Node, format string, args ...any) {
	c.remarks = append(c.remarks, Remark{Pass: c.pass, Node: at.Ref(), Fired: true, Detail: fmt.Sprintf(format, args...)})
}

// Missed records why a partly matched pattern did not fire, for -explain.
func (c *Context) Missed(at *ir.Node, format string, args ...any) {
	r := Remark{Pass: c.pass, Node: at.Ref(), Detail: fmt.Sprintf(format, args...)}
	for _, old := range c.remarks {
		if old == r { // rules run to a fixed point; say each thing once
			return
		}
	}
	c.remarks = append(c.remarks, r)
}

// Note records something the user must see even without -explain: an approximation they
// asked for and its measured error.
func (c *Context) Note(format string, args ...any) {
	c.notes = append(c.notes, fmt.Sprintf(format, args...))
}

// NewGroup returns a fresh provenance group name for nodes made by the current pass.
func (c *Context) NewGroup() string {
	c.groups++
	return fmt.Sprintf("%s#%d", c.pass, c.groups)
}

// groupOf returns the provenance group of a rewrite: that of a node it consumes made
// earlier by the same pass (so a Dense grown in steps stays one group), else a new one.
func (c *Context) groupOf(nodes []*ir.Node) string {
	for _, n := range nodes {
		if strings.HasPrefix(n.Group, c.pass+"#") {
			return n.Group
		}
	}
	return c.NewGroup()
}

// PassResult is what one pass did.
type PassResult struct {
	Name     string         `json:"name"`
	Changes  map[string]int `json:"changes"`
	Nodes    int            `json:"nodes_after"`
	Duration time.Duration  `json:"-"` // left out of JSON so stats stay reproducible
}

// Result is what a pipeline run did.
type Result struct {
	Passes  []PassResult `json:"passes"`
	Remarks []Remark     `json:"-"`
	Notes   []string     `json:"-"` // approximations made on request, with their measured error; tools print them
	// Quantization is what -quantize did and cost (nil when not quantizing).
	Quantization *QuantReport `json:"quantization,omitempty"`
	Dumps        []string     `json:"-"` // files written for PrintAfter/DotAfter
}

// Pipeline returns the passes that run at cfg.Level, in order.
func Pipeline(cfg Config) []Pass {
	var ps []Pass
	for _, p := range passes {
		if p.Required || (p.Level <= cfg.Level && !contains(cfg.Disable, p.Name)) {
			ps = append(ps, p)
		}
	}
	return ps
}

// Run optimises g in place with the pipeline of cfg.Level.
func Run(g *ir.Graph, cfg Config) (*Result, error) {
	if cfg.FoldMaxBytes == 0 {
		cfg.FoldMaxBytes = 1 << 20
	}
	for _, name := range append(append(append([]string{}, cfg.Disable...), cfg.PrintAfter...), cfg.DotAfter...) {
		if name != "all" && !knownPass(name) {
			return nil, fmt.Errorf("unknown pass %q (passes: %s)", name, strings.Join(passNames(), ", "))
		}
	}
	return runPasses(g, cfg, func(p Pass) bool { return true })
}

// runPasses runs the pipeline of cfg, restricted to the passes sel accepts.
func runPasses(g *ir.Graph, cfg Config, sel func(Pass) bool) (*Result, error) {
	res := &Result{}
	c := &Context{Config: cfg}
	var ps []Pass
	for _, p := range Pipeline(cfg) {
		if sel(p) {
			ps = append(ps, p)
		}
	}
	for i, p := range ps {
		c.pass, c.counts, c.groups = p.Name, map[string]int{}, 0
		start := time.Now()
		if err := p.Run(c, g); err != nil {
			return res, fmt.Errorf("pass %s: %w", p.Name, err)
		}
		res.Passes = append(res.Passes, PassResult{Name: p.Name, Changes: c.counts, Nodes: len(g.Nodes), Duration: time.Since(start)})
		if cfg.VerifyEach {
			if err := ir.Verify(g); err != nil {
				return res, fmt.Errorf("after pass %s, the graph is invalid (a bug in the pass):\n%w", p.Name, err)
			}
		}
		if err := dump(cfg, i, p.Name, g, res); err != nil {
			return res, err
		}
	}
	res.Remarks, res.Notes = c.remarks, c.notes
	res.Quantization = c.quant
	return res, nil
}

func dump(cfg Config, i int, name string, g *ir.Graph, res *Result) error {
	write := func(sel []string, ext string, data func() []byte) error {
		if !contains(sel, name) && !contains(sel, "all") {
			return nil
		}
		dir := cfg.DumpDir
		if dir == "" {
			dir = "."
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		path := filepath.Join(dir, fmt.Sprintf("%02d-%s%s", i+1, name, ext))
		if err := writeAtomic(path, data()); err != nil {
			return err
		}
		res.Dumps = append(res.Dumps, path)
		return nil
	}
	if err := write(cfg.PrintAfter, ".ciu", func() []byte { return []byte(ir.Print(g)) }); err != nil {
		return err
	}
	return write(cfg.DotAfter, ".dot", func() []byte { return []byte(ir.Dot(g, ir.DotOptions{Title: g.Name + " after " + name})) })
}

func writeAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

func knownPass(name string) bool {
	for _, p := range passes {
		if p.Name == name {
			return true
		}
	}
	return false
}

func passNames() []string {
	var ns []string
	for _, p := range passes {
		ns = append(ns, p.Name)
	}
	return ns
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Summary formats per-pass change counts, one line per pass that changed something.
func (r *Result) Summary() string {
	var b strings.Builder
	for _, p := range r.Passes {
		if len(p.Changes) == 0 {
			continue
		}
		keys := make([]string, 0, len(p.Changes))
		for k := range p.Changes {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		fmt.Fprintf(&b, "%-22s", p.Name)
		for _, k := range keys {
			fmt.Fprintf(&b, " %s=%d", k, p.Changes[k])
		}
		fmt.Fprintf(&b, "  (%d nodes)\n", p.Nodes)
	}
	return b.String()
}
