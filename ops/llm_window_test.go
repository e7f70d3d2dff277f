package ops

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ciuic/ciuic/ir"
)

// TestCachedAttentionWindow checks the sliding window against ciuic.Attention with a
// banded mask (key t visible to the query at position p when p-window < t <= p), for the
// generic kernel and stories260K's 2-heads-of-8 path.
func TestCachedAttentionWindow(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	randT := func(shape ...int) *Tensor {
		x := New(ir.F32, shape...)
		for i := range x.F32() {
			x.F32()[i] = float32(r.NormFloat64())
		}
		return x
	}
	for _, c := range []struct{ H, Hkv, D, S, T, pos, window int }{
		{8, 4, 8, 3, 20, 9, 4},  // pair8 path
		{4, 2, 16, 2, 12, 5, 3}, // generic path
		{4, 4, 8, 1, 10, 8, 1},  // one key: the output is that V row
		{8, 4, 8, 2, 10, 3, 50}, // window wider than the history: no change
	} {
		q := randT(c.S, c.H*c.D)
		k, v := randT(c.T, c.Hkv*c.D), randT(c.T, c.Hkv*c.D)
		pos := MustFromSlice([]int{}, []int64{int64(c.pos)})
		attrs := ir.Attrs{"num_heads": ir.IntAttr(int64(c.H)), "kv_num_heads": ir.IntAttr(int64(c.Hkv)), "window": ir.IntAttr(int64(c.window))}
		got, err := cachedAttentionKernel(&KernelContext{}, []*Tensor{q, k, v, pos}, attrs)
		if err != nil {
			t.Fatal(err)
		}
		mask := New(ir.F32, c.S, c.T)
		for s := 0; s < c.S; s++ {
			p := c.pos + s
			for tt := 0; tt < c.T; tt++ {
				if tt > p || tt <= p-c.window {
					mask.F32()[s*c.T+tt] = float32(math.Inf(-1))
				}
			}
		}
		q3, _ := q.View([]int{1, c.S, c.H * c.D})
		k3, _ := k.View([]int{1, c.T, c.Hkv * c.D})
		v3, _ := v.View([]int{1, c.T, c.Hkv * c.D})
		want, err := attentionKernel(&KernelContext{}, []*Tensor{q3, k3, v3, mask}, ir.Attrs{"num_heads": ir.IntAttr(int64(c.H)), "kv_num_heads": ir.IntAttr(int64(c.Hkv))})
		if err != nil {
			t.Fatal(err)
		}
		w, _ := want[0].View(got[0].Shape)
		if err := AllClose(got[0], w, 1e-5, 1e-6); err != nil {
			t.Errorf("%+v: %v", c, err)
		}
	}
}
