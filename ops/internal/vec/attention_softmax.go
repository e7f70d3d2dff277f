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
	if useAsm.Load() {
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
	s := expSubSumAVX512(full, unsafe.SliceData(dst), unsafe.SliceData(src), m)
	if rest := n - 16*full; rest > 0 {
		var buf [16]float32
		for j, v := range src[16*full:] {
			buf[j] = v - m
		}
		expAVX512(1, &buf[0], &buf[0])
		for j, v := range buf[:rest] {
			dst[16*full+j] = v
			s += v
		}
	}
	return s
}

// MaxExpSubSum is the whole streaming-softmax step of one row in attention: mx is the
// larger of m (the row's running maximum) and the maximum of src; unless mx is -Inf
// (nothing kept so far: dst is left as it is and sum is 0), dst[i] = e^(src[i] - mx)
// and sum is their sum, as ExpSubSum(dst, src, mx) computes it. dst and src may be the
// same slice.
func MaxExpSubSum(dst, src []float32, m float32) (mx, sum float32) {
	src = src[:len(dst)]
	n := len(dst)
	full := 0
	if useAsm.Load() {
		full = n / 16
	}
	if full == 0 {
		mx = m
		for _, v := range src {
			mx = max(mx, v)
		}
		if math.IsInf(float64(mx), -1) {
			return mx, 0
		}
		return mx, ExpSubSum(dst, src, mx)
	}
	// The tail's maximum first (max is exact, so the order does not matter), then the
	// blocks' maximum and their weights in one call.
	for _, v := range src[16*full:] {
		m = max(m, v)
	}
	mx, sum = maxExpSubSumAVX512(full, unsafe.SliceData(dst), unsafe.SliceData(src), m)
	if rest := n - 16*full; rest > 0 && !math.IsInf(float64(mx), -1) {
		var buf [16]float32
		for j, v := range src[16*full:] {
			buf[j] = v - mx
		}
		expAVX512(1, &buf[0], &buf[0])
		for j, v := range buf[:rest] {
			dst[16*full+j] = v
			sum += v
		}
	}
	return mx, sum
}
