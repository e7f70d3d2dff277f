package text

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/tools/txtar"

	"github.com/ciuic/ciuic/frontend/safetensors"
	"github.com/ciuic/ciuic/ir"
)

var update = flag.Bool("update", false, "rewrite the expected sections of testdata/text/*.txtar and the grammar in docs/language.md")

const goldenDir = "../../testdata/text"

// producers make the expected sections of a golden case from the parse result. A case
// holds the sections it wants checked; to check a new output, add its section here.
var producers = map[string]func(t *testing.T, g *ir.Graph, err error) string{
	"want.ciu": func(t *testing.T, g *ir.Graph, err error) string {
		if err != nil {
			t.Fatalf("parse failed:\n%v", err)
		}
		return ir.Print(g)
	},
	"errors": func(t *testing.T, g *ir.Graph, err error) string {
		if err == nil {
			t.Fatalf("parse succeeded, want errors; got:\n%s", ir.Print(g))
		}
		if _, ok := err.(ErrorList); !ok {
			t.Errorf("error is %T, want ErrorList", err)
		}
		return err.Error() + "\n"
	},
}

// A golden case is a txtar archive (one per file):
//
//	-- input.ciu --      the model text, parsed as "input.ciu"
//	-- weights.json --   optional: {name: {dtype, shape, data}} written as the safetensors
//	                     file named by the input's weights line (data may be omitted: it is
//	                     then filled with a fixed pattern)
//	-- truncate --       optional: keep only this many bytes of that file
//	-- want.ciu --       expected canonical print, or
//	-- errors --         expected error text, one problem a line
func TestGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(goldenDir, "*.txtar"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden cases in %s (%v)", goldenDir, err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txtar"), func(t *testing.T) {
			ar, err := txtar.ParseFile(file)
			if err != nil {
				t.Fatal(err)
			}
			g, perr := parseCase(t, ar)
			checked := 0
			for i, f := range ar.Files {
				produce, ok := producers[f.Name]
				if !ok {
					continue
				}
				checked++
				got := produce(t, g, perr)
				if *update {
					ar.Files[i].Data = []byte(got)
					continue
				}
				if got != string(f.Data) {
					t.Errorf("%s differs.\ngot:\n%s\nwant:\n%s", f.Name, got, f.Data)
				}
			}
			if checked == 0 {
				t.Fatalf("case has no expected section (one of %v)", sortedProducers())
			}
			if *update {
				if err := os.WriteFile(file, txtar.Format(ar), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func sortedProducers() []string {
	var names []string
	for n := range producers {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func section(ar *txtar.Archive, name string) ([]byte, bool) {
	for _, f := range ar.Files {
		if f.Name == name {
			return f.Data, true
		}
	}
	return nil, false
}

var weightsLine = regexp.MustCompile(`(?m)^\s*weights\s+("(?:\\.|[^"\\])*")`)

// parseCase writes the case's weights (if any) to a temporary folder and parses its input.
func parseCase(t *testing.T, ar *txtar.Archive) (*ir.Graph, error) {
	t.Helper()
	src, ok := section(ar, "input.ciu")
	if !ok {
		t.Fatal("case has no input.ciu section")
	}
	dir := t.TempDir()
	if js, ok := section(ar, "weights.json"); ok {
		m := weightsLine.FindSubmatch(src)
		if m == nil {
			t.Fatal("weights.json given but input.ciu has no weights line")
		}
		name, err := strconv.Unquote(string(m[1]))
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, name)
		writeWeights(t, path, js)
		if n, ok := section(ar, "truncate"); ok {
			size, err := strconv.ParseInt(strings.TrimSpace(string(n)), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(path, size); err != nil {
				t.Fatal(err)
			}
		}
	}
	return Parse("input.ciu", src, WeightsDir(dir))
}

type jsonTensor struct {
	DType string    `json:"dtype"`
	Shape []int64   `json:"shape"`
	Data  []float64 `json:"data"`
}

func writeWeights(t *testing.T, path string, js []byte) {
	t.Helper()
	var spec map[string]jsonTensor
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&spec); err != nil {
		t.Fatalf("weights.json: %v", err)
	}
	tensors := map[string]*ir.Tensor{}
	for name, jt := range spec {
		n := int64(1)
		for _, d := range jt.Shape {
			n *= d
		}
		data := jt.Data
		if data == nil {
			// A fixed pattern keeps cases short and their results reproducible.
			data = make([]float64, n)
			for i := range data {
				data[i] = float64(i%7)*0.25 - 0.5
			}
		}
		if int64(len(data)) != n {
			t.Fatalf("weights.json: %s has %d values for shape %v", name, len(data), jt.Shape)
		}
		switch jt.DType {
		case "f32":
			vs := make([]float32, n)
			for i, v := range data {
				vs[i] = float32(v)
			}
			tensors[name] = ir.NewTensorF32(jt.Shape, vs)
		case "i64":
			vs := make([]int64, n)
			for i, v := range data {
				vs[i] = int64(v)
			}
			tensors[name] = ir.NewTensorI64(jt.Shape, vs)
		default:
			t.Fatalf("weights.json: %s: dtype %q not supported by the test (f32, i64)", name, jt.DType)
		}
	}
	if err := safetensors.Write(path, tensors, nil); err != nil {
		t.Fatal(err)
	}
}

// TestRoundTrip checks print(parse(print(g))) == print(g) for every model text in
// testdata/text: the .ciu examples and every golden input that parses.
func TestRoundTrip(t *testing.T) {
	type input struct {
		name string
		ar   *txtar.Archive
	}
	var inputs []input
	cius, _ := filepath.Glob(filepath.Join(goldenDir, "*.ciu"))
	for _, f := range cius {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		inputs = append(inputs, input{filepath.Base(f), &txtar.Archive{Files: []txtar.File{{Name: "input.ciu", Data: src}}}})
	}
	cases, _ := filepath.Glob(filepath.Join(goldenDir, "*.txtar"))
	for _, f := range cases {
		ar, err := txtar.ParseFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, isErr := section(ar, "errors"); !isErr {
			inputs = append(inputs, input{filepath.Base(f), ar})
		}
	}
	if len(inputs) < 15 {
		t.Fatalf("only %d model texts found in %s", len(inputs), goldenDir)
	}
	for _, in := range inputs {
		t.Run(in.name, func(t *testing.T) {
			g, err := parseCase(t, in.ar)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			first := ir.Print(g)
			// The weights, if any, are in the folder parseCase made; parse the print again there.
			ar := &txtar.Archive{Files: []txtar.File{{Name: "input.ciu", Data: []byte(first)}}}
			for _, f := range in.ar.Files {
				if f.Name == "weights.json" {
					ar.Files = append(ar.Files, f)
				}
			}
			g2, err := parseCase(t, ar)
			if err != nil {
				t.Fatalf("parse of the printed graph: %v\n%s", err, first)
			}
			if second := ir.Print(g2); second != first {
				t.Errorf("print(parse(print(g))) != print(g)\nfirst:\n%s\nsecond:\n%s", first, second)
			}
		})
	}
}
