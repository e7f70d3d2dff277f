package sparse

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/ciuic/ciuic/ir"
	"github.com/ciuic/ciuic/ops"
)

var testPatterns = []Pattern{
	{WindowLeft: -1, WindowRight: -1},                                           // dense
	{Causal: true, WindowLeft: -1, WindowRight: -1},                             // causal
	{Causal: true, WindowLeft: 7, WindowRight: 0},                               // causal sliding window of 8
	{WindowLeft: 5, WindowRight: 5},                                             // two-sided
	{WindowLeft: 2, WindowRight: 9, GlobalTokens: 3},                            // asymmetric band + global tokens
	{BlockSize: 4, LocalBlocks: 2, GlobalTokens: 4},                             // BigBird without random blocks
	{Causal: true, BlockSize: 4, LocalBlocks: 2, VertStride: 3},                 // Phi-3-small, one layout for all heads
	{Causal: true, BlockSize: 2, LocalBlocks: 1, VertStride: 4, HeadSliding: 1}, // per-head stripes
	{Causal: true, WindowLeft: 0, WindowRight: 0},                               // only the diagonal
}

// Spans must list exactly the keys Keep keeps, in order.
func TestSpansMatchKeep(t *testing.T) {
	for _, p := range testPatterns {
		for _, T := range []int{1, 7, 33} {
			for h := 0; h < 3; h++ {
				for pos := -3; pos < T+3; pos++ {
					var got []int
					for _, sp := range p.Spans(nil, h, pos, T) {
						for k := sp.Lo; k < sp.Hi; k++ {
							got = append(got, k)
						}
					}
					var want []int
					for k := 0; k < T; k++ {
						if p.Keep(h, pos, k) {
							want = append(want, k)
						}
					}
					if fmt.Sprint(got) != fmt.Sprint(want) {
						t.Fatalf("%v: h=%d pos=%d T=%d: spans keep %v, Keep says %v", p, h, pos, T, got, want)
					}
				}
			}
		}
	}
}

func TestPatternAttrsRoundTrip(t *testing.T) {
	for _, p := range testPatterns {
		got, err := PatternOf(p.Attrs())
		if err != nil || got != p {
			t.Errorf("PatternOf(%v.Attrs()) = %v, %v", p, got, err)
		}
	}
	if _, err := PatternOf(ir.Attrs{"local_blocks": ir.IntAttr(2)}); err == nil {
		t.Error("local_blocks without block_size accepted")
	}
}

func randTensor(r *rand.Rand, shape ...int) *ops.Tensor {
	t := ops.New(ir.F32, shape...)
	for i := range t.F32() {
		t.F32()[i] = float32(r.NormFloat64())
	}
	return t
}

// patternMask is the additive mask that makes dense attention compute p: 0 where kept,
// -inf elsewhere, [1, H, S, T].
func patternMask(p Pattern, H, S, T int) *ops.Tensor {
	m := ops.New(ir.F32, 1, H, S, T)
	ms := m.F32()
	for h := 0; h < H; h++ {
		for s := 0; s < S; s++ {
			for t := 0; t < T; t++ {
				if !p.Keep(h, s+T-S, t) {
					ms[(h*S+s)*T+t] = float32(math.Inf(-1))
				}
			}
		}
	}
	return m
}

// relErr is max|a-b| / max|b|: the error relative to the output's scale.
func relErr(a, b *ops.Tensor) float64 {
	var d, n float64
	for i, x := range a.F32() {
		d = max(d, math.Abs(float64(x-b.F32()[i])))
		n = max(n, math.Abs(float64(b.F32()[i])))
	}
	if n == 0 {
		return d
	}
	return d / n
}

// parallel is a KernelContext that really splits work across goroutines in chunks of
// exactly grain, so a split-dependent result would show.
func parallel(workers int) *ops.KernelContext {
	return &ops.KernelContext{NumOutputs: 1, Parallel: func(n, grain int, fn func(lo, hi int)) {
		var wg sync.WaitGroup
		sem := make(chan struct{}, workers)
		for lo := 0; lo < n; lo += grain {
			wg.Add(1)
			sem <- struct{}{}
			go func(lo int) {
				defer wg.Done()
				fn(lo, min(n, lo+grain))
				<-sem
			}(lo)
		}
		wg.Wait()
	}}
}

