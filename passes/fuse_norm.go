package passes

import (
	"fmt"

	"github.com/ciuic/ciuic/ir"
)

// Normalisations written out op by op, as exporters emit them:
//
//	LayerNorm: d = x - mean(x); (d / √(mean(d²) + ε))·γ + β   -> LayerNormalization(x, γ, β)
//	RMSNorm:   x · 1/√(mean(x²) + ε) · w                      -> ciuic.RMSNorm(x, w)
//
// Both reduce over the last axis only (keepdims=1); ε, γ, β and w must be constants.

func reduceLast(name string, x *Pat) *Pat {
	return Op("ReduceMean", x, Const(name+".axes")).As(name)
}

func square(x *Pat) *Pat {
	return orPat(Op("Pow", x, ConstNear("two", 2, 0)), Comm("Mul", x, x))
}

var layerNormRules = func() []Rule {
	d := func() *Pat { return Op("Sub", Var("x"), reduceLast("mean", Var("x"))).As("d") }
	std := Op("Sqrt", Comm("Add", reduceLast("var", square(d())), Const("eps")))
	norm := orPat(
		Op("Div", d(), std),
		Comm("Mul", d(), Op("Reciprocal", std)),
	)
	scaled := Comm("Mul", norm, Var("gamma"))
	bare := orPat(Op("Div", d(), std), Comm("Mul", d(), Op("Reciprocal", std)))
	ms := Op("Sqrt", Comm("Add", reduceLast("ms", square(Var("x"))), Const("eps")))
	rms := orPat(
		Comm("Mul", Var("x"), Op("Reciprocal", ms)),
		Op("Div", Var("x"), ms),
	)
	return []Rule{
		{Name: "layernorm", Pat: Comm("Add", scaled, Var("beta")), When: lnOK, Do: makeLayerNorm, Fusion: true},
		{Name: "layernorm-nobias", Pat: scaled, When: lnNoBias, Do: makeLayerNorm, Fusion: true},
		{Name: "rmsnorm", Pat: Comm("Mul", rms, Var("w")), When: rmsOK, Do: makeRMSNorm, Fusion: true},
		// γ = 1 and β = 0 were simplified away: normalisation alone (γ then is a ones vector)
		{Name: "layernorm-bare", Pat: bare, When: lnBare, Do: makeLayerNorm, Fusion: true},
	}
}()

// lastAxisOnly checks a captured ReduceMean reduces the last axis alone, keeping dims.
func lastAxisOnly(m *Match, name string) error {
	axis, err := trailingAxes(m, name)
	if err == nil && axis != len(m.N[name].Inputs[0].Type.Shape)-1 {
		err = fmt.Errorf("%s reduces from axis %d, not the last axis alone", m.N[name].Ref(), axis)
	}
	return err
}

// trailingAxes checks a captured ReduceMean reduces a run of trailing axes k..rank-1,
// keeping dims, and returns k (LayerNormalization's axis).
func trailingAxes(m *Match, name string) (int, error) {
	n := m.N[name]
	axes, _ := ir.ConstInts(m.V[name+".axes"])
	rank := len(n.Inputs[0].Type.Shape)
	seen := make([]bool, rank)
	for _, a := range axes {
		ax, err := ir.NormAxis(a, rank)
		if err != nil || seen[ax] {
			return 0, fmt.Errorf("%s has bad axes %v", n.Ref(), axes)
		}
		seen[ax] = true
	}
	first := rank - len(axes)
	for ax := first; ax < rank; ax++ {
		if len(axes) == 0 || !seen[ax] {
			return 0, fmt.Errorf("%s reduces axes %v, not a run of trailing axes", n.Ref(), axes)
		}
	}
	if n.Attrs.Int("keepdims", 1) != 1 {
		return 0, fmt.Errorf("%s drops the reduced dims", n.Ref())
	}
	return first, nil
}

