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
