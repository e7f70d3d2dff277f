package ops_test

// This file is the "Custom operators" example of docs/ops.md, kept as a test so that the
// doc's code keeps compiling and working: a package outside ciuic adds mylib.Swish with
// ir.Register (its schema) and ops.Register (its kernel), then builds and runs a graph
// that uses it. Keep the two in sync.

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/ciuic/ciuic/exec"
	"github.com/ciuic/ciuic/frontend/text"
	"github.com/ciuic/ciuic/ir"
	"github.com/ciuic/ciuic/ops"
)

func init() {
	// The schema: arity, attributes and type inference.
	ir.MustRegister(&ir.Schema{
		Domain: "mylib", Op: "Swish",
		MinInputs: 1, MaxInputs: 1, MinOutputs: 1, MaxOutputs: 1,
		Attrs: map[string]ir.AttrSpec{"beta": {Kind: ir.AttrFloat}},
		Infer: func(n *ir.Node) ([]ir.Type, error) {
			x := n.Inputs[0].Type
			if x.DType != ir.F32 {
				return nil, fmt.Errorf("X must be f32, got %s", x.DType)
			}
			return []ir.Type{x}, nil // same dtype and shape as X
		},
		Doc: "X * sigmoid(beta * X)",
	})
	// The kernel, for f32 inputs.
	ops.Register("mylib", "Swish", swishKernel, ir.F32)
}

// swishKernel computes y = x * sigmoid(beta * x) = x / (1 + exp(-beta * x)).
func swishKernel(ctx *ops.KernelContext, in []*ops.Tensor, attrs ir.Attrs) ([]*ops.Tensor, error) {
	x := in[0]
	beta := float64(attrs.Float("beta", 1))
	y := ops.New(ir.F32, x.Shape...)
	xs, ys := x.F32(), y.F32()
	// Elements are independent, so any split gives the same result.
	ctx.ParallelFor(len(xs), 1<<14, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			v := float64(xs[i])
			ys[i] = float32(v / (1 + math.Exp(-beta*v)))
		}
	})
	return []*ops.Tensor{y}, nil
}

func swishWant(x []float32, beta float64) []float32 {
	w := make([]float32, len(x))
	for i, v := range x {
		w[i] = float32(float64(v) / (1 + math.Exp(-beta*float64(v))))
	}
	return w
}

func checkSwish(t *testing.T, got *ops.Tensor, x []float32, beta float64) {
	t.Helper()
	want := ops.MustFromSlice([]int{2, 3}, swishWant(x, beta))
	if got == nil || !ops.Equal(got, want) {
		t.Fatalf("y = %v, want %v", got, want)
	}
}

// The graph built with the ir API, run by an exec.Session.
func TestCustomOperatorGraph(t *testing.T) {
	g := ir.NewGraph("swish")
	x := g.AddInput("x", ir.T(ir.F32, ir.S("N", 3)))
	n := g.NewNode("Swish", []*ir.Value{x}, ir.Attrs{"beta": ir.FloatAttr(2)}, "y")
	n.Domain = "mylib"
	g.Outputs = []*ir.Value{n.Outputs[0]}
	if err := ir.InferTypes(g); err != nil {
		t.Fatal(err)
	}
	if got := n.Outputs[0].Type.String(); got != "f32[N, 3]" {
		t.Errorf("inferred type %s, want f32[N, 3]", got)
	}
	s, err := exec.NewSession(g, exec.Options{})
	if err != nil {
		t.Fatal(err)
	}
	in := []float32{-2, -1, 0, 0.5, 1, 3}
	out, err := s.Run(context.Background(), map[string]*ops.Tensor{"x": ops.MustFromSlice([]int{2, 3}, in)})
	if err != nil {
		t.Fatal(err)
	}
	checkSwish(t, out["y"], in, 2)
}

// The same op written in the Ciuic model language: the parser knows it from its schema.
func TestCustomOperatorText(t *testing.T) {
	g, err := text.Parse("swish.ciu", []byte(`graph swish(x: f32[N, 3]) -> (y) {
  %y = mylib.Swish(%x) {beta: 0.5}
}`))
	if err != nil {
		t.Fatal(err)
	}
	s, err := exec.NewSession(g, exec.Options{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	in := []float32{-4, -0.5, 0, 1, 2, 8}
	out, err := s.Run(context.Background(), map[string]*ops.Tensor{"x": ops.MustFromSlice([]int{2, 3}, in)})
	if err != nil {
		t.Fatal(err)
	}
	checkSwish(t, out["y"], in, 0.5)
}

// Mistakes are reported by the schema: here the wrong input dtype.
func TestCustomOperatorTypeError(t *testing.T) {
	_, err := text.Parse("bad.ciu", []byte(`graph bad(x: f64[3]) -> (y) {
  %y = mylib.Swish(%x)
}`))
	if err == nil || !strings.Contains(err.Error(), "X must be f32, got f64") {
		t.Fatalf("err = %v, want the schema's dtype error", err)
	}
}
