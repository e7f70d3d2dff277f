package conformance

import (
	"fmt"
	"path/filepath"
	"testing"
)

// modelsTODO are the real models that do not run yet, and why. A model listed here that
// starts working fails the test, so the list only shrinks.
var modelsTODO = map[string]string{}

// TestModels runs the real models of testdata/onnx-models and requires every output to
// match ONNX Runtime's within 1e-4 relative RMS, as imported and at -O2.
func TestModels(t *testing.T) {
	dirs, err := filepath.Glob("../../testdata/onnx-models/*/model.onnx")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no models found: %v", err)
	}
	for _, m := range dirs {
		dir := filepath.Dir(m)
		name := filepath.Base(dir)
		for _, level := range []int{0, 2} {
			t.Run(fmt.Sprintf("%s/O%d", name, level), func(t *testing.T) {
				ag, err := RunModel(dir, Options{Level: level})
				if todo, ok := modelsTODO[name]; ok {
					if err == nil {
						t.Fatalf("%s now runs: remove it from modelsTODO (%s)", name, todo)
					}
					t.Skipf("not supported yet: %s (%v)", todo, firstLines(err.Error(), 1))
				}
				if err != nil {
					t.Fatal(err)
				}
				for _, a := range ag {
					t.Logf("%s: relative RMS %.2g", a.Output, a.RelRMS)
					if a.RelRMS > 1e-4 {
						t.Errorf("output %q: relative RMS %.3g > 1e-4", a.Output, a.RelRMS)
					}
				}
			})
		}
	}
}
