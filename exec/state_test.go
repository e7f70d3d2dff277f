package exec

import (
	"context"
	"strings"
	"testing"

	"github.com/ciuic/ciuic/ir"
	"github.com/ciuic/ciuic/ops"
)

// cacheGraph is y = ciuic.KVCacheUpdate(cache, Mul(x, x), pos): state plus a node with
// an into-variant.
func cacheGraph(t *testing.T) *Session {
	t.Helper()
	g := ir.NewGraph("cache")
	cache := g.AddInput("cache", ir.Type{DType: ir.F32, Shape: ir.StaticShape(4, 2)})
	x := g.AddInput("x", ir.Type{DType: ir.F32, Shape: ir.Shape{ir.Sym("S"), ir.Static(2)}})
	pos := g.AddInput("pos", ir.Type{DType: ir.I64, Shape: ir.Shape{}})
	sq := g.NewNode("Mul", []*ir.Value{x, x}, nil, "sq").Outputs[0]
	n := g.NewNode("KVCacheUpdate", []*ir.Value{cache, sq, pos}, nil, "y")
	n.Domain = ir.CiuicDomain
	g.Outputs = append(g.Outputs, n.Outputs[0], sq)
	if err := ir.InferTypes(g); err != nil {
		t.Fatal(err)
	}
	s, err := NewSession(g, Options{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStepperUpdatesStateInPlace(t *testing.T) {
	s := cacheGraph(t)
	cache := ops.New(ir.F32, 4, 2)
	st, err := s.NewStepper(map[string]*ops.Tensor{"cache": cache})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var sq0 *ops.Tensor
	for p := range 4 {
		v := float32(p + 1)
		res, err := st.Step(ctx, map[string]*ops.Tensor{"x": ops.MustFromSlice([]int{1, 2}, []float32{v, -v}), "pos": ops.Scalar(int64(p))})
		if err != nil {
			t.Fatal(err)
		}
		if res.Outputs[0] != cache {
			t.Fatalf("step %d: the output is not the state tensor itself", p)
		}
		if p == 1 {
			sq0 = res.Outputs[1]
		} else if p > 1 && res.Outputs[1] != sq0 {
			t.Errorf("step %d: Mul allocated a new output although its input shapes repeat", p)
		}
	}
	want := []float32{1, 1, 4, 4, 9, 9, 16, 16}
	for i, v := range cache.F32() {
		if v != want[i] {
			t.Fatalf("cache %v, want %v", cache.F32(), want)
		}
	}
	// A batch of two rows (new shapes) still works, and then one row again.
	if _, err := st.Step(ctx, map[string]*ops.Tensor{"x": ops.MustFromSlice([]int{2, 2}, []float32{5, 5, 6, 6}), "pos": ops.Scalar(int64(0))}); err != nil {
		t.Fatal(err)
	}
	if got := cache.F32()[:4]; got[0] != 25 || got[3] != 36 {
		t.Errorf("batched update wrote %v", got)
	}
	_, err = st.Step(ctx, map[string]*ops.Tensor{"x": ops.MustFromSlice([]int{1, 2}, []float32{1, 1}), "pos": ops.Scalar(int64(4))})
	if err == nil || !strings.Contains(err.Error(), "past the cache") {
		t.Errorf("writing past the cache: %v", err)
	}
}

func TestStepperErrors(t *testing.T) {
	s := cacheGraph(t)
	if _, err := s.NewStepper(map[string]*ops.Tensor{"nope": ops.New(ir.F32, 4, 2)}); err == nil || !strings.Contains(err.Error(), "not a graph input") {
		t.Errorf("unknown state: %v", err)
	}
	st, err := s.NewStepper(map[string]*ops.Tensor{"cache": ops.New(ir.F32, 4, 2)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_, err = st.Step(ctx, map[string]*ops.Tensor{"cache": ops.New(ir.F32, 4, 2)})
	if err == nil || !strings.Contains(err.Error(), "is state") {
		t.Errorf("state passed as input: %v", err)
	}
	_, err = st.Step(ctx, map[string]*ops.Tensor{"x": ops.New(ir.F32, 1, 3), "pos": ops.Scalar(int64(0))})
	if err == nil || !strings.Contains(err.Error(), `input "x"`) {
		t.Errorf("bad input shape: %v", err)
	}
}
