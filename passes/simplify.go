package passes

import (
	"fmt"

	"github.com/ciuic/ciuic/ir"
)

// keep returns a rewrite that replaces the matched root by the captured value name.
func keep(name string) func(b *Builder, m *Match) (*ir.Value, error) {
	return func(b *Builder, m *Match) (*ir.Value, error) { return m.V[name], nil }
}

// sameType is a condition: the root's output type equals the captured value's, so
// dropping the op changes neither dtype nor shape (x*1 with broadcasting may not hold).
func sameType(name string) func(m *Match) error {
	return func(m *Match) error {
		if got, want := m.Root.Outputs[0].Type, m.V[name].Type; !got.Equal(want) {
			return fmt.Errorf("result %s differs from %s %s", got, m.V[name], want)
		}
		return nil
	}
}

var simplifyRules = []Rule{
	{Name: "identity", Pat: Op("Identity", Var("x")), Do: keep("x")},                                                                       // Identity(x) -> x
	{Name: "dropout", Pat: OpAny("Dropout"), Do: dropoutInput},                                                                             // inference: Dropout(x) -> x (unless its mask is read)
	{Name: "mul-one", Pat: Comm("Mul", Var("x"), ConstScalar("one", 1)), When: sameType("x"), Do: keep("x")},                               // x*1 -> x
	{Name: "add-zero", Pat: Comm("Add", Var("x"), ConstScalar("zero", 0)), When: sameType("x"), Do: keep("x")},                             // x+0 -> x
	{Name: "sub-zero", Pat: Op("Sub", Var("x"), ConstScalar("zero", 0)), When: sameType("x"), Do: keep("x")},                               // x-0 -> x
	{Name: "div-one", Pat: Op("Div", Var("x"), ConstScalar("one", 1)), When: sameType("x"), Do: keep("x")},                                 // x/1 -> x
	{Name: "cast-noop", Pat: Op("Cast", Var("x")), When: sameType("x"), Do: keep("x")},                                                     // Cast to its own type -> x
	{Name: "reshape-noop", Pat: Op("Reshape", Var("x"), Var("s")), When: knownSameType("x"), Do: keep("x")},                                // reshape to the same static shape
	{Name: "reshape-chain", Pat: Op("Reshape", Op("Reshape", Var("x"), Var("s1")), Const("s2")), When: noZeroDims("s2"), Do: reshapeChain}, // Reshape(Reshape(x)) -> Reshape(x)
	{Name: "reshape-const-target", Pat: Op("Reshape", Var("x"), Var("s")), When: computedTarget, Do: constTarget},                          // shape subgraph -> constant with 0 / -1
	{Name: "transpose-pair", Pat: Op("Transpose", Op("Transpose", Var("x")).As("inner")), Do: transposePair},                               // tᵀᵀ -> t (or one Transpose)
	{Name: "transpose-noop", Pat: Op("Transpose", Var("x")), When: identityPerm, Do: keep("x")},                                            // Transpose with perm 0..n-1 -> x
}

func simplify(c *Context, g *ir.Graph) error {
	_, err := applyRules(c, g, simplifyRules)
	return err
}

func dropoutInput(b *Builder, m *Match) (*ir.Value, error) { return m.Root.Inputs[0], nil }

func knownSameType(name string) func(m *Match) error {
	return func(m *Match) error {
		out := m.Root.Outputs[0].Type
		for _, d := range out.Shape {
			if d.IsUnknown() {
				return fmt.Errorf("shape %s has unknown dims", out.Shape)
			}
		}
		return sameType(name)(m)
	}
}

func noZeroDims(name string) func(m *Match) error {
	return func(m *Match) error {
		s, _ := ir.ConstInts(m.V[name])
		for _, d := range s {
			if d == 0 && m.Root.Attrs.Int("allowzero", 0) == 0 {
				return fmt.Errorf("outer shape %v copies a dim (0) from the inner reshape", s)
			}
		}
		return nil
	}
}

func reshapeChain(b *Builder, m *Match) (*ir.Value, error) {
	return b.Op("Reshape", []*ir.Value{m.V["x"], m.V["s2"]}, m.Root.Attrs.Clone())
}

func perm(n *ir.Node) []int64 {
	p, ok := n.Attrs.Ints("perm")
	if !ok {
		r := len(n.Inputs[0].Type.Shape)
		p = make([]int64, r)
		for i := range p {
			p[i] = int64(r - 1 - i)
		}
	}
	return p
}

func isIdentityPerm(p []int64) bool {
	for i, v := range p {
		if v != int64(i) {
			return false
		}
	}
	return true
}

func identityPerm(m *Match) error {
	if !isIdentityPerm(perm(m.Root)) {
		return fmt.Errorf("perm is not the identity")
	}
	return nil
}

func transposePair(b *Builder, m *Match) (*ir.Value, error) {
	p1, p2 := perm(m.N["inner"]), perm(m.Root)
	composed := make([]int64, len(p2))
	for i := range p2 {
		composed[i] = p1[p2[i]]
	}
	if isIdentityPerm(composed) {
		return m.V["x"], nil
	}
	return b.Op("Transpose", []*ir.Value{m.V["x"]}, ir.Attrs{"perm": ir.IntsAttr(composed...)})
}

// computedTarget holds for a Reshape whose target is computed at run time (Shape, Gather,
// Concat, ...) but is known symbolically, so a constant target can replace the subgraph.
func computedTarget(m *Match) error {
	if m.V["s"].Const != nil {
		return fmt.Errorf("target is already constant")
	}
	if _, ok := constReshapeTarget(m.V["x"].Type.Shape, m.Root.Outputs[0].Type.Shape); !ok {
		return fmt.Errorf("target %s cannot be written with static sizes, 0 and -1", m.Root.Outputs[0].Type.Shape)
	}
	return nil
}

// constReshapeTarget writes out as a Reshape target for input in: static sizes as they are,
// a symbolic dim equal to the input's dim at the same position as 0, and at most one other
// symbolic dim as -1.
func constReshapeTarget(in, out ir.Shape) ([]int64, bool) {
	target := make([]int64, len(out))
	solved := false
	for i, d := range out {
		switch {
		case d.IsStatic() && d.Size != 0:
			target[i] = d.Size
		case d.Name != "" && i < len(in) && in[i] == d:
			target[i] = 0
		case !solved && (d.Name != "" || d.IsUnknown()):
			target[i] = -1
			solved = true
		default:
			return nil, false
		}
	}
	return target, true
}

func constTarget(b *Builder, m *Match) (*ir.Value, error) {
	target, _ := constReshapeTarget(m.V["x"].Type.Shape, m.Root.Outputs[0].Type.Shape)
	c := b.Const(m.V["s"].Name+"_const", ir.NewTensorI64([]int64{int64(len(target))}, target))
	y, err := b.Op("Reshape", []*ir.Value{m.V["x"], c}, nil)
	if err != nil || !y.Type.Equal(m.Root.Outputs[0].Type) {
		// -1 cannot be solved to the same dim (say, batch folded into an unknown dim):
		// keep the computed target. The node just made is dead and swept.
		return nil, nil
	}
	return y, nil
}
