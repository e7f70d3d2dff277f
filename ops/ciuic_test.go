package ops

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/ciuic/ciuic/ir"
)

// Tests of the ciuic-domain kernels against compositions of the ONNX reference kernels.

func randF32(r *rand.Rand, shape ...int) *Tensor {
	t := New(ir.F32, shape...)
	for i := range t.F32() {
		t.F32()[i] = float32(r.NormFloat64())
	}
	return t
}

// mustRun runs an ONNX-domain op with the reference kernels and returns output 0.
func mustRun(t *testing.T, op string, attrs ir.Attrs, in ...*Tensor) *Tensor {
	t.Helper()
	out, err := Run("", op, in, attrs, 1)
	if err != nil {
		t.Fatalf("%s: %v", op, err)
	}
	return out[0]
}

func runCiuic(t *testing.T, op string, attrs ir.Attrs, nout int, in ...*Tensor) []*Tensor {
	t.Helper()
	out, err := Run(ir.CiuicDomain, op, in, attrs, nout)
	if err != nil {
		t.Fatalf("ciuic.%s: %v", op, err)
	}
	return out
}

// runSplit runs a ciuic kernel with a context whose parallel-for runs small chunks (of
// at most 301 items, so not aligned to FusedElementwise's blocks) in reverse order, to
// check that results do not depend on the split.
func runSplit(t *testing.T, op string, attrs ir.Attrs, in ...*Tensor) *Tensor {
	t.Helper()
	k, ok := Lookup(ir.CiuicDomain, op, in[0].DType)
	if !ok {
		t.Fatalf("no kernel for ciuic.%s", op)
	}
	out, err := k(&KernelContext{NumOutputs: 1, Parallel: func(n, grain int, fn func(lo, hi int)) {
		reverseParallel(n, min(grain, 1+n/16, 301), fn)
	}}, in, attrs)
	if err != nil {
		t.Fatal(err)
	}
	return out[0]
}

func wantErr(t *testing.T, op string, attrs ir.Attrs, sub string, in ...*Tensor) {
	t.Helper()
	_, err := Run(ir.CiuicDomain, op, in, attrs, 1)
	if err == nil || !strings.Contains(err.Error(), sub) {
		t.Errorf("ciuic.%s: err = %v, want one containing %q", op, err, sub)
	}
}

func TestDenseMatchesMatMulAddActivation(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	x, w, b := randF32(r, 2, 3, 7), randF32(r, 7, 5), randF32(r, 5)
	onnxAct := map[string]func(y *Tensor) *Tensor{
		"":          func(y *Tensor) *Tensor { return y },
		"relu":      func(y *Tensor) *Tensor { return mustRun(t, "Relu", nil, y) },
		"gelu":      func(y *Tensor) *Tensor { return mustRun(t, "Gelu", nil, y) },
		"gelu_tanh": func(y *Tensor) *Tensor { return mustRun(t, "Gelu", ir.Attrs{"approximate": ir.StringAttr("tanh")}, y) },
		"sigmoid":   func(y *Tensor) *Tensor { return mustRun(t, "Sigmoid", nil, y) },
		"tanh":      func(y *Tensor) *Tensor { return mustRun(t, "Tanh", nil, y) },
		"silu":      func(y *Tensor) *Tensor { return mustRun(t, "Mul", nil, y, mustRun(t, "Sigmoid", nil, y)) },
	}
	if len(onnxAct) != len(ir.DenseActivations) {
		t.Fatalf("test covers %d activations, ir.DenseActivations has %d", len(onnxAct), len(ir.DenseActivations))
	}
	for _, act := range ir.DenseActivations {
		attrs := ir.Attrs{"activation": ir.StringAttr(act)}
		for _, bias := range []*Tensor{b, nil} {
			want := mustRun(t, "MatMul", nil, x, w)
			in := []*Tensor{x, w}
			if bias != nil {
				want = mustRun(t, "Add", nil, want, bias)
				in = append(in, bias)
			}
			want = onnxAct[act](want)
			got := runCiuic(t, "Dense", attrs, 1, in...)[0]
			// A faster GEMM may sum in another order: close, not bit-identical.
			if err := AllClose(got, want, 1e-5, 1e-6); err != nil {
				t.Errorf("activation %q, bias %v: %v", act, bias != nil, err)
			}
			if split := runSplit(t, "Dense", attrs, in...); !Equal(split, got) {
				t.Errorf("activation %q: result depends on the parallel split", act)
			}
		}
	}
	// A 1-D X is one row; the result drops that dim like MatMul's.
	x1 := randF32(r, 7)
	got := runCiuic(t, "Dense", nil, 1, x1, w, b)[0]
	want := mustRun(t, "Add", nil, mustRun(t, "MatMul", nil, x1, w), b)
	if err := AllClose(got, want, 1e-5, 1e-6); err != nil {
		t.Error(err)
	}
}

