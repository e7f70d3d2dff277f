package sparse

import (
	"fmt"
	"math"

	"github.com/ciuic/ciuic/ir"
	"github.com/ciuic/ciuic/ops"
	"github.com/ciuic/ciuic/ops/internal/gemm"
	"github.com/ciuic/ciuic/ops/internal/vec"
)

// The tiled kernel is the one registered: the streaming softmax of kernel (kernel.go)
// applied to tiles, so the multiplications run on ciuic's packed GEMM (SIMD microkernels)
// instead of one dot product at a time. Work is split into groups of groupQ queries of
// one (batch, head); a group packs the keys its queries can reach once (Kᵀ and V in the
// GEMM's panel layout), then for each block of tileQ queries takes the union of the rows'
// kept key spans and walks it in tiles of up to tileK keys:
//
//	S = Q_blk·K_tileᵀ·scale (+ mask), -inf where the row's pattern drops the key
//	m' = max(m, rowmax S);  P = e^(S - m');  l = l·e^(m-m') + rowsum P
//	acc = acc·e^(m-m') + P·V_tile
//
// then writes acc / l. Memory per worker is a tile of scores and the group's packed keys
// and values: bounded by the window for window patterns, at most linear in T otherwise. Tiles depend only on the query block, never on the
// split, so results do not depend on the worker count. This uses ops/internal, which an
// operator outside ciuic cannot import; its registration uses only the public API.
const (
	tileQ  = 32
	tileK  = 512
	groupQ = 256
)

func tiledKernel(ctx *ops.KernelContext, in []*ops.Tensor, attrs ir.Attrs) ([]*ops.Tensor, error) {
	g, err := newGeom(in, attrs)
	if err != nil {
		return nil, fmt.Errorf("SparseAttention: %v", err)
	}
	y := ops.New(ir.F32, g.B, g.S, g.H*g.Dv)
	groups := (g.S + groupQ - 1) / groupQ
	kern := gemm.Active()
	ctx.ParallelFor(g.B*g.H*groups, 1, func(lo, hi int) {
		w := newTileWorker(g, kern)
		for task := lo; task < hi; task++ {
			gr := task % groups
			h := (task / groups) % g.H
			b := task / (groups * g.H)
			w.group(in[0].F32(), in[1].F32(), in[2].F32(), y.F32(), b, h, gr*groupQ)
		}
	})
	return []*ops.Tensor{y}, nil
}

// tileWorker is the scratch of one worker.
type tileWorker struct {
	g          *geom
	impl       string
	nr         int
	sc         []float32   // tileQ × tileK scores, then weights
	kp         []float32   // the group's keys [k0, k1) as Kᵀ, panels of nr keys
	vp         [][]float32 // the group's values, one panel of nr value columns each
	vt         []float32   // one tile of values packed as a whole matrix
	k0, k1     int
	acc, tmp   []float32 // tileQ × Dv
	m, l, corr []float32 // per row: running max, running sum, this tile's correction
	spans      [][]Span  // per row
	union      []Span
}

func newTileWorker(g *geom, kern *gemm.Kernel) *tileWorker {
	nr := kern.NR
	panels := func(n int) int { return (n + nr - 1) / nr * nr }
	w := &tileWorker{g: g, impl: kern.Name, nr: nr,
		sc: make([]float32, tileQ*(tileK+nr)), vp: make([][]float32, panels(g.Dv)/nr),
		acc: make([]float32, tileQ*g.Dv), tmp: make([]float32, tileQ*g.Dv),
		m: make([]float32, tileQ), l: make([]float32, tileQ), corr: make([]float32, tileQ), spans: make([][]Span, tileQ)}
	return w
}

// group computes query rows [s0, s0+groupQ) of head h in batch b: it packs the keys
// and values those rows can reach, then runs its query blocks.
func (w *tileWorker) group(q, k, v, y []float32, b, h, s0 int) {
	g := w.g
	kvh := h / (g.H / g.Hkv)
	s1 := min(g.S, s0+groupQ)
	// The key range [k0, k1) the group's rows reach: the spans of every row, merged.
	w.k0, w.k1 = g.T, 0
	for s := s0; s < s1; s++ {
		w.spans[0] = g.pat.Spans(w.spans[0], h, s+g.T-g.S, g.T)
		if n := len(w.spans[0]); n > 0 {
			w.k0, w.k1 = min(w.k0, w.spans[0][0].Lo), max(w.k1, w.spans[0][n-1].Hi)
		}
	}
	if w.k0 < w.k1 {
		w.k0 -= w.k0 % w.nr // panels start at multiples of nr, so every tile can start on one
		ldk, ldv := g.Hkv*g.D, g.Hkv*g.Dv
		w.packK(k[(b*g.T+w.k0)*ldk+kvh*g.D:], ldk, w.k1-w.k0)
		w.packV(v[(b*g.T+w.k0)*ldv+kvh*g.Dv:], ldv, w.k1-w.k0)
	}
	for qs := s0; qs < s1; qs += tileQ {
		w.block(q, y, b, h, qs)
	}
}