// vectorOfLast checks a captured constant is a scalar or a vector over x's last dim.
func vectorOfLast(m *Match, name string) error {
	x := m.V["x"].Type.Shape
	s := m.V[name].Type.Shape
	last := x[len(x)-1]
	if len(s) == 0 || (len(s) == 1 && (s[0] == last || s[0].IsStatic() && s[0].Size == 1)) {
		return nil
	}
	return fmt.Errorf("%s has shape %s, not a vector over the last dim %s", m.V[name], s, last)
}

func scalarEps(m *Match) (float32, error) {
	t := m.V["eps"].Const
	if t.NumElements() != 1 {
		return 0, fmt.Errorf("epsilon %s is not a scalar", m.V["eps"])
	}
	return float32(t.At(0)), nil
}

func lnOK(m *Match) error {
	a1, err := trailingAxes(m, "mean")
	if err != nil {
		return err
	}
	a2, err := trailingAxes(m, "var")
	if err != nil {
		return err
	}
	if a1 != a2 {
		return fmt.Errorf("mean and variance reduce different axes")
	}
	if rank := len(m.V["x"].Type.Shape); a1 != rank-1 {
		// Several trailing axes: γ and β must then be absent or scalars.
		for _, name := range []string{"gamma", "beta"} {
			if v, ok := m.V[name]; ok && len(v.Type.Shape) != 0 {
				return fmt.Errorf("%s scales a multi-axis normalisation", v)
			}
		}
	}
	if _, err := scalarEps(m); err != nil {
		return err
	}
	for _, name := range []string{"gamma", "beta"} {
		if _, ok := m.V[name]; ok {
			if err := vectorOfLast(m, name); err != nil {
				return err
			}
		}
	}
	if !m.V["x"].Type.DType.IsFloat() {
		return fmt.Errorf("x is %s", m.V["x"].Type.DType)
	}
	return nil
}

// lnNoBias is lnOK for a LayerNorm without β, unless a β is added next: then the rule
// anchored at that Add takes the whole thing.
func lnNoBias(m *Match) error {
	if uses := m.Root.Outputs[0].Uses(); len(uses) == 1 && uses[0].Node.Op == "Add" {
		add := uses[0].Node
		for _, in := range add.Inputs {
			if in != m.Root.Outputs[0] && isBiasShape(in, m.V["x"]) {
				return fmt.Errorf("a bias is added by %s", add.Ref())
			}
		}
	}
	return lnOK(m)
}

// lnBare is lnOK for normalisation without γ and β, unless a γ multiplies it next (then
// the rule anchored there takes it).
func lnBare(m *Match) error {
	if uses := m.Root.Outputs[0].Uses(); len(uses) == 1 && (uses[0].Node.Op == "Mul" || uses[0].Node.Op == "Add") {
		for _, in := range uses[0].Node.Inputs {
			if in != m.Root.Outputs[0] && isBiasShape(in, m.V["x"]) {
				return fmt.Errorf("a scale or bias is applied by %s", uses[0].Node.Ref())
			}
		}
	}
	x := m.V["x"].Type.Shape
	if len(x) == 0 || !x[len(x)-1].IsStatic() {
		return fmt.Errorf("the normalised dim of %s is not static", m.V["x"])
	}
	return lnOK(m)
}

// isBiasShape reports whether v is a scalar or a vector over x's last dim (a γ or β).
func isBiasShape(v, x *ir.Value) bool {
	s, xs := v.Type.Shape, x.Type.Shape
	return len(s) == 0 || len(s) == 1 && len(xs) > 0 && (s[0] == xs[len(xs)-1] || s[0].IsStatic() && s[0].Size == 1)
}

func rmsOK(m *Match) error {
	if err := lastAxisOnly(m, "ms"); err != nil {
		return err
	}
	if centred, _ := Op("Sub", Var("y"), OpAny("ReduceMean")).Match(m.V["x"]); centred != nil {
		return fmt.Errorf("%s is centred (x - mean): a LayerNorm, left for that rule", m.V["x"])
	}
	if _, err := scalarEps(m); err != nil {
		return err
	}
	x := m.V["x"].Type.Shape
	if w := m.V["w"].Type.Shape; len(w) != 1 || w[0] != x[len(x)-1] {
		return fmt.Errorf("weight %s is not a vector over the last dim %s", w, x[len(x)-1])
	}
	return nil
}