func TestDenseErrors(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 3))
	x, w := randF32(r, 2, 4), randF32(r, 4, 3)
	wantErr(t, "Dense", nil, "W must be 2-D", x, randF32(r, 4))
	wantErr(t, "Dense", nil, "does not end in K=5", x, randF32(r, 5, 3))
	wantErr(t, "Dense", nil, "B [4] must be [3]", x, w, randF32(r, 4))
	wantErr(t, "Dense", ir.Attrs{"activation": ir.StringAttr("swish")}, `unknown activation "swish"`, x, w)
	wantErr(t, "Dense", nil, "input 1 is f64", x, f64(sh(4, 1), 1, 2, 3, 4))
	wantErr(t, "Dense", nil, "required input 1", x)
}

func TestSkipLayerNormMatchesLayerNormOfAdd(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 2))
	x, gamma, beta, bias := randF32(r, 2, 3, 8), randF32(r, 8), randF32(r, 8), randF32(r, 8)
	eps := ir.Attrs{"epsilon": ir.FloatAttr(1e-3)}
	for _, c := range []struct {
		name       string
		skip       *Tensor
		beta, bias *Tensor
	}{
		{"full", randF32(r, 2, 3, 8), beta, bias},
		{"broadcast skip", randF32(r, 3, 8), beta, bias},
		{"no bias", randF32(r, 2, 3, 8), beta, nil},
		{"no beta", randF32(r, 2, 3, 8), nil, bias},
		{"gamma only", randF32(r, 1, 8), nil, nil},
	} {
		sum := mustRun(t, "Add", nil, x, c.skip)
		if c.bias != nil {
			sum = mustRun(t, "Add", nil, sum, c.bias)
		}
		ln := []*Tensor{sum, gamma}
		if c.beta != nil {
			ln = append(ln, c.beta)
		}
		want := mustRun(t, "LayerNormalization", eps, ln...)
		got := runCiuic(t, "SkipLayerNorm", eps, 2, x, c.skip, gamma, c.beta, c.bias)
		if !Equal(got[0], want) {
			t.Errorf("%s: y = %v, want %v", c.name, got[0], want)
		}
		if len(got) != 2 || !Equal(got[1], sum) {
			t.Errorf("%s: sum output = %v, want %v", c.name, got[1:], sum)
		}
		if one := runCiuic(t, "SkipLayerNorm", eps, 1, x, c.skip, gamma, c.beta, c.bias); len(one) != 1 || !Equal(one[0], want) {
			t.Errorf("%s: with one output got %v", c.name, one)
		}
		if split := runSplit(t, "SkipLayerNorm", eps, x, c.skip, gamma, c.beta, c.bias); !Equal(split, want) {
			t.Errorf("%s: result depends on the parallel split", c.name)
		}
	}
	// The default epsilon is LayerNormalization's.
	skip := randF32(r, 2, 3, 8)
	want := mustRun(t, "LayerNormalization", nil, mustRun(t, "Add", nil, x, skip), gamma)
	if got := runCiuic(t, "SkipLayerNorm", nil, 1, x, skip, gamma)[0]; !Equal(got, want) {
		t.Errorf("default epsilon: %v, want %v", got, want)
	}
}

func TestSkipLayerNormErrors(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 3))
	x, g := randF32(r, 2, 4), randF32(r, 4)
	wantErr(t, "SkipLayerNorm", nil, "Skip [3 4] does not broadcast", x, randF32(r, 3, 4), g)
	wantErr(t, "SkipLayerNorm", nil, "Gamma [3] must be [4]", x, x, randF32(r, 3))
	wantErr(t, "SkipLayerNorm", nil, "Bias [2 4] must be [4]", x, x, g, nil, randF32(r, 2, 4))
	wantErr(t, "SkipLayerNorm", nil, "rank >= 1", Scalar[float32](1), Scalar[float32](1), g)
	wantErr(t, "SkipLayerNorm", nil, "required input 2", x, x)
}

