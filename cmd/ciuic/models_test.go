package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunAndBenchEveryModel runs `ciuic run` and `ciuic bench` on every .ciu model in
// testdata with seeded random inputs, at -O0 and -O2.
func TestRunAndBenchEveryModel(t *testing.T) {
	models, _ := filepath.Glob("../../testdata/*/*.ciu")
	if len(models) == 0 {
		t.Fatal("no models in testdata")
	}
	for _, m := range models {
		for _, level := range []string{"0", "2"} {
			var out, errb bytes.Buffer
			if code := run([]string{"run", "-O", level, "-random-inputs", "-dim", "B=2", "-dim", "S=8", "-dim", "N=3", m}, &out, &errb); code != 0 {
				t.Errorf("run -O%s %s: exit %d: %s", level, m, code, errb.String())
				continue
			}
			if !strings.Contains(out.String(), "time ") {
				t.Errorf("run %s: no summary:\n%s", m, out.String())
			}
			out.Reset()
			if code := run([]string{"bench", "-O", level, "-runs", "2", "-warmup", "0", "-min-time", "0", "-json", "-dim", "S=8", m}, &out, &errb); code != 0 {
				t.Errorf("bench -O%s %s: exit %d: %s", level, m, code, errb.String())
			} else if !strings.Contains(out.String(), `"median_ms"`) {
				t.Errorf("bench %s: %s", m, out.String())
			}
		}
	}
}

// TestDemo runs the built-in examples end to end: the language model (the default)
// and the transformer block (-block).
func TestDemo(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{nil, []string{"compile  -O2", "graphviz ", "Once upon a time, there was a little boy named Timmy.", "decode 255 tokens", "int8 "}},
		{[]string{"-block"}, []string{"graph ", "run ", "output "}},
	} {
		var out, errb bytes.Buffer
		if code := run(append([]string{"demo", "-o", t.TempDir()}, tc.args...), &out, &errb); code != 0 {
			t.Fatalf("demo %v: exit %d: %s", tc.args, code, errb.String())
		}
		for _, want := range tc.want {
			if !strings.Contains(out.String(), want) {
				t.Errorf("demo %v output lacks %q:\n%s", tc.args, want, out.String())
			}
		}
	}
}