// vectorConst returns the constant name broadcast to a vector of x's last dim (a scalar
// γ or β becomes a filled vector, as LayerNormalization wants).
func vectorConst(b *Builder, m *Match, name string) (*ir.Value, error) {
	v := m.V[name]
	x := m.V["x"].Type.Shape
	last := x[len(x)-1]
	if len(v.Type.Shape) == 1 && v.Type.Shape[0] == last {
		return v, nil
	}
	if !last.IsStatic() || v.Const == nil {
		return nil, fmt.Errorf("cannot broadcast %s to a vector over the last dim %s", v, last)
	}
	val := float32(v.Const.At(0))
	data := make([]float32, last.Size)
	for i := range data {
		data[i] = val
	}
	return b.Const(v.Name+"_vec", ir.NewTensorF32([]int64{last.Size}, data)), nil
}

func makeLayerNorm(b *Builder, m *Match) (*ir.Value, error) {
	eps, _ := scalarEps(m)
	if m.V["x"].Type.DType != ir.F32 {
		return nil, nil
	}
	axis, _ := trailingAxes(m, "mean")
	if x := m.V["x"].Type.Shape; axis != len(x)-1 {
		return makeMultiAxisLayerNorm(b, m, axis, eps)
	}
	if _, ok := m.V["gamma"]; !ok { // no γ: a scalar 1, filled to a vector below
		m.V["gamma"] = b.Const("ln_ones", ir.NewTensorF32(nil, []float32{1}))
	}
	gamma, err := vectorConst(b, m, "gamma")
	if err != nil {
		return nil, nil
	}
	in := []*ir.Value{m.V["x"], gamma}
	if _, ok := m.V["beta"]; ok {
		beta, err := vectorConst(b, m, "beta")
		if err != nil {
			return nil, nil
		}
		in = append(in, beta)
	}
	return b.Op("LayerNormalization", in, ir.Attrs{"axis": ir.IntAttr(-1), "epsilon": ir.FloatAttr(eps)})
}

// makeMultiAxisLayerNorm normalises over dims axis.. with scalar (or absent) γ and β,
// which become filled tensors of shape x[axis:].
func makeMultiAxisLayerNorm(b *Builder, m *Match, axis int, eps float32) (*ir.Value, error) {
	dims, ok := m.V["x"].Type.Shape[axis:].Ints()
	if !ok {
		return nil, nil
	}
	fill := func(name string, def float32) (*ir.Value, error) {
		val := def
		if v, ok := m.V[name]; ok {
			if v.Const == nil {
				return nil, fmt.Errorf("runtime scalar")
			}
			val = float32(v.Const.At(0))
		}
		n := int64(1)
		for _, d := range dims {
			n *= d
		}
		data := make([]float32, n)
		for i := range data {
			data[i] = val
		}
		return b.Const("ln_"+name, ir.NewTensorF32(dims, data)), nil
	}
	gamma, err := fill("gamma", 1)
	if err != nil {
		return nil, nil
	}
	beta, err := fill("beta", 0)
	if err != nil {
		return nil, nil
	}
	return b.Op("LayerNormalization", []*ir.Value{m.V["x"], gamma, beta}, ir.Attrs{"axis": ir.IntAttr(int64(axis)), "epsilon": ir.FloatAttr(eps)})
}

func makeRMSNorm(b *Builder, m *Match) (*ir.Value, error) {
	eps, _ := scalarEps(m)
	return b.Op("ciuic.RMSNorm", []*ir.Value{m.V["x"], m.V["w"]}, ir.Attrs{"epsilon": ir.FloatAttr(eps)})
}

func fuseLayerNorm(c *Context, g *ir.Graph) error {
	_, err := applyRules(c, g, layerNormRules)
	return err
}