func TestRMSNorm(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	x, scale := randF32(r, 3, 2, 6), randF32(r, 6)
	for _, eps := range []float32{1e-5, 0.5} {
		attrs := ir.Attrs{"epsilon": ir.FloatAttr(eps)}
		if eps == 1e-5 {
			attrs = nil // the default
		}
		want := New(ir.F32, x.Shape...)
		xs := x.F32()
		for r := 0; r < 6; r++ {
			ms := 0.0
			for j := 0; j < 6; j++ {
				ms += float64(xs[r*6+j]) * float64(xs[r*6+j]) / 6
			}
			for j := 0; j < 6; j++ {
				want.F32()[r*6+j] = float32(float64(xs[r*6+j]) / math.Sqrt(ms+float64(eps)) * float64(scale.F32()[j]))
			}
		}
		got := runCiuic(t, "RMSNorm", attrs, 1, x, scale)[0]
		if err := AllClose(got, want, 1e-6, 1e-7); err != nil {
			t.Errorf("epsilon %g: %v", eps, err)
		}
		// ONNX's RMSNormalization (opset 23) over the last axis is the same op.
		onnx := mustRun(t, "RMSNormalization", ir.Attrs{"epsilon": ir.FloatAttr(eps)}, x, scale)
		if err := AllClose(got, onnx, 1e-6, 1e-7); err != nil {
			t.Errorf("epsilon %g: vs RMSNormalization: %v", eps, err)
		}
		if split := runSplit(t, "RMSNorm", attrs, x, scale); !Equal(split, got) {
			t.Errorf("result depends on the parallel split")
		}
	}
	// A row of zeros stays zero (no division by zero thanks to epsilon).
	z := runCiuic(t, "RMSNorm", nil, 1, New(ir.F32, 1, 4), f32(sh(4), 1, 2, 3, 4))[0]
	if !Equal(z, New(ir.F32, 1, 4)) {
		t.Errorf("zeros: %v", z)
	}
	wantErr(t, "RMSNorm", nil, "Scale [5] must be [6]", x, randF32(r, 5))
	wantErr(t, "RMSNorm", nil, "rank >= 1", Scalar[float32](1), randF32(r, 1))
}

// refAttention is ciuic.Attention written as the ONNX op chain a model would contain,
// run with the reference kernels: heads split with Reshape and Transpose, shared K/V
// heads repeated with Expand, scores by MatMul, Mul and Add (mask, and the causal mask
// as -inf), Softmax, and the weighted sum by MatMul.
func refAttention(t *testing.T, q, k, v, mask *Tensor, H, Hkv int, scale float32, causal bool) *Tensor {
	B, S, T := q.Shape[0], q.Shape[1], k.Shape[1]
	D, Dv := q.Shape[2]/H, v.Shape[2]/Hkv
	shape := func(d ...int) *Tensor {
		s := make([]int64, len(d))
		for i, x := range d {
			s[i] = int64(x)
		}
		return i64(sh(len(d)), s...)
	}
	perm := func(p ...int64) ir.Attrs { return ir.Attrs{"perm": ir.IntsAttr(p...)} }
	heads := func(x *Tensor, h, d int) *Tensor { // [B, L, h·d] -> [B, H, L, d]
		L := x.Shape[1]
		x = mustRun(t, "Reshape", nil, x, shape(B, L, h, 1, d))
		x = mustRun(t, "Expand", nil, x, shape(B, L, h, H/h, d))
		x = mustRun(t, "Reshape", nil, x, shape(B, L, H, d))
		return mustRun(t, "Transpose", perm(0, 2, 1, 3), x)
	}
	qh, kh, vh := heads(q, H, D), heads(k, Hkv, D), heads(v, Hkv, Dv)
	kt := mustRun(t, "Transpose", perm(0, 1, 3, 2), kh)
	s := mustRun(t, "Mul", nil, mustRun(t, "MatMul", nil, qh, kt), Scalar(scale))
	if mask != nil {
		s = mustRun(t, "Add", nil, s, mask)
	}
	if causal {
		cm := New(ir.F32, S, T)
		for i := 0; i < S; i++ {
			for j := 0; j < T; j++ {
				if j > i+T-S {
					cm.F32()[i*T+j] = float32(math.Inf(-1))
				}
			}
		}
		s = mustRun(t, "Add", nil, s, cm)
	}
	p := mustRun(t, "Softmax", nil, s)
	o := mustRun(t, "MatMul", nil, p, vh) // [B, H, S, Dv]
	o = mustRun(t, "Transpose", perm(0, 2, 1, 3), o)
	return mustRun(t, "Reshape", nil, o, shape(B, S, H*Dv))
}

