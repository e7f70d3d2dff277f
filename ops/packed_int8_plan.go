package ops

import (
	"fmt"
	"runtime"
	"weak"

	"github.com/ciuic/ciuic/ir"
	"github.com/ciuic/ciuic/ops/internal/gemm"
)

// Compiled plans (package codegen) store int8 weights packed, so that loading packs
// nothing: Panels gives what to store, PackedInt8FromPanels rebuilds the matrix over
// the stored bytes, UsePackedInt8 installs it for a graph constant.

// Panels returns the int8 implementation w was packed for, whether its weights were u8
// (stored flipped to s8), its packed panels and its column sums (read-only).
func (w *PackedInt8) Panels() (impl string, flip bool, data []int8, colSum []int32) {
	data, colSum = w.p.Panels()
	return w.p.Kernel(), w.flip, data, colSum
}

// PackedInt8FromPanels rebuilds a PackedInt8 from what Panels returned (for example
// mapped from a compiled plan), without copying. It fails if the sizes do not fit
// K×N or if this CPU cannot run the kernel the panels were packed for.
func PackedInt8FromPanels(impl string, K, N int, flip bool, data []int8, colSum []int32) (*PackedInt8, error) {
	p, err := gemm.FromPanelsI8(impl, K, N, data, colSum)
	if err != nil {
		return nil, err
	}
	return &PackedInt8{K: K, N: N, flip: flip, p: p}, nil
}

// UsePackedInt8 is Prepack with the packing already done: t (2-D i8 or u8, K×N) is
// declared constant and p becomes its packed form for every MatMulInteger and
// ciuic.DenseInt8 that gets t as its weight. p must have been packed from t.
func UsePackedInt8(t *Tensor, p *PackedInt8) error {
	if t == nil || t.Rank() != 2 || t.Shape[0] != p.K || t.Shape[1] != p.N || p.flip != (t.DType == ir.U8) || t.DType != ir.I8 && t.DType != ir.U8 {
		return fmt.Errorf("UsePackedInt8: packed %dx%d matrix does not fit tensor", p.K, p.N)
	}
	key := weak.Make(t)
	if _, loaded := prepackedI8.Swap(key, p); !loaded {
		runtime.AddCleanup(t, func(k weak.Pointer[Tensor]) { prepackedI8.Delete(k) }, key)
	}
	return nil
}
