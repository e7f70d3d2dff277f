package gemm

import (
	"encoding/binary"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/ciuic/ciuic/ops/internal/vec"
	"golang.org/x/sys/cpu"
)

// Int8 GEMM: C[M×N] (int32) = A[M×K] (u8) · B[K×N] (s8), exactly, in int32 arithmetic
// (wrapping like the reference on overflow, which needs K > 66000 at full range).
// Zero points, scales and the conversion to float or back to 8 bits are the caller's
// epilogue: it gets each finished row segment of C while it is in cache.
//
// Layout: k runs in groups of 4 (K rounded up to K4 with zeros). A B panel is NR
// columns; group g of it is NR·4 bytes, column j's four weights of that group together:
// exactly the s8 operand of VPDPBUSD (each int32 lane j += Σ_t a[4g+t]·b[4g+t][j]).
// A panel holds MR rows, group g as MR·4 bytes, so one 32-bit broadcast feeds a row.
//
// Implementations:
//   - vnni: AVX-512 VNNI VPDPBUSD, 8×48 tiles (24 zmm accumulators).
//   - avx2: 6×8 tiles, exact: B widened to int16 with VPMOVSXBW, A packed as int16,
//     VPMADDWD (int16 pairs to exact int32). Not VPMADDUBSW: it adds two u8·s8
//     products into a saturating int16 (255·127·2 > 32767), exact only for 7-bit
//     weights, and ciuic's integer results must equal the reference (MatMulInteger)
//     for all 8-bit inputs. The price is half VPMADDUBSW's multiply rate.
//   - go: the same layout in Go, 4×16 tiles.

// KernelI8 is one implementation of the int8 microkernel.
type KernelI8 struct {
	Name   string
	MR, NR int
	gemv   func(kg int, a *uint8, b *int8, c *int32)
	a16    bool // A is packed as int16 (2 bytes per element)
	// deq: the microkernel dequantizes its tile on the way out (microkernelI8 in asmgen).
	deq bool
}

var (
	kernI8VNNI = &KernelI8{Name: "vnni", MR: 8, NR: 48, gemv: igemvVNNI48, deq: true}
	kernI8AVX2 = &KernelI8{Name: "avx2", MR: 6, NR: 8, a16: true}
	kernI8Go   = &KernelI8{Name: "go", MR: 4, NR: 16}
	activeI8   atomic.Pointer[KernelI8]
)

func init() {
	if err := SetImplI8(os.Getenv("CIUIC_GEMM_INT8")); err != nil {
		fmt.Fprintf(os.Stderr, "ciuic: CIUIC_GEMM_INT8: %v; using %s\n", err, AvailableI8()[0])
		SetImplI8("")
	}
}

// AvailableI8 lists the int8 implementations this CPU and build can run, best first.
func AvailableI8() []string {
	var names []string
	if asmAvailable && cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VNNI {
		names = append(names, kernI8VNNI.Name)
	}
	if asmAvailable && cpu.X86.HasAVX2 {
		names = append(names, kernI8AVX2.Name)
	}
	return append(names, kernI8Go.Name)
}

// ImplI8 names the int8 implementation in use.
func ImplI8() string { return activeI8.Load().Name }

// SetImplI8 chooses the int8 implementation ("vnni", "go"; "" = best available).
// Matrices packed before a switch keep the kernel they were packed for.
func SetImplI8(name string) error {
	avail := AvailableI8()
	if name == "" {
		name = avail[0]
	}
	for _, a := range avail {
		if a == name {
			activeI8.Store(map[string]*KernelI8{"vnni": kernI8VNNI, "avx2": kernI8AVX2, "go": kernI8Go}[name])
			return nil
		}
	}
	return fmt.Errorf("int8 gemm implementation %q not available here (have %v)", name, avail)
}

// PackedI8 is B packed for one int8 kernel, with its column sums Σ_k B[k][j] (for the
// zero-point correction of A).
type PackedI8 struct {
	K, N   int
	ColSum []int32
	kern   *KernelI8
	data   []int8
}

