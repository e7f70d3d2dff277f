package exec

import (
	"context"
	"testing"

	"github.com/ciuic/ciuic/ir"
	"github.com/ciuic/ciuic/ops"
)

// TestPrepackOncePerSession checks that NewSession packs the constant weights of
// MatMul and ciuic.Dense once, and that runs never pack them again.
func TestPrepackOncePerSession(t *testing.T) {
	g := ir.NewGraph("prepack")
	x := g.AddInput("x", ir.T(ir.F32, ir.S(4, 32)))
	w1 := make([]float32, 32*48)
	w2 := make([]float32, 48*8)
	for i := range w1 {
		w1[i] = float32(i%7) - 3
	}
	for i := range w2 {
		w2[i] = float32(i%5) - 2
	}
	c1 := g.AddConst("w1", ir.NewTensorF32([]int64{32, 48}, w1))
	c2 := g.AddConst("w2", ir.NewTensorF32([]int64{48, 8}, w2))
	d := g.NewNode("Dense", []*ir.Value{x, c1}, ir.Attrs{"activation": ir.StringAttr("relu")}, "h")
	d.Domain = ir.CiuicDomain
	m := g.NewNode("MatMul", []*ir.Value{d.Outputs[0], c2}, nil, "y")
	g.Outputs = []*ir.Value{m.Outputs[0]}
	if err := ir.InferTypes(g); err != nil {
		t.Fatal(err)
	}

	before := ops.GemmPacks()
	s, err := NewSession(g, Options{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	if n := ops.GemmPacks() - before; n != 2 {
		t.Errorf("NewSession packed %d matrices, want 2", n)
	}
	in := ops.New(ir.F32, 4, 32)
	for i := range in.F32() {
		in.F32()[i] = float32(i%3) - 1
	}
	var first *ops.Tensor
	for range 3 {
		out, err := s.Run(context.Background(), map[string]*ops.Tensor{"x": in})
		if err != nil {
			t.Fatal(err)
		}
		if first == nil {
			first = out["y"]
		} else if !ops.Equal(out["y"], first) {
			t.Errorf("runs disagree")
		}
	}
	if n := ops.GemmPacks() - before; n != 2 {
		t.Errorf("after 3 runs, %d matrices packed, want 2 (at session creation only)", n)
	}
}

// TestPrepackInt8OncePerSession is TestPrepackOncePerSession for MatMulInteger's
// 8-bit weight.
func TestPrepackInt8OncePerSession(t *testing.T) {
	g := ir.NewGraph("prepack8")
	x := g.AddInput("x", ir.T(ir.U8, ir.S(3, 20)))
	w := make([]byte, 20*30)
	for i := range w {
		w[i] = byte(i * 7)
	}
	c := g.AddConst("w", &ir.Tensor{DType: ir.I8, Shape: []int64{20, 30}, Data: w})
	g.NewNode("MatMulInteger", []*ir.Value{x, c}, nil, "y")
	g.Outputs = []*ir.Value{g.Nodes[0].Outputs[0]}
	if err := ir.InferTypes(g); err != nil {
		t.Fatal(err)
	}
	before := ops.GemmPacks()
	s, err := NewSession(g, Options{Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	in := ops.New(ir.U8, 3, 20)
	for i := range in.Data.([]uint8) {
		in.Data.([]uint8)[i] = uint8(i * 13)
	}
	for range 2 {
		if _, err := s.Run(context.Background(), map[string]*ops.Tensor{"x": in}); err != nil {
			t.Fatal(err)
		}
	}
	if n := ops.GemmPacks() - before; n != 1 {
		t.Errorf("session creation and 2 runs packed %d matrices, want 1", n)
	}
}
