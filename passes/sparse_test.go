package passes

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/ciuic/ciuic/frontend/text"
	"github.com/ciuic/ciuic/ir"
)

// attnGraph is one ciuic.Attention over q, k, v [1, S, 16] (2 heads of 8) with the given
// extra inputs, constants and mask statements; it returns two copies, one to rewrite and
// one to compare with.
func attnGraph(t *testing.T, S int, inputs, body, maskArg, attrs string) (*ir.Graph, *ir.Graph) {
	t.Helper()
	src := fmt.Sprintf(`graph a(q: f32[1, %[1]d, 16], k: f32[1, %[1]d, 16], v: f32[1, %[1]d, 16]%s) -> (y) {
%s
  %%y = ciuic.Attention(%%q, %%k, %%v%s) {num_heads: 2%s}
}`, S, inputs, body, maskArg, attrs)
	g, err := text.Parse("a.ciu", []byte(src))
	if err != nil {
		t.Fatalf("%v\n%s", err, src)
	}
	g0, _ := text.Parse("a.ciu", []byte(src))
	return g, g0
}

// bandMask is an S×S constant mask allowing keys p-l..p+r with blocked value fill.
func bandMask(S, l, r int, fill string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "  @mask: f32[1, 1, %d, %d] = [", S, S)
	for s := 0; s < S; s++ {
		for t := 0; t < S; t++ {
			if s+t > 0 {
				b.WriteString(", ")
			}
			if t >= s-l && t <= s+r {
				b.WriteString("0.0")
			} else {
				b.WriteString(fill)
			}
		}
	}
	b.WriteString("]")
	return b.String()
}

// runSparse runs only the sparse-attention pass with the given -sparse-attention value
// and checks the graph stays valid and, in exact mode, computes the same (1e-5 relative).
func runSparse(t *testing.T, g, g0 *ir.Graph, spec string) *Result {
	t.Helper()
	res, err := runPasses(g, Config{Level: 2, VerifyEach: true, SparseAttention: spec},
		func(p Pass) bool {
			return p.Name == "infer-shapes" || p.Name == "sparse-attention" || p.Name == "dead-code"
		})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(spec, "window") {
		for seed := uint64(1); seed <= 3; seed++ {
			in := randomInputs(g0, seed)
			want, got := runGraph(t, g0, in), runGraph(t, g, in)
			if want == nil || got == nil {
				t.Fatal("graph did not run")
			}
			if err := closeEnough(want[0], got[0], 1e-5); err != nil {
				t.Errorf("exact rewrite changed the result: %v", err)
			}
		}
	}
	return res
}

func sparseNodes(g *ir.Graph) []*ir.Node {
	var ns []*ir.Node
	for _, n := range g.Nodes {
		if n.Op == "SparseAttention" {
			ns = append(ns, n)
		}
	}
	return ns
}

func remarks(res *Result) string {
	var lines []string
	for _, r := range res.Remarks {
		lines = append(lines, r.String())
	}
	return strings.Join(lines, "\n")
}

