package vec

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

var packLengths = []int{0, 1, 3, 7, 8, 9, 15, 16, 17, 63, 64, 65}

// sentinel fills x with a value no kernel writes, to see which floats were written.
const sentinel = float32(-12345.5)

func filled(n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = sentinel
	}
	return x
}

// TestTranspose8: every float in place, exact (one rounded product), nothing written
// outside the 8 columns of the K rows, on every implementation.
func TestTranspose8(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, K := range packLengths {
		for _, ldd := range []int{8, 11, 16} {
			lds := K + 3
			src := randRow(r, 8*lds, 0)
			scale := float32(0.3)
			eachImpl(t, func(t *testing.T) bool {
				buf := filled(K*ldd + 8 + 8)
				dst := buf[:max(0, (K-1)*ldd+8)]
				Transpose8(dst, ldd, src, lds, K, scale)
				for k := 0; k < K; k++ {
					for j := 0; j < ldd && k*ldd+j < len(buf); j++ {
						got, want := buf[k*ldd+j], sentinel
						if j < 8 {
							want = src[j*lds+k] * scale
						}
						if math.Float32bits(got) != math.Float32bits(want) {
							t.Fatalf("K=%d ldd=%d: dst[%d][%d] = %v, want %v", K, ldd, k, j, got, want)
						}
					}
				}
				for i := max(0, (K-1)*ldd+8); i < len(buf); i++ {
					if buf[i] != sentinel {
						t.Fatalf("K=%d ldd=%d: wrote past dst at %d", K, ldd, i)
					}
				}
				return true
			})
		}
	}
}

// TestPackA6: the 6-row panel, exact, with nothing written past 6K floats when dst is
// exactly 6K long, nor past 6K+2 when it is longer (the assembly's stores overhang by
// 2 floats).
func TestPackA6(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, K := range packLengths {
		for _, slack := range []int{0, 2, 8} {
			lds := K + 1
			src := randRow(r, 6*lds, 0)
			eachImpl(t, func(t *testing.T) bool {
				buf := filled(6*K + 16)
				PackA6(buf[:6*K+slack], src, lds, K, 0.125)
				for k := 0; k < K; k++ {
					for i := 0; i < 6; i++ {
						if got, want := buf[k*6+i], src[i*lds+k]*0.125; math.Float32bits(got) != math.Float32bits(want) {
							t.Fatalf("K=%d slack=%d: dst[%d][%d] = %v, want %v", K, slack, k, i, got, want)
						}
					}
				}
				// Only the 2 floats after the panel may be garbage, and only if dst has them.
				for i := 6*K + min(slack, 2); i < len(buf); i++ {
					if buf[i] != sentinel {
						t.Fatalf("K=%d slack=%d: wrote past 6K+%d at %d", K, slack, min(slack, 2), i)
					}
				}
				return true
			})
		}
	}
}

func TestScale(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for _, n := range []int{0, 1, 3, 15, 16, 17, 31, 32, 33, 63, 65, 100} {
		src := randRow(r, n, 0)
		got := eachImpl(t, func(t *testing.T) []float32 {
			buf := filled(n + 4)
			Scale(buf[:n], src, 1/float32(3))
			for i := n; i < len(buf); i++ {
				if buf[i] != sentinel {
					t.Fatalf("n=%d: wrote past dst at %d", n, i)
				}
			}
			for i := range n {
				if want := src[i] * (1 / float32(3)); buf[i] != want {
					t.Fatalf("n=%d: dst[%d] = %v, want %v", n, i, buf[i], want)
				}
			}
			return buf[:n]
		})
		sameAcross(t, fmt.Sprintf("Scale n=%d", n), got)
	}
}

// TestMaxExpSubSumRows: each row's step equals its maximum followed by ExpSubSum, bit
// for bit, on every implementation; it is accurate; a row with nothing kept is not
// written. Rows of 16-multiples take the assembly, the others the Go loop.
func TestMaxExpSubSumRows(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	ninf := float32(math.Inf(-1))
	starts := []float32{ninf, -10, 0.5, 10, ninf, ninf}
	for _, n := range []int{0, 1, 3, 15, 16, 17, 32, 63, 65, 128} {
		const rows, ld = 6, 130
		x := randRow(r, rows*ld, 0)
		for i := 0; i < len(x); i += 5 {
			x[i] = ninf // dropped keys
		}
		for j := range n {
			x[4*ld+j] = ninf // row 4: nothing kept, m -Inf
			x[5*ld+j] += 200 // row 5: far above the others
		}
		eachImpl(t, func(t *testing.T) bool {
			got := append([]float32(nil), x...)
			m, sum := append([]float32(nil), starts...), make([]float32, rows)
			MaxExpSubSumRows(got, ld, n, m, sum)
			for row := range rows {
				want := starts[row]
				for _, v := range x[row*ld:][:n] {
					want = max(want, v)
				}
				if m[row] != want {
					t.Fatalf("n=%d row %d: m = %v, want %v", n, row, m[row], want)
				}
				ref := append([]float32(nil), x[row*ld:][:n]...)
				refSum := float32(0)
				if want != ninf {
					refSum = ExpSubSum(ref, ref, want)
				}
				if sum[row] != refSum {
					t.Fatalf("n=%d row %d: sum = %v, ExpSubSum gives %v", n, row, sum[row], refSum)
				}
				exact := 0.0
				for j, v := range got[row*ld:][:n] {
					if math.Float32bits(v) != math.Float32bits(ref[j]) {
						t.Fatalf("n=%d row %d: x[%d] = %v, ExpSubSum gives %v", n, row, j, v, ref[j])
					}
					if want != ninf {
						exact += math.Exp(float64(x[row*ld+j]) - float64(want))
					}
				}
				if d := math.Abs(float64(sum[row]) - exact); d > 1e-6*(1+exact) {
					t.Fatalf("n=%d row %d: sum = %v, want %v", n, row, sum[row], exact)
				}
			}
			for i := range x {
				if i%ld >= n && math.Float32bits(got[i]) != math.Float32bits(x[i]) {
					t.Fatalf("n=%d: wrote x[%d] outside the rows", n, i)
				}
			}
			return true
		})
	}
}

func TestCopy16(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	for _, n := range []int{0, 1, 3, 17} {
		src := randRow(r, 16+n*21, 0)
		eachImpl(t, func(t *testing.T) bool {
			buf := filled(16*n + 16)
			Copy16(buf[:16*n], src, 21, n)
			for i, v := range buf {
				want := sentinel
				if i < 16*n {
					want = src[i/16*21+i%16]
				}
				if v != want {
					t.Fatalf("n=%d: dst[%d] = %v, want %v", n, i, v, want)
				}
			}
			return true
		})
	}
}
