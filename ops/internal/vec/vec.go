// Package vec is ciuic's float32 math over slices: exp, erf, tanh, sigmoid and the
// activations built on them (Gelu exact and tanh form, SiLU), and the row reductions of
// Softmax and the normalizations. The functions are float32 minimax/rational
// approximations evaluated in float32, written as straight-line code with no table
// look-ups so that one element's result depends only on its value (never on the slice
// length, alignment or thread split). Max errors (measured in vec_test.go against the
// math package over a dense sweep): Exp 2e-7 relative, Erf and Tanh 1e-6 relative.
package vec

import (
	"math"
	"unsafe"
)

const (
	log2e   = 1.44269504088896341
	ln2Hi   = 0.693359375
	ln2Lo   = -2.12194440e-4
	expMax  = 88.72283935546875  // above: +Inf
	expMin  = -87.33654022216797 // below: 0 (no denormals)
	roundC  = 12582912           // 1.5·2^23: x + roundC - roundC rounds x to an integer
	invSqr2 = 0.70710678118654752
)

// exp1 is e^x in float32: x = n·ln2 + r with |r| <= ln2/2, e^r by Cephes' degree-6
// polynomial, 2^n by building the exponent bits.
func exp1(x float32) float32 {
	switch {
	case x != x:
		return x
	case x > expMax:
		return float32(math.Inf(1))
	case x < expMin:
		return 0
	}
	n := x*log2e + roundC
	n -= roundC
	r := x - n*ln2Hi
	r -= n * ln2Lo
	p := float32(1.9875691500e-4)
	p = p*r + 1.3981999507e-3
	p = p*r + 8.3334519073e-3
	p = p*r + 4.1665795894e-2
	p = p*r + 1.6666665459e-1
	p = p*r + 5.0000001201e-1
	p = p*r*r + r + 1
	// n is in [-126, 128]; 2^128 overflows the exponent, so scale in two steps.
	ni := int32(n)
	h := ni / 2
	return p * math.Float32frombits(uint32(h+127)<<23) * math.Float32frombits(uint32(ni-h+127)<<23)
}

// erf1 is erf(x) as an odd rational function of x on [-4, 4] (erf is ±1 in float32
// beyond), the form Eigen uses for float.
func erf1(x float32) float32 {
	x = min(max(x, -4), 4)
	x2 := x * x
	p := float32(-2.72614225801306e-10)
	p = p*x2 + 2.77068142495902e-08
	p = p*x2 + -2.10102402082508e-06
	p = p*x2 + -5.69250639462346e-05
	p = p*x2 + -7.34990630326855e-04
	p = p*x2 + -2.95459980854025e-03
	p = p*x2 + -1.60960333262415e-02
	p *= x
	q := float32(-1.45660718464996e-05)
	q = q*x2 + -2.13374055278905e-04
	q = q*x2 + -1.68282697438203e-03
	q = q*x2 + -7.37332916720468e-03
	q = q*x2 + -1.42647390514189e-02
	return p / q
}

// tanh1 is tanh(x) as an odd rational function on x clamped to ±7.9988 (beyond,
// ±0.99999976, 2.4e-7 from ±1), x itself for |x| < 4e-4 where tanh(x) rounds to x.
func tanh1(x float32) float32 {
	if x < 0.0004 && x > -0.0004 {
		return x
	}
	x = min(max(x, -7.99881172180175781), 7.99881172180175781)
	x2 := x * x
	p := float32(-2.76076847742355e-16)
	p = p*x2 + 2.00018790482477e-13
	p = p*x2 + -8.60467152213735e-11
	p = p*x2 + 5.12229709037114e-08
	p = p*x2 + 1.48572235717979e-05
	p = p*x2 + 6.37261928875436e-04
	p = p*x2 + 4.89352455891786e-03
	p *= x
	q := float32(1.19825839466702e-06)
	q = q*x2 + 1.18534705686654e-04
	q = q*x2 + 2.26843463243900e-03
	q = q*x2 + 4.89352518554385e-03
	return p / q
}

// sigmoid1 is 1/(1+e^-x): for x << 0, e^-x is large or +Inf and the quotient keeps
// its relative accuracy (or is 0); no cancellation either way.
func sigmoid1(x float32) float32 { return 1 / (1 + exp1(-x)) }

// Exp sets dst[i] = e^src[i]. dst and src may be the same slice.
func Exp(dst, src []float32) { apply(expAVX512, exp1, dst, src) }