// Exact mode: masks that provably keep only a band are rewritten, with the band's window.
func TestSparseExactRewrites(t *testing.T) {
	const S = 12
	computed := `  @zero: f32[] = 0.0
  @ninf: f32[] = -inf
  @w: i64[] = 3
  %r = Range(@start, @limit, @one)
  %d = Sub(Unsqueeze(%r, @ax1), Unsqueeze(%r, @ax0))
  %m = Where(Less(Abs(%d), @w), @zero, @ninf)
  @start: i64[] = 0
  @limit: i64[] = 12
  @one: i64[] = 1
  @ax1: i64[1] = [1]
  @ax0: i64[1] = [0]`
	causalWindow := strings.ReplaceAll(computed, "Where(Less(Abs(%d), @w), @zero, @ninf)",
		"Where(And(GreaterOrEqual(%d, @zeroi), Less(%d, @w)), @zero, @ninf)") + "\n  @zeroi: i64[] = 0"
	for _, c := range []struct {
		name, body, mask, attrs string
		want                    string // the pattern, as the remark prints it
	}{
		{"causal", "", "", ", causal: 1, mask_kind: \"causal\"", "window [-∞, +0], causal"},
		{"banded -inf", bandMask(S, 2, 1, "-inf"), ", @mask", `, mask_kind: "banded"`, "window [-2, +1]"},
		{"banded -1e9", bandMask(S, 3, 0, "-1e+09"), ", @mask", `, mask_kind: "banded"`, "window [-3, +0], causal"},
		{"banded and causal", bandMask(S, 4, 4, "-inf"), ", @mask", `, causal: 1`, "window [-4, +0], causal"},
		{"computed two-sided", computed, ", %m", "", "window [-2, +2]"},
		{"computed causal window", causalWindow, ", %m", "", "window [-2, +0], causal"},
	} {
		t.Run(c.name, func(t *testing.T) {
			g, g0 := attnGraph(t, S, "", c.body, c.mask, c.attrs)
			res := runSparse(t, g, g0, "")
			if n := len(sparseNodes(g)); n != 1 {
				t.Fatalf("%d SparseAttention nodes, want 1; remarks:\n%s\n%s", n, remarks(res), ir.Print(g))
			}
			if r := remarks(res); !strings.Contains(r, c.want) {
				t.Errorf("remark %q does not say %q", r, c.want)
			}
			for _, n := range g.Nodes {
				if n.Op != "SparseAttention" {
					t.Errorf("%s left in the graph (the mask subgraph should be dead)", n.Ref())
				}
			}
		})
	}
}

// Exact mode never rewrites a mask it cannot prove banded: a run-time mask, a non-banded
// constant, soft biases, finite -10000 blocks, or no mask at all.
func TestSparseExactRefuses(t *testing.T) {
	const S = 8
	holes := bandMask(S, 3, 0, "-inf")
	holes = strings.Replace(holes, "0.0, 0.0, 0.0, 0.0, -inf", "0.0, -inf, 0.0, 0.0, -inf", 1)
	for _, c := range []struct {
		name, inputs, body, mask, attrs, why string
	}{
		{"run-time mask", ", mask: f32[1, 1, 8, 8]", "", ", %mask", `, mask_kind: "additive"`, "known only at run time"},
		{"run-time banded-looking mask", ", mask: f32[1, 1, 8, 8]", "", ", %mask", `, mask_kind: "banded"`, "known only at run time"},
		{"holes", "", holes, ", @mask", "", "not a band"},
		{"soft bias", "", bandMask(S, 2, 2, "-1.5"), ", @mask", "", "a soft bias"},
		{"bert -10000", "", bandMask(S, 2, 2, "-10000.0"), ", @mask", "", "a soft bias"},
		{"no mask", "", "", "", "", "no mask"},
		{"multiplicative mask", "", bandMask(S, 2, 2, "1.0"), ", @mask", `, mask_filter: 10000.0`, "mask_filter"},
	} {
		t.Run(c.name, func(t *testing.T) {
			g, g0 := attnGraph(t, S, c.inputs, c.body, c.mask, c.attrs)
			res := runSparse(t, g, g0, "exact")
			if n := len(sparseNodes(g)); n != 0 {
				t.Fatalf("rewritten:\n%s", ir.Print(g))
			}
			if r := remarks(res); !strings.Contains(r, "not rewritten") || !strings.Contains(r, c.why) {
				t.Errorf("remark %q does not say %q", r, c.why)
			}
		})
	}
}

func TestSparseOff(t *testing.T) {
	g, g0 := attnGraph(t, 8, "", "", "", ", causal: 1")
	res := runSparse(t, g, g0, "off")
	if len(sparseNodes(g)) != 0 || len(res.Remarks) != 0 {
		t.Errorf("-sparse-attention off rewrote or remarked: %s", remarks(res))
	}
}

