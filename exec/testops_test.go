package exec

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/ciuic/ciuic/ir"
	"github.com/ciuic/ciuic/ops"
)

// Ops of the "exectest" domain exist only in this package's tests. They register
// through the same API as a custom operator, and are instrumented so that tests can
// see what the scheduler does.

// busy counts goroutines inside an exectest.Busy chunk right now; maxBusy is the
// highest count seen since the last resetBusy.
var busy, maxBusy atomic.Int64

func resetBusy() { busy.Store(0); maxBusy.Store(0) }

func enterBusy() {
	n := busy.Add(1)
	for {
		m := maxBusy.Load()
		if n <= m || maxBusy.CompareAndSwap(m, n) {
			return
		}
	}
}

// slowItem is how long exectest.Slow spends per element.
const slowItem = 200 * time.Microsecond

func init() {
	same := func(n *ir.Node) ([]ir.Type, error) {
		ts := make([]ir.Type, len(n.Outputs))
		for i := range ts {
			ts[i] = n.Inputs[0].Type
		}
		return ts, nil
	}
	unary := func(op string) {
		ir.MustRegister(&ir.Schema{Domain: "exectest", Op: op, MinInputs: 1, MaxInputs: 1, MinOutputs: 1, MaxOutputs: 1, Infer: same})
	}
	for _, op := range []string{"Busy", "Slow", "Fail", "Panic", "NoKernel", "WrongShape", "Sum"} {
		unary(op)
	}
	ir.MustRegister(&ir.Schema{Domain: "exectest", Op: "OptAdd", MinInputs: 1, MaxInputs: 2, MinOutputs: 1, MaxOutputs: 1, Infer: same})
	ir.MustRegister(&ir.Schema{Domain: "exectest", Op: "Halves", MinInputs: 1, MaxInputs: 1, MinOutputs: 2, MaxOutputs: 2,
		Infer: func(n *ir.Node) ([]ir.Type, error) {
			t := n.Inputs[0].Type
			s := t.Shape.Clone()
			if len(s) == 0 || !s[0].IsStatic() || s[0].Size%2 != 0 {
				return nil, errors.New("Halves needs an even static first dim")
			}
			s[0] = ir.Static(s[0].Size / 2)
			return []ir.Type{{DType: t.DType, Shape: s}, {DType: t.DType, Shape: s}}, nil
		}})

	// Busy copies its input; its parallel-for has 16 chunks that each sleep 2ms while
	// counted as busy.
	ops.Register("exectest", "Busy", func(ctx *ops.KernelContext, in []*ops.Tensor, _ ir.Attrs) ([]*ops.Tensor, error) {
		ctx.ParallelFor(16, 1, func(lo, hi int) {
			for i := lo; i < hi; i++ {
				enterBusy()
				time.Sleep(2 * time.Millisecond)
				busy.Add(-1)
			}
		})
		return []*ops.Tensor{in[0].Clone()}, nil
	}, ir.F32)
	// Slow copies its input after slowItem per element of a 2000-element parallel-for.
	ops.Register("exectest", "Slow", func(ctx *ops.KernelContext, in []*ops.Tensor, _ ir.Attrs) ([]*ops.Tensor, error) {
		ctx.ParallelFor(2000, 1, func(lo, hi int) { time.Sleep(time.Duration(hi-lo) * slowItem) })
		return []*ops.Tensor{in[0].Clone()}, nil
	}, ir.F32)
	ops.Register("exectest", "Fail", func(*ops.KernelContext, []*ops.Tensor, ir.Attrs) ([]*ops.Tensor, error) {
		return nil, errors.New("boom")
	}, ir.F32)
	ops.Register("exectest", "Panic", func(ctx *ops.KernelContext, in []*ops.Tensor, _ ir.Attrs) ([]*ops.Tensor, error) {
		ctx.ParallelFor(8, 1, func(lo, hi int) {
			if lo == 0 {
				panic("kaboom")
			}
		})
		return []*ops.Tensor{in[0]}, nil
	}, ir.F32)
	ops.Register("exectest", "WrongShape", func(_ *ops.KernelContext, in []*ops.Tensor, _ ir.Attrs) ([]*ops.Tensor, error) {
		return []*ops.Tensor{ops.New(ir.F32, 7)}, nil
	}, ir.F32)
	// Sum writes, at every element, the sum of all input elements accumulated in a
	// fixed order per chunk of 64: a parallel kernel whose result does not depend on
	// how many goroutines share the chunks.
	ops.Register("exectest", "Sum", func(ctx *ops.KernelContext, in []*ops.Tensor, _ ir.Attrs) ([]*ops.Tensor, error) {
		x := in[0].F32()
		const block = 64
		nb := (len(x) + block - 1) / block
		partial := make([]float32, nb)
		ctx.ParallelFor(nb, 1, func(lo, hi int) {
			for b := lo; b < hi; b++ {
				var s float32
				for _, v := range x[b*block : min((b+1)*block, len(x))] {
					s += v
				}
				partial[b] = s
			}
		})
		var total float32
		for _, p := range partial {
			total += p
		}
		out := ops.New(ir.F32, in[0].Shape...)
		for i := range out.F32() {
			out.F32()[i] = total
		}
		return []*ops.Tensor{out}, nil
	}, ir.F32)
	// OptAdd adds its optional second input when present.
	ops.Register("exectest", "OptAdd", func(_ *ops.KernelContext, in []*ops.Tensor, _ ir.Attrs) ([]*ops.Tensor, error) {
		out := in[0].Clone()
		if len(in) > 1 && in[1] != nil {
			for i, v := range in[1].F32() {
				out.F32()[i] += v
			}
		}
		return []*ops.Tensor{out}, nil
	}, ir.F32)
	ops.Register("exectest", "Halves", func(ctx *ops.KernelContext, in []*ops.Tensor, _ ir.Attrs) ([]*ops.Tensor, error) {
		if ctx.NumOutputs != 2 {
			return nil, fmt.Errorf("want 2 outputs, got %d", ctx.NumOutputs)
		}
		x := in[0]
		shape := append([]int{x.Shape[0] / 2}, x.Shape[1:]...)
		n := ops.NumElems(shape)
		a, _ := ops.FromSlice(shape, append([]float32{}, x.F32()[:n]...))
		b, _ := ops.FromSlice(shape, append([]float32{}, x.F32()[n:]...))
		return []*ops.Tensor{a, b}, nil
	}, ir.F32)
}