// Erf sets dst[i] = erf(src[i]).
func Erf(dst, src []float32) { apply(erfAVX512, erf1, dst, src) }

// Tanh sets dst[i] = tanh(src[i]).
func Tanh(dst, src []float32) { apply(tanhAVX512, tanh1, dst, src) }

// Sigmoid sets dst[i] = 1/(1+e^-src[i]).
func Sigmoid(dst, src []float32) { apply(sigmoidAVX512, sigmoid1, dst, src) }

// Silu sets dst[i] = src[i]·sigmoid(src[i]).
func Silu(dst, src []float32) {
	apply(siluAVX512, func(x float32) float32 { return x * sigmoid1(x) }, dst, src)
}

// Gelu sets dst[i] = x/2·(1 + erf(x/√2)), the exact form.
func Gelu(dst, src []float32) {
	apply(geluAVX512, func(x float32) float32 { return 0.5 * x * (1 + erf1(x*invSqr2)) }, dst, src)
}

// GeluTanh sets dst[i] = x/2·(1 + tanh(√(2/π)·(x + 0.044715x³))), computed as
// x/(1 + e^(-2u)) with u = √(2/π)·(x + 0.044715x³) (the same function: 1+tanh(u) =
// 2·sigmoid(2u)), which does not cancel for x << 0.
func GeluTanh(dst, src []float32) {
	const c2 = 2 * 0.7978845608028654
	apply(geluTanhAVX512, func(x float32) float32 { return x / (1 + exp1(-c2*(x+0.044715*x*x*x))) }, dst, src)
}

// Relu sets dst[i] = max(src[i], 0).
func Relu(dst, src []float32) {
	for i, x := range src[:len(dst)] {
		dst[i] = max(x, 0)
	}
}

// Softmax sets dst = softmax(src) for one row (dst may be src): the row maximum
// subtracted (0 if it is infinite, as the reference kernel does), e^x, and one multiply
// by the reciprocal of the sum. The assembly sums in 16 float32 lanes, the Go code in
// float64; either way the result depends only on the row.
func Softmax(dst, src []float32) {
	src = src[:len(dst)]
	n := len(dst)
	if n == 0 {
		return
	}
	full := 0
	if useAsm.Load() {
		full = n / 16
	}
	m := float32(math.Inf(-1))
	if full > 0 {
		m = maxAVX512(full, unsafe.SliceData(src))
	}
	for _, v := range src[16*full:] {
		m = max(m, v)
	}
	for _, v := range src[:16*full] { // NaN: VMAXPS may skip it; the builtin max keeps it
		if v != v {
			m = v
			break
		}
	}
	if math.IsInf(float64(m), 0) {
		m = 0
	}
	var s float32
	if full > 0 {
		s = expSubSumAVX512(full, unsafe.SliceData(dst), unsafe.SliceData(src), m)
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
	} else {
		sum := 0.0
		for j, v := range src {
			e := exp1(v - m)
			dst[j] = e
			sum += float64(e)
		}
		s = float32(sum)
	}
	r := 1 / s
	for j := range dst {
		dst[j] *= r
	}
}

// MinMax returns the minimum and maximum of x (+Inf and -Inf for an empty x). With
// NaNs in x the result is unspecified.
func MinMax(x []float32) (lo, hi float32) {
	lo, hi = float32(math.Inf(1)), float32(math.Inf(-1))
	full := 0
	if useAsm.Load() {
		full = len(x) / 16
	}
	if full > 0 {
		lo, hi = minMaxAVX512(full, unsafe.SliceData(x))
	}
	for _, v := range x[16*full:] {
		lo, hi = min(lo, v), max(hi, v)
	}
	return lo, hi
}

// QuantizeU8 sets dst[i] = saturate(roundHalfEven(src[i] / scale) + zp) to [0, 255],
// the division in float32: ONNX QuantizeLinear's u8 rule, bit for bit (a NaN gives 0).
func QuantizeU8(dst []uint8, src []float32, scale float32, zp int32) {
	src = src[:len(dst)]
	full := 0
	if useAsm.Load() {
		full = len(dst) / 16
	}
	if full > 0 {
		quantizeU8AVX512(full, unsafe.SliceData(dst), unsafe.SliceData(src), scale, float32(zp))
	}
	z := float64(zp)
	for i, v := range src[16*full:] {
		q := min(max(math.RoundToEven(float64(v/scale))+z, 0), 255)
		if q != q {
			q = 0
		}
		dst[16*full+i] = uint8(q)
	}
}