func TestAttentionMatchesONNXChain(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	type tc struct {
		name            string
		B, S, T, H, Hkv int
		D, Dv           int
		mask            []int // mask shape, nil for none
		causal          bool
		scale           float32 // 0: default
	}
	for _, c := range []tc{
		{name: "plain", B: 2, S: 3, T: 3, H: 2, Hkv: 2, D: 4, Dv: 4},
		{name: "S != T, Dv != D", B: 1, S: 2, T: 5, H: 3, Hkv: 3, D: 4, Dv: 2},
		{name: "causal", B: 2, S: 4, T: 4, H: 2, Hkv: 2, D: 3, Dv: 3, causal: true},
		{name: "causal with past", B: 1, S: 2, T: 5, H: 2, Hkv: 2, D: 3, Dv: 3, causal: true},
		{name: "GQA", B: 2, S: 3, T: 4, H: 4, Hkv: 2, D: 2, Dv: 3},
		{name: "MQA causal", B: 1, S: 3, T: 3, H: 3, Hkv: 1, D: 4, Dv: 4, causal: true},
		{name: "padding mask", B: 2, S: 3, T: 4, H: 2, Hkv: 2, D: 2, Dv: 2, mask: []int{2, 1, 1, 4}},
		{name: "full mask and scale", B: 1, S: 3, T: 4, H: 2, Hkv: 1, D: 2, Dv: 2, mask: []int{1, 2, 3, 4}, scale: 0.3},
		{name: "2-D mask causal", B: 2, S: 4, T: 6, H: 2, Hkv: 2, D: 2, Dv: 2, mask: []int{4, 6}, causal: true},
	} {
		q, k, v := randF32(r, c.B, c.S, c.H*c.D), randF32(r, c.B, c.T, c.Hkv*c.D), randF32(r, c.B, c.T, c.Hkv*c.Dv)
		attrs := ir.Attrs{"num_heads": ir.IntAttr(int64(c.H))}
		if c.Hkv != c.H {
			attrs["kv_num_heads"] = ir.IntAttr(int64(c.Hkv))
		}
		if c.causal {
			attrs["causal"] = ir.IntAttr(1)
		}
		scale := float32(1 / math.Sqrt(float64(c.D)))
		if c.scale != 0 {
			scale = c.scale
			attrs["scale"] = ir.FloatAttr(c.scale)
		}
		in := []*Tensor{q, k, v}
		var mask *Tensor
		if c.mask != nil {
			mask = randF32(r, c.mask...)
			for i := range mask.F32() { // some padding positions
				if r.IntN(4) == 0 {
					mask.F32()[i] = -10000
				}
			}
			in = append(in, mask)
		}
		want := refAttention(t, q, k, v, mask, c.H, c.Hkv, scale, c.causal)
		got := runCiuic(t, "Attention", attrs, 1, in...)[0]
		if err := AllClose(got, want, 1e-5, 1e-6); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
		if split := runSplit(t, "Attention", attrs, in...); !Equal(split, got) {
			t.Errorf("%s: result depends on the parallel split", c.name)
		}
	}
}

func TestAttentionFullyMaskedRowIsZero(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	q, k, v := randF32(r, 1, 2, 2), randF32(r, 1, 3, 2), randF32(r, 1, 3, 2)
	inf := float32(math.Inf(-1))
	mask := f32(sh(2, 3), inf, inf, inf, 0, inf, 0) // query 0 sees nothing
	got := runCiuic(t, "Attention", ir.Attrs{"num_heads": ir.IntAttr(1)}, 1, q, k, v, mask)[0].F32()
	if got[0] != 0 || got[1] != 0 {
		t.Errorf("fully masked row = %v, want zeros", got[:2])
	}
	// Query 1 sees keys 0 and 2 only.
	want := refAttention(t, q, k, v, mask, 1, 1, float32(1/math.Sqrt2), false).F32()
	for i := 2; i < 4; i++ {
		if math.IsNaN(float64(got[i])) || math.Abs(float64(got[i]-want[i])) > 1e-6 {
			t.Errorf("row 1 = %v, want %v", got[2:], want[2:])
		}
	}
	// Causal with more queries than keys: the first S-T queries see no key.
	got = runCiuic(t, "Attention", ir.Attrs{"num_heads": ir.IntAttr(1), "causal": ir.IntAttr(1)}, 1,
		randF32(r, 1, 3, 2), randF32(r, 1, 1, 2), f32(sh(1, 1, 2), 5, 6))[0].F32()
	if w := []float32{0, 0, 0, 0, 5, 6}; !Equal(f32(sh(6), got...), f32(sh(6), w...)) {
		t.Errorf("causal S > T = %v, want %v", got, w)
	}
}

