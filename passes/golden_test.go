package passes

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/tools/txtar"

	"github.com/ciuic/ciuic/frontend/text"
	"github.com/ciuic/ciuic/ir"
)

var update = flag.Bool("update", false, "rewrite the want sections of golden files")

// TestGolden runs each testdata/*/*.txtar case: the comment names the passes to run
// ("passes: simplify dead-code") or a level ("level: 2"); input.ciu is optimised with the
// verifier after every pass, and the result must print as want.ciu. A case may also hold
// want.explain, the -explain remarks. Run with -update to rewrite the want sections, then
// review them as a diff.
func TestGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/*/*.txtar")
	if len(files) == 0 {
		t.Fatal("no golden files")
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(strings.TrimPrefix(file, "testdata/"), ".txtar"), func(t *testing.T) {
			ar, err := txtar.ParseFile(file)
			if err != nil {
				t.Fatal(err)
			}
			sections := map[string][]byte{}
			for _, f := range ar.Files {
				sections[f.Name] = f.Data
			}
			g, err := text.Parse(file+":input.ciu", sections["input.ciu"])
			if err != nil {
				t.Fatal(err)
			}
			before := ir.Print(g)
			cfg := goldenConfig(t, string(ar.Comment))
			res, err := runSelected(g, cfg)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{"want.ciu": ir.Print(g)}
			if _, ok := sections["want.explain"]; ok {
				var lines []string
				for _, r := range res.Remarks {
					lines = append(lines, r.String())
				}
				got["want.explain"] = strings.Join(lines, "\n") + "\n"
			}
			if cfg.Quantize == "" { // quantized cases are approximate; quantize_test.go checks their error
				checkEquivalent(t, before, g)
			}
			if *update {
				for i, f := range ar.Files {
					if s, ok := got[f.Name]; ok {
						ar.Files[i].Data = []byte(s)
					}
				}
				if err := os.WriteFile(file, txtar.Format(ar), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			for name, s := range got {
				if diff := cmp.Diff(string(sections[name]), s); diff != "" {
					t.Errorf("%s (-want +got):\n%s", name, diff)
				}
			}
		})
	}
}

type goldenCfg struct {
	Config
	only []string // run exactly these passes, in table order
}

func goldenConfig(t *testing.T, comment string) goldenCfg {
	cfg := goldenCfg{Config: Config{VerifyEach: true, FoldMaxBytes: 1 << 20}}
	for _, line := range strings.Split(comment, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "passes":
			cfg.only = strings.Fields(v)
		case "quantize":
			cfg.Quantize = strings.TrimSpace(v)
		case "level":
			cfg.Level = int(v[len(v)-1] - '0')
		}
	}
	if cfg.only == nil && cfg.Level == 0 && !strings.Contains(comment, "level") {
		t.Fatal("golden case comment must say `passes: ...` or `level: N`")
	}
	return cfg
}

// runSelected runs either the named passes (in table order) or the pipeline of the level.
func runSelected(g *ir.Graph, cfg goldenCfg) (*Result, error) {
	if cfg.only == nil {
		return Run(g, cfg.Config)
	}
	var disable []string
	for _, p := range passes {
		if !contains(cfg.only, p.Name) {
			disable = append(disable, p.Name)
		}
	}
	c := cfg.Config
	c.Level = 2
	c.Disable = disable
	return runPasses(g, c, func(p Pass) bool { return contains(cfg.only, p.Name) })
}

func TestPassOrder(t *testing.T) {
	pos := map[string]int{}
	for i, p := range passes {
		if _, dup := pos[p.Name]; dup {
			t.Errorf("pass %s listed twice", p.Name)
		}
		pos[p.Name] = i
	}
	for _, o := range order {
		a, okA := pos[o[0]]
		b, okB := pos[o[1]]
		if !okA || !okB {
			t.Errorf("order constraint names an unknown pass: %v", o)
			continue
		}
		if a >= b {
			t.Errorf("pass %s must run before %s", o[0], o[1])
		}
	}
	if passes[0].Name != "infer-shapes" || passes[len(passes)-1].Name != "dead-code" {
		t.Error("pipeline must start with infer-shapes and end with dead-code")
	}
}

func TestDumps(t *testing.T) {
	g, err := text.Parse("m.ciu", []byte(`graph m(x: f32[2]) -> (y: f32[2]) {
  %a = Identity(%x)
  %y = Relu(%a)
}`))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	res, err := Run(g, Config{Level: 1, DumpDir: dir, PrintAfter: []string{"simplify"}, DotAfter: []string{"all"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Dumps) != len(Pipeline(Config{Level: 1}))+1 {
		t.Errorf("dumps: %v", res.Dumps)
	}
	b, err := os.ReadFile(filepath.Join(dir, "02-simplify.ciu"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte("%y: f32[2] = Relu(%x)")) {
		t.Errorf("dump after simplify:\n%s", b)
	}
	if _, err := Run(g, Config{PrintAfter: []string{"nope"}}); err == nil || !strings.Contains(err.Error(), `unknown pass "nope"`) {
		t.Errorf("unknown pass: %v", err)
	}
}

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }

func TestPassesDocumented(t *testing.T) {
	doc, err := os.ReadFile("../docs/passes.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range passes {
		if !bytes.Contains(doc, []byte("`"+p.Name+"`")) {
			t.Errorf("docs/passes.md does not describe pass %s", p.Name)
		}
	}
}
