package passes

import (
	"fmt"

	"github.com/ciuic/ciuic/ir"
)

// Dense fusion grows a ciuic.Dense one step at a time, so each rule stays small:
//
//	MatMul(x, @W)              -> Dense(x, @W)            W constant and 2-D (its packing is done once)
//	Dense(x, @W) + @b          -> Dense(x, @W, @b)        b a vector over the output dim
//	act(Dense(...))            -> Dense(...) {activation} Relu, Gelu, Sigmoid, Tanh, x·σ(x)
//	Gemm(x, @W, @c)            -> Dense(x, @Wᵀ?, @c)      alpha = beta = 1, transA = 0
var denseRules = []Rule{
	{Name: "dense", Pat: Op("MatMul", Var("x"), Var("w")), When: denseWeight, Do: makeDense, Fusion: true, ReportMisses: true},
	{Name: "dense-bias", Pat: Comm("Add", Op("ciuic.Dense", Var("x"), Const("w")).As("d"), Const("b")), When: denseBias, Do: addDenseBias, Fusion: true},
	{Name: "dense-relu", Pat: Op("Relu", denseNoAct()), Do: denseAct("relu"), Fusion: true},
	{Name: "dense-gelu", Pat: Op("Gelu", denseNoAct()), Do: denseGelu, Fusion: true},
	{Name: "dense-sigmoid", Pat: Op("Sigmoid", denseNoAct()), Do: denseAct("sigmoid"), Fusion: true},
	{Name: "dense-tanh", Pat: Op("Tanh", denseNoAct()), Do: denseAct("tanh"), Fusion: true},
	{Name: "dense-silu", Pat: Comm("Mul", denseNoAct(), Op("Sigmoid", denseNoAct())), Do: denseAct("silu"), Fusion: true},
	{Name: "dense-gemm", Pat: OpAny("Gemm"), When: gemmOK, Do: gemmToDense, Fusion: true, ReportMisses: true},
}

func denseNoAct() *Pat { return OpAny("ciuic.Dense").As("d") }

func denseWeight(m *Match) error {
	w := m.V["w"]
	if w.Const == nil {
		return fmt.Errorf("weight %s is computed at run time", w)
	}
	if len(w.Type.Shape) != 2 {
		return fmt.Errorf("weight %s is %d-D, not 2-D", w, len(w.Type.Shape))
	}
	if w.Type.DType != ir.F32 || m.V["x"].Type.DType != ir.F32 {
		return fmt.Errorf("dtype %s is not f32", w.Type.DType)
	}
	return nil
}

func makeDense(b *Builder, m *Match) (*ir.Value, error) {
	return b.Op("ciuic.Dense", []*ir.Value{m.V["x"], m.V["w"]}, nil)
}

func denseBias(m *Match) error {
	d := m.N["d"]
	if d.Attrs.String("activation", "") != "" {
		return fmt.Errorf("%s already has an activation", d.Ref())
	}
	w, bias := m.V["w"].Type.Shape, m.V["b"].Type.Shape
	if len(bias) != 1 || bias[0] != w[1] {
		return fmt.Errorf("bias %s is not a vector over the output dim %s", bias, w[1])
	}
	return nil
}

func addDenseBias(b *Builder, m *Match) (*ir.Value, error) {
	return b.Op("ciuic.Dense", []*ir.Value{m.V["x"], m.V["w"], m.V["b"]}, nil)
}

func denseAct(act string) func(b *Builder, m *Match) (*ir.Value, error) {
	return func(b *Builder, m *Match) (*ir.Value, error) {
		d := m.N["d"]
		if d.Attrs.String("activation", "") != "" {
			return nil, nil
		}
		return b.Op("ciuic.Dense", d.Inputs, ir.Attrs{"activation": ir.StringAttr(act)})
	}
}

func denseGelu(b *Builder, m *Match) (*ir.Value, error) {
	act := "gelu"
	if m.Root.Attrs.String("approximate", "none") == "tanh" {
		act = "gelu_tanh"
	}
	return denseAct(act)(b, m)
}

func gemmOK(m *Match) error {
	n := m.Root
	if len(n.Inputs) < 2 || n.Inputs[1].Const == nil {
		return fmt.Errorf("B is computed at run time")
	}
	if n.Attrs.Float("alpha", 1) != 1 || n.Attrs.Float("beta", 1) != 1 || n.Attrs.Int("transA", 0) != 0 {
		return fmt.Errorf("alpha, beta or transA differ from the defaults")
	}
	if len(n.Inputs) > 2 && n.Inputs[2] != nil {
		c := n.Inputs[2]
		if c.Const == nil || len(c.Type.Shape) != 1 {
			return fmt.Errorf("C %s is not a constant vector", c)
		}
		if c.Type.Shape[0] != n.Outputs[0].Type.Shape[1] {
			return fmt.Errorf("C %s is broadcast along the output dim", c.Type.Shape)
		}
	}
	if n.Inputs[1].Type.DType != ir.F32 {
		return fmt.Errorf("dtype %s is not f32", n.Inputs[1].Type.DType)
	}
	return nil
}

func gemmToDense(b *Builder, m *Match) (*ir.Value, error) {
	n := m.Root
	w := n.Inputs[1]
	if n.Attrs.Int("transB", 0) != 0 {
		w = b.Const(w.Name+"_t", transpose2D(w.Const))
	}
	in := []*ir.Value{n.Inputs[0], w}
	if len(n.Inputs) > 2 && n.Inputs[2] != nil {
		in = append(in, n.Inputs[2])
	}
	return b.Op("ciuic.Dense", in, nil)
}

// transpose2D returns the transpose of a 2-D f32 constant.
func transpose2D(t *ir.Tensor) *ir.Tensor {
	r, c := t.Shape[0], t.Shape[1]
	src := t.Float32s()
	dst := make([]float32, len(src))
	for i := int64(0); i < r; i++ {
		for j := int64(0); j < c; j++ {
			dst[j*r+i] = src[i*c+j]
		}
	}
	return ir.NewTensorF32([]int64{c, r}, dst)
}

func fuseDense(c *Context, g *ir.Graph) error {
	_, err := applyRules(c, g, denseRules)
	return err
}
