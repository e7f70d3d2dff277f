package ir

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/tools/txtar"
)

// The -update flag may be registered by another test file of this package too; whoever
// comes first registers it, and dotUpdate reads it by name.
func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite golden files")
	}
}

func dotUpdate() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// typed sets the output types of the node (the dot tests do not depend on inference).
func dotTyped(n *Node, ts ...Type) *Node {
	for i, t := range ts {
		n.Outputs[i].Type = t
	}
	return n
}

func dotZeros(shape ...int64) *Tensor {
	n := int64(1)
	for _, d := range shape {
		n *= d
	}
	return NewTensorF32(shape, make([]float32, n))
}

// dotMLP is MNIST's two-layer perceptron, as the ONNX importer would make it.
func dotMLP() *Graph {
	g := NewGraph("mlp")
	x := g.AddInput("x", T(F32, S("N", 784)))
	w1 := g.AddConst("fc1.weight", dotZeros(784, 128))
	b1 := g.AddConst("fc1.bias", dotZeros(128))
	w2 := g.AddConst("fc2.weight", dotZeros(128, 10))
	b2 := g.AddConst("fc2.bias", dotZeros(10))
	mm1 := dotTyped(g.NewNode("MatMul", []*Value{x, w1}, nil), T(F32, S("N", 128)))
	mm1.Name = "/fc1/MatMul"
	add1 := dotTyped(g.NewNode("Add", []*Value{mm1.Outputs[0], b1}, nil), T(F32, S("N", 128)))
	add1.Name = "/fc1/Add"
	relu := dotTyped(g.NewNode("Relu", []*Value{add1.Outputs[0]}, nil, "h"), T(F32, S("N", 128)))
	mm2 := dotTyped(g.NewNode("MatMul", []*Value{relu.Outputs[0], w2}, nil), T(F32, S("N", 10)))
	add2 := dotTyped(g.NewNode("Add", []*Value{mm2.Outputs[0], b2}, nil), T(F32, S("N", 10)))
	sm := dotTyped(g.NewNode("Softmax", []*Value{add2.Outputs[0]}, Attrs{"axis": IntAttr(1)}, "probs"), T(F32, S("N", 10)))
	g.Outputs = []*Value{sm.Outputs[0]}
	return g
}

