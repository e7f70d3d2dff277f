package vec

import "unsafe"

// Row kernels of the int8 dequantization and the normalizations. The assembly (AVX-512,
// or AVX2 as two halves) works on blocks of 16 lanes with a masked last block; the Go loops compute the same roundings
// in the same order (the float64 statistics in 16 lanes folded as the assembly folds
// them; products and sums rounded separately, never fused), so both implementations give
// the same bits.

// blocks16 returns the number of full blocks of 16 in n and the lane mask of the rest.
func blocks16(n int) (full, mask int) { return n / 16, 1<<(n%16) - 1 }

// DequantI32 sets dst[j] = float32(acc[j] + add[j])·scale[j] + bias[j], the int32 add
// wrapping around, the multiply and the add each rounded to float32 (add may be nil:
// no add). dst may be acc's memory (the int8 GEMM's sums are converted in place);
// acc, add, scale and bias must be at least as long as dst.
func DequantI32(dst []float32, acc, add []int32, scale, bias []float32) {
	n := len(dst)
	acc, scale, bias = acc[:n], scale[:n], bias[:n]
	if add != nil {
		add = add[:n]
	}
	if n == 0 {
		return
	}
	if avx512, avx2 := useAsm.Load(), useAVX2.Load(); avx512 || avx2 {
		full, mask := blocks16(n)
		d, a, s, b := unsafe.SliceData(dst), unsafe.SliceData(acc), unsafe.SliceData(scale), unsafe.SliceData(bias)
		switch {
		case add != nil && avx512:
			dequantAddAVX512(full, mask, d, a, unsafe.SliceData(add), s, b)
		case add != nil:
			dequantAddAVX2(full, mask, d, a, unsafe.SliceData(add), s, b)
		case avx512:
			dequantAVX512(full, mask, d, a, s, b)
		default:
			dequantAVX2(full, mask, d, a, s, b)
		}
		return
	}
	if add != nil {
		for j, v := range acc {
			dst[j] = float32(float32(v+add[j])*scale[j]) + bias[j]
		}
		return
	}
	for j, v := range acc {
		dst[j] = float32(float32(v)*scale[j]) + bias[j]
	}
}

// stats16 is the Go form of the assembly's float64 row statistics: lane l holds the
// sum (and sum of squares) of the elements at l modulo 16, a partial last block
// contributing zeros to the lanes past its end, as the masked load does.
type stats16 struct{ s, q [16]float64 }

func (st *stats16) add(x []float32) {
	for len(x) >= 16 {
		for l, v := range x[:16] {
			f := float64(v)
			st.s[l] += f
			st.q[l] += f * f // exact: a float32's square fits in a float64
		}
		x = x[16:]
	}
	if len(x) > 0 {
		var b [16]float32
		copy(b[:], x)
		st.add(b[:])
	}
}

// fold16 adds lanes i and i+8, then i and i+4, i and i+2, and the last two: the
// assembly's order.
func fold16(v *[16]float64) float64 {
	var t [8]float64
	for i := range t {
		t[i] = v[i] + v[i+8]
	}
	for i := range 4 {
		t[i] += t[i+4]
	}
	for i := range 2 {
		t[i] += t[i+2]
	}
	return t[0] + t[1]
}

// SumSq returns the float64 sum and sum of squares of x.
func SumSq(x []float32) (sum, sq float64) {
	full, mask := blocks16(len(x))
	switch {
	case useAsm.Load():
		return sumSqAVX512(full, mask, unsafe.SliceData(x))
	case useAVX2.Load():
		return sumSqAVX2(full, mask, unsafe.SliceData(x))
	}
	var st stats16
	st.add(x)
	return fold16(&st.s), fold16(&st.q)
}

// AddSumSq sets dst = x + y (+ bias, if not nil), each add rounded to float32, and
// returns the float64 sum and sum of squares of dst. x, y and bias must be at least as
// long as dst; dst may be x or y.
func AddSumSq(dst, x, y, bias []float32) (sum, sq float64) {
	n := len(dst)
	x, y = x[:n], y[:n]
	if bias != nil {
		bias = bias[:n]
	}
	if avx512, avx2 := useAsm.Load(), useAVX2.Load(); avx512 || avx2 {
		full, mask := blocks16(n)
		d, xp, yp := unsafe.SliceData(dst), unsafe.SliceData(x), unsafe.SliceData(y)
		switch {
		case bias != nil && avx512:
			return addBiasSumSqAVX512(full, mask, d, xp, yp, unsafe.SliceData(bias))
		case bias != nil:
			return addBiasSumSqAVX2(full, mask, d, xp, yp, unsafe.SliceData(bias))
		case avx512:
			return addSumSqAVX512(full, mask, d, xp, yp)
		default:
			return addSumSqAVX2(full, mask, d, xp, yp)
		}
	}
	for j := range dst {
		v := x[j] + y[j]
		if bias != nil {
			v += bias[j]
		}
		dst[j] = v
	}
	return SumSq(dst)
}

// Normalize sets dst[j] = float32((float64(src[j]) - mean)·inv·gamma[j] + beta[j]),
// each float64 operation rounded in this order (beta may be nil: no add), the
// arithmetic of the reference LayerNormalization. gamma and beta must be at least as
// long as dst; dst may be src.
func Normalize(dst, src []float32, mean, inv float64, gamma, beta []float32) {
	n := len(dst)
	src, gamma = src[:n], gamma[:n]
	if beta != nil {
		beta = beta[:n]
	}
	if avx512, avx2 := useAsm.Load(), useAVX2.Load(); avx512 || avx2 {
		full, mask := blocks16(n)
		d, s, g := unsafe.SliceData(dst), unsafe.SliceData(src), unsafe.SliceData(gamma)
		switch {
		case beta != nil && avx512:
			normalizeAVX512(full, mask, d, s, mean, inv, g, unsafe.SliceData(beta))
		case beta != nil:
			normalizeAVX2(full, mask, d, s, mean, inv, g, unsafe.SliceData(beta))
		case avx512:
			normalizeNoBiasAVX512(full, mask, d, s, mean, inv, g)
		default:
			normalizeNoBiasAVX2(full, mask, d, s, mean, inv, g)
		}
		return
	}
	for j, v := range src {
		// The conversions round each product, so that no multiply-add is fused.
		t := float64(float64(float64(v)-mean) * inv)
		t = float64(t * float64(gamma[j]))
		if beta != nil {
			t += float64(beta[j])
		}
		dst[j] = float32(t)
	}
}
