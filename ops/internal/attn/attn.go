// Package attn is the tiled attention engine behind ciuic.Attention and
// ciuic.SparseAttention: for one head, softmax(Q·Kᵀ·scale + mask)·V over the keys each
// query keeps, on the packed GEMM's microkernels, with a streaming softmax so that at
// most a block of queries × a tile of keys of scores exists at once.
//
// A Worker handles a group of queries of one head: it packs the keys and values the
// group reaches once (Kᵀ and V in the microkernel's panel layout), then for each block
// of queries packs Q once and walks the union of the rows' kept key spans in tiles:
//
//	S = Q_blk·K_tileᵀ·scale (+ mask), the dropped keys of each row given weight 0
//	m' = max(m, rowmax S);  P = e^(S - m');  l = l·e^(m-m') + rowsum P
//	acc = acc·e^(m-m') + P·V_tile
//
// then writes acc / l. Every microkernel tile of S and of P·V that no row of its panel
// of MR rows keeps is skipped, so causal attention does about half the work of dense
// attention. The blocking depends only on the group's first query, never on how the
// caller splits groups among workers, so results do not depend on the worker count.
// A Worker allocates only when it meets a larger problem than before: reused from a
// pool, it allocates nothing.
package attn

import (
	"math"
	"slices"

	"github.com/ciuic/ciuic/ops/internal/gemm"
	"github.com/ciuic/ciuic/ops/internal/vec"
)

// Span is the half-open key range [Lo, Hi).
type Span struct{ Lo, Hi int }

// Rows says which keys each query of a head keeps and what mask its scores get.
type Rows interface {
	// Spans appends to dst[:0] the sorted, disjoint key ranges query s keeps.
	Spans(dst []Span, s int) []Span
	// Mask turns the scaled scores x of query s, keys [t0, t0+len(x)), into masked
	// scores in place. It is called only if Masked.
	Mask(x []float32, s, t0 int)
	Masked() bool
}

// Head is one head's operands: query s at Q[s·LDQ:][:D], key t at K[t·LDK:][:D], value t
// at V[t·LDV:][:Dv]; output row s goes to Y[s·LDY:][:Dv].
type Head struct {
	S, T, D, Dv   int
	Q, K, V, Y    []float32
	LDQ, LDK, LDV int
	LDY           int
	Scale         float32
	Rows          Rows
}

// Blocking: queries are handled in blocks of BlockQ rows (the scores of a block against
// a tile of up to TileK keys stay in L2), and in groups of GroupQ rows that share one
// packing of their keys and values.
const (
	BlockQ = 64
	TileK  = 512
	GroupQ = 256
)

// Kernel is the microkernel attention uses: the active GEMM implementation, except
// that AVX2's 6×16 tile is preferred to AVX-512's 8×48 where both run. On Zen 4 they
// reach the same rate (the 512-bit unit is two 256-bit halves), and heads are narrow
// (Dv = 64 fills 64 of the 96 columns two 48-wide panels compute, but four 16-wide ones
// exactly), as are causal score tiles: BenchmarkHead took 48 µs of CPU with AVX2,
// 60 µs with AVX-512 (before the packing kernels of package vec).
func Kernel() *gemm.Kernel {
	if k := gemm.Active(); k.Name != "avx512" || avx2 == nil {
		return k
	}
	return avx2
}

var avx2, _ = gemm.Named("avx2")

// Worker is the scratch of one worker; the zero value is ready.
type Worker struct {
	kern    *gemm.Kernel
	kp, vp  []float32 // the group's Kᵀ (panels of NR keys) and V (panels of NR value columns)
	k0, nk  int       // the packed keys are [k0, k0+nk), k0 and nk multiples of NR
	qp, pp  []float32 // the block's packed Q; one packed panel of P
	sc      []float32 // BlockQ × ldsc scores, then weights
	acc     []float32 // BlockQ × lda unnormalised outputs
	m, l    []float32 // per row: running max and sum
	corr    []float32 // per row: this tile's correction e^(m-m')
	mx, sum []float32 // per row: the new running max and this tile's sum of weights
	spans   [][]Span  // per row of the group
	rs      [][]Span  // per row of the block (spans from the block's first row)
	union   []Span
	pl, ph  []int  // per row panel: the keys of the tile its rows keep, [pl, ph)
	start   []bool // per row panel: acc holds something
}