// Kernel names the implementation the matrix was packed for.
func (p *PackedI8) Kernel() string { return p.kern.Name }

// Bytes is the packed size, column sums included.
func (p *PackedI8) Bytes() int { return len(p.data) + 4*len(p.ColSum) }

func k4(K int) int { return (K + 3) &^ 3 }

func (p *PackedI8) panel(j int) []int8 {
	sz := p.kern.NR * k4(p.K)
	return p.data[j*sz:][:sz]
}

// PackI8 packs B (K×N, element (k, j) at b(k, j)) for the active int8 kernel. b
// abstracts the source: s8 weights, or u8 ones flipped to s8 by the caller.
func PackI8(par Parallel, K, N int, b func(k, j int) int8) *PackedI8 {
	kern := activeI8.Load()
	nr := kern.NR
	panels := (N + nr - 1) / nr
	K4 := k4(K)
	p := &PackedI8{K: K, N: N, ColSum: make([]int32, N), kern: kern, data: make([]int8, panels*nr*K4)}
	par.run(panels, max(1, (1<<14)/max(1, K*nr)), func(lo, hi int) {
		for jp := lo; jp < hi; jp++ {
			dst := p.panel(jp)
			j0 := jp * nr
			w := min(nr, N-j0)
			for j := 0; j < w; j++ {
				s := int32(0)
				for k := 0; k < K; k++ {
					v := b(k, j0+j)
					dst[(k>>2)*nr*4+j*4+k&3] = v
					s += int32(v)
				}
				p.ColSum[j0+j] = s
			}
		}
	})
	return p
}

// PackI8Rows is PackI8 for a row-major source (element (k, j) at b[k*N+j]); with flip,
// the bytes are u8 and stored as s8 b^0x80 (= b-128).
func PackI8Rows(par Parallel, b []byte, K, N int, flip bool) *PackedI8 {
	kern := activeI8.Load()
	nr := kern.NR
	panels := (N + nr - 1) / nr
	K4 := k4(K)
	p := &PackedI8{K: K, N: N, ColSum: make([]int32, N), kern: kern, data: make([]int8, panels*nr*K4)}
	x := byte(0)
	if flip {
		x = 0x80
	}
	par.run(panels, max(1, (1<<14)/max(1, K*nr)), func(lo, hi int) {
		for jp := lo; jp < hi; jp++ {
			dst := p.panel(jp)
			j0 := jp * nr
			w := min(nr, N-j0)
			sums := p.ColSum[j0:][:w]
			for k := 0; k < K; k++ {
				d := dst[(k>>2)*nr*4+k&3:]
				for j, v := range b[k*N+j0:][:w] {
					s := int8(v ^ x)
					d[4*j] = s
					sums[j] += int32(s)
				}
			}
		}
	})
	return p
}

// AI8 is the u8 left operand, M×K, row i at Data[i*LD:].
type AI8 struct {
	Data  []uint8
	M, LD int
}

// EpilogueI8 gets each finished row segment of C: row i, columns [j0, j0+len(c)).
type EpilogueI8 func(i, j0 int, c []int32)

// DequantI8 is MulI8Dequant's epilogue: the finished sums of row i become
//
//	Y[i*ldc+j] = Act(float32(C[i][j] + ColAdd[j])·Scale[j] + Bias[j])
//
// the int32 add wrapping, the multiply and the add rounded separately to float32, as
// vec.DequantI32 computes them; with RowScale (A quantized per row), the correction
// and the scale are per row too:
//
//	Y[i*ldc+j] = Act(float32(C[i][j] + RowZero[i]·ColAdd[j])·float32(RowScale[i]·Scale[j]) + Bias[j])
//
// Y may be C's memory: the sums are converted in place.
type DequantI8 struct {
	Y           []float32
	ColAdd      []int32
	Scale, Bias []float32
	// RowZero and RowScale (len M, or both nil) make the epilogue per row.
	RowZero  []int32
	RowScale []float32
	// Act, if not nil, is applied in place to finished row segments of Y.
	Act func([]float32)
}

