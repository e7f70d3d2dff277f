package passes

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/ciuic/ciuic/ir"
	"github.com/ciuic/ciuic/ops"
	"github.com/ciuic/ciuic/ops/sparse" // registers ciuic.SparseAttention
)

// SparseSpec is a parsed -sparse-attention value.
type SparseSpec struct {
	Off    bool
	Window int // > 0: approximate mode, each query keeps keys closer than Window
	Global int // approximate mode: leading tokens every query sees and that see everything
	Block  int // approximate mode: local blocks of this many tokens instead of a token band
}

// ParseSparseSpec parses "off", "exact" (or ""), or "window=N[,global=G][,block=B]".
func ParseSparseSpec(s string) (SparseSpec, error) {
	switch s {
	case "", "exact":
		return SparseSpec{}, nil
	case "off":
		return SparseSpec{Off: true}, nil
	}
	var sp SparseSpec
	for _, kv := range strings.Split(s, ",") {
		k, v, _ := strings.Cut(kv, "=")
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return sp, fmt.Errorf("-sparse-attention %q: %q is not NAME=COUNT (want off, exact or window=N[,global=G][,block=B])", s, kv)
		}
		switch k {
		case "window":
			sp.Window = n
		case "global":
			sp.Global = n
		case "block":
			sp.Block = n
		default:
			return sp, fmt.Errorf("-sparse-attention %q: unknown key %q (want window, global or block)", s, k)
		}
	}
	if sp.Window <= 0 {
		return sp, fmt.Errorf("-sparse-attention %q: window=N with N > 0 is required", s)
	}
	return sp, nil
}

func (sp SparseSpec) String() string {
	s := fmt.Sprintf("window=%d", sp.Window)
	if sp.Global > 0 {
		s += fmt.Sprintf(",global=%d", sp.Global)
	}
	if sp.Block > 0 {
		s += fmt.Sprintf(",block=%d", sp.Block)
	}
	return s
}

// sparseAttention rewrites ciuic.Attention into ciuic.SparseAttention.
//
// In exact mode (the default) it does so only when the mask provably keeps nothing
// outside a window around the diagonal, so the result cannot change: causal attention
// (a window of T keys back), a constant mask whose allowed keys (0) form the same band
// in every row and whose blocked keys are -inf or <= -1e9, or a mask computed from
// Range, Sub, Abs, Less, Where, ... that the pass evaluates row by row (maskRows). A
// mask known only at run time is never rewritten. In approximate mode
// (-sparse-attention window=N) it rewrites every attention to the requested pattern,
// then measures the error against dense attention on seeded inputs and reports it.
func sparseAttention(c *Context, g *ir.Graph) error {
	spec, err := ParseSparseSpec(c.SparseAttention)
	if err != nil {
		return err
	}
	if spec.Off {
		return nil
	}
	n := 0
	for _, at := range append([]*ir.Node{}, g.Nodes...) {
		if at.Op == "CachedAttention" && at.Domain == ir.CiuicDomain && spec.Window > 0 {
			if windowCachedAttention(c, at, spec) {
				n++
			}
			continue
		}
		if at.Op != "Attention" || at.Domain != ir.CiuicDomain {
			continue
		}
		if why := unsupportedAttention(at); why != "" {
			c.Missed(at, "sparse attention: %s", why)
			continue
		}
		var ok bool
		if spec.Window > 0 {
			ok, err = approximateAttention(c, g, at, spec)
		} else {
			ok, err = exactSparse(c, g, at)
		}
		if err != nil {
			return err
		}
		if ok {
			n++
		}
	}
	c.Count("sparse attention", n)
	removeDead(g)
	return nil
}

// unsupportedAttention says why at has a form SparseAttention does not take, or "".
func unsupportedAttention(at *ir.Node) string {
	for i, v := range at.Inputs[:3] {
		if len(v.Type.Shape) != 3 {
			return fmt.Sprintf("input %d %s is not [batch, seq, hidden] (a KV cache layout)", i, v.Type)
		}
	}
	if at.Attrs.Has("mask_filter") {
		return "a multiplicative mask (mask_filter) is not supported"
	}
	for name := range at.Attrs {
		switch name {
		case "num_heads", "kv_num_heads", "scale", "causal", "mask_kind":
		default:
			return fmt.Sprintf("attribute %s is not understood by this pass", name)
		}
	}
	return ""
}

// blockedValue is how negative a finite mask value must be to count as blocking exactly:
// the softmax weight e^(score-1e9-max) is 0 in float64 for any score a float32 model
// produces, where -10000 (BERT's padding value) is overcome by a score gap of 9300.
const blockedValue = -1e9