// Run computes output rows [s0, s1) of head h with kernel kern (Kernel()).
func (w *Worker) Run(kern *gemm.Kernel, h *Head, s0, s1 int) {
	w.setup(kern, h)
	// Every row's spans, asked for once (the blocks reuse them), and the key range the
	// group reaches.
	if len(w.spans) < s1-s0 {
		w.spans = append(w.spans, make([][]Span, s1-s0-len(w.spans))...)
	}
	lo, hi := h.T, 0
	for s := s0; s < s1; s++ {
		sp := h.Rows.Spans(w.spans[s-s0], s)
		w.spans[s-s0] = sp
		if n := len(sp); n > 0 {
			lo, hi = min(lo, sp[0].Lo), max(hi, sp[n-1].Hi)
		}
	}
	if lo < hi {
		lo -= lo % kern.NR // panels start at multiples of NR, so every tile can start on one
		w.pack(h, lo, hi)
	}
	for b := s0; b < s1; b += BlockQ {
		w.rs = w.spans[b-s0:]
		w.block(h, b, min(s1, b+BlockQ))
	}
}

func grow(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}

func (w *Worker) setup(kern *gemm.Kernel, h *Head) {
	w.kern = kern
	mr, nr := kern.MR, kern.NR
	rows := (BlockQ + mr - 1) / mr * mr
	w.qp = grow(w.qp, rows*h.D+packSlack)
	w.sc = grow(w.sc, rows*(TileK+2*nr))
	w.pp = grow(w.pp, mr*(TileK+nr)+packSlack)
	w.acc = grow(w.acc, rows*(h.Dv+nr-1)/nr*nr)
	w.m, w.l, w.corr = grow(w.m, rows), grow(w.l, rows), grow(w.corr, rows)
	w.mx, w.sum = grow(w.mx, rows), grow(w.sum, rows)
	if panels := rows / mr; len(w.pl) < panels {
		w.pl, w.ph, w.start = make([]int, panels), make([]int, panels), make([]bool, panels)
	}
}

// pack packs keys and values [lo, hi) as Kᵀ (D × n, panels of NR keys, the last one
// zero-padded) and V (one n × NR panel per NR value columns).
func (w *Worker) pack(h *Head, lo, hi int) {
	D, Dv, nr := h.D, h.Dv, w.kern.NR
	n := hi - lo
	np := (n + nr - 1) / nr
	w.k0 = lo
	w.kp = grow(w.kp, np*nr*D)
	for jp := 0; jp < np; jp++ {
		pan := w.kp[jp*nr*D:][:nr*D]
		cols := min(nr, n-jp*nr)
		j := 0
		// Eight keys at a time, transposed in registers (vec.Transpose8); then four:
		// four contiguous stores per d rather than one scattered.
		for ; j+8 <= cols; j += 8 {
			vec.Transpose8(pan[j:], nr, h.K[(lo+jp*nr+j)*h.LDK:], h.LDK, D, 1)
		}
		for ; j+4 <= cols; j += 4 {
			k := h.K[(lo+jp*nr+j)*h.LDK:]
			r0, r1, r2, r3 := k[:D], k[h.LDK:][:D], k[2*h.LDK:][:D], k[3*h.LDK:][:D]
			for d := range D {
				p := pan[d*nr+j:][:4]
				p[0], p[1], p[2], p[3] = r0[d], r1[d], r2[d], r3[d]
			}
		}
		for ; j < cols; j++ {
			for d, x := range h.K[(lo+jp*nr+j)*h.LDK:][:D] {
				pan[d*nr+j] = x
			}
		}
		if cols < nr {
			for d := 0; d < D; d++ {
				clear(pan[d*nr+cols : d*nr+nr])
			}
		}
	}
	// V has as many rows as Kᵀ has columns (the padding keys' rows zero): a tile's P·V
	// runs over whole panels of keys.
	vpanels := (Dv + nr - 1) / nr
	w.nk = np * nr
	w.vp = grow(w.vp, vpanels*w.nk*nr)
	for jp := 0; jp < vpanels; jp++ {
		pan := w.vp[jp*w.nk*nr:][:w.nk*nr]
		j0 := jp * nr
		cols := min(nr, Dv-j0)
		if cols == 16 && nr == 16 {
			vec.Copy16(pan, h.V[lo*h.LDV+j0:], h.LDV, n)
		} else {
			for t := 0; t < n; t++ {
				d := pan[t*nr:][:nr]
				copy(d, h.V[(lo+t)*h.LDV+j0:][:cols])
				clear(d[cols:])
			}
		}
		clear(pan[n*nr:])
	}
}