// i8Job is one MulI8 call, pooled like mulJob.
type i8Job struct {
	a      AI8
	b      *PackedI8
	c      []int32
	ldc    int
	epi    EpilogueI8
	deq    DequantI8
	hasDeq bool
	ap     []uint8 // packed A (MulI8) or the rows zero-padded to whole groups (gemvI8)
	esz    int     // bytes per packed A element

	kcg, mpb, npb, mpanels, npanels, nblocks int

	packFn, runFn, gemvFn func(lo, hi int)
}

var i8Jobs = sync.Pool{New: func() any {
	j := new(i8Job)
	j.packFn, j.runFn, j.gemvFn = j.packA, j.run, j.gemv
	return j
}}

func getI8Job(a AI8, b *PackedI8, c []int32, ldc int, epi EpilogueI8) *i8Job {
	j := i8Jobs.Get().(*i8Job)
	j.a, j.b, j.c, j.ldc, j.epi = a, b, c, ldc, epi
	return j
}

func (j *i8Job) put() {
	j.a, j.b, j.c, j.epi, j.deq, j.hasDeq = AI8{}, nil, nil, nil, DequantI8{}, false
	i8Jobs.Put(j)
}

func growU8(buf []uint8, n int) []uint8 {
	if cap(buf) < n {
		return make([]uint8, n)
	}
	return buf[:n]
}

// MulI8 computes C = A·B (int32; c row i at c[i*ldc:]) and calls epi on each finished
// row segment. The work is split with par; the result (exact) never depends on it.
func MulI8(par Parallel, a AI8, b *PackedI8, c []int32, ldc int, epi EpilogueI8) {
	j := getI8Job(a, b, c, ldc, epi)
	defer j.put()
	j.mul(par)
}

// MulI8Dequant computes C = A·B like MulI8 and dequantizes it into d.Y (see
// DequantI8): the VNNI kernel converts each tile in registers before storing it, the
// other kernels convert each finished row segment of C. Every element is computed the
// same way whatever the split, so the result never depends on par.
func MulI8Dequant(par Parallel, a AI8, b *PackedI8, c []int32, ldc int, d *DequantI8) {
	j := getI8Job(a, b, c, ldc, nil)
	defer j.put()
	j.deq, j.hasDeq = *d, true
	j.mul(par)
}

func (j *i8Job) mul(par Parallel) {
	a, b := j.a, j.b
	M, N, K := a.M, b.N, b.K
	if M == 0 || N == 0 {
		return
	}
	kern := b.kern
	mr, nr := kern.MR, kern.NR
	K4 := k4(K)
	G := K4 / 4
	j.mpanels = (M + mr - 1) / mr
	j.npanels = (N + nr - 1) / nr
	// Vector-matrix products: a tile would be mostly padding. The AVX2 kernel has no
	// vector form, and its 6-row tile with one real row is still ~10x the Go loop.
	if M < 3 && kern != kernI8AVX2 {
		j.gemvI8(par)
		return
	}
	j.esz = 1
	if kern.a16 {
		j.esz = 2
	}
	j.ap = growU8(j.ap, j.mpanels*mr*K4*j.esz)
	par.run(j.mpanels, max(1, (1<<15)/max(1, K*mr)), j.packFn)
	// Groups of k per pass: a B panel slice of kcg·NR·4 bytes stays in L1.
	kcg := max(16, min(G, l1Bytes/2/(4*nr)))
	j.kcg = (G + (G+kcg-1)/kcg - 1) / ((G + kcg - 1) / kcg) // equal blocks: no short last pass
	mb := max(mr, l2Bytes/2/(4*j.kcg)/mr*mr)
	j.mpb = mb / mr
	// At least ~8 column blocks when N allows, so that two to four workers get even
	// shares of a 128-row product (the whole of M is usually one block).
	j.npb = max(1, min((j.npanels+7)/8, 256/nr))
	j.nblocks = (j.npanels + j.npb - 1) / j.npb
	for par != nil && j.mpb > 1 && (j.mpanels+j.mpb-1)/j.mpb*j.nblocks < 16 { // as Mul does
		j.mpb = (j.mpb + 1) / 2
	}
	mblocks := (j.mpanels + j.mpb - 1) / j.mpb
	opsPerItem := 2 * min(M, j.mpb*mr) * min(N, j.npb*nr) * K
	grain := max(1, (1<<21)/max(1, opsPerItem))
	par.run(mblocks*j.nblocks, grain, j.runFn)
}

