package sparse

import (
	"fmt"
	"math"

	"github.com/ciuic/ciuic/ir"
	"github.com/ciuic/ciuic/ops"
)

// geom is the geometry of one SparseAttention call.
type geom struct {
	B, S, T, H, Hkv, D, Dv int
	scale                  float32
	pat                    Pattern
	mask                   []float32 // nil: no mask
	ms                     [4]int    // mask strides broadcast to [B, H, S, T]
}

// chunk is how many keys the streaming softmax scores at once: the running maximum is
// corrected once per chunk, not once per key, and the scores stay in L1.
const chunk = 64

// queryBlock is the grain of the parallel split: rows (batch, head, query) are handed
// out in runs of whole query blocks of one head, which share their keys in cache.
const queryBlock = 32

// kernel computes ciuic.SparseAttention in f32, one query row at a time with plain Go
// dot products: the definition the registered tiled kernel (tiled.go) is tested
// against, and the fallback to read first. Per row (batch, head, query) it walks
// the kept key spans in order, chunk by chunk, keeping the running maximum m, the
// running sum l and the unnormalised output acc (online softmax):
//
//	m' = max(m, max(scores)),  l = l·e^(m-m') + Σ e^(s-m'),  acc = acc·e^(m-m') + Σ e^(s-m')·v
//
// and writes acc / l. Memory beyond the output is one chunk of scores and one row of acc
// per worker. Rows are independent and each is computed by the same operations in the
// same order whatever the split, so results do not depend on the worker count. A row
// with no kept key (or every kept key masked with -inf) is zero, as in ciuic.Attention.
func kernel(ctx *ops.KernelContext, in []*ops.Tensor, attrs ir.Attrs) ([]*ops.Tensor, error) {
	g, err := newGeom(in, attrs)
	if err != nil {
		return nil, fmt.Errorf("SparseAttention: %v", err)
	}
	q, k, v := in[0].F32(), in[1].F32(), in[2].F32()
	y := ops.New(ir.F32, g.B, g.S, g.H*g.Dv)
	ys := y.F32()
	ctx.ParallelFor(g.B*g.H*g.S, queryBlock, func(lo, hi int) {
		w := worker{sc: make([]float32, chunk), acc: make([]float32, g.Dv), spans: make([]Span, 0, 8)}
		for r := lo; r < hi; r++ {
			g.row(&w, q, k, v, ys, r)
		}
	})
	return []*ops.Tensor{y}, nil
}

// worker is the scratch of one ParallelFor chunk.
type worker struct {
	sc, acc []float32
	spans   []Span
}

func newGeom(in []*ops.Tensor, attrs ir.Attrs) (*geom, error) {
	g := new(geom)
	if err := g.init(in, attrs); err != nil {
		return nil, err
	}
	return g, nil
}

// init sets g from the inputs and attributes (every field: g may be reused).
func (g *geom) init(in []*ops.Tensor, attrs ir.Attrs) error {
	*g = geom{}
	if len(in) < 3 || in[0] == nil || in[1] == nil || in[2] == nil {
		return fmt.Errorf("want inputs Q, K, V")
	}
	q, k, v := in[0], in[1], in[2]
	var m *ops.Tensor
	if len(in) > 3 {
		m = in[3]
	}
	for i, t := range [...]*ops.Tensor{q, k, v, m} {
		if t != nil && t.DType != ir.F32 {
			return fmt.Errorf("input %d is %s, want f32", i, t.DType)
		}
	}
	if q.Rank() != 3 || k.Rank() != 3 || v.Rank() != 3 {
		return fmt.Errorf("Q, K, V must be 3-D [batch, seq, hidden], got %v, %v, %v", q.Shape, k.Shape, v.Shape)
	}
	h := attrs.Int("num_heads", 0)
	hkv := attrs.Int("kv_num_heads", h)
	if h <= 0 || hkv <= 0 || h%hkv != 0 {
		return fmt.Errorf("num_heads %d must be positive and a multiple of kv_num_heads %d", h, hkv)
	}
	*g = geom{B: q.Shape[0], S: q.Shape[1], T: k.Shape[1], H: int(h), Hkv: int(hkv)}
	if k.Shape[0] != g.B || v.Shape[0] != g.B || v.Shape[1] != g.T {
		return fmt.Errorf("batch and key lengths of Q %v, K %v, V %v disagree", q.Shape, k.Shape, v.Shape)
	}
	if q.Shape[2]%g.H != 0 {
		return fmt.Errorf("Q hidden size %d is not divisible by num_heads %d", q.Shape[2], g.H)
	}
	g.D = q.Shape[2] / g.H
	if k.Shape[2] != g.Hkv*g.D || v.Shape[2]%g.Hkv != 0 {
		return fmt.Errorf("K %v and V %v do not split into kv_num_heads %d of head size %d", k.Shape, v.Shape, g.Hkv, g.D)
	}
	g.Dv = v.Shape[2] / g.Hkv
	g.scale = float32(1 / math.Sqrt(float64(g.D)))
	if attrs.Has("scale") {
		g.scale = attrs.Float("scale", 0)
	}
	var err error
	if g.pat, err = PatternOf(attrs); err != nil {
		return err
	}
	if m != nil {
		full := [4]int{g.B, g.H, g.S, g.T}
		if m.Rank() > 4 {
			return fmt.Errorf("mask %v has rank > 4", m.Shape)
		}
		stride := 1
		for i := m.Rank() - 1; i >= 0; i-- {
			d, j := m.Shape[i], 4-m.Rank()+i
			if d != 1 && d != full[j] {
				return fmt.Errorf("mask %v does not broadcast to [batch, heads, S, T] = %v", m.Shape, full)
			}
			if d != 1 {
				g.ms[j] = stride
			}
			stride *= d
		}
		g.mask = m.F32()
	}
	return nil
}