// fuseSkipLayerNorm turns LayerNormalization(a + b) over the last axis into
// ciuic.SkipLayerNorm(a, b, γ, β), whose second output is the sum a + b, so readers of
// the sum (the residual stream) read it from there instead of a separate Add.
func fuseSkipLayerNorm(c *Context, g *ir.Graph) error {
	fused := 0
	for _, ln := range append([]*ir.Node{}, g.Nodes...) {
		if ln.Op != "LayerNormalization" || ln.Domain != "" {
			continue
		}
		why := skipLNBlocker(g, ln)
		if why != "" {
			if add := ln.Inputs[0].Def; add != nil && add.Op == "Add" {
				c.Missed(ln, "skip-layernorm: %s", why)
			}
			continue
		}
		add := ln.Inputs[0].Def
		in := []*ir.Value{add.Inputs[0], add.Inputs[1], ln.Inputs[1]}
		if len(ln.Inputs) > 2 && ln.Inputs[2] != nil {
			in = append(in, ln.Inputs[2])
		}
		n := &ir.Node{Domain: ir.CiuicDomain, Op: "SkipLayerNorm", Inputs: in, Group: c.NewGroup(),
			Attrs:   ir.Attrs{"epsilon": ir.FloatAttr(ln.Attrs.Float("epsilon", 1e-5))},
			Outputs: []*ir.Value{{Name: ln.Outputs[0].Name + "_sln"}, {Name: add.Outputs[0].Name + "_sum"}}}
		// (the outputs take the replaced values' names below, once those are gone)
		ts, err := ir.InferNode(n)
		if err != nil {
			return fmt.Errorf("%s: %v", ln.Ref(), err)
		}
		n.Outputs[0].Type, n.Outputs[1].Type = ts[0], ts[1]
		g.InsertBefore(add, n)
		g.ReplaceAllUses(ln.Outputs[0], n.Outputs[0])
		g.ReplaceAllUses(add.Outputs[0], n.Outputs[1])
		c.Fired(ln, "skip-layernorm replaced %s and %s", add.Ref(), ln.Ref())
		adoptName(g, ln.Outputs[0], n.Outputs[0])
		adoptName(g, add.Outputs[0], n.Outputs[1])
		g.RemoveNode(ln)
		g.RemoveNode(add)
		fused++
	}
	c.Count("skip-layernorm", fused)
	return nil
}

// skipLNBlocker says why ln cannot become a SkipLayerNorm, or "" if it can.
func skipLNBlocker(g *ir.Graph, ln *ir.Node) string {
	add := ln.Inputs[0].Def
	if add == nil || add.Op != "Add" || add.Domain != "" {
		return "input is not an Add"
	}
	x := ln.Inputs[0].Type.Shape
	if axis := ln.Attrs.Int("axis", -1); axis != -1 && axis != int64(len(x)-1) {
		return fmt.Sprintf("normalises from axis %d, not the last axis alone", axis)
	}
	for _, o := range ln.Outputs[1:] {
		if o != nil && (len(o.Uses()) > 0 || isOutput(g, o)) {
			return "its mean or inverse std-dev output is used"
		}
	}
	if isOutput(g, ln.Outputs[0]) && isOutput(g, add.Outputs[0]) {
		return "both the sum and the norm are graph outputs"
	}
	a, b := add.Inputs[0].Type.Shape, add.Inputs[1].Type.Shape
	if !a.Equal(x) {
		return fmt.Sprintf("first summand %s is broadcast to %s", a, x)
	}
	if s, err := ir.BroadcastShapes(x, b); err != nil || !s.Equal(x) {
		return fmt.Sprintf("second summand %s does not broadcast to %s", b, x)
	}
	for _, in := range ln.Inputs[1:] {
		if in != nil && in.Def != nil {
			return fmt.Sprintf("%s is computed at run time", in)
		}
	}
	if x[len(x)-1] != ln.Inputs[1].Type.Shape[len(ln.Inputs[1].Type.Shape)-1] || len(ln.Inputs[1].Type.Shape) != 1 {
		return "scale is not a vector over the last dim"
	}
	return ""
}