// finish hands a finished row segment of C to the epilogue: epi, or the dequantization
// (in place when Y is C's memory; the activation runs later, on whole blocks).
func (j *i8Job) finish(i, j0 int, row []int32) {
	if j.epi != nil {
		j.epi(i, j0, row)
	}
	if !j.hasDeq {
		return
	}
	d := &j.deq
	y := d.Y[i*j.ldc+j0:][:len(row)]
	if d.RowScale == nil {
		vec.DequantI32(y, row, d.ColAdd[j0:], d.Scale[j0:], d.Bias[j0:])
		return
	}
	var buf [48]float32 // a segment is at most one panel wide
	s := buf[:len(row)]
	rz, rs := d.RowZero[i], d.RowScale[i]
	for c, v := range d.ColAdd[j0:][:len(row)] {
		row[c] += rz * v
		s[c] = float32(rs * d.Scale[j0+c])
	}
	vec.DequantI32(y, row, nil, s, d.Bias[j0:])
}

// act applies the activation to rows [i0, i1), columns [c0, c1) of Y.
func (j *i8Job) act(i0, i1, c0, c1 int) {
	if !j.hasDeq || j.deq.Act == nil {
		return
	}
	for i := i0; i < i1; i++ {
		j.deq.Act(j.deq.Y[i*j.ldc+c0 : i*j.ldc+c1])
	}
}

func (j *i8Job) packA(lo, hi int) {
	kern, K := j.b.kern, j.b.K
	mr, K4, esz := kern.MR, k4(K), j.esz
	for ip := lo; ip < hi; ip++ {
		if j.rows(ip) {
			continue
		}
		dst := j.ap[ip*mr*K4*esz:][:mr*K4*esz]
		if kern.a16 {
			packAI16(dst, j.a, ip*mr, mr, K)
		} else {
			packAI8(dst, j.a, ip*mr, mr, K)
		}
	}
}

// rows reports whether the kernel reads row panel ip of A in place (unpacked): the
// VNNI kernel can, for a whole panel whose last group of 4 bytes lies inside a.Data
// (past K, it reads bytes of the next row or the padding, which meet B's zero rows).
func (j *i8Job) rows(ip int) bool {
	mr := j.b.kern.MR
	i1 := (ip + 1) * mr
	return j.b.kern == kernI8VNNI && i1 <= j.a.M && (i1-1)*j.a.LD+k4(j.b.K) <= len(j.a.Data)
}