// row computes output row r, r indexing (batch, head, query) in that order.
func (g *geom) row(w *worker, q, k, v, y []float32, r int) {
	s := r % g.S
	h := (r / g.S) % g.H
	b := r / (g.S * g.H)
	kvh := h / (g.H / g.Hkv)
	qrow := q[(b*g.S+s)*g.H*g.D+h*g.D:][:g.D]
	out := y[(b*g.S+s)*g.H*g.Dv+h*g.Dv:][:g.Dv]
	acc := w.acc
	clear(acc)
	m, l := float32(math.Inf(-1)), float32(0)
	w.spans = g.pat.Spans(w.spans, h, s+g.T-g.S, g.T)
	mrow := -1
	if g.mask != nil {
		mrow = b*g.ms[0] + h*g.ms[1] + s*g.ms[2]
	}
	kstride, vstride := g.Hkv*g.D, g.Hkv*g.Dv
	kbase, vbase := b*g.T*kstride+kvh*g.D, b*g.T*vstride+kvh*g.Dv
	for _, sp := range w.spans {
		for t0 := sp.Lo; t0 < sp.Hi; t0 += chunk {
			n := min(chunk, sp.Hi-t0)
			sc := w.sc[:n]
			cm := float32(math.Inf(-1))
			for j := range sc {
				t := t0 + j
				x := dot(qrow, k[kbase+t*kstride:][:g.D]) * g.scale
				if mrow >= 0 {
					x += g.mask[mrow+t*g.ms[3]]
				}
				sc[j] = x
				cm = max(cm, x)
			}
			if math.IsInf(float64(cm), -1) {
				continue // every key of the chunk masked out
			}
			if cm > m {
				if l != 0 {
					c := expf(m - cm)
					l *= c
					scaleVec(acc, c)
				}
				m = cm
			}
			for j, x := range sc {
				p := expf(x - m)
				l += p
				axpy(acc, p, v[vbase+(t0+j)*vstride:][:g.Dv])
			}
		}
	}
	if l == 0 {
		return // no key kept: the row stays zero
	}
	inv := 1 / l
	for j, a := range acc {
		out[j] = a * inv
	}
}

// dot is the f32 dot product of equal-length a and b, four partial sums at a time.
func dot(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+8 <= len(a); i += 8 {
		s0 += a[i]*b[i] + a[i+4]*b[i+4]
		s1 += a[i+1]*b[i+1] + a[i+5]*b[i+5]
		s2 += a[i+2]*b[i+2] + a[i+6]*b[i+6]
		s3 += a[i+3]*b[i+3] + a[i+7]*b[i+7]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// axpy adds a·x to y.
func axpy(y []float32, a float32, x []float32) {
	x = x[:len(y)]
	i := 0
	for ; i+4 <= len(y); i += 4 {
		y[i] += a * x[i]
		y[i+1] += a * x[i+1]
		y[i+2] += a * x[i+2]
		y[i+3] += a * x[i+3]
	}
	for ; i < len(y); i++ {
		y[i] += a * x[i]
	}
}

func scaleVec(y []float32, c float32) {
	for i := range y {
		y[i] *= c
	}
}

// expf is e^x in f32 for x <= 0 (the softmax only needs those): the exponent split off
// by rounding x·log2(e), the rest by a degree-6 polynomial on [-ln2/2, ln2/2], giving a
// relative error under 2e-7. x below -87 (and -inf) gives 0.
func expf(x float32) float32 {
	if x < -87 {
		return 0
	}
	const (
		log2e = 1.44269504088896341
		ln2hi = 0.693359375
		ln2lo = -2.12194440e-4
	)
	n := float32(math.Floor(float64(x*log2e + 0.5)))
	r := x - n*ln2hi - n*ln2lo
	p := float32(1.9875691500e-4)
	p = p*r + 1.3981999507e-3
	p = p*r + 8.3334519073e-3
	p = p*r + 4.1665795894e-2
	p = p*r + 1.6666665459e-1
	p = p*r + 5.0000001201e-1
	p = p*r*r + r + 1
	return p * math.Float32frombits(uint32(int32(n)+127)<<23)
}
