package passes

import (
	"math"

	"github.com/ciuic/ciuic/ir"
)

// GELU as exporters write it, in its erf and tanh forms:
//
//	0.5·x·(1 + erf(x/√2))                      -> Gelu(x)
//	0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))  -> Gelu(x) {approximate: "tanh"}
//
// Multiplication order and grouping vary between exporters, so each form has a few
// patterns; constants are matched to 1e-3 relative (float16 exports round them).
const geluTol = 1e-3

func erfArg() *Pat {
	// x/√2 or x·(1/√2)
	return orPat(
		Op("Div", Var("x"), ConstNear("sqrt2", math.Sqrt2, geluTol)),
		Comm("Mul", Var("x"), ConstNear("rsqrt2", 1/math.Sqrt2, geluTol)),
	)
}

func tanhArg() *Pat {
	// √(2/π)·(x + 0.044715·x³), x³ as Pow(x, 3) or x·x·x
	cube := orPat(
		Op("Pow", Var("x"), ConstNear("three", 3, 0)),
		Comm("Mul", Var("x"), Comm("Mul", Var("x"), Var("x"))),
	)
	inner := Comm("Add", Var("x"), Comm("Mul", cube, ConstNear("c", 0.044715, geluTol)))
	k := func() *Pat { return ConstNear("k", math.Sqrt(2/math.Pi), geluTol) }
	// or factored: (√(2/π)·x)·(1 + (0.044715·x)·x), as Megatron writes it
	square := orPat(
		Comm("Mul", Comm("Mul", Var("x"), ConstNear("c", 0.044715, geluTol)), Var("x")),
		Comm("Mul", Comm("Mul", Var("x"), Var("x")), ConstNear("c", 0.044715, geluTol)),
	)
	factored := Comm("Mul", Comm("Mul", Var("x"), k()), Comm("Add", square, ConstNear("one", 1, 0)))
	return orPat(Comm("Mul", inner, k()), factored)
}

// (a shared x·0.5 or x·√(2/π) may be computed once and read twice, which Var equality
// handles: every x must be the same value.)

// geluShapes are the ways 0.5·x·(1 + f) is grouped, with f the erf or tanh term.
func geluShapes(f *Pat) []*Pat {
	onePlus := Comm("Add", f, ConstNear("one", 1, 0))
	half := func() *Pat { return ConstNear("half", 0.5, 0) }
	return []*Pat{
		Comm("Mul", Comm("Mul", Var("x"), onePlus), half()),               // (x·(1+f))·0.5
		Comm("Mul", Comm("Mul", Var("x"), half()), onePlus),               // (x·0.5)·(1+f)
		Comm("Mul", Var("x"), Comm("Mul", onePlus, half())),               // x·((1+f)·0.5)
		Op("Div", Comm("Mul", Var("x"), onePlus), ConstNear("two", 2, 0)), // x·(1+f)/2
	}
}

var geluRules = func() []Rule {
	var rules []Rule
	for _, p := range geluShapes(Op("Erf", erfArg())) {
		rules = append(rules, Rule{Name: "gelu", Pat: p, Do: makeGelu("none"), Fusion: true})
	}
	for _, p := range geluShapes(Op("Tanh", tanhArg())) {
		rules = append(rules, Rule{Name: "gelu-tanh", Pat: p, Do: makeGelu("tanh"), Fusion: true})
	}
	return rules
}()

func makeGelu(approx string) func(b *Builder, m *Match) (*ir.Value, error) {
	return func(b *Builder, m *Match) (*ir.Value, error) {
		var attrs ir.Attrs
		if approx != "none" {
			attrs = ir.Attrs{"approximate": ir.StringAttr(approx)}
		}
		return b.Op("Gelu", []*ir.Value{m.V["x"]}, attrs)
	}
}

func fuseGelu(c *Context, g *ir.Graph) error {
	_, err := applyRules(c, g, geluRules)
	return err
}