func TestAttentionErrors(t *testing.T) {
	r := rand.New(rand.NewPCG(6, 6))
	q, k := randF32(r, 1, 2, 4), randF32(r, 1, 3, 4)
	h2 := ir.Attrs{"num_heads": ir.IntAttr(2)}
	wantErr(t, "Attention", nil, "num_heads 0 must be positive", q, k, k)
	wantErr(t, "Attention", ir.Attrs{"num_heads": ir.IntAttr(3), "kv_num_heads": ir.IntAttr(2)}, "multiple of kv_num_heads", q, k, k)
	wantErr(t, "Attention", ir.Attrs{"num_heads": ir.IntAttr(3)}, "not divisible by num_heads 3", q, k, k)
	wantErr(t, "Attention", h2, "Q must be [batch, seq, hidden]", randF32(r, 2, 4), k, k)
	wantErr(t, "Attention", h2, "K hidden size 6", q, randF32(r, 1, 3, 6), k)
	wantErr(t, "Attention", h2, "disagree", q, k, randF32(r, 1, 2, 4))
	wantErr(t, "Attention", h2, "mask [3 3] does not broadcast", q, k, k, randF32(r, 3, 3))
	wantErr(t, "Attention", h2, "mask [1 1 1 2 3] does not broadcast", q, k, k, randF32(r, 1, 1, 1, 2, 3))
	wantErr(t, "Attention", h2, "input 3 is f64", q, k, k, f64(sh(1), 0))
}

// fusedRef evaluates e op by op with the reference ONNX kernels.
func fusedRef(t *testing.T, e *ir.Expr, in []*Tensor) *Tensor {
	if e.Op == "" {
		return in[e.Input]
	}
	args := make([]*Tensor, len(e.Args))
	for i, a := range e.Args {
		args[i] = fusedRef(t, a, in)
	}
	return mustRun(t, e.Op, nil, args...)
}

