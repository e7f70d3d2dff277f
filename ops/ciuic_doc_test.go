package ops

import (
	"os"
	"strings"
	"testing"

	"github.com/ciuic/ciuic/ir"
)

// docs/ops.md must describe every ciuic-domain op, and its custom-operator example must
// be the code that example_custom_test.go compiles and runs.
func TestOpsDocInSync(t *testing.T) {
	doc, err := os.ReadFile("../docs/ops.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range ir.Schemas() {
		if s.Domain == ir.CiuicDomain && !strings.Contains(string(doc), "\n### ciuic."+s.Op+"\n") {
			t.Errorf("docs/ops.md has no section for ciuic.%s", s.Op)
		}
	}
	src, err := os.ReadFile("example_custom_test.go")
	if err != nil {
		t.Fatal(err)
	}
	// The registration: from "func init() {" to the end of swishKernel.
	const from, to = "func init() {", "\treturn []*ops.Tensor{y}, nil\n}\n"
	code := func(s string) string {
		i := strings.Index(s, from)
		j := strings.Index(s[max(i, 0):], to)
		if i < 0 || j < 0 {
			return ""
		}
		return s[i : i+j+len(to)]
	}
	want := code(string(src))
	if want == "" {
		t.Fatal("example_custom_test.go: registration code not found")
	}
	if got := code(string(doc)); got != want {
		t.Errorf("docs/ops.md's custom-operator code differs from example_custom_test.go's:\n--- doc\n%s\n--- test\n%s", got, want)
	}
	// The graph-building lines of the doc appear in the test.
	for _, line := range []string{
		`n := g.NewNode("Swish", []*ir.Value{x}, ir.Attrs{"beta": ir.FloatAttr(2)}, "y")`,
		`n.Domain = "mylib"`,
		`s, err := exec.NewSession(g, exec.Options{})`,
		`%y = mylib.Swish(%x) {beta: 0.5}`,
	} {
		if !strings.Contains(string(doc), line) || !strings.Contains(string(src), line) {
			t.Errorf("line %q must be in both docs/ops.md and example_custom_test.go", line)
		}
	}
}