// run computes work items [lo, hi).
func (j *i8Job) run(lo, hi int) {
	b, c, ldc, ap, esz := j.b, j.c, j.ldc, j.ap, j.esz
	kern := b.kern
	M, N, K := j.a.M, b.N, b.K
	mr, nr := kern.MR, kern.NR
	K4 := k4(K)
	G := K4 / 4
	var tmp [8 * 48]int32
	for item := lo; item < hi; item++ {
		ib, jb := item/j.nblocks, item%j.nblocks
		ip0, ip1 := ib*j.mpb, min(j.mpanels, (ib+1)*j.mpb)
		jp0, jp1 := jb*j.npb, min(j.npanels, (jb+1)*j.npb)
		for g0 := 0; g0 < G; g0 += j.kcg {
			gl := min(j.kcg, G-g0)
			add := 0
			if g0 > 0 {
				add = 1
			}
			last := g0+gl == G
			deq := (*DequantI8)(nil) // set: the kernel dequantizes the tiles it stores
			if last && j.hasDeq && kern.deq {
				deq = &j.deq
			}
			for jp := jp0; jp < jp1; jp++ {
				bpan := b.panel(jp)[g0*nr*4:]
				j0 := jp * nr
				w := min(nr, N-j0)
				wk := nr // the columns the kernel computes
				if kern == kernI8VNNI {
					wk = (w + 15) &^ 15
				}
				for ip := ip0; ip < ip1; ip++ {
					i0 := ip * mr
					h := min(mr, M-i0)
					apan, lda := ap[(ip*mr*K4+g0*mr*4)*esz:], 0
					if j.rows(ip) {
						apan, lda = j.a.Data[i0*j.a.LD+g0*4:], j.a.LD
					}
					if h == mr && w == wk {
						microI8(kern, wk, gl, apan, lda, bpan, c[i0*ldc+j0:], ldc, add, deq, i0, j0)
						if last && deq == nil {
							for i := 0; i < h; i++ {
								j.finish(i0+i, j0, c[(i0+i)*ldc+j0:][:w])
							}
						}
						continue
					}
					t := tmp[:mr*nr]
					if add != 0 {
						for i := 0; i < h; i++ {
							copy(t[i*nr:][:w], c[(i0+i)*ldc+j0:][:w])
						}
					}
					microI8(kern, wk, gl, apan, lda, bpan, t, nr, add, nil, 0, 0)
					for i := 0; i < h; i++ {
						row := c[(i0+i)*ldc+j0:][:w]
						copy(row, t[i*nr:][:w])
						if last {
							j.finish(i0+i, j0, row)
						}
					}
				}
			}
		}
		j.act(ip0*mr, min(M, ip1*mr), jp0*nr, min(N, jp1*nr))
	}
}

// packAI8 packs rows [i0, i0+mr) of a: group g of row i (4 bytes) to dst[(g·mr+i)·4:],
// moved as one 32-bit word; the last partial group is zero-padded.
func packAI8(dst []uint8, a AI8, i0, mr, K int) {
	h := min(mr, a.M-i0)
	G := K / 4
	d32 := unsafe.Slice((*uint32)(unsafe.Pointer(unsafe.SliceData(dst))), len(dst)/4)
	for i := 0; i < h; i++ {
		row := a.Data[(i0+i)*a.LD:][:K]
		for g := 0; g < G; g++ {
			d32[g*mr+i] = binary.LittleEndian.Uint32(row[4*g:])
		}
		for k := 4 * G; k < K; k++ {
			dst[G*mr*4+i*4+k-4*G] = row[k]
		}
	}
}

// packAI16 is packAI8 with each element widened to a little-endian int16.
func packAI16(dst []uint8, a AI8, i0, mr, K int) {
	h := min(mr, a.M-i0)
	d16 := unsafe.Slice((*uint16)(unsafe.Pointer(unsafe.SliceData(dst))), len(dst)/2)
	for i := 0; i < h; i++ {
		for k, v := range a.Data[(i0+i)*a.LD:][:K] {
			d16[(k>>2)*mr*4+i*4+k&3] = uint16(v)
		}
	}
}

// gemvI8 is MulI8 for one or two rows: each B panel is streamed once per row.
func (j *i8Job) gemvI8(par Parallel) {
	a, K, nr := j.a, j.b.K, j.b.kern.NR
	K4 := k4(K)
	j.ap = growU8(j.ap, a.M*K4) // each row zero-padded to whole groups
	for i := 0; i < a.M; i++ {
		clear(j.ap[i*K4+copy(j.ap[i*K4:], a.Data[i*a.LD:][:K]):][:K4-K])
	}
	par.run(j.npanels, max(1, (1<<16)/max(1, K*nr)), j.gemvFn)
}

func (j *i8Job) gemv(lo, hi int) {
	kern, b, c, ldc := j.b.kern, j.b, j.c, j.ldc
	K4, N, nr := k4(b.K), b.N, kern.NR
	var tmp [48]int32
	for jp := lo; jp < hi; jp++ {
		j0 := jp * nr
		w := min(nr, N-j0)
		for i := 0; i < j.a.M; i++ {
			x := j.ap[i*K4:][:K4]
			t := tmp[:nr]
			if kern == kernI8VNNI {
				igemvVNNI48(K4/4, unsafe.SliceData(x), unsafe.SliceData(b.panel(jp)), unsafe.SliceData(t))
			} else {
				goMicroI8(1, nr, K4/4, x, b.panel(jp), t, nr, false)
			}
			row := c[i*ldc+j0:][:w]
			copy(row, t[:w])
			j.finish(i, j0, row)
		}
		j.act(0, j.a.M, j0, j0+w)
	}
}