// block computes query rows [s0, s0+tileQ) of head h in batch b from the packed group.
func (w *tileWorker) block(q, y []float32, b, h, s0 int) {
	g := w.g
	rows := min(tileQ, g.S-s0)
	w.union = w.union[:0]
	for i := 0; i < rows; i++ {
		w.spans[i] = g.pat.Spans(w.spans[i], h, s0+i+g.T-g.S, g.T)
		w.union = append(w.union, w.spans[i]...)
	}
	w.union = mergeSpans(w.union)
	acc := w.acc[:rows*g.Dv]
	clear(acc)
	ninf := float32(math.Inf(-1))
	for i := 0; i < rows; i++ {
		w.m[i], w.l[i] = ninf, 0
	}
	qa := gemm.A{Data: q[(b*g.S+s0)*g.H*g.D+h*g.D:], M: rows, LD: g.H * g.D}
	for _, sp := range w.union {
		for lo := sp.Lo; lo < sp.Hi; lo += tileK {
			t0 := lo - (lo-w.k0)%w.nr // start on a panel; weights drops the keys before lo
			kt := min(lo+tileK, sp.Hi) - t0
			sc := w.sc[:rows*kt]
			gemm.Mul(nil, qa, w.keys(t0, kt), gemm.C{Data: sc, LD: kt}, nil)
			kept := false
			for i := 0; i < rows; i++ {
				kept = w.weights(sc[i*kt:][:kt], i, b, h, s0+i, t0, lo) || kept
			}
			if !kept {
				continue
			}
			tmp := w.tmp[:rows*g.Dv]
			gemm.Mul(nil, gemm.A{Data: sc, M: rows, LD: kt}, w.valueTile(t0, kt), gemm.C{Data: tmp, LD: g.Dv}, nil)
			for i := 0; i < rows; i++ {
				a, t, c := acc[i*g.Dv:][:g.Dv], tmp[i*g.Dv:][:g.Dv], w.corr[i]
				for j := range a {
					a[j] = a[j]*c + t[j]
				}
			}
		}
	}
	for i := 0; i < rows; i++ {
		out := y[(b*g.S+s0+i)*g.H*g.Dv+h*g.Dv:][:g.Dv]
		if w.l[i] == 0 {
			clear(out) // no key kept
			continue
		}
		inv := 1 / w.l[i]
		for j, a := range acc[i*g.Dv:][:g.Dv] {
			out[j] = a * inv
		}
	}
}

// weights turns row i's raw scores for keys [t0, t0+len(row)) into softmax weights
// against the running maximum, updating m, l and corr; keys before from belong to an
// earlier tile and are dropped here. It reports whether any key of the tile is kept.
func (w *tileWorker) weights(row []float32, i, b, h, s, t0, from int) bool {
	g := w.g
	t1 := t0 + len(row)
	mrow := -1
	if g.mask != nil {
		mrow = b*g.ms[0] + h*g.ms[1] + s*g.ms[2]
	}
	ninf := float32(math.Inf(-1))
	mx := ninf
	// Pass 1: dropped keys get weight 0 straight away; kept ones are scaled (and masked)
	// and their maximum taken.
	next := t0
	for _, sp := range w.spans[i] {
		lo, hi := max(sp.Lo, from, next), min(sp.Hi, t1)
		if lo >= hi {
			continue
		}
		clear(row[next-t0 : lo-t0])
		seg := row[lo-t0 : hi-t0]
		if mrow < 0 {
			for j, x := range seg {
				x *= g.scale
				seg[j] = x
				if x > mx {
					mx = x
				}
			}
		} else {
			for j, x := range seg {
				x = x*g.scale + g.mask[mrow+(lo+j)*g.ms[3]]
				seg[j] = x
				if x > mx {
					mx = x
				}
			}
		}
		next = hi
	}
	clear(row[next-t0:])
	if mx == ninf {
		clear(row) // nothing kept here (or all masked): this tile adds nothing to the row
		w.corr[i] = 1
		return false
	}
	m := max(w.m[i], mx)
	c := float32(0)
	if w.m[i] != ninf {
		c = expf(w.m[i] - m)
	}
	// Pass 2: e^(x - m) over the kept keys, and their sum.
	var sum float32
	next = t0
	for _, sp := range w.spans[i] {
		lo, hi := max(sp.Lo, from, next), min(sp.Hi, t1)
		if lo >= hi {
			continue
		}
		seg := row[lo-t0 : hi-t0]
		for j := range seg {
			seg[j] -= m
		}
		vec.Exp(seg, seg)
		for _, p := range seg {
			sum += p
		}
		next = hi
	}
	w.m[i], w.l[i], w.corr[i] = m, w.l[i]*c+sum, c
	return true
}