func exactSparse(c *Context, g *ir.Graph, at *ir.Node) (bool, error) {
	q, k := at.Inputs[0].Type.Shape, at.Inputs[1].Type.Shape
	causal := at.Attrs.Int("causal", 0) != 0
	var mask *ir.Value
	if len(at.Inputs) > 3 {
		mask = at.Inputs[3]
	}
	var pat sparse.Pattern
	var how string
	switch {
	case mask == nil && !causal:
		c.Missed(at, "sparse attention: no mask, every query sees every key")
		return false, nil
	case mask == nil:
		pat = sparse.Pattern{Causal: true, WindowLeft: -1, WindowRight: 0}
		how = "causal attention keeps a " + pat.String()
	default:
		S, T := q[1], k[1]
		if !S.IsStatic() || !T.IsStatic() {
			c.Missed(at, "sparse attention: sequence lengths %s, %s are not static, so the mask cannot be checked", S, T)
			return false, nil
		}
		rows, why := maskRows(mask, int(S.Size), int(T.Size))
		if rows == nil {
			c.Missed(at, "sparse attention: %s", why)
			return false, nil
		}
		band, why := bandOf(rows, int(S.Size), int(T.Size), causal)
		if why != "" {
			c.Missed(at, "sparse attention: mask %s: %s", mask, why)
			return false, nil
		}
		pat, how = band, fmt.Sprintf("mask %s keeps a %v", mask, band)
	}
	attrs := pat.Attrs()
	copyAttrs(attrs, at.Attrs, "num_heads", "kv_num_heads", "scale")
	if err := replaceAttention(c, g, at, at.Inputs[:3], attrs); err != nil {
		return false, err
	}
	c.Fired(at, "sparse attention: %s", how)
	return true, nil
}

func copyAttrs(dst, src ir.Attrs, names ...string) {
	for _, n := range names {
		if a, ok := src[n]; ok {
			dst[n] = a
		}
	}
}

func replaceAttention(c *Context, g *ir.Graph, at *ir.Node, in []*ir.Value, attrs ir.Attrs) error {
	b := &Builder{g: g, at: at, group: at.Group}
	if b.group == "" {
		b.group = c.NewGroup()
	}
	out, err := b.Op(sparse.Domain+"."+sparse.Op, in, attrs)
	if err != nil {
		return fmt.Errorf("%s: %v", at.Ref(), err)
	}
	if err := b.finish(at.Outputs[0], out); err != nil {
		return fmt.Errorf("%s: %v", at.Ref(), err)
	}
	b.Name(out, at.Name)
	g.ReplaceAllUses(at.Outputs[0], out)
	keepName(b, at.Outputs[0], out)
	g.RemoveNode(at)
	return nil
}

// bandOf finds the window [p-L, p+R] that every row of the mask allows exactly (p = s +
// T - S, the causal alignment), or says why there is none.
func bandOf(rows *maskEval, S, T int, causal bool) (sparse.Pattern, string) {
	first, last := make([]int, S), make([]int, S)
	L, R := math.MinInt, math.MinInt
	for s := 0; s < S; s++ {
		row := rows.row(s)
		first[s], last[s] = -1, -1
		finiteBlock := false
		p := s + T - S
		for t := 0; t < T; t++ {
			v := row[0]
			if len(row) > 1 {
				v = row[t]
			}
			allowed := v == 0 && (!causal || t <= p)
			switch {
			case allowed:
				if first[s] < 0 {
					first[s] = t
				} else if last[s] != t-1 {
					return sparse.Pattern{}, fmt.Sprintf("row %d allows keys %d and %d but not those between: not a band", s, last[s], t)
				}
				last[s] = t
			case math.IsInf(v, -1) || causal && t > p:
			case v <= blockedValue:
				finiteBlock = true
			default:
				return sparse.Pattern{}, fmt.Sprintf("row %d key %d has %g: a soft bias, not 0 or a block (-inf or <= %g)", s, t, v, blockedValue)
			}
		}
		if first[s] < 0 {
			if finiteBlock {
				return sparse.Pattern{}, fmt.Sprintf("row %d blocks every key with finite values, where dense attention averages them all", s)
			}
			continue
		}
		L, R = max(L, p-first[s]), max(R, last[s]-p)
	}
	if L == math.MinInt {
		return sparse.Pattern{}, "every key of every row is blocked"
	}
	if L < 0 || R < 0 {
		return sparse.Pattern{}, fmt.Sprintf("the allowed band [p%+d, p%+d] does not contain the query's own position", -L, R)
	}
	for s := 0; s < S; s++ {
		p := s + T - S
		lo, hi := max(0, p-L), min(T-1, p+R)
		if lo > hi {
			if first[s] >= 0 {
				return sparse.Pattern{}, fmt.Sprintf("row %d allows keys %d..%d outside the band [p-%d, p+%d]", s, first[s], last[s], L, R)
			}
			continue
		}
		if first[s] != lo || last[s] != hi {
			return sparse.Pattern{}, fmt.Sprintf("row %d allows keys %d..%d, not %d..%d as a band [p-%d, p+%d] would", s, first[s], last[s], lo, hi, L, R)
		}
	}
	pat := sparse.Pattern{WindowLeft: L, WindowRight: R}
	if L >= T-1 { // reaches the first key from every row
		pat.WindowLeft = -1
	}
	if R >= T-1 {
		pat.WindowRight = -1
	}
	if R == 0 {
		pat.Causal = true
	}
	return pat, ""
}

