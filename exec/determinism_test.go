package exec

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ciuic/ciuic/frontend/text"
	"github.com/ciuic/ciuic/ir"
	"github.com/ciuic/ciuic/ops"
)

// inlineModels are run by TestDeterminism beside every .ciu file under testdata/:
// graphs whose kernels split work (exectest.Sum) and whose branches run side by side.
var inlineModels = map[string]string{
	"branches": `graph branches(x: f32[N, 300]) -> (y, s) {
  %a = exectest.Sum(Relu(%x))
  %b = exectest.Sum(Neg(%x))
  %c = Mul(%x, %x)
  %y = Add(Add(%a, %b), %c)
  %s = exectest.Sum(%c)
}`,
	"halves": `graph halves(x: f32[6, 1000]) -> (d) {
  %a, %b = exectest.Halves(%x)
  %d = Sub(exectest.Sum(%a), exectest.Sum(%b))
}`,
}

// TestDeterminism runs every model with seeded random inputs on 1, 2 and 8 workers
// and requires bit-identical outputs. Models that use an op without a kernel yet are
// skipped (and logged), so the sweep grows as kernels land.
func TestDeterminism(t *testing.T) {
	graphs := map[string]*ir.Graph{}
	for name, src := range inlineModels {
		g, err := text.Parse(name+".ciu", []byte(src))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		graphs[name] = g
	}
	root := filepath.Join("..", "testdata")
	filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".ciu") {
			return nil
		}
		g, err := text.ParseFile(path)
		if err != nil {
			t.Errorf("%s: %v", path, err)
			return nil
		}
		graphs[path] = g
		return nil
	})
	ran := 0
	for name, g := range graphs {
		t.Run(filepath.Base(name), func(t *testing.T) {
			var want []*ops.Tensor
			for _, workers := range []int{1, 2, 8} {
				s, err := NewSession(g, Options{Workers: workers})
				var list ir.ErrorList
				if err != nil && errors.As(err, &list) && strings.Contains(err.Error(), "no kernel for") {
					t.Skipf("not all kernels exist yet: %v", err)
				}
				if err != nil {
					t.Fatal(err)
				}
				inputs, err := s.RandomInputs(1, symbolDims(g, 3))
				if err != nil {
					t.Skip(err)
				}
				got, err := s.RunOrdered(context.Background(), inputs)
				if err != nil {
					t.Fatalf("workers=%d: %v", workers, err)
				}
				if want == nil {
					want = got
					continue
				}
				for i := range got {
					if !bytes.Equal(got[i].ToIR().Data, want[i].ToIR().Data) {
						t.Errorf("workers=%d: output %s differs from the 1-worker run:\n%v\n%v", workers, g.Outputs[i], got[i], want[i])
					}
				}
			}
			ran++
		})
	}
	if ran < len(inlineModels) {
		t.Errorf("only %d models ran", ran)
	}
}

// symbolDims binds every symbolic dim of g's inputs to size.
func symbolDims(g *ir.Graph, size int) map[string]int {
	dims := map[string]int{}
	for _, v := range g.Inputs {
		for _, d := range v.Type.Shape {
			if d.Name != "" {
				dims[d.Name] = size
			}
		}
	}
	return dims
}
