package ops

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/ciuic/ciuic/ir"
)

func relRMS(ref, got []float32) float64 {
	var e2, r2 float64
	for i := range ref {
		d := float64(ref[i] - got[i])
		e2 += d * d
		r2 += float64(ref[i]) * float64(ref[i])
	}
	return math.Sqrt(e2 / r2)
}

// quantRowsI8 quantizes w [M, rest] symmetrically per leading index, as passes/quantize.
func quantRowsI8(w []float32, M int) ([]int8, []float32) {
	inner := len(w) / M
	q, s := make([]int8, len(w)), make([]float32, M)
	for m := range M {
		for _, v := range w[m*inner : (m+1)*inner] {
			s[m] = max(s[m], float32(math.Abs(float64(v))))
		}
		s[m] /= 127
		for i, v := range w[m*inner : (m+1)*inner] {
			q[m*inner+i] = int8(math.RoundToEven(float64(v / s[m])))
		}
	}
	return q, s
}

func runOp(t *testing.T, domain, op string, in []*Tensor, attrs ir.Attrs) *Tensor {
	t.Helper()
	out, err := Run(domain, op, in, attrs, 1)
	if err != nil {
		t.Fatal(err)
	}
	return out[0]
}

// ConvInt8 against float Conv: within the error of u8 activations and per-channel i8
// weights; and exact (to one f32 rounding) when X lies on the u8 grid.
func TestConvInt8(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	x := New(ir.F32, 2, 3, 9, 9)
	for i := range x.F32() {
		x.F32()[i] = float32(r.NormFloat64())
	}
	w := New(ir.F32, 4, 3, 3, 3)
	for i := range w.F32() {
		w.F32()[i] = float32(r.NormFloat64()) * float32(1+i/27) // channels of different scales
	}
	b := f32(sh(4), 0.5, -0.25, 1, 0)
	attrs := ir.Attrs{"pads": ir.IntsAttr(1, 1, 1, 1), "strides": ir.IntsAttr(2, 2)}
	q, s := quantRowsI8(w.F32(), 4)
	wq, ws := MustFromSlice([]int{4, 3, 3, 3}, q), MustFromSlice([]int{4}, s)
	ref := runOp(t, "", "Conv", []*Tensor{x, w, b}, attrs)
	got := runOp(t, ir.CiuicDomain, "ConvInt8", []*Tensor{x, wq, ws, b}, attrs)
	if e := relRMS(ref.F32(), got.F32()); e > 0.02 || e == 0 {
		t.Errorf("ConvInt8 vs float Conv: rel. RMS %g, want (0, 0.02]", e)
	}

	// X on the grid: integers -100..155 span exactly 255 steps of 1 with zero point 100.
	for i := range x.F32() {
		x.F32()[i] = float32(r.IntN(256) - 100)
	}
	x.F32()[0], x.F32()[1] = -100, 155
	wd := make([]float32, len(q))
	for i, v := range q {
		wd[i] = float32(v)
	}
	exact := runOp(t, "", "Conv", []*Tensor{x, MustFromSlice([]int{4, 3, 3, 3}, wd)}, attrs) // integers: exact in f32
	got = runOp(t, ir.CiuicDomain, "ConvInt8", []*Tensor{x, wq, ws, b}, ir.Attrs{"pads": attrs["pads"], "strides": attrs["strides"], "activation": ir.StringAttr("relu")})
	per := exact.Len() / (2 * 4)
	for i, acc := range exact.F32() {
		m := i / per % 4
		want := max(acc*s[m]+b.F32()[m], 0)
		if got.F32()[i] != want {
			t.Fatalf("element %d: got %g, want %g (acc %g)", i, got.F32()[i], want, acc)
		}
	}
	if _, err := Run(ir.CiuicDomain, "ConvInt8", []*Tensor{x, wq, f32(sh(3), 1, 1, 1)}, nil, 1); err == nil || !strings.Contains(err.Error(), "WScale") {
		t.Errorf("bad WScale: %v", err)
	}
}

// GatherInt8 dequantizes exactly the gathered rows; negative indices count from the end.
func TestGatherInt8(t *testing.T) {
	tab := MustFromSlice([]int{3, 2}, []int8{1, -2, 3, 4, -127, 127})
	sc := f32(sh(3), 0.5, 0.25, 2)
	got := runOp(t, ir.CiuicDomain, "GatherInt8", []*Tensor{tab, sc, i64(sh(2, 2), 2, 0, -2, 2)}, nil)
	want := []float32{-254, 254, 0.5, -1, 0.75, 1, -254, 254}
	if !Equal(got, f32(sh(2, 2, 2), want...)) {
		t.Errorf("got %v %v, want %v", got.Shape, got.F32(), want)
	}
	if _, err := Run(ir.CiuicDomain, "GatherInt8", []*Tensor{tab, sc, i32(sh(1), 3)}, nil, 1); err == nil || !strings.Contains(err.Error(), "out of range") {
		t.Errorf("index 3 of 3 rows: %v", err)
	}
}