// The kernel equals dense ciuic.Attention with the pattern as a -inf mask, for every
// pattern, with grouped-query heads, S != T, and an extra additive mask.
func TestMatchesDenseAttention(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const B, H, Hkv, D = 2, 4, 2, 8
	for _, p := range testPatterns {
		for _, st := range [][2]int{{37, 37}, {5, 37}, {1, 20}, {150, 600}} {
			S, T := st[0], st[1]
			q, k, v := randTensor(r, B, S, H*D), randTensor(r, B, T, Hkv*D), randTensor(r, B, T, Hkv*D)
			attrs := p.Attrs()
			attrs["num_heads"], attrs["kv_num_heads"] = ir.IntAttr(H), ir.IntAttr(Hkv)
			got, err := ops.Run(Domain, Op, []*ops.Tensor{q, k, v}, attrs, 1)
			if err != nil {
				t.Fatal(err)
			}
			dense := ir.Attrs{"num_heads": ir.IntAttr(H), "kv_num_heads": ir.IntAttr(Hkv)}
			want, err := ops.Run(ir.CiuicDomain, "Attention", []*ops.Tensor{q, k, v, patternMask(p, H, S, T)}, dense, 1)
			if err != nil {
				t.Fatal(err)
			}
			if e := relErr(got[0], want[0]); e > 1e-5 {
				t.Errorf("%v S=%d T=%d: relative error %.3g vs dense", p, S, T, e)
			}
			// The row kernel agrees, and another split of the same work gives the same bits.
			rows, err := kernel(nil, []*ops.Tensor{q, k, v}, attrs)
			if err != nil {
				t.Fatal(err)
			}
			if e := relErr(rows[0], want[0]); e > 1e-5 {
				t.Errorf("%v S=%d T=%d: row kernel: relative error %.3g vs dense", p, S, T, e)
			}
			again, err := tiledKernel(parallel(3), []*ops.Tensor{q, k, v}, attrs)
			if err != nil {
				t.Fatal(err)
			}
			if !ops.Equal(again[0], got[0]) {
				t.Errorf("%v S=%d T=%d: result depends on the split", p, S, T)
			}
		}
	}
}