// packK packs the n key rows at k (row stride ld), keys k0.., as Kᵀ (D × n) in panels of
// nr keys, the last one zero-padded.
func (w *tileWorker) packK(k []float32, ld, n int) {
	D, nr := w.g.D, w.nr
	np := (n + nr - 1) / nr
	if cap(w.kp) < np*nr*D {
		w.kp = make([]float32, np*nr*D)
	}
	data := w.kp[:np*nr*D]
	for jp := 0; jp < np; jp++ {
		pan := data[jp*nr*D:][:nr*D]
		cols := min(nr, n-jp*nr)
		for j := 0; j < cols; j++ {
			for d, x := range k[(jp*nr+j)*ld:][:D] {
				pan[d*nr+j] = x
			}
		}
		for j := cols; j < nr; j++ {
			for d := 0; d < D; d++ {
				pan[d*nr+j] = 0
			}
		}
	}
}

// keys is the packed Kᵀ of keys [t0, t0+kt), t0 on a panel boundary.
func (w *tileWorker) keys(t0, kt int) *gemm.Packed {
	D, nr := w.g.D, w.nr
	off := (t0 - w.k0) * D // whole panels of nr keys × D
	p, err := gemm.FromPanels(w.impl, D, kt, w.kp[off:][:(kt+nr-1)/nr*nr*D])
	if err != nil {
		panic(err) // sizes computed above: a broken invariant
	}
	return p
}

// packV packs the n value rows at v (row stride ld) as one K×nr panel per nr value
// columns, so that any run of rows of a panel is itself a packed matrix.
func (w *tileWorker) packV(v []float32, ld, n int) {
	Dv, nr := w.g.Dv, w.nr
	for jp := range w.vp {
		if cap(w.vp[jp]) < n*nr {
			w.vp[jp] = make([]float32, n*nr)
		}
		pan := w.vp[jp][:n*nr]
		j0 := jp * nr
		cols := min(nr, Dv-j0)
		for t := 0; t < n; t++ {
			d := pan[t*nr:][:nr]
			copy(d, v[t*ld+j0:][:cols])
			clear(d[cols:])
		}
	}
}

// valueTile packs the values of keys [t0, t0+kt) from the group's panels as one matrix
// (kt × Dv), so that P·V is one GEMM (the GEMM packs P once, not once per panel).
func (w *tileWorker) valueTile(t0, kt int) *gemm.Packed {
	nr := w.nr
	size := len(w.vp) * nr * kt
	if cap(w.vt) < size {
		w.vt = make([]float32, size)
	}
	data := w.vt[:size]
	for jp, pan := range w.vp {
		copy(data[jp*nr*kt:][:nr*kt], pan[(t0-w.k0)*nr:][:kt*nr])
	}
	p, err := gemm.FromPanels(w.impl, kt, w.g.Dv, data)
	if err != nil {
		panic(err)
	}
	return p
}

// values is value columns [jp·nr, jp·nr+nr) of keys [t0, t0+kt), packed.
func (w *tileWorker) values(jp, t0, kt int) *gemm.Packed {
	nr := w.nr
	p, err := gemm.FromPanels(w.impl, kt, min(nr, w.g.Dv-jp*nr), w.vp[jp][(t0-w.k0)*nr:][:kt*nr])
	if err != nil {
		panic(err)
	}
	return p
}
