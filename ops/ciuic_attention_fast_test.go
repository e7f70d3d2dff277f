package ops

import (
	"math/rand/v2"
	"testing"

	"github.com/ciuic/ciuic/ir"
)

// TestFastAttentionMatchesReference compares the GEMM-based kernel with the row kernel on
// shapes that cross the query block size, with GQA, masks and causal cut-offs.
func TestFastAttentionMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	randT := func(shape ...int) *Tensor {
		x := New(ir.F32, shape...)
		for i := range x.F32() {
			x.F32()[i] = float32(r.NormFloat64())
		}
		return x
	}
	for _, c := range []struct {
		B, S, T, H, Hkv, D int
		causal, mask       bool
	}{
		{1, 1, 1, 1, 1, 8, false, false},
		{2, 70, 70, 4, 4, 16, true, false},
		{1, 5, 130, 8, 2, 32, true, true},
		{1, 129, 33, 2, 1, 64, false, true},
		{3, 17, 17, 6, 3, 12, false, false},
	} {
		in := []*Tensor{randT(c.B, c.S, c.H*c.D), randT(c.B, c.T, c.Hkv*c.D), randT(c.B, c.T, c.Hkv*c.D)}
		if c.mask {
			m := randT(c.B, 1, c.S, c.T)
			m.F32()[0] = float32(-1e30)
			in = append(in, m)
		}
		attrs := ir.Attrs{"num_heads": ir.IntAttr(int64(c.H)), "kv_num_heads": ir.IntAttr(int64(c.Hkv))}
		if c.causal {
			attrs["causal"] = ir.IntAttr(1)
		}
		want, err := attentionKernel(&KernelContext{}, in, attrs)
		if err != nil {
			t.Fatal(err)
		}
		for _, workers := range []int{1, 3} {
			ctx := &KernelContext{Parallel: splitInto(workers)}
			got, err := fastAttentionKernel(ctx, in, attrs)
			if err != nil {
				t.Fatal(err)
			}
			if err := AllClose(got[0], want[0], 1e-5, 1e-5); err != nil {
				t.Errorf("%+v workers %d: %v", c, workers, err)
			}
		}
	}
}

// splitInto is a ParallelFor that cuts the range into n chunks run in reverse order.
func splitInto(n int) func(total, grain int, fn func(lo, hi int)) {
	return func(total, grain int, fn func(lo, hi int)) {
		step := (total + n - 1) / n
		for lo := (n - 1) * step; lo >= 0; lo -= step {
			if lo < total {
				fn(lo, min(total, lo+step))
			}
		}
	}
}
