package sparse

import (
	"fmt"
	"slices"

	"github.com/ciuic/ciuic/ir"
	"github.com/ciuic/ciuic/ops/internal/attn"
)

// Pattern says which keys each query of ciuic.SparseAttention attends to. Positions are
// aligned as causal attention aligns them: query s sits at position p = s + (T - S), so
// the last query is at the last key. A key t is kept for query head h at position p when
//
//	(!Causal || t <= p)  and  (p < GlobalTokens || t < GlobalTokens || local || stripe)
//
// where, without blocks (BlockSize == 0), local is p-WindowLeft <= t <= p+WindowRight
// (a negative bound is unbounded), and with blocks of BlockSize tokens, query block
// qb = p / BlockSize and key block kb = t / BlockSize, local is |qb - kb| < LocalBlocks
// and stripe is VertStride > 0 && (kb + 1 + h·HeadSliding) % VertStride == 0 (the
// vertical stripes of Phi-3-small's block-sparse attention; BigBird's pattern is local
// blocks plus global tokens).
type Pattern struct {
	Causal                  bool
	WindowLeft, WindowRight int // token band around p when BlockSize == 0 (else 0); < 0: unbounded
	BlockSize               int
	LocalBlocks             int
	VertStride              int
	HeadSliding             int
	GlobalTokens            int
}

// Attribute names of ciuic.SparseAttention that describe its pattern.
var patternAttrs = map[string]ir.AttrSpec{
	"causal": {Kind: ir.AttrInt}, "window_left": {Kind: ir.AttrInt}, "window_right": {Kind: ir.AttrInt},
	"block_size": {Kind: ir.AttrInt}, "local_blocks": {Kind: ir.AttrInt}, "vert_stride": {Kind: ir.AttrInt},
	"head_sliding": {Kind: ir.AttrInt}, "global_tokens": {Kind: ir.AttrInt},
}

// PatternOf reads a pattern from a node's attributes; unset bounds are unbounded.
func PatternOf(a ir.Attrs) (Pattern, error) {
	p := Pattern{
		Causal:     a.Int("causal", 0) != 0,
		WindowLeft: int(a.Int("window_left", -1)), WindowRight: int(a.Int("window_right", -1)),
		BlockSize: int(a.Int("block_size", 0)), LocalBlocks: int(a.Int("local_blocks", 0)),
		VertStride: int(a.Int("vert_stride", 0)), HeadSliding: int(a.Int("head_sliding", 0)),
		GlobalTokens: int(a.Int("global_tokens", 0)),
	}
	if p.BlockSize > 0 {
		p.WindowLeft, p.WindowRight = 0, 0 // a block pattern has no token band
	}
	switch {
	case p.BlockSize < 0 || p.LocalBlocks < 0 || p.VertStride < 0 || p.HeadSliding < 0 || p.GlobalTokens < 0:
		return p, fmt.Errorf("block_size, local_blocks, vert_stride, head_sliding and global_tokens must be >= 0")
	case p.BlockSize == 0 && (p.LocalBlocks != 0 || p.VertStride != 0):
		return p, fmt.Errorf("local_blocks and vert_stride need block_size > 0")
	}
	return p, nil
}

// Attrs returns the attributes that encode p (defaults left out).
func (p Pattern) Attrs() ir.Attrs {
	a := ir.Attrs{}
	set := func(name string, v, def int) {
		if v != def {
			a[name] = ir.IntAttr(int64(v))
		}
	}
	if p.Causal {
		a["causal"] = ir.IntAttr(1)
	}
	if p.BlockSize == 0 {
		set("window_left", max(p.WindowLeft, -1), -1)
		set("window_right", max(p.WindowRight, -1), -1)
	}
	set("block_size", p.BlockSize, 0)
	set("local_blocks", p.LocalBlocks, 0)
	set("vert_stride", p.VertStride, 0)
	set("head_sliding", p.HeadSliding, 0)
	set("global_tokens", p.GlobalTokens, 0)
	return a
}

func (p Pattern) String() string {
	var s string
	if p.BlockSize == 0 {
		bound := func(v int) string {
			if v < 0 {
				return "∞"
			}
			return fmt.Sprint(v)
		}
		s = fmt.Sprintf("window [-%s, +%s]", bound(p.WindowLeft), bound(p.WindowRight))
	} else {
		s = fmt.Sprintf("blocks of %d, %d local", p.BlockSize, p.LocalBlocks)
		if p.VertStride > 0 {
			s += fmt.Sprintf(", vertical stride %d (head sliding %d)", p.VertStride, p.HeadSliding)
		}
	}
	if p.GlobalTokens > 0 {
		s += fmt.Sprintf(", %d global tokens", p.GlobalTokens)
	}
	if p.Causal {
		s += ", causal"
	}
	return s
}

// Keep reports whether query head h at aligned position pos attends to key t. It is the
// definition the kernel's interval lists (Spans) are tested against.
func (p Pattern) Keep(h, pos, t int) bool {
	if p.Causal && t > pos {
		return false
	}
	if pos < p.GlobalTokens || t < p.GlobalTokens {
		return true
	}
	if p.BlockSize == 0 {
		return (p.WindowLeft < 0 || t >= pos-p.WindowLeft) && (p.WindowRight < 0 || t <= pos+p.WindowRight)
	}
	qb, kb := floorDiv(pos, p.BlockSize), t/p.BlockSize
	if d := qb - kb; d < p.LocalBlocks && -d < p.LocalBlocks {
		return true
	}
	return p.VertStride > 0 && (kb+1+h*p.HeadSliding)%p.VertStride == 0
}

func floorDiv(a, b int) int {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// Span is the half-open key range [Lo, Hi): the engine's (ops/internal/attn) type, so
// that the tiled kernel hands the pattern's spans over without converting them.
type Span = attn.Span

// Spans appends to dst the sorted, disjoint key ranges within [0, T) that query head h at
// aligned position pos attends to, and returns it.
func (p Pattern) Spans(dst []Span, h, pos, T int) []Span {
	dst = dst[:0]
	hi := T // keys < hi
	if p.Causal {
		hi = min(hi, pos+1)
	}
	if hi <= 0 {
		return dst
	}
	if pos < p.GlobalTokens {
		return append(dst, Span{Lo: 0, Hi: hi})
	}
	add := func(lo, end int) {
		lo, end = max(lo, 0), min(end, hi)
		if lo < end {
			dst = append(dst, Span{Lo: lo, Hi: end})
		}
	}
	add(0, p.GlobalTokens)
	if p.BlockSize == 0 {
		lo, end := 0, hi
		if p.WindowLeft >= 0 {
			lo = pos - p.WindowLeft
		}
		if p.WindowRight >= 0 {
			end = pos + p.WindowRight + 1
		}
		add(lo, end)
	} else {
		b := p.BlockSize
		qb := floorDiv(pos, b)
		if p.LocalBlocks > 0 {
			add((qb-p.LocalBlocks+1)*b, (qb+p.LocalBlocks)*b)
		}
		if p.VertStride > 0 {
			// first key block kb >= 0 with (kb + 1 + h·sliding) % stride == 0
			v := p.VertStride
			first := ((-(1 + h*p.HeadSliding))%v + v) % v
			for kb := first; kb*b < hi; kb += v {
				add(kb*b, kb*b+b)
			}
		}
	}
	return mergeSpans(dst)
}

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