// block computes query rows [s0, s1) from the packed group.
func (w *Worker) block(h *Head, s0, s1 int) {
	kern := w.kern
	mr, nr := kern.MR, kern.NR
	rows := s1 - s0
	panels := (rows + mr - 1) / mr
	w.union = w.union[:0]
	for i := 0; i < rows; i++ {
		w.union = append(w.union, w.rs[i]...)
	}
	w.union = mergeSpans(w.union)
	// The scale goes on Q, not on the scores: fewer products (D per query rather than
	// one per key), and exact when it is a power of two (1/√64).
	for ip := 0; ip < panels; ip++ {
		i0 := ip * mr
		packA(w.qp[i0*h.D:], h.Q[(s0+i0)*h.LDQ:], h.LDQ, min(mr, rows-i0), mr, h.D, h.Scale)
		w.start[ip] = false
	}
	ninf := float32(math.Inf(-1))
	for i := 0; i < rows; i++ {
		w.m[i], w.l[i] = ninf, 0
	}
	lda := (h.Dv + nr - 1) / nr * nr
	for _, sp := range w.union {
		for lo := sp.Lo; lo < sp.Hi; lo += TileK {
			t0 := lo - (lo-w.k0)%nr // start on a panel; keys before lo belong to the last tile
			t1 := min(lo+TileK, sp.Hi)
			w.tile(h, s0, rows, t0, lo, t1, lda)
		}
	}
	for i := 0; i < rows; i++ {
		out := h.Y[(s0+i)*h.LDY:][:h.Dv]
		if w.l[i] == 0 {
			clear(out) // no key kept
			continue
		}
		inv := 1 / w.l[i]
		vec.Scale(out, w.acc[i*lda:][:len(out)], inv)
	}
}

// tile folds keys [from, t1) into rows [s0, s0+rows), scoring from t0 <= from, the
// start of from's panel.
func (w *Worker) tile(h *Head, s0, rows, t0, from, t1, lda int) {
	kern := w.kern
	mr, nr := kern.MR, kern.NR
	ldsc := (t1 - t0 + nr - 1) / nr * nr
	panels := (rows + mr - 1) / mr
	// Each row panel's kept keys within the tile.
	for ip := 0; ip < panels; ip++ {
		pl, ph := t1, from
		for i := ip * mr; i < min(rows, ip*mr+mr); i++ {
			for _, sp := range w.rs[i] {
				if lo, hi := max(sp.Lo, from), min(sp.Hi, t1); lo < hi {
					pl, ph = min(pl, lo), max(ph, hi)
				}
			}
		}
		if pl >= ph {
			w.pl[ip], w.ph[ip] = pl, ph
			continue
		}
		// Whole key panels: S is computed for them anyway, and the softmax and P·V run
		// on lengths that are multiples of NR (the keys no row keeps get weight 0).
		pl, ph = t0+(pl-t0)/nr*nr, t0+(ph-t0+nr-1)/nr*nr
		w.pl[ip], w.ph[ip] = pl, ph
		// S for the key panels the row panel keeps.
		a := w.qp[ip*mr*h.D:][:mr*h.D]
		for jp := (pl - t0) / nr; jp*nr < ph-t0; jp++ {
			b := w.kp[((t0-w.k0)/nr+jp)*nr*h.D:][:nr*h.D]
			kern.Micro(h.D, a, b, w.sc[ip*mr*ldsc+jp*nr:], ldsc, false)
		}
	}
	for ip := 0; ip < panels; ip++ {
		pl, ph := w.pl[ip], w.ph[ip]
		if pl >= ph {
			continue
		}
		i0, i1 := ip*mr, min(rows, ip*mr+mr)
		// The panel's scores become weights: dropped keys -Inf and masks row by row,
		// then the softmax step of all its rows in one call.
		for i := i0; i < i1; i++ {
			w.dropAndMask(h, w.sc[i*ldsc+pl-t0:][:ph-pl], i, s0+i, pl, from, t1)
		}
		copy(w.mx[i0:i1], w.m[i0:i1])
		vec.MaxExpSubSumRows(w.sc[i0*ldsc+pl-t0:], ldsc, ph-pl, w.mx[i0:i1], w.sum[i0:i1])
		rescale := false
		for i := i0; i < i1; i++ {
			w.update(w.sc[i*ldsc+pl-t0:][:ph-pl], i)
			rescale = rescale || w.corr[i] != 1
		}
		// P·V for the row panel over its keys [pl, ph).
		kl := ph - pl
		packA(w.pp, w.sc[i0*ldsc+pl-t0:], ldsc, i1-i0, mr, kl, 1)
		add := w.start[ip]
		if add && rescale {
			for i := i0; i < i1; i++ {
				if c := w.corr[i]; c != 1 {
					acc := w.acc[i*lda:][:h.Dv]
					vec.Scale(acc, acc, c)
				}
			}
		}
		for jp := 0; jp*nr < h.Dv; jp++ {
			b := w.vp[jp*w.nk*nr+(pl-w.k0)*nr:][:kl*nr]
			kern.Micro(kl, w.pp[:kl*mr], b, w.acc[i0*lda+jp*nr:], lda, add)
		}
		w.start[ip] = true
	}
}

