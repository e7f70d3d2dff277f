package attn

import (
	"fmt"
	"math"
	"math/rand/v2"
	"syscall"
	"testing"

	"github.com/ciuic/ciuic/ops/internal/gemm"
)

// rows is a test pattern: a band [s+off-left, s+off+right] (negative bounds: unbounded)
// with global tokens, and an optional mask [S][T].
type rows struct {
	T, off, left, right, global int
	mask                        [][]float32
}

func (r *rows) keep(s, t int) bool {
	p := s + r.off
	if t < r.global {
		return t <= p || r.right < 0
	}
	return (r.left < 0 || t >= p-r.left) && (r.right < 0 || t <= p+r.right)
}

// Spans lists the keys keep keeps, from the band's bounds (the reference checks keep).
func (r *rows) Spans(dst []Span, s int) []Span {
	dst = dst[:0]
	p := s + r.off
	add := func(lo, hi int) {
		lo, hi = max(lo, 0), min(hi, r.T)
		if lo >= hi {
			return
		}
		if n := len(dst); n > 0 && dst[n-1].Hi == lo {
			dst[n-1].Hi = hi
			return
		}
		dst = append(dst, Span{lo, hi})
	}
	if r.right < 0 {
		add(0, r.global)
	} else {
		add(0, min(r.global, p+1))
	}
	lo, hi := r.global, r.T
	if r.left >= 0 {
		lo = max(lo, p-r.left)
	}
	if r.right >= 0 {
		hi = p + r.right + 1
	}
	add(lo, hi)
	return dst
}

func (r *rows) Mask(x []float32, s, t0 int) {
	for j := range x {
		x[j] += r.mask[s][t0+j]
	}
}

func (r *rows) Masked() bool { return r.mask != nil }

// reference is the definition in float64, one row at a time.
func reference(h *Head, r *rows) []float64 {
	y := make([]float64, h.S*h.Dv)
	for s := 0; s < h.S; s++ {
		var ts []int
		var sc []float64
		m := math.Inf(-1)
		for t := 0; t < h.T; t++ {
			if !r.keep(s, t) {
				continue
			}
			d := 0.0
			for i := 0; i < h.D; i++ {
				d += float64(h.Q[s*h.LDQ+i]) * float64(h.K[t*h.LDK+i])
			}
			d *= float64(h.Scale)
			if r.mask != nil {
				d += float64(r.mask[s][t])
			}
			ts, sc = append(ts, t), append(sc, d)
			m = max(m, d)
		}
		if math.IsInf(m, -1) {
			continue
		}
		sum := 0.0
		for i := range sc {
			sc[i] = math.Exp(sc[i] - m)
			sum += sc[i]
		}
		for i, t := range ts {
			for j := 0; j < h.Dv; j++ {
				y[s*h.Dv+j] += sc[i] / sum * float64(h.V[t*h.LDV+j])
			}
		}
	}
	return y
}

func kernels() []*gemm.Kernel {
	var ks []*gemm.Kernel
	for _, name := range gemm.Available() {
		k, _ := gemm.Named(name)
		ks = append(ks, k)
	}
	return ks
}

func randSlice(r *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	return x
}

// run computes every row of h in groups of GroupQ with worker w.
func run(w *Worker, k *gemm.Kernel, h *Head) {
	for s0 := 0; s0 < h.S; s0 += GroupQ {
		w.Run(k, h, s0, min(h.S, s0+GroupQ))
	}
}

