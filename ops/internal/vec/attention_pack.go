package vec

import "unsafe"

// Data movement of the attention engine (ops/internal/attn): packing operands for the
// GEMM microkernels, and the output pass. The assembly (AVX2, on both the "avx512" and
// the "avx2" implementations) and the Go loops move the same floats and round the same
// single products, so they give the same bits.

func asmPack() bool { return useAsm.Load() || useAVX2.Load() }

// Transpose8 sets dst[k·ldd + i] = src[i·lds + k]·scale for the 8 rows i < 8 and the
// columns k < K: a block of 8 rows of src becomes K rows of 8 of dst.
func Transpose8(dst []float32, ldd int, src []float32, lds, K int, scale float32) {
	if K == 0 {
		return
	}
	dst, src = dst[:(K-1)*ldd+8], src[:7*lds+K]
	k := 0
	if asmPack() {
		if n := K / 8; n > 0 {
			transpose8AVX2(n, unsafe.SliceData(dst), ldd, unsafe.SliceData(src), lds, scale)
			k = 8 * n
		}
	}
	r0, r1, r2, r3 := src[:K], src[lds:][:K], src[2*lds:][:K], src[3*lds:][:K]
	r4, r5, r6, r7 := src[4*lds:][:K], src[5*lds:][:K], src[6*lds:][:K], src[7*lds:][:K]
	for ; k < K; k++ {
		d := dst[k*ldd:][:8]
		d[0], d[1], d[2], d[3] = r0[k]*scale, r1[k]*scale, r2[k]*scale, r3[k]*scale
		d[4], d[5], d[6], d[7] = r4[k]*scale, r5[k]*scale, r6[k]*scale, r7[k]*scale
	}
}

// PackA6 sets dst[k·6 + i] = src[i·lds + k]·scale for the 6 rows i < 6 and the columns
// k < K: the panel layout of a 6-row GEMM microkernel. dst holds at least 6K floats;
// the 2 after them, if dst has them, may be overwritten with garbage (the assembly
// then packs every column in registers rather than the last ones in Go).
func PackA6(dst, src []float32, lds, K int, scale float32) {
	if K == 0 {
		return
	}
	dst, src = dst[:min(len(dst), 6*K+2)], src[:5*lds+K]
	k := 0
	if asmPack() {
		// Each column is stored as 8 floats, the last 2 overwritten by the next column's:
		// the final block's overhang must stay inside dst.
		_ = dst[6*K-1]
		n := K / 8
		if n > 0 && 48*n+2 > len(dst) {
			n--
		}
		if n > 0 {
			transpose6AVX2(n, unsafe.SliceData(dst), 6, unsafe.SliceData(src), lds, scale)
			k = 8 * n
		}
	}
	r0, r1, r2 := src[:K], src[lds:][:K], src[2*lds:][:K]
	r3, r4, r5 := src[3*lds:][:K], src[4*lds:][:K], src[5*lds:][:K]
	for ; k < K; k++ {
		d := dst[k*6:][:6]
		d[0], d[1], d[2] = r0[k]*scale, r1[k]*scale, r2[k]*scale
		d[3], d[4], d[5] = r3[k]*scale, r4[k]*scale, r5[k]*scale
	}
}

// Scale sets dst[i] = src[i]·c. dst may be src.
func Scale(dst, src []float32, c float32) {
	src = src[:len(dst)]
	j := 0
	if asmPack() {
		if n := len(dst) / 32; n > 0 {
			scaleAVX2(n, unsafe.SliceData(dst), unsafe.SliceData(src), c)
			j = 32 * n
		}
	}
	for ; j < len(dst); j++ {
		dst[j] = src[j] * c
	}
}

// Copy16 copies n rows of 16 floats, row t at src[t·lds:], to dst[16t:16t+16]: the rows
// of a 16-wide GEMM panel (copy's call costs more than moving 64 bytes).
func Copy16(dst, src []float32, lds, n int) {
	if n == 0 {
		return
	}
	dst, src = dst[:16*n], src[:(n-1)*lds+16]
	if asmPack() {
		copy16AVX2(n, unsafe.SliceData(dst), unsafe.SliceData(src), lds)
		return
	}
	for t := range n {
		*(*[16]float32)(dst[16*t:]) = *(*[16]float32)(src[t*lds:])
	}
}