// dotClustered has fused ciuic ops whose provenance groups become clusters, a
// multi-output op, and every kind of attribute.
func dotClustered() *Graph {
	g := NewGraph("encoder layer")
	x := g.AddInput("x", T(F32, S("B", "S", 64)))
	gamma := g.AddConst("ln.gamma", dotZeros(64))
	beta := g.AddConst("ln.beta", dotZeros(64))
	wqkv := g.AddConst("qkv.weight", dotZeros(64, 192))
	ln := dotTyped(g.NewNode("LayerNormalization", []*Value{x, gamma, beta},
		Attrs{"axis": IntAttr(-1), "epsilon": FloatAttr(1e-5)}), T(F32, S("B", "S", 64)))
	ln.Name = "/enc/ln/LayerNormalization"
	ln.Group = "/enc/ln"
	dense := dotTyped(g.NewNode("Dense", []*Value{ln.Outputs[0], wqkv, nil}, Attrs{"activation": StringAttr("none")}),
		T(F32, S("B", "S", 192)))
	dense.Domain = "ciuic"
	dense.Group = "/enc/attn"
	split := dotTyped(g.NewNode("Split", []*Value{dense.Outputs[0]}, Attrs{"axis": IntAttr(-1), "num_outputs": IntAttr(3)}, "q", "k", "v"),
		T(F32, S("B", "S", 64)), T(F32, S("B", "S", 64)), T(F32, S("B", "S", 64)))
	split.Group = "/enc/attn"
	attn := dotTyped(g.NewNode("Attention", []*Value{split.Outputs[0], split.Outputs[1], split.Outputs[2]},
		Attrs{
			"num_heads":   IntAttr(4),
			"scale":       FloatAttr(0.125),
			"window":      IntsAttr(0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
			"dims":        IntsAttr(64, 64),
			"scales":      FloatsAttr(0.5, 0.25),
			"labels":      StringsAttr("a", "b"),
			"mask":        TensorAttr(&Tensor{DType: Bool, Shape: []int64{128, 128}, Data: make([]byte, 128*128)}),
			"bias":        TensorAttr(NewTensorF32([]int64{2}, []float32{0.5, -1})),
			"body":        GraphAttr(NewGraph("attn_body")),
			"description": StringAttr("a string attribute long enough that it must be cut short"),
		}), T(F32, S("B", "S", 64)))
	attn.Domain = "ciuic"
	attn.Group = "/enc/attn"
	attn.Name = "/enc/attn/Attention"
	res := dotTyped(g.NewNode("Add", []*Value{x, attn.Outputs[0]}, nil, "y"), T(F32, S("B", "S", 64)))
	g.Outputs = []*Value{res.Outputs[0]}
	return g
}

// dotConsts has a Constant op with a tensor attribute, a weight read twice, a scalar
// constant, a constant that is itself a graph output, and a graph input that is one too.
func dotConsts() *Graph {
	g := NewGraph("")
	x := g.AddInput("x", T(F32, S("N", 4)))
	w := g.AddConst("shared.weight", dotZeros(4, 4))
	two := g.AddConst("two", NewTensorF32(nil, []float32{2}))
	table := g.AddConst("table", NewTensorI64([]int64{3}, []int64{7, 8, 9}))
	shape := dotTyped(g.NewNode("Constant", nil, Attrs{"value": TensorAttr(NewTensorI64([]int64{2}, []int64{-1, 4}))}, "shape"), T(I64, S(2)))
	r := dotTyped(g.NewNode("Reshape", []*Value{x, shape.Outputs[0]}, nil), T(F32, S("?", 4)))
	a := dotTyped(g.NewNode("MatMul", []*Value{r.Outputs[0], w}, nil), T(F32, S("?", 4)))
	b := dotTyped(g.NewNode("MatMul", []*Value{a.Outputs[0], w}, nil), T(F32, S("?", 4)))
	m := dotTyped(g.NewNode("Mul", []*Value{b.Outputs[0], two}, nil, "out"), T(F32, S("?", 4)))
	g.Outputs = []*Value{m.Outputs[0], table, x}
	return g
}

// dotEscaping has names full of DOT and HTML metacharacters, and a value that nothing
// defines (as in a graph that fails Verify).
func dotEscaping() *Graph {
	g := NewGraph(`the "quoted" \ graph`)
	x := g.AddInput(`in"put\1`, T(F32, S(`se"q`, 8)))
	w := g.AddConst("onnx::MatMul_1", dotZeros(8, 8))
	mm := dotTyped(g.NewNode("MatMul", []*Value{x, w}, Attrs{"note": StringAttr("a\"b\\c<d>&e\nf\tg")}), T(F32, S(`se"q`, 8)))
	mm.Name = "/enc/MatMul"
	mm.Group = `grp "1" \ <x>`
	dangling := &Value{Name: "ghost<&>", Type: T(F32, S(8))}
	add := g.NewNode("Add", []*Value{mm.Outputs[0], dangling}, nil, "/enc/Add_output_0")
	add.Name = "/enc/Add"
	g.Outputs = []*Value{add.Outputs[0]}
	return g
}

var dotCases = []struct {
	name  string
	desc  string
	graph func() *Graph
	opts  DotOptions
}{
	{"mlp", "MNIST's two-layer perceptron.", dotMLP, DotOptions{}},
	{"mlp_nonames", "The MLP with a title and without provenance names.", dotMLP, DotOptions{Title: "MLP, -O0", HideNames: true}},
	{"clustered", "Fused ops with provenance groups drawn as clusters; every attribute kind.", dotClustered, DotOptions{}},
	{"consts", "Constants: a Constant op, a shared weight, scalar and graph-output constants.", dotConsts, DotOptions{}},
	{"escaping", "Names with DOT and HTML metacharacters; a value nothing defines.", dotEscaping, DotOptions{}},
}

// TestDotGolden compares Dot's output with testdata/dot/<case>.txtar; -update rewrites them.
func TestDotGolden(t *testing.T) {
	for _, tc := range dotCases {
		t.Run(tc.name, func(t *testing.T) {
			got := Dot(tc.graph(), tc.opts)
			path := filepath.Join("testdata", "dot", tc.name+".txtar")
			if dotUpdate() {
				ar := &txtar.Archive{Comment: []byte("# " + tc.desc + "\n"), Files: []txtar.File{{Name: "want.dot", Data: []byte(got)}}}
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := dotWriteFile(path, txtar.Format(ar)); err != nil {
					t.Fatal(err)
				}
				return
			}
			ar, err := txtar.ParseFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./ir -run TestDotGolden -update to create it)", err)
			}
			if len(ar.Files) != 1 || ar.Files[0].Name != "want.dot" {
				t.Fatalf("%s: want exactly one file, want.dot", path)
			}
			if want := string(ar.Files[0].Data); got != want {
				t.Errorf("Dot output differs from %s (run with -update to accept):\n%s", path, dotLineDiff(want, got))
			}
		})
	}
}

