package conformance

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/ciuic/ciuic/exec"
	"github.com/ciuic/ciuic/frontend/onnx"
	"github.com/ciuic/ciuic/ir"
	"github.com/ciuic/ciuic/ops"
	"github.com/ciuic/ciuic/ops/npy"
	"github.com/ciuic/ciuic/passes"
)

// Agreement is how closely one model output matches the reference.
type Agreement struct {
	Output string
	RelRMS float64 // sqrt(mean((got-want)²)) / sqrt(mean(want²)); 0 for exact non-float outputs
}

// bindings is the part of a golden folder's bindings.json that RunModel reads: the
// .npy file of every graph input and output.
type bindings struct {
	Inputs  []struct{ Name, File string } `json:"inputs"`
	Outputs []struct{ Name, File string } `json:"outputs"`
}

// RunModel runs a real model against reference outputs: dir holds model.onnx and a
// golden folder's files (bindings.json, input_*.npy, output_*.npy, as ONNX Runtime
// wrote them). The model's inputs are typed from the .npy shapes, which binds its
// symbolic dims. It returns the agreement of every output, or an error if the model
// cannot be imported or run, or an output has the wrong dtype or shape.
func RunModel(dir string, opts Options) ([]Agreement, error) {
	data, err := os.ReadFile(filepath.Join(dir, "bindings.json"))
	if err != nil {
		return nil, err
	}
	var b bindings
	if err := json.Unmarshal(data, &b); err != nil {
		return nil, fmt.Errorf("%s: %v", filepath.Join(dir, "bindings.json"), err)
	}
	inputs := map[string]*ops.Tensor{}
	types := map[string]ir.Type{}
	for _, in := range b.Inputs {
		t, err := npy.ReadFile(filepath.Join(dir, in.File))
		if err != nil {
			return nil, err
		}
		inputs[in.Name] = t
		shape := make(ir.Shape, len(t.Shape))
		for i, d := range t.Shape {
			shape[i] = ir.Static(int64(d))
		}
		types[in.Name] = ir.Type{DType: t.DType, Shape: shape}
	}
	g, err := onnx.ReadFile(filepath.Join(dir, "model.onnx"), onnx.Options{InputTypes: types})
	if err != nil {
		return nil, err
	}
	if opts.Level > 0 {
		if _, err := passes.Run(g, passes.Config{Level: opts.Level, VerifyEach: true}); err != nil {
			return nil, err
		}
	}
	sess, err := exec.NewSession(g, exec.Options{Workers: opts.Workers})
	if err != nil {
		return nil, err
	}
	got, err := sess.Run(context.Background(), inputs)
	if err != nil {
		return nil, err
	}
	var out []Agreement
	for _, o := range b.Outputs {
		want, err := npy.ReadFile(filepath.Join(dir, o.File))
		if err != nil {
			return nil, err
		}
		g := got[o.Name]
		if g == nil {
			return nil, fmt.Errorf("the model has no output %q", o.Name)
		}
		if g.DType != want.DType || !sameShape(g.Shape, want.Shape) {
			return nil, fmt.Errorf("output %q is %s%v, want %s%v", o.Name, g.DType, g.Shape, want.DType, want.Shape)
		}
		a := Agreement{Output: o.Name}
		if want.DType.IsFloat() {
			gv, _ := g.Floats()
			wv, _ := want.Floats()
			a.RelRMS = relRMS(gv, wv)
		} else if msg := Compare(g, want, 0, 0); msg != "" {
			return nil, fmt.Errorf("output %q: %s", o.Name, msg)
		}
		out = append(out, a)
	}
	return out, nil
}

// relRMS is the RMS of got-want relative to the RMS of want (absolute if want is all 0).
func relRMS(got, want []float64) float64 {
	var d2, w2 float64
	for i := range want {
		d := got[i] - want[i]
		d2 += d * d
		w2 += want[i] * want[i]
	}
	if w2 == 0 {
		return math.Sqrt(d2 / float64(max(len(want), 1)))
	}
	return math.Sqrt(d2 / w2)
}
