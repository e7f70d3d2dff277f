package vec

import "unsafe"

// The binary steps of ops.FusedElementwise on float32: dst[i] = a[i] op b[i]. Each is
// one IEEE operation (or a choice between a[i] and b[i]), so the assembly (AVX-512, or
// AVX2 as two halves; blocks of 16 with a masked last block) and the Go loops give the
// same bits. dst may be a or b; a and b must be at least as long as dst.

type binop int

const (
	bAdd binop = iota
	bSub
	bMul
	bDiv
	bMax
	bMin
	bRelu
)

// Add sets dst[i] = a[i] + b[i].
func Add(dst, a, b []float32) { binary(bAdd, dst, a, b) }

// Sub sets dst[i] = a[i] - b[i].
func Sub(dst, a, b []float32) { binary(bSub, dst, a, b) }

// Mul sets dst[i] = a[i] · b[i].
func Mul(dst, a, b []float32) { binary(bMul, dst, a, b) }

// Div sets dst[i] = a[i] / b[i].
func Div(dst, a, b []float32) { binary(bDiv, dst, a, b) }

// Max sets dst[i] to a[i] if it is NaN or greater than b[i], else b[i]: ONNX Max as
// the reference kernel computes it (a NaN propagates; of two zeros, b's).
func Max(dst, a, b []float32) { binary(bMax, dst, a, b) }

// Min sets dst[i] to a[i] if it is NaN or less than b[i], else b[i].
func Min(dst, a, b []float32) { binary(bMin, dst, a, b) }

// Relu sets dst[i] = max(src[i], 0) by the builtin max's rule (math.Max's): a NaN
// stays a NaN (the Go loop's may lose its sign), -0 gives +0.
func Relu(dst, src []float32) { binary(bRelu, dst, src, nil) }

func binary(op binop, dst, a, b []float32) {
	n := len(dst)
	a = a[:n]
	if op != bRelu {
		b = b[:n]
	}
	if n == 0 {
		return
	}
	if avx512, avx2 := useAsm.Load(), useAVX2.Load(); avx512 || avx2 {
		full, mask := blocks16(n)
		d, x, y := unsafe.SliceData(dst), unsafe.SliceData(a), unsafe.SliceData(b)
		if avx512 {
			binaryAVX512(op, full, mask, d, x, y)
		} else {
			binaryAVX2(op, full, mask, d, x, y)
		}
		return
	}
	switch op {
	case bAdd:
		for i, x := range a {
			dst[i] = x + b[i]
		}
	case bSub:
		for i, x := range a {
			dst[i] = x - b[i]
		}
	case bMul:
		for i, x := range a {
			dst[i] = x * b[i]
		}
	case bDiv:
		for i, x := range a {
			dst[i] = x / b[i]
		}
	case bMax:
		for i, x := range a {
			if y := b[i]; x == x && !(x > y) {
				x = y
			}
			dst[i] = x
		}
	case bMin:
		for i, x := range a {
			if y := b[i]; x == x && !(x < y) {
				x = y
			}
			dst[i] = x
		}
	case bRelu:
		for i, x := range a {
			dst[i] = max(x, 0)
		}
	}
}

// binaryAVX512 and binaryAVX2 call the kernel of op through a switch, not a function
// value, so that the compiler sees the kernels' noescape pragma.
func binaryAVX512(op binop, n, mask int, dst, a, b *float32) {
	switch op {
	case bAdd:
		elemAddAVX512(n, mask, dst, a, b)
	case bSub:
		elemSubAVX512(n, mask, dst, a, b)
	case bMul:
		elemMulAVX512(n, mask, dst, a, b)
	case bDiv:
		elemDivAVX512(n, mask, dst, a, b)
	case bMax:
		elemMaxAVX512(n, mask, dst, a, b)
	case bMin:
		elemMinAVX512(n, mask, dst, a, b)
	case bRelu:
		elemReluAVX512(n, mask, dst, a)
	}
}

func binaryAVX2(op binop, n, mask int, dst, a, b *float32) {
	switch op {
	case bAdd:
		elemAddAVX2(n, mask, dst, a, b)
	case bSub:
		elemSubAVX2(n, mask, dst, a, b)
	case bMul:
		elemMulAVX2(n, mask, dst, a, b)
	case bDiv:
		elemDivAVX2(n, mask, dst, a, b)
	case bMax:
		elemMaxAVX2(n, mask, dst, a, b)
	case bMin:
		elemMinAVX2(n, mask, dst, a, b)
	case bRelu:
		elemReluAVX2(n, mask, dst, a)
	}
}