func dotWriteFile(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// lineDiff shows the first differing lines, enough to see what changed.
func dotLineDiff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			return "line " + strconv.Itoa(i+1) + ":\n- " + w + "\n+ " + g
		}
	}
	return "(no line differs)"
}

func TestDotDeterministic(t *testing.T) {
	for _, tc := range dotCases {
		first := Dot(tc.graph(), tc.opts)
		for i := 0; i < 20; i++ {
			// A fresh graph each time: map iteration order and pointer values differ.
			if got := Dot(tc.graph(), tc.opts); got != first {
				t.Fatalf("%s: rendering %d differs from the first:\n%s", tc.name, i, dotLineDiff(first, got))
			}
		}
	}
}

func TestDotContent(t *testing.T) {
	src := Dot(dotClustered(), DotOptions{})
	for _, want := range []string{
		`subgraph cluster_`,                // groups become clusters
		`label="/enc/attn"`,                // labelled with the group
		`<B>ciuic.Attention</B>`,           // domain-qualified op
		`window=[0, 1, 2, 3, … 10 in all]`, // long lists abbreviated
		`mask=bool[128, 128]`,              // tensors as dtype+shape
		`bias=f32[2] [0.5, -1]`,            // small tensors show values
		`body=graph attn_body`,             // graphs by name
		`epsilon=1e-05`,                    // floats printed short
		`label="f32[B, S, 192]"`,           // edges carry types
		`label="k: f32[B, S, 64]"`,         // multi-output ops name the output
		`&#34;a string attribute long enough…&#34;`,
	} {
		if !strings.Contains(src, want) {
			t.Errorf("Dot output lacks %s", want)
		}
	}
	if !strings.Contains(Dot(dotMLP(), DotOptions{}), "/fc1/MatMul") {
		t.Errorf("node names missing by default")
	}
	if strings.Contains(Dot(dotMLP(), DotOptions{HideNames: true}), "/fc1/MatMul") {
		t.Errorf("HideNames still shows node names")
	}
}

func TestDotEscaping(t *testing.T) {
	src := Dot(dotEscaping(), DotOptions{})
	for _, want := range []string{
		`label="the \"quoted\" \\ graph"`,                 // DOT string escapes
		`label="grp \"1\" \\ <x>"`,                        // cluster label
		`in&#34;put\1`,                                    // HTML label escapes; backslash is literal there
		`onnx::MatMul_1`,                                  // colons need no escaping
		`note=&#34;a\&#34;b\\c&lt;d&gt;&amp;e\nf\tg&#34;`, // strconv.Quote, then HTML escaping
		`label="ghost<&> (undefined)"`,                    // undefined values are drawn
		`label="f32[se\"q, 8]"`,
	} {
		if !strings.Contains(src, want) {
			t.Errorf("Dot output lacks %s", want)
		}
	}
	// Go's %q escapes such as \t or \u must not reach DOT.
	if strings.Contains(src, "\t\"") || strings.Contains(src, `\u`) {
		t.Errorf("Dot output contains Go-style escapes")
	}
	if _, err := exec.LookPath("dot"); err == nil {
		if _, err := RenderSVG(src); err != nil {
			t.Errorf("Graphviz rejects the escaped output: %v", err)
		}
	}
}

func TestRenderSVG(t *testing.T) {
	if _, err := exec.LookPath("dot"); err != nil {
		t.Skip("Graphviz is not installed")
	}
	for _, tc := range dotCases {
		svg, err := RenderSVG(Dot(tc.graph(), tc.opts))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !bytes.Contains(svg, []byte("<svg")) || !bytes.Contains(svg, []byte("</svg>")) {
			t.Errorf("%s: output is not an SVG document: %.200s", tc.name, svg)
		}
	}
	// Graphviz's own complaints come back as the error.
	if _, err := RenderSVG("digraph { a -> }"); err == nil || !strings.Contains(err.Error(), "syntax error") {
		t.Errorf("bad DOT: got error %v, want a syntax error from dot", err)
	}
}

func TestRenderSVGWithoutGraphviz(t *testing.T) {
	t.Setenv("PATH", t.TempDir()) // an empty folder: no dot program
	_, err := RenderSVG("digraph {}")
	if !errors.Is(err, ErrNoGraphviz) {
		t.Fatalf("got error %v, want ErrNoGraphviz", err)
	}
	want := `the "dot" program (Graphviz) is not installed; install it with: apt-get install graphviz (Debian/Ubuntu) or brew install graphviz (macOS), or use -emit dot`
	if err.Error() != want {
		t.Errorf("got  %s\nwant %s", err, want)
	}
}