// microI8 computes a tile of wk columns (NR, or for VNNI 16 or 32) with the kernel's
// assembly, called directly (see micro) so that c may live on the stack. A is a packed
// panel, or for VNNI with lda > 0 rows lda bytes apart. With deq, the VNNI kernel
// stores the dequantized tile (rows from i0, columns from j0) to deq.Y instead.
func microI8(kern *KernelI8, wk, gl int, a []uint8, lda int, b []int8, c []int32, ldc, add int, deq *DequantI8, i0, j0 int) {
	if kern == kernI8AVX2 {
		igemmAVX2x6x8(gl, unsafe.SliceData(a), unsafe.SliceData(b), unsafe.SliceData(c), ldc, add)
		return
	}
	if kern != kernI8VNNI {
		goMicroI8(kern.MR, kern.NR, gl, a, b, c, ldc, add != 0)
		return
	}
	var (
		y           *float32
		colAdd      *int32
		scale, bias *float32
		rowZero     *int32
		rowScale    *float32
	)
	if deq != nil {
		y, colAdd = &deq.Y[i0*ldc+j0], &deq.ColAdd[j0]
		scale, bias = &deq.Scale[j0], &deq.Bias[j0]
		if deq.RowScale != nil {
			rowZero, rowScale = &deq.RowZero[i0], &deq.RowScale[i0]
		}
	}
	ap, bp, cp := unsafe.SliceData(a), unsafe.SliceData(b), unsafe.SliceData(c)
	switch {
	case wk == 16 && lda > 0:
		igemmVNNI8x16r(gl, ap, lda, bp, cp, ldc, add, y, colAdd, scale, bias, rowZero, rowScale)
	case wk == 16:
		igemmVNNI8x16(gl, ap, 0, bp, cp, ldc, add, y, colAdd, scale, bias, rowZero, rowScale)
	case wk == 32 && lda > 0:
		igemmVNNI8x32r(gl, ap, lda, bp, cp, ldc, add, y, colAdd, scale, bias, rowZero, rowScale)
	case wk == 32:
		igemmVNNI8x32(gl, ap, 0, bp, cp, ldc, add, y, colAdd, scale, bias, rowZero, rowScale)
	case lda > 0:
		igemmVNNI8x48r(gl, ap, lda, bp, cp, ldc, add, y, colAdd, scale, bias, rowZero, rowScale)
	default:
		igemmVNNI8x48(gl, ap, 0, bp, cp, ldc, add, y, colAdd, scale, bias, rowZero, rowScale)
	}
}

// goMicroI8 is the portable int8 microkernel on the same packed layout.
func goMicroI8(mr, nr, gl int, a []uint8, b []int8, c []int32, ldc int, add bool) {
	var acc [8 * 48]int32
	for g := 0; g < gl; g++ {
		av := a[g*mr*4:][:mr*4]
		bv := b[g*nr*4:][:nr*4]
		for i := 0; i < mr; i++ {
			a0, a1, a2, a3 := int32(av[4*i]), int32(av[4*i+1]), int32(av[4*i+2]), int32(av[4*i+3])
			row := acc[i*nr:][:nr]
			for j := range row {
				q := bv[4*j:][:4]
				row[j] += a0*int32(q[0]) + a1*int32(q[1]) + a2*int32(q[2]) + a3*int32(q[3])
			}
		}
	}
	for i := 0; i < mr; i++ {
		row := c[i*ldc:][:nr]
		if add {
			for j := range row {
				row[j] += acc[i*nr+j]
			}
		} else {
			copy(row, acc[i*nr:][:nr])
		}
	}
}