// approximateAttention rewrites at to the pattern the user asked for. A mask the exact
// analysis understands (causal or banded) is replaced by the intersection of its band
// with the requested window; any other mask stays an input of SparseAttention, added to
// the scores of the kept keys.
func approximateAttention(c *Context, g *ir.Graph, at *ir.Node, spec SparseSpec) (bool, error) {
	q, k := at.Inputs[0].Type.Shape, at.Inputs[1].Type.Shape
	causal := at.Attrs.Int("causal", 0) != 0
	left, right := -1, -1 // the band the original keeps
	if causal {
		right = 0
	}
	in := at.Inputs[:3]
	var mask *ir.Value
	maskNote := ""
	if len(at.Inputs) > 3 && at.Inputs[3] != nil {
		mask = at.Inputs[3]
		band, why := sparse.Pattern{}, "sequence lengths are not static"
		if q[1].IsStatic() && k[1].IsStatic() {
			var rows *maskEval
			if rows, why = maskRows(mask, int(q[1].Size), int(k[1].Size)); rows != nil {
				band, why = bandOf(rows, int(q[1].Size), int(k[1].Size), causal)
			}
		}
		if why == "" {
			left, right = band.WindowLeft, band.WindowRight
			maskNote = "mask replaced by its band"
		} else {
			in = at.Inputs[:4]
			maskNote = "mask kept as an input (" + why + ")"
		}
	}
	clip := func(b, w int) int {
		if b < 0 || b > w {
			return w
		}
		return b
	}
	pat := sparse.Pattern{WindowLeft: clip(left, spec.Window-1), WindowRight: clip(right, spec.Window-1), GlobalTokens: spec.Global}
	pat.Causal = pat.WindowRight == 0
	if spec.Block > 0 {
		pat = sparse.Pattern{Causal: pat.Causal, BlockSize: spec.Block, LocalBlocks: (spec.Window + spec.Block - 1) / spec.Block, GlobalTokens: spec.Global}
		if mask != nil && len(in) == 3 { // blocks are not a band: the mask still has to drop what it dropped
			in = at.Inputs[:4]
			maskNote = "mask kept as an input (blocks do not contain its band)"
		}
	}
	attrs := pat.Attrs()
	copyAttrs(attrs, at.Attrs, "num_heads", "kv_num_heads", "scale")
	errText := measureSparseError(at, attrs, mask, in)
	if err := replaceAttention(c, g, at, in, attrs); err != nil {
		return false, err
	}
	what := fmt.Sprintf("approximate sparse attention at %s (%s): %v; %s", at.Ref(), spec, pat, errText)
	if maskNote != "" {
		what += "; " + maskNote
	}
	c.Fired(at, "%s", what)
	c.Note("%s", what)
	return true, nil
}

// measuredRows is how many query rows the error is measured on: the last ones, which
// lose the most keys to a window.
const measuredRows = 128

// measureSparseError runs dense ciuic.Attention (the node as it was) and the sparse
// replacement on seeded N(0, 1) inputs, batch 1, the last measuredRows queries against
// every key, through the reference kernels (the narrow evaluator passes may use), and
// describes the difference. Symbolic sequence lengths are taken as 1024.
func measureSparseError(at *ir.Node, attrs ir.Attrs, mask *ir.Value, in []*ir.Value) string {
	size := func(d ir.Dim, def int) int {
		if d.IsStatic() {
			return int(d.Size)
		}
		return def
	}
	qs, ks, vs := at.Inputs[0].Type.Shape, at.Inputs[1].Type.Shape, at.Inputs[2].Type.Shape
	S, T := size(qs[1], 1024), size(ks[1], 1024)
	Sq := min(S, measuredRows)
	r := rand.New(rand.NewPCG(1, 2))
	randT := func(shape ...int) *ops.Tensor {
		t := ops.New(ir.F32, shape...)
		for i := range t.F32() {
			t.F32()[i] = float32(r.NormFloat64())
		}
		return t
	}
	qt, kt, vt := randT(1, Sq, size(qs[2], 64)), randT(1, T, size(ks[2], 64)), randT(1, T, size(vs[2], 64))
	dense := []*ops.Tensor{qt, kt, vt}
	sp := []*ops.Tensor{qt, kt, vt}
	note := ""
	if mask != nil {
		m, why := maskTensor(mask, S, T, S-Sq)
		if m == nil {
			note = " (mask left out of the measurement: " + why + ")"
		} else {
			dense = append(dense, m)
			if len(in) > 3 {
				sp = append(sp, m)
			}
		}
	}
	want, err := ops.Run(ir.CiuicDomain, "Attention", dense, at.Attrs, 1)
	if err != nil {
		return "error not measured: " + err.Error()
	}
	got, err := ops.Run(sparse.Domain, sparse.Op, sp, attrs, 1)
	if err != nil {
		return "error not measured: " + err.Error()
	}
	var d2, n2, dmax float64
	for i, w := range want[0].F32() {
		d := float64(got[0].F32()[i] - w)
		d2, n2, dmax = d2+d*d, n2+float64(w)*float64(w), max(dmax, math.Abs(d))
	}
	return fmt.Sprintf("measured error vs dense on seeded inputs (last %d of %d queries, %d keys): relative L2 %.3g, max abs %.3g%s",
		Sq, S, T, math.Sqrt(d2/max(n2, 1e-30)), dmax, note)
}