// dropAndMask prepares row i's scores for keys [t0, t0+len(row)) (already scaled: Q is
// scaled as it is packed) for the softmax: the keys the row drops, or that belong to
// another tile (before from, from t1), become -Inf, whose weight e^(-Inf - m) is 0; the
// kept ones are masked.
func (w *Worker) dropAndMask(h *Head, row []float32, i, s, t0, from, t1 int) {
	end := t0 + len(row)
	ninf := float32(math.Inf(-1))
	next := t0
	for _, sp := range w.rs[i] {
		lo, hi := max(sp.Lo, next, from), min(sp.Hi, end, t1)
		if lo >= hi {
			continue
		}
		fill(row[next-t0:lo-t0], ninf)
		if h.Rows.Masked() {
			h.Rows.Mask(row[lo-t0:hi-t0], s, lo)
		}
		next = hi
	}
	fill(row[next-t0:], ninf)
}

// update folds row i's softmax step (vec.MaxExpSubSumRows: the new maximum mx[i], the
// weights in row, their sum) into m, l and corr.
func (w *Worker) update(row []float32, i int) {
	ninf := float32(math.Inf(-1))
	m := w.mx[i]
	if m == ninf {
		clear(row) // nothing kept yet (or all masked): this tile adds nothing to the row
		w.corr[i] = 1
		return
	}
	// A tile whose keys are all dropped gives zero weights and c = e^0 = 1: the row's
	// l and acc stay as they were.
	c := float32(0)
	if w.m[i] != ninf {
		c = float32(math.Exp(float64(w.m[i] - m)))
	}
	w.m[i], w.l[i], w.corr[i] = m, w.l[i]*c+w.sum[i], c
}

func fill(x []float32, v float32) {
	for i := range x {
		x[i] = v
	}
}

// packA packs n rows of K values (row i at src[i·ld:]), times scale, as one panel of
// the layout the microkernel reads (K groups of mr values), rows past n zero. The six-
// and eight-row panels of the AVX2 and AVX-512 kernels are transposed in registers
// (package vec): several times faster than scattering row by row.
//
// dst may run on past the panel: vec.PackA6's stores overhang the panel by up to
// packSlack floats (garbage the next panel's packing overwrites), which lets it pack
// every column in registers.
func packA(dst, src []float32, ld, n, mr, K int, scale float32) {
	if len(dst) > mr*K+packSlack {
		dst = dst[:mr*K+packSlack]
	}
	switch {
	case n == 6 && mr == 6:
		vec.PackA6(dst, src, ld, K, scale)
	case n == 8 && mr == 8:
		vec.Transpose8(dst, 8, src, ld, K, scale)
	default:
		dst = dst[:mr*K]
		if n < mr {
			clear(dst)
		}
		for i := 0; i < n; i++ {
			for k, x := range src[i*ld:][:K] {
				dst[k*mr+i] = x * scale
			}
		}
	}
}

// packSlack is the room packA's panels leave after them (see vec.PackA6).
const packSlack = 2

// mergeSpans sorts s and merges overlapping or touching spans, in place.
func mergeSpans(s []Span) []Span {
	if len(s) < 2 {
		return s
	}
	slices.SortFunc(s, func(a, b Span) int { return a.Lo - b.Lo })
	out := s[:1]
	for _, x := range s[1:] {
		last := &out[len(out)-1]
		if x.Lo <= last.Hi {
			last.Hi = max(last.Hi, x.Hi)
			continue
		}
		out = append(out, x)
	}
	return out
}
