package vec

import (
	"math"
	"unsafe"
)

// ExpSubSum sets dst[i] = e^(src[i] - m) and returns the sum of dst: one pass of the
// streaming softmax of attention (ops/internal/attn), where m is the running maximum
// of a row, not the maximum of src. dst and src may be the same slice. The assembly
// sums in 16 float32 lanes, the Go code in float64; either way the result depends only
// on the slice.
func ExpSubSum(dst, src []float32, m float32) float32 {
	src = src[:len(dst)]
	n := len(dst)
	full := 0
	if softmaxAsm() {
		full = n / 16
	}
	if full == 0 {
		sum := 0.0
		for j, v := range src {
			e := exp1(v - m)
			dst[j] = e
			sum += float64(e)
		}
		return float32(sum)
	}
	s := expSubSumBlocks(full, unsafe.SliceData(dst), unsafe.SliceData(src), m)
	if rest := n - 16*full; rest > 0 {
		var buf [16]float32
		for j, v := range src[16*full:] {
			buf[j] = v - m
		}
		exp16(&buf)
		for j, v := range buf[:rest] {
			dst[16*full+j] = v
			s += v
		}
	}
	return s
}

// MaxExpSubSumRows is the streaming-softmax step of attention on a panel of rows, row
// r being x[r·ld:][:n]: m[r] (the row's running maximum) becomes the larger of m[r] and
// the row's maximum; unless it is -Inf (nothing kept so far: the row is left as it is
// and sum[r] is 0), the row becomes e^(row - m[r]) and sum[r] its sum, as
// ExpSubSum(row, row, m[r]) computes it. The rows are len(m); sum holds as many.
func MaxExpSubSumRows(x []float32, ld, n int, m, sum []float32) {
	rows := len(m)
	sum = sum[:rows]
	if rows == 0 {
		return
	}
	x = x[:(rows-1)*ld+n]
	if useAsm.Load() && n > 0 && n%16 == 0 {
		maxExpSubSumRowsAVX512(rows, n/16, unsafe.SliceData(x), ld, unsafe.SliceData(m), unsafe.SliceData(sum))
		return
	}
	for r := range m {
		row := x[r*ld:][:n]
		mx := m[r]
		for _, v := range row {
			mx = max(mx, v)
		}
		m[r], sum[r] = mx, 0
		if !math.IsInf(float64(mx), -1) {
			sum[r] = ExpSubSum(row, row, mx)
		}
	}
}
