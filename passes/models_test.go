package passes

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ciuic/ciuic/exec"
	"github.com/ciuic/ciuic/frontend"
	"github.com/ciuic/ciuic/frontend/onnx"
	"github.com/ciuic/ciuic/ir"
	"github.com/ciuic/ciuic/ops"
)

// TestModelsO0vsO2 runs every model in testdata (and, when ../shared is beside the repo,
// the real ONNX models there) unoptimised and at -O2 on the same seeded inputs, and
// requires the outputs to agree within 1e-4 relative.
func TestModelsO0vsO2(t *testing.T) {
	var paths []string
	for _, pattern := range []string{"../testdata/*/*.ciu", "../testdata/*.ciu", "../testdata/onnx-models/*.onnx",
		"../../shared/testdata/models/*/*.onnx"} {
		m, _ := filepath.Glob(pattern)
		paths = append(paths, m...)
	}
	if len(paths) == 0 {
		t.Skip("no models found")
	}
	compared := 0
	for _, path := range paths {
		g0, err := frontend.Load(path)
		if err != nil {
			var ue *onnx.UnsupportedError
			if errors.As(err, &ue) || strings.Contains(path, "shared") {
				continue // unsupported ops, or a test graph ciuic rejects (see frontend/onnx)
			}
			t.Errorf("%s: %v", path, err)
			continue
		}
		g2, _ := frontend.Load(path)
		if _, err := Run(g2, Config{Level: 2, VerifyEach: true}); err != nil {
			t.Errorf("%s: -O2: %v", path, err)
			continue
		}
		s0, err := exec.NewSession(g0, exec.Options{Workers: 1})
		if err != nil {
			continue // a kernel ciuic lacks: the conformance suite tracks those
		}
		s2, err := exec.NewSession(g2, exec.Options{Workers: 2})
		if err != nil {
			t.Errorf("%s: -O2 graph does not run: %v", path, err)
			continue
		}
		dims := map[string]int{}
		for _, v := range g0.Inputs {
			for _, d := range v.Type.Shape {
				if d.Name != "" {
					dims[d.Name] = 2
				}
			}
		}
		in, err := s0.RandomInputs(3, dims)
		if err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		want, err := s0.RunOrdered(context.Background(), in)
		if err != nil {
			continue // random inputs outside the model's domain (indices, shapes)
		}
		got, err := s2.RunOrdered(context.Background(), in)
		if err != nil {
			t.Errorf("%s: -O2 fails where -O0 runs: %v", path, err)
			continue
		}
		for i := range want {
			if err := closeEnoughT(want[i], got[i]); err != nil {
				t.Errorf("%s: output %s: %v", path, g0.Outputs[i].Name, err)
			}
		}
		compared++
	}
	t.Logf("%d of %d models compared", compared, len(paths))
	if compared == 0 {
		t.Error("no model was compared")
	}
}

func closeEnoughT(a, b *ops.Tensor) error {
	if a.DType == ir.F32 && b.DType == ir.F32 {
		return closeEnough(a, b, 1e-4)
	}
	if !ops.Equal(a, b) {
		return errors.New("integer outputs differ")
	}
	return nil
}