// TestMatchesReference: every kernel, awkward sizes around the tiles (MR 4, 6, 8; NR
// 16, 48; BlockQ 64; TileK 512), causal, windows, global tokens, masks, empty rows.
func TestMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	type shape struct{ S, T, D, Dv int }
	shapes := []shape{{1, 1, 1, 1}, {3, 3, 3, 3}, {15, 17, 15, 17}, {17, 15, 63, 65}, {63, 65, 65, 63},
		{65, 63, 17, 15}, {128, 128, 64, 64}, {130, 600, 8, 8}, {300, 300, 16, 16}}
	for _, sh := range shapes {
		for pi, pat := range []rows{
			{left: -1, right: -1},                      // dense
			{left: -1, right: 0},                       // causal
			{left: 6, right: 0},                        // causal window of 7
			{left: 5, right: 3, global: 2},             // two-sided band with global tokens
			{left: -1, right: 0, off: -2},              // the first two queries see nothing
			{left: -1, right: -1, mask: [][]float32{}}, // masked
		} {
			pat.T = sh.T
			if pat.off == 0 {
				pat.off = sh.T - sh.S
			}
			if pat.mask != nil {
				pat.mask = make([][]float32, sh.S)
				for s := range pat.mask {
					pat.mask[s] = randSlice(r, sh.T)
					pat.mask[s][r.IntN(sh.T)] = float32(math.Inf(-1))
				}
			}
			h := &Head{S: sh.S, T: sh.T, D: sh.D, Dv: sh.Dv, LDQ: sh.D + 1, LDK: sh.D + 2, LDV: sh.Dv + 3, LDY: sh.Dv + 1,
				Scale: 1 / float32(math.Sqrt(float64(sh.D))), Rows: &pat}
			h.Q, h.K, h.V = randSlice(r, sh.S*h.LDQ), randSlice(r, sh.T*h.LDK), randSlice(r, sh.T*h.LDV)
			want := reference(h, &pat)
			for _, k := range kernels() {
				name := fmt.Sprintf("%s/%v/pattern%d", k.Name, sh, pi)
				h.Y = randSlice(r, sh.S*h.LDY) // stale values must be overwritten
				var w Worker
				run(&w, k, h)
				for s := 0; s < sh.S; s++ {
					for j := 0; j < sh.Dv; j++ {
						if got, want := h.Y[s*h.LDY+j], want[s*sh.Dv+j]; math.Abs(float64(got)-want) > 1e-5*(1+math.Abs(want)) {
							t.Fatalf("%s: y[%d][%d] = %v, want %v", name, s, j, got, want)
						}
					}
				}
				// A worker that ran something bigger first, and groups in reverse
				// order, give the same bits.
				first := append([]float32(nil), h.Y...)
				big := &Head{S: 70, T: 700, D: 70, Dv: 70, LDQ: 70, LDK: 70, LDV: 70, LDY: 70, Scale: 1,
					Rows: &rows{T: 700, left: -1, right: -1}}
				big.Q, big.K, big.V, big.Y = randSlice(r, 70*70), randSlice(r, 700*70), randSlice(r, 700*70), make([]float32, 70*70)
				run(&w, k, big)
				for s0 := (sh.S - 1) / GroupQ * GroupQ; s0 >= 0; s0 -= GroupQ {
					w.Run(k, h, s0, min(sh.S, s0+GroupQ))
				}
				for i := range first {
					if math.Float32bits(first[i]) != math.Float32bits(h.Y[i]) {
						t.Fatalf("%s: a reused worker gives y[%d] = %v, a fresh one %v", name, i, h.Y[i], first[i])
					}
				}
			}
		}
	}
}

// TestWorkerAllocs: a warm worker allocates nothing.
func TestWorkerAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	r := rand.New(rand.NewPCG(3, 4))
	pat := rows{T: 128, left: -1, right: 0}
	h := &Head{S: 128, T: 128, D: 64, Dv: 64, LDQ: 64, LDK: 64, LDV: 64, LDY: 64, Scale: 0.125, Rows: &pat}
	h.Q, h.K, h.V, h.Y = randSlice(r, 128*64), randSlice(r, 128*64), randSlice(r, 128*64), make([]float32, 128*64)
	var w Worker
	k := Kernel()
	run(&w, k, h)
	if n := testing.AllocsPerRun(10, func() { run(&w, k, h) }); n != 0 {
		t.Errorf("%v allocations per run, want 0", n)
	}
}

// BenchmarkHead is one causal head of the benchmark GPT (128 tokens, head size 64);
// cpu-µs/op is steadier than ns/op on a shared machine.
//
//	go test ./ops/internal/attn -run NONE -bench Head -cpu 1
func BenchmarkHead(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 4))
	pat := rows{T: 128, left: -1, right: 0}
	h := &Head{S: 128, T: 128, D: 64, Dv: 64, LDQ: 256, LDK: 256, LDV: 256, LDY: 256, Scale: 0.125, Rows: &pat}
	h.Q, h.K, h.V, h.Y = randSlice(r, 128*256), randSlice(r, 128*256), randSlice(r, 128*256), make([]float32, 128*256)
	var w Worker
	k := Kernel()
	var ru0, ru1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	for b.Loop() {
		run(&w, k, h)
	}
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	cpu := ru1.Utime.Nano() - ru0.Utime.Nano() + ru1.Stime.Nano() - ru0.Stime.Nano()
	b.ReportMetric(float64(cpu)/float64(b.N)/1e3, "cpu-µs/op")
}