// randExpr makes a random expression over nin inputs with at most depth levels of ops.
func randExpr(r *rand.Rand, nin, depth int) *ir.Expr {
	if depth == 0 || r.IntN(4) == 0 {
		return &ir.Expr{Input: r.IntN(nin)}
	}
	names := make([]string, 0, len(ir.ElementwiseOps))
	for op := range ir.ElementwiseOps {
		names = append(names, op)
	}
	// Map order is random; sort for a reproducible sequence from the seed.
	sortStrings(names)
	op := names[r.IntN(len(names))]
	e := &ir.Expr{Op: op}
	for range ir.ElementwiseOps[op] {
		e.Args = append(e.Args, randExpr(r, nin, depth-1))
	}
	return e
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// sameBits reports whether a and b hold the same float32 bit patterns (any NaN equals any NaN).
func sameBits(a, b *Tensor) bool {
	if !sameShape(a.Shape, b.Shape) {
		return false
	}
	x, y := a.F32(), b.F32()
	for i := range x {
		if math.Float32bits(x[i]) != math.Float32bits(y[i]) && !(x[i] != x[i] && y[i] != y[i]) {
			return false
		}
	}
	return true
}

func TestFusedElementwiseBitIdentical(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	// Input shape sets that broadcast together: same shape, scalars, rows, columns.
	shapeSets := [][][]int{
		{{4, 5}, {4, 5}, {4, 5}},
		{{4, 5}, {}, {5}},
		{{2, 3, 4}, {3, 1}, {1, 4}},
		{{1}, {6, 1}, {1, 7}},
		{{300, 70}, {70}, {300, 70}}, // several blocks and chunks
		{{3, 1, 5}, {1, 4, 1}, {}},
		{{50, 9, 1}, {9, 13}, {50, 1, 13}}, // gathers that cross blocks and rows
	}
	for trial := 0; trial < 120; trial++ {
		shapes := shapeSets[trial%len(shapeSets)]
		in := make([]*Tensor, len(shapes))
		for i, s := range shapes {
			in[i] = randF32(r, s...)
			for j := range in[i].F32() { // a few special values
				switch r.IntN(60) {
				case 0:
					in[i].F32()[j] = 0
				case 1:
					in[i].F32()[j] = float32(math.Copysign(0, -1))
				case 2:
					in[i].F32()[j] = float32(math.NaN())
				case 3:
					in[i].F32()[j] = float32(math.Inf(1 - 2*r.IntN(2)))
				}
			}
		}
		e := randExpr(r, len(in), 4)
		if e.Op == "" {
			e = &ir.Expr{Op: "Add", Args: []*ir.Expr{e, {Input: 0}}}
		}
		attrs := ir.Attrs{"expr": ir.StringAttr(e.String())}
		// The fused op's output has the broadcast of all inputs' shapes, even where
		// expr reads only some of them.
		want := fusedRef(t, e, in)
		all, _ := broadcastShapes(shapes...)
		full := make([]int64, len(all))
		for i, d := range all {
			full[i] = int64(d)
		}
		want = mustRun(t, "Expand", nil, want, i64(sh(len(full)), full...))
		got := runCiuic(t, "FusedElementwise", attrs, 1, in...)[0]
		if !sameBits(got, want) {
			t.Fatalf("%s on %v: got %v, want %v", e, shapes, got, want)
		}
		if split := runSplit(t, "FusedElementwise", attrs, in...); !sameBits(split, want) {
			t.Fatalf("%s: result depends on the parallel split", e)
		}
	}
}

func TestFusedElementwiseCases(t *testing.T) {
	x := f32(sh(2, 3), -2, -1, 0, 1, 2, 3)
	y := f32(sh(3), 10, 20, 30)
	fe := func(expr string) ir.Attrs { return ir.Attrs{"expr": ir.StringAttr(expr)} }
	cases := []struct {
		expr string
		in   []*Tensor
		want *Tensor
	}{
		{"Relu(Add(Mul(x0, x1), x2))", []*Tensor{x, y, Scalar[float32](5)}, f32(sh(2, 3), 0, 0, 5, 15, 45, 95)},
		{"x1", []*Tensor{x, y}, f32(sh(2, 3), 10, 20, 30, 10, 20, 30)}, // a bare input, broadcast
		{"Neg(x0)", []*Tensor{Scalar[float32](2)}, Scalar[float32](-2)},
		{"Sub(x0, x0)", []*Tensor{New(ir.F32, 0, 3)}, New(ir.F32, 0, 3)},
		{"Max(x0, x1)", []*Tensor{f64(sh(2), 1, 5), f64(sh(2), 3, 4)}, f64(sh(2), 3, 5)},
	}
	for _, c := range cases {
		got := runCiuic(t, "FusedElementwise", fe(c.expr), 1, c.in...)[0]
		if !Equal(got, c.want) {
			t.Errorf("%s = %v, want %v", c.expr, got, c.want)
		}
	}
	wantErr(t, "FusedElementwise", fe("Relu(x0, x1)"), "Relu takes 1 arguments", x, x)
	wantErr(t, "FusedElementwise", fe("Add(x0, x2)"), "out of range", x, x)
	wantErr(t, "FusedElementwise", fe("Conv(x0)"), "cannot be fused", x)
	wantErr(t, "FusedElementwise", nil, "expr is required", x)
	wantErr(t, "FusedElementwise", fe("Add(x0, x1)"), "not broadcast-compatible", x, f32(sh(2), 1, 2))
	wantErr(t, "FusedElementwise", fe("Add(x0, x1)"), "dtypes differ", x, f64(sh(3), 1, 2, 3))
	wantErr(t, "FusedElementwise", fe("Add(x0, x1)"), "every input is required", x, nil)
}

func BenchmarkFusedElementwise(b *testing.B) {
	r := rand.New(rand.NewPCG(8, 8))
	x, y := randF32(r, 256, 1024), randF32(r, 1024)
	attrs := ir.Attrs{"expr": ir.StringAttr("Relu(Add(Mul(x0, x1), x0))")}
	k, _ := Lookup(ir.CiuicDomain, "FusedElementwise", ir.F32)
	b.SetBytes(int64(4 * x.Len()))
	for b.Loop() {
		if _, err := k(nil, []*Tensor{x, y}, attrs); err != nil {
			b.Fatal(err)
		}
	}
}
