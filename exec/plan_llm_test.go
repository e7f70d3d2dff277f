package exec

import (
	"context"
	"testing"

	"github.com/ciuic/ciuic/codegen"
	"github.com/ciuic/ciuic/frontend"
	"github.com/ciuic/ciuic/frontend/llama2c"
	"github.com/ciuic/ciuic/ir"
	"github.com/ciuic/ciuic/ops"
	"github.com/ciuic/ciuic/passes"
)

// TestPlanLlama2c: llama2.c's stories260K compiled to a .ciuic plan (planned for one
// token per step) runs a prefill of three tokens (a binding the plan re-plans for) and
// two decode steps with the key/value caches passed in as inputs, and gives the logits
// of a Session bit for bit. ciuic.KVCacheUpdate's output shares the cache's memory, so
// the caches the caller passed in are updated in place, as a Session updates them.
func TestPlanLlama2c(t *testing.T) {
	g, err := frontend.Load("../testdata/llm/stories260K.bin")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := passes.Run(g, passes.Config{Level: 2}); err != nil {
		t.Fatal(err)
	}
	p, err := codegen.Compile(g, codegen.Options{Bindings: map[string]int64{"S": 1}})
	if err != nil {
		t.Fatal(err)
	}
	updates := 0
	for _, n := range g.Nodes {
		if n.Op == "KVCacheUpdate" {
			updates++
			vp := p.Memory.Values[n.Outputs[0]]
			if vp.Storage != codegen.Alias || vp.Alias != n.Inputs[0] {
				t.Fatalf("%s: output planned as %s, want an alias of the cache", n.Ref(), vp.Storage)
			}
		}
	}
	if updates == 0 {
		t.Fatal("no KVCacheUpdate in the llama2c graph")
	}
	data, err := p.Encode()
	if err != nil {
		t.Fatal(err)
	}
	lp, err := codegen.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := NewSession(g, Options{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	caches := func() map[string]*ops.Tensor {
		m := map[string]*ops.Tensor{}
		for _, v := range g.Inputs {
			if v.Name != llama2c.InputTokens && v.Name != llama2c.InputPos {
				dims, _ := v.Type.Shape.Ints()
				m[v.Name] = ops.New(ir.F32, int(dims[0]), int(dims[1]))
			}
		}
		return m
	}
	steps := []struct {
		tokens []int64
		pos    int64
	}{{[]int64{1, 403, 407}, 0}, {[]int64{261}, 3}, {[]int64{378}, 4}}
	for _, workers := range []int{1, 2} {
		s, err := NewPlanSession(lp, Options{Workers: workers})
		if err != nil {
			t.Fatal(err)
		}
		refCache, planCache := caches(), caches()
		for _, st := range steps {
			in := func(c map[string]*ops.Tensor) map[string]*ops.Tensor {
				m := map[string]*ops.Tensor{
					llama2c.InputTokens: ops.MustFromSlice([]int{len(st.tokens)}, st.tokens),
					llama2c.InputPos:    ops.Scalar(st.pos),
				}
				for k, v := range c {
					m[k] = v
				}
				return m
			}
			want, err := ref.Execute(context.Background(), in(refCache))
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.Execute(context.Background(), in(planCache))
			if err != nil {
				t.Fatalf("workers %d, pos %d: %v", workers, st.pos, err)
			}
			bitsEqual(t, "logits", got.Outputs[0], want.Outputs[0])
			for name, c := range refCache {
				bitsEqual(t, name, planCache[name], c)
			}
		}
	}
}