// An additive mask input is added to the kept scores, as in ciuic.Attention.
func TestExtraMask(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	const S, H, D = 40, 2, 16
	p := Pattern{Causal: true, WindowLeft: 9, WindowRight: 0}
	q, k, v := randTensor(r, 1, S, H*D), randTensor(r, 1, S, H*D), randTensor(r, 1, S, H*D)
	pad := ops.New(ir.F32, 1, 1, 1, S) // padding mask: the last 5 keys are padding
	for t := S - 5; t < S; t++ {
		pad.F32()[t] = -1e9
	}
	attrs := p.Attrs()
	attrs["num_heads"] = ir.IntAttr(H)
	got, err := ops.Run(Domain, Op, []*ops.Tensor{q, k, v, pad}, attrs, 1)
	if err != nil {
		t.Fatal(err)
	}
	both := patternMask(p, H, S, S)
	for i := range both.F32() {
		both.F32()[i] += pad.F32()[i%S]
	}
	want, err := ops.Run(ir.CiuicDomain, "Attention", []*ops.Tensor{q, k, v, both}, ir.Attrs{"num_heads": ir.IntAttr(H)}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if e := relErr(got[0], want[0]); e > 1e-5 {
		t.Errorf("relative error %.3g vs dense", e)
	}
}

func TestBadInputs(t *testing.T) {
	q := ops.New(ir.F32, 1, 4, 8)
	for _, c := range []struct {
		in    []*ops.Tensor
		attrs ir.Attrs
		want  string
	}{
		{[]*ops.Tensor{q, q}, ir.Attrs{"num_heads": ir.IntAttr(2)}, "want inputs Q, K, V"},
		{[]*ops.Tensor{q, q, q}, ir.Attrs{"num_heads": ir.IntAttr(3)}, "not divisible"},
		{[]*ops.Tensor{q, q, q, ops.New(ir.F32, 3, 4)}, ir.Attrs{"num_heads": ir.IntAttr(2)}, "does not broadcast"},
		{[]*ops.Tensor{q, q, q}, ir.Attrs{"num_heads": ir.IntAttr(2), "vert_stride": ir.IntAttr(2)}, "need block_size"},
	} {
		_, err := ops.Run(Domain, Op, c.in, c.attrs, 1)
		if err == nil || !contains(err.Error(), c.want) {
			t.Errorf("err = %v, want %q", err, c.want)
		}
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

func TestExpf(t *testing.T) {
	worst := 0.0
	for x := float32(-87); x <= 0; x += 0.001 {
		want := math.Exp(float64(x))
		worst = max(worst, math.Abs(float64(expf(x))-want)/want)
	}
	if worst > 3e-7 {
		t.Errorf("expf relative error %.3g", worst)
	}
	if expf(float32(math.Inf(-1))) != 0 || expf(-100) != 0 || expf(0) != 1 {
		t.Errorf("expf(-inf), expf(-100), expf(0) = %v, %v, %v", expf(float32(math.Inf(-1))), expf(-100), expf(0))
	}
}

func TestSchema(t *testing.T) {
	g := ir.NewGraph("sa")
	q := g.AddInput("q", ir.T(ir.F32, ir.S("B", "S", 32)))
	kv := g.AddInput("kv", ir.T(ir.F32, ir.S("B", "S", 16)))
	attrs := Pattern{Causal: true, WindowLeft: 3, WindowRight: 0}.Attrs()
	attrs["num_heads"], attrs["kv_num_heads"] = ir.IntAttr(4), ir.IntAttr(2)
	n := g.NewNode(Op, []*ir.Value{q, kv, kv}, attrs, "y")
	n.Domain = Domain
	g.Outputs = n.Outputs
	if err := ir.InferTypes(g); err != nil {
		t.Fatal(err)
	}
	if got := n.Outputs[0].Type.String(); got != "f32[B, S, 32]" {
		t.Errorf("type %s, want f32[B, S, 32]", got)
	}
	kvT := ir.T(ir.F32, ir.StaticShape(1, 100, 16))
	c, ok := ops.Cost(Domain, Op, []ir.Type{ir.T(ir.F32, ir.StaticShape(1, 100, 32)), kvT, kvT}, attrs)
	if !ok || c != 4*100*4*32 { // 4 keys per query
		t.Errorf("cost = %v, %v; want %v", c, ok, 4*100*4*32)
	}
}

// TestIntoAllocs: in steady state the into-variant allocates nothing and writes what the
// kernel returns.
func TestIntoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	r := rand.New(rand.NewPCG(5, 6))
	const S, H, D = 70, 2, 16
	in := []*ops.Tensor{randTensor(r, 1, S, H*D), randTensor(r, 1, S, H*D), randTensor(r, 1, S, H*D), randTensor(r, 1, 1, S, S)}
	attrs := Pattern{Causal: true, WindowLeft: 20, WindowRight: 0, GlobalTokens: 2}.Attrs()
	attrs["num_heads"] = ir.IntAttr(H)
	out := []*ops.Tensor{ops.New(ir.F32, 1, S, H*D)}
	ctx := &ops.KernelContext{}
	want, err := tiledKernel(ctx, in, attrs)
	if err != nil {
		t.Fatal(err)
	}
	if err := tiledInto(ctx, in, out, attrs); err != nil {
		t.Fatal(err)
	}
	if !ops.Equal(out[0], want[0]) {
		t.Fatal("into-variant differs from the kernel")
	}
	if n := testing.AllocsPerRun(20, func() { tiledInto(ctx, in, out, attrs) }); n != 0 {
		t.Errorf("%v allocations per call, want 0", n)
	}
	if err := tiledInto(ctx, in, []*ops.Tensor{ops.New(ir.F32, 1, S, 3)}, attrs); err == nil {
		t.Error("an output of the wrong shape was accepted")
	}
}