// maskTensor materialises rows [s0, S) of mask as f32 [1, 1, S-s0, T], if maskRows can
// evaluate it.
func maskTensor(mask *ir.Value, S, T, s0 int) (*ops.Tensor, string) {
	rows, why := maskRows(mask, S, T)
	if rows == nil {
		return nil, why
	}
	m := ops.New(ir.F32, 1, 1, S-s0, T)
	ms := m.F32()
	for s := s0; s < S; s++ {
		row := rows.row(s)
		for t := 0; t < T; t++ {
			v := row[0]
			if len(row) > 1 {
				v = row[t]
			}
			ms[(s-s0)*T+t] = float32(v)
		}
	}
	return m, ""
}

// windowCachedAttention applies an approximate sliding window to the KV-cache attention
// of a decode step (ciuic.CachedAttention): each query keeps only the last spec.Window
// cached positions. Global tokens and blocks are not supported there. The error against
// full attention is measured on seeded inputs with the query at the last cache position.
func windowCachedAttention(c *Context, at *ir.Node, spec SparseSpec) bool {
	if spec.Global > 0 || spec.Block > 0 {
		c.Missed(at, "sparse attention: a KV-cache attention takes a plain window only (no global tokens or blocks)")
		return false
	}
	k := at.Inputs[1].Type.Shape
	if len(k) == 2 && k[0].IsStatic() && int64(spec.Window) >= k[0].Size {
		c.Missed(at, "sparse attention: window %d covers the whole cache of %s positions", spec.Window, k[0])
		return false
	}
	attrs := at.Attrs.Clone()
	attrs["window"] = ir.IntAttr(int64(spec.Window))
	errText := measureWindowError(at, attrs)
	at.Attrs = attrs
	what := fmt.Sprintf("approximate sliding window of %d positions on KV-cache attention %s; %s", spec.Window, at.Ref(), errText)
	c.Fired(at, "%s", what)
	c.Note("%s", what)
	return true
}

// measureWindowError compares CachedAttention with and without the window for one query
// at the last position of a seeded cache (the cache length, 1024 if symbolic).
func measureWindowError(at *ir.Node, windowed ir.Attrs) string {
	q, k, v := at.Inputs[0].Type.Shape, at.Inputs[1].Type.Shape, at.Inputs[2].Type.Shape
	size := func(d ir.Dim, def int) int {
		if d.IsStatic() {
			return int(d.Size)
		}
		return def
	}
	T := size(k[0], 1024)
	r := rand.New(rand.NewPCG(1, 2))
	randT := func(shape ...int) *ops.Tensor {
		t := ops.New(ir.F32, shape...)
		for i := range t.F32() {
			t.F32()[i] = float32(r.NormFloat64())
		}
		return t
	}
	in := []*ops.Tensor{randT(1, size(q[1], 64)), randT(T, size(k[1], 64)), randT(T, size(v[1], 64)),
		ops.MustFromSlice([]int{}, []int64{int64(T - 1)})}
	want, err := ops.Run(ir.CiuicDomain, "CachedAttention", in, at.Attrs, 1)
	if err != nil {
		return "error not measured: " + err.Error()
	}
	got, err := ops.Run(ir.CiuicDomain, "CachedAttention", in, windowed, 1)
	if err != nil {
		return "error not measured: " + err.Error()
	}
	var d2, n2, dmax float64
	for i, w := range want[0].F32() {
		d := float64(got[0].F32()[i] - w)
		d2, n2, dmax = d2+d*d, n2+float64(w)*float64(w), max(dmax, math.Abs(d))
	}
	return fmt.Sprintf("measured error vs full attention on seeded inputs (query at position %d): relative L2 %.3g, max abs %.3g",
		T-1, math.Sqrt(d2/max(n2, 1e-30)), dmax)
}