// Approximate mode rewrites on request, also with a run-time mask (kept as an input),
// and reports the measured error as a note.
func TestSparseApproximate(t *testing.T) {
	for _, c := range []struct {
		name, inputs, mask, attrs, spec, pattern string
		maxErr                                   float64
	}{
		{"causal window", "", "", ", causal: 1", "window=4", "window [-3, +0], causal", 10},
		{"window covers everything", "", "", ", causal: 1", "window=64", "window [-63, +0], causal", 1e-6},
		{"two-sided with global", "", "", "", "window=4,global=2", "window [-3, +3], 2 global tokens", 10},
		{"blocks", "", "", ", causal: 1", "window=8,block=4", "blocks of 4, 2 local, causal", 10},
		{"run-time mask kept", ", mask: f32[1, 1, 32, 32]", ", %mask", "", "window=4", "window [-3, +3]", 10},
	} {
		t.Run(c.name, func(t *testing.T) {
			g, g0 := attnGraph(t, 32, c.inputs, "", c.mask, c.attrs)
			res := runSparse(t, g, g0, c.spec)
			ns := sparseNodes(g)
			if len(ns) != 1 {
				t.Fatalf("not rewritten: %s", remarks(res))
			}
			if c.mask != "" && len(ns[0].Inputs) != 4 {
				t.Errorf("run-time mask dropped")
			}
			if len(res.Notes) != 1 || !strings.Contains(res.Notes[0], c.pattern) || !strings.Contains(res.Notes[0], "relative L2") {
				t.Fatalf("notes %q, want the pattern %q and the measured error", res.Notes, c.pattern)
			}
			var rel float64
			if _, err := fmt.Sscanf(res.Notes[0][strings.Index(res.Notes[0], "relative L2 "):], "relative L2 %g", &rel); err != nil {
				t.Fatal(err)
			}
			if rel > c.maxErr || math.IsNaN(rel) || (c.maxErr > 1 && rel == 0) {
				t.Errorf("measured relative error %g (want > 0 and <= %g)", rel, c.maxErr)
			}
		})
	}
}

func TestParseSparseSpec(t *testing.T) {
	for in, want := range map[string]string{"": "exact", "exact": "exact", "off": "off", "window=256": "window=256",
		"window=256,global=4,block=64": "window=256,global=4,block=64"} {
		sp, err := ParseSparseSpec(in)
		got := sp.String()
		if sp.Off {
			got = "off"
		} else if sp.Window == 0 {
			got = "exact"
		}
		if err != nil || got != want {
			t.Errorf("ParseSparseSpec(%q) = %s, %v; want %s", in, got, err, want)
		}
	}
	for in, want := range map[string]string{"window": "not NAME=COUNT", "global=4": "window=N", "window=8,stride=2": "unknown key", "window=-1": "not NAME=COUNT"} {
		if _, err := ParseSparseSpec(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseSparseSpec(%q) error %v, want %q", in, err, want)
		}
	}
}

// The end-to-end model: its 4096×4096 mask, computed from positions, is proved to be a
// causal window of 256 without being materialised.
func TestSparseBlockModel(t *testing.T) {
	g, err := text.ParseFile("../testdata/sparse_block.ciu")
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(g, Config{Level: 2})
	if err != nil {
		t.Fatal(err)
	}
	ns := sparseNodes(g)
	if len(ns) != 1 {
		t.Fatalf("%d SparseAttention nodes, want 1:\n%s", len(ns), remarks(res))
	}
	p := ns[0].Attrs
	if p.Int("causal", 0) != 1 || p.Int("window_left", -1) != 255 || p.Int("window_right", -1) != 0 || len(ns[0].Inputs) != 3 {
		t.Errorf("pattern %v, want a causal window of 256 keys and no mask", p)
	}
	for _, n := range g.Nodes {
		if n.Op == "Where" || n.Op == "Range" {
			t.Errorf("mask node %s survived", n.Ref())
		}
	}
}
