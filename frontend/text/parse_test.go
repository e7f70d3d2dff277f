package text

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ciuic/ciuic/frontend/safetensors"
	"github.com/ciuic/ciuic/ir"
)

// ParseFile finds the weights file next to the model, whatever the working directory.
func TestParseFileWeightsRelativeToModel(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "models")
	if err := os.MkdirAll(filepath.Join(dir, "w"), 0o755); err != nil {
		t.Fatal(err)
	}
	w := ir.NewTensorF32([]int64{2, 2}, []float32{1, 2, 3, 4})
	if err := safetensors.Write(filepath.Join(dir, "w", "m.safetensors"), map[string]*ir.Tensor{"w": w}, nil); err != nil {
		t.Fatal(err)
	}
	src := "graph m(x: f32[N, 2]) -> (y) {\n  weights \"w/m.safetensors\"\n  %y = MatMul(%x, @w)\n}\n"
	model := filepath.Join(dir, "m.ciu")
	if err := os.WriteFile(model, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	g, err := ParseFile(model)
	if err != nil {
		t.Fatal(err)
	}
	c := g.Lookup("w")
	if c == nil || !c.IsConst() || c.Const.Float32s()[3] != 4 {
		t.Fatalf("weight w not loaded: %+v", c)
	}
	if got := g.Outputs[0].Type.String(); got != "f32[N, 2]" {
		t.Errorf("output type %s, want f32[N, 2]", got)
	}
	if _, err := ParseFile(filepath.Join(dir, "missing.ciu")); err == nil {
		t.Error("ParseFile of a missing file succeeded")
	}
}

// Errors carry positions that callers can inspect, sorted by position.
func TestErrorListPositions(t *testing.T) {
	src := "graph g(x: f32[4]) -> (y) {\n  %y = Relu(%b)\n  %a = Nope(%x)\n  %c = Relu(%d)\n}\n"
	_, err := Parse("e.ciu", []byte(src))
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("error %T is not an ErrorList: %v", err, err)
	}
	want := []struct {
		line, col int
		msg       string
	}{{2, 13, "undefined value %b"}, {3, 8, "unknown op Nope"}, {4, 13, "undefined value %d"}}
	if len(list) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%v", len(list), len(want), err)
	}
	for i, w := range want {
		e := list[i]
		if e.Pos.Filename != "e.ciu" || e.Pos.Line != w.line || e.Pos.Column != w.col || e.Msg != w.msg {
			t.Errorf("error %d = %s:%d:%d: %s, want e.ciu:%d:%d: %s", i, e.Pos.Filename, e.Pos.Line, e.Pos.Column, e.Msg, w.line, w.col, w.msg)
		}
	}
}

func TestSyntaxErrors(t *testing.T) {
	head := "graph g(x: f32[4]) -> (y) {\n"
	for _, tc := range []struct{ src, want string }{
		{head + "  %y = Relu(%x\n}", `s.ciu:3:1: unexpected token "}"`},
		{head + "  %y: = Relu(%x)\n}", `s.ciu:2:7: unexpected token "="`},
		{head + "  $y = Relu(%x)\n}", `s.ciu:2:3: unexpected character '$'`},
		{"graph g(x: f32[4) -> (y) {}", `s.ciu:1:17: unexpected token ")"`},
		{head + "  %y = Relu(%x) {a: f32[2] }\n}", `s.ciu:2:28: unexpected token "}"`},
		{"", `s.ciu:1:1: unexpected token "<EOF>"`},
	} {
		_, err := Parse("s.ciu", []byte(tc.src))
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("Parse(%q):\n got %v\nwant prefix %s", tc.src, err, tc.want)
		}
	}
}
