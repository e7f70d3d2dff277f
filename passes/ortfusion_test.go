package passes

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/ciuic/ciuic/frontend"
	"github.com/ciuic/ciuic/ir"
)

// ortFusions maps a prefix of an onnxruntime fusion-test file name to what its fusion
// looks like in ciuic's IR. Longest prefix wins.
var ortFusions = map[string]func(g *ir.Graph) bool{
	"gelu":                  hasOp("Gelu", "dense:gelu"),
	"fast_gelu":             hasOp("Gelu:tanh", "dense:gelu_tanh"),
	"bias_gelu":             hasOp("Gelu", "dense:gelu"),
	"layer_norm":            hasOp("LayerNormalization", "ciuic.SkipLayerNorm"),
	"simplified_layer_norm": hasOp("ciuic.RMSNorm"),
	"layer_norm_t5":         hasOp("ciuic.RMSNorm"), // T5's "LayerNorm" is an RMS norm
	"skip_layer_norm":       hasOp("ciuic.SkipLayerNorm"),
	"embed_layer_norm":      hasOp("LayerNormalization", "ciuic.SkipLayerNorm"),
	"attention":             hasOp("ciuic.Attention"),
	"gemm_sum":              noOp("Sum"),       // Sum folded into Gemm's C
	"gemm_transpose":        noOp("Transpose"), // Transposes folded into transA/transB
	"matmul_add":            hasOp("ciuic.Dense"),
	"reshape_fusion":        noOp("Shape"),
}

func hasOp(kinds ...string) func(g *ir.Graph) bool {
	return func(g *ir.Graph) bool {
		for _, n := range g.Nodes {
			for _, k := range kinds {
				op, detail, _ := strings.Cut(k, ":")
				switch {
				case op == "dense" && n.OpName() == "ciuic.Dense" && n.Attrs.String("activation", "") == detail:
					return true
				case op == n.OpName() && (detail == "" || n.Attrs.String("approximate", "") == detail):
					return true
				}
			}
		}
		return false
	}
}

func noOp(op string) func(g *ir.Graph) bool {
	return func(g *ir.Graph) bool { return !hasOp(op)(g) }
}

// TestORTFusionCoverage compiles onnxruntime's fusion-test graphs at -O2 and counts how
// many end with the fusion their file name names. Negative tests (names with "no_fusion",
// "invalid", "unfusable", "not_triggered") must not be fused. The counts are a floor: a
// change that loses a fusion fails the test.
func TestORTFusionCoverage(t *testing.T) {
	files, _ := filepath.Glob("../../shared/testdata/models/ort-fusion/*.onnx")
	if len(files) == 0 {
		t.Skip("../shared/testdata/models/ort-fusion not present")
	}
	prefixes := make([]string, 0, len(ortFusions))
	for p := range ortFusions {
		prefixes = append(prefixes, p)
	}
	sort.Slice(prefixes, func(i, j int) bool { return len(prefixes[i]) > len(prefixes[j]) })
	type tally struct{ total, fused, unsupported int }
	counts := map[string]*tally{}
	var missed []string
	for _, f := range files {
		base := filepath.Base(f)
		prefix := ""
		for _, p := range prefixes {
			if strings.HasPrefix(base, p) {
				prefix = p
				break
			}
		}
		if prefix == "" || isNegativeCase(base) {
			continue
		}
		c := counts[prefix]
		if c == nil {
			c = &tally{}
			counts[prefix] = c
		}
		c.total++
		g, err := frontend.Load(f)
		if err != nil {
			c.unsupported++
			continue
		}
		if _, err := Run(g, Config{Level: 2}); err != nil {
			t.Errorf("%s: %v", base, err)
			continue
		}
		if ortFusions[prefix](g) {
			c.fused++
		} else {
			missed = append(missed, base)
		}
	}
	var lines []string
	sum := tally{}
	for _, p := range prefixes {
		if c := counts[p]; c != nil {
			lines = append(lines, fmt.Sprintf("%-22s %2d of %2d fused (%d do not import)", p, c.fused, c.total, c.unsupported))
			sum.total += c.total
			sum.fused += c.fused
			sum.unsupported += c.unsupported
		}
	}
	sort.Strings(lines)
	t.Logf("ORT fusion graphs:\n%s\ntotal: %d of %d fused, %d do not import\nmissed: %v", strings.Join(lines, "\n"), sum.fused, sum.total, sum.unsupported, missed)
	if os.Getenv("CIUIC_FUSION_REPORT") == "" && sum.fused < minORTFusions {
		t.Errorf("%d ORT fusion graphs fused, fewer than the %d reached before", sum.fused, minORTFusions)
	}
}

// minORTFusions is the number of ORT fusion-test graphs fused when this test was written;
// raise it as fusions improve.
const minORTFusions = 35

func isNegativeCase(name string) bool {
	for _, w := range []string{"no_fusion", "invalid", "unfusable", "not_triggered", "dont_fuse"} {
		if strings.Contains(name, w) {
			return true
		}
	}
	return false
}
