package passes

import (
	"strings"
	"testing"

	"github.com/ciuic/ciuic/frontend/text"
)

// TestSparseCachedAttention: -sparse-attention window=N puts a sliding window on the KV-cache
// attention of a decode step and reports the measured error; exact mode leaves it alone, and
// a window covering the whole cache is not applied.
func TestSparseCachedAttention(t *testing.T) {
	const src = `graph step(q: f32[1, 16], k: f32[32, 8], v: f32[32, 8], pos: i64[]) -> (y: f32[1, 16]) {
  %y = ciuic.CachedAttention(%q, %k, %v, %pos) {kv_num_heads: 1, num_heads: 2}
}`
	for _, c := range []struct {
		spec, window, remark string
	}{
		{"window=8", "window: 8", "measured error vs full attention"},
		{"exact", "", ""},
		{"window=64", "", "covers the whole cache"},
	} {
		g, err := text.Parse("step.ciu", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		res, err := Run(g, Config{Level: 2, SparseAttention: c.spec, VerifyEach: true})
		if err != nil {
			t.Fatal(err)
		}
		printed := g.String()
		if c.window != "" && !strings.Contains(printed, c.window) || c.window == "" && strings.Contains(printed, "window") {
			t.Errorf("%s: graph is\n%s", c.spec, printed)
		}
		var remarks []string
		for _, r := range res.Remarks {
			remarks = append(remarks, r.String())
		}
		if all := strings.Join(remarks, "\n"); !strings.Contains(all, c.remark) {
			t.Errorf("%s: remarks %q lack %q", c.spec, all, c.remark)
		}
	}
}
