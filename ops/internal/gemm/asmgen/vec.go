package main

import (
	"fmt"
	"math"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// Package vec's AVX-512 kernels: each maps n blocks of 16 float32 from src to dst with
// the same formula as the Go code of package vec (with fused multiply-adds, and
// VSCALEFPS for 2^n). Constants live in registers, loaded once before the loop.

var zregs = []VecPhysical{Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7, Z8, Z9, Z10, Z11, Z12, Z13, Z14, Z15, Z16, Z17, Z18, Z19, Z20, Z21, Z22, Z23, Z24, Z25, Z26, Z27, Z28, Z29, Z30, Z31}

// vk hands out constant registers (Z8 and up); the loads are emitted after the loop
// body, at a label the function jumps to first, so that the body can ask for
// constants as it goes.
type vk struct {
	consts map[uint32]VecPhysical
	order  []uint32
}

func (k *vk) c(v float32) VecPhysical { return k.bits(math.Float32bits(v)) }

func (k *vk) bits(b uint32) VecPhysical {
	if r, ok := k.consts[b]; ok {
		return r
	}
	r := zregs[8+len(k.order)]
	k.consts[b] = r
	k.order = append(k.order, b)
	return r
}

func vecKernels() {
	softmaxKernels()
	maxExpSubSumRows()
	quantKernels()
	rowKernels()
	packKernelsAVX2()
	unary("expAVX512", func(k *vk, x VecPhysical) VecPhysical { k.exp(x, Z1, Z2, Z3); return Z3 })
	unary("erfAVX512", func(k *vk, x VecPhysical) VecPhysical { k.erf(x, Z1, Z2, Z3); return Z3 })
	unary("tanhAVX512", func(k *vk, x VecPhysical) VecPhysical { k.tanh(x, Z1, Z2, Z3); return Z3 })
	unary("sigmoidAVX512", func(k *vk, x VecPhysical) VecPhysical { k.sigmoid(x, Z3); return Z3 })
	unary("siluAVX512", func(k *vk, x VecPhysical) VecPhysical {
		k.sigmoid(x, Z3)
		VMULPS(x, Z3, Z3)
		return Z3
	})
	unary("geluAVX512", func(k *vk, x VecPhysical) VecPhysical {
		VMULPS(k.c(1/math.Sqrt2), x, Z4)
		k.erf(Z4, Z1, Z2, Z3)
		VADDPS(k.c(1), Z3, Z3)
		VMULPS(x, Z3, Z3)
		VMULPS(k.c(0.5), Z3, Z3)
		return Z3
	})
	// x·sigmoid(2u), u = √(2/π)(x + 0.044715x³): x / (1 + e^(-2u)).
	unary("geluTanhAVX512", func(k *vk, x VecPhysical) VecPhysical {
		VMULPS(x, x, Z4)
		VMULPS(k.c(0.044715), Z4, Z4)
		VFMADD213PS(x, x, Z4) // Z4 = x·Z4 + x
		VMULPS(k.c(-2*0.7978845608028654), Z4, Z4)
		k.exp(Z4, Z1, Z2, Z3)
		VADDPS(k.c(1), Z3, Z3)
		VDIVPS(Z3, x, Z3)
		return Z3
	})
	binaryKernels()
	unaryKernelsAVX2()
}

// unary emits func(n int, dst, src *float32): dst[0:16n] = f(src[0:16n]).
func unary(name string, body func(k *vk, x VecPhysical) VecPhysical) {
	TEXT(name, NOSPLIT, "func(n int, dst, src *float32)")
	Pragma("noescape") // pointers do not escape: callers' buffers can stay on the stack
	Doc(fmt.Sprintf("%s maps n blocks of 16 floats; see package vec.", name))
	k := &vk{consts: map[uint32]VecPhysical{}}
	n := Load(Param("n"), GP64())
	dst := Load(Param("dst"), GP64())
	src := Load(Param("src"), GP64())
	JMP(LabelRef(name + "_consts"))
	Label(name + "_loop")
	TESTQ(n, n)
	JZ(LabelRef(name + "_done"))
	VMOVUPS(Mem{Base: src}, Z0)
	r := body(k, Z0)
	VMOVUPS(r, Mem{Base: dst})
	ADDQ(U8(64), src)
	ADDQ(U8(64), dst)
	DECQ(n)
	JMP(LabelRef(name + "_loop"))
	Label(name + "_done")
	VZEROUPPER()
	RET()
	Label(name + "_consts")
	g := GP32()
	for _, b := range k.order {
		MOVL(U32(b), g)
		VPBROADCASTD(g, k.consts[b])
	}
	JMP(LabelRef(name + "_loop"))
}

// horner sets acc = ((c0·x + c1)·x + c2)... for coefficients cs, highest first.
func (k *vk) horner(x, acc VecPhysical, cs ...float64) {
	VMOVAPS(k.c(float32(cs[0])), acc)
	for _, c := range cs[1:] {
		VFMADD213PS(k.c(float32(c)), x, acc) // acc = x·acc + c
	}
}

// exp sets out = e^x (t1, t2 scratch): x clamped to [-104, 89] (beyond, e^x is 0 or
// +Inf in float32; NaN stays NaN), n = round(x·log2 e), r = x - n·ln2, Cephes'
// polynomial, and VSCALEFPS for the 2^n (which also makes the overflow and underflow).
func (k *vk) exp(x, t1, t2, out VecPhysical) {
	VMINPS(x, k.c(89), t1) // the second source (x) is returned for NaN
	VMAXPS(t1, k.c(-104), t1)
	VMULPS(k.c(1.44269504088896341), t1, t2)
	VRNDSCALEPS(U8(0), t2, t2)
	VFNMADD231PS(k.c(0.693359375), t2, t1) // t1 -= t2·ln2hi
	VFNMADD231PS(k.c(-2.12194440e-4), t2, t1)
	k.horner(t1, out, 1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1, 1, 1)
	VSCALEFPS(t2, out, out)
}

// erf sets out = erf(x): the rational function of vec's erf1 on x clamped to [-4, 4].
func (k *vk) erf(x, t1, t2, out VecPhysical) {
	VMINPS(x, k.c(4), t1)
	VMAXPS(t1, k.c(-4), t1)
	VMULPS(t1, t1, t2)
	k.horner(t2, out, -2.72614225801306e-10, 2.77068142495902e-08, -2.10102402082508e-06, -5.69250639462346e-05,
		-7.34990630326855e-04, -2.95459980854025e-03, -1.60960333262415e-02)
	VMULPS(t1, out, out)
	k.horner(t2, t1, -1.45660718464996e-05, -2.13374055278905e-04, -1.68282697438203e-03, -7.37332916720468e-03, -1.42647390514189e-02)
	VDIVPS(t1, out, out)
}

// tanh sets out = tanh(x): vec's tanh1 rational function on x clamped to ±7.9988.
func (k *vk) tanh(x, t1, t2, out VecPhysical) {
	VMINPS(x, k.c(7.99881172180175781), t1)
	VMAXPS(t1, k.c(-7.99881172180175781), t1)
	VMULPS(t1, t1, t2)
	k.horner(t2, out, -2.76076847742355e-16, 2.00018790482477e-13, -8.60467152213735e-11, 5.12229709037114e-08,
		1.48572235717979e-05, 6.37261928875436e-04, 4.89352455891786e-03)
	VMULPS(t1, out, out)
	k.horner(t2, t1, 1.19825839466702e-06, 1.18534705686654e-04, 2.26843463243900e-03, 4.89352518554385e-03)
	VDIVPS(t1, out, out)
}

// sigmoid sets out = 1/(1 + e^-x) (Z1, Z2, Z4 scratch).
func (k *vk) sigmoid(x, out VecPhysical) {
	VXORPS(k.bits(1<<31), x, Z4)
	k.exp(Z4, Z1, Z2, out)
	VADDPS(k.c(1), out, out)
	VDIVPS(out, k.c(1), out)
}

// softmaxKernels emits the row kernels of Softmax: the maximum of n blocks of 16, and
// dst = e^(src - m) with the sum of the results (16 lane sums, added in a fixed order
// at the end, so the sum depends only on the row).
func softmaxKernels() {
	TEXT("maxAVX512", NOSPLIT, "func(n int, src *float32) float32")
	Pragma("noescape") // pointers do not escape: callers' buffers can stay on the stack
	Doc("maxAVX512 returns the maximum of n blocks of 16 floats (n > 0); see package vec.")
	n := Load(Param("n"), GP64())
	src := Load(Param("src"), GP64())
	VMOVUPS(Mem{Base: src}, Z0)
	ADDQ(U8(64), src)
	DECQ(n)
	Label("max_loop")
	TESTQ(n, n)
	JZ(LabelRef("max_done"))
	VMAXPS(Mem{Base: src}, Z0, Z0)
	ADDQ(U8(64), src)
	DECQ(n)
	JMP(LabelRef("max_loop"))
	Label("max_done")
	hreduce(VMAXPS)
	Store(X0, ReturnIndex(0))
	VZEROUPPER()
	RET()

	TEXT("expSubSumAVX512", NOSPLIT, "func(n int, dst, src *float32, m float32) float32")
	Pragma("noescape") // pointers do not escape: callers' buffers can stay on the stack
	Doc("expSubSumAVX512 sets dst = e^(src-m) over n blocks of 16 floats and returns their sum; see package vec.")
	k := &vk{consts: map[uint32]VecPhysical{}}
	n = Load(Param("n"), GP64())
	dst := Load(Param("dst"), GP64())
	src = Load(Param("src"), GP64())
	VBROADCASTSS(Load(Param("m"), XMM()), Z5)
	VXORPS(Z6, Z6, Z6)
	JMP(LabelRef("ess_consts"))
	Label("ess_loop")
	TESTQ(n, n)
	JZ(LabelRef("ess_done"))
	VMOVUPS(Mem{Base: src}, Z0)
	VSUBPS(Z5, Z0, Z0)
	k.exp(Z0, Z1, Z2, Z3)
	VMOVUPS(Z3, Mem{Base: dst})
	VADDPS(Z3, Z6, Z6)
	ADDQ(U8(64), src)
	ADDQ(U8(64), dst)
	DECQ(n)
	JMP(LabelRef("ess_loop"))
	Label("ess_done")
	VMOVAPS(Z6, Z0)
	hreduce(VADDPS)
	Store(X0, ReturnIndex(0))
	VZEROUPPER()
	RET()
	Label("ess_consts")
	g := GP32()
	for _, b := range k.order {
		MOVL(U32(b), g)
		VPBROADCASTD(g, k.consts[b])
	}
	JMP(LabelRef("ess_loop"))
}

// hreduce folds the 16 lanes of Z0 into lane 0 with op: halves, then quarters, ...
func hreduce(op func(ops ...Op)) {
	VEXTRACTF32X8(U8(1), Z0, Y1)
	op(Y1, Y0, Y0)
	VEXTRACTF128(U8(1), Y0, X1)
	op(X1, X0, X0)
	VPERMILPS(U8(0x4e), X0, X1) // swap 64-bit halves
	op(X1, X0, X0)
	VPERMILPS(U8(0xb1), X0, X1) // swap neighbours
	op(X1, X0, X0)
}

// quantKernels emits the u8 quantization kernels: the minimum and maximum of a slice,
// and q = saturate(roundHalfEven(x / scale) + zp) with the division in float32, as
// ONNX QuantizeLinear and DynamicQuantizeLinear compute it.
func quantKernels() {
	TEXT("minMaxAVX512", NOSPLIT, "func(n int, src *float32) (lo, hi float32)")
	Pragma("noescape") // pointers do not escape: callers' buffers can stay on the stack
	Doc("minMaxAVX512 returns the minimum and maximum of n blocks of 16 floats (n > 0); see package vec.")
	n := Load(Param("n"), GP64())
	src := Load(Param("src"), GP64())
	VMOVUPS(Mem{Base: src}, Z0)
	VMOVAPS(Z0, Z2)
	ADDQ(U8(64), src)
	DECQ(n)
	Label("mm_loop")
	TESTQ(n, n)
	JZ(LabelRef("mm_done"))
	VMINPS(Mem{Base: src}, Z0, Z0)
	VMAXPS(Mem{Base: src}, Z2, Z2)
	ADDQ(U8(64), src)
	DECQ(n)
	JMP(LabelRef("mm_loop"))
	Label("mm_done")
	hreduce(VMINPS)
	Store(X0, ReturnIndex(0))
	VMOVAPS(Z2, Z0)
	hreduce(VMAXPS)
	Store(X0, ReturnIndex(1))
	VZEROUPPER()
	RET()

	TEXT("quantizeU8AVX512", NOSPLIT, "func(n int, dst *uint8, src *float32, scale, zp float32)")
	Pragma("noescape") // pointers do not escape: callers' buffers can stay on the stack
	Doc("quantizeU8AVX512 quantizes n blocks of 16 floats to u8; see package vec.")
	n = Load(Param("n"), GP64())
	dst := Load(Param("dst"), GP64())
	src = Load(Param("src"), GP64())
	VBROADCASTSS(Load(Param("scale"), XMM()), Z4)
	VBROADCASTSS(Load(Param("zp"), XMM()), Z5)
	g := GP32()
	VXORPS(Z6, Z6, Z6)
	MOVL(U32(0x437f0000), g) // 255.0
	VPBROADCASTD(g, Z7)
	Label("q_loop")
	TESTQ(n, n)
	JZ(LabelRef("q_done"))
	VMOVUPS(Mem{Base: src}, Z0)
	VDIVPS(Z4, Z0, Z0)
	VRNDSCALEPS(U8(0), Z0, Z0) // round half to even
	VADDPS(Z5, Z0, Z0)
	VMAXPS(Z6, Z0, Z0)
	VMINPS(Z7, Z0, Z0)
	VCVTPS2DQ(Z0, Z0)
	VPMOVUSDB(Z0, Mem{Base: dst})
	ADDQ(U8(64), src)
	ADDQ(U8(16), dst)
	DECQ(n)
	JMP(LabelRef("q_loop"))
	Label("q_done")
	VZEROUPPER()
	RET()
}

// rowKernels emits the row kernels of the int8 dequantization and the normalizations.
// Each takes n full blocks of 16 elements and a mask of the lanes of one partial block
// after them (0: none), which is loaded with masked (zeroing, fault-suppressing) moves
// and stored with a masked move: every element goes through the same instructions
// whatever the row's length. They use no fused multiply-add where a rounding would
// differ from package vec's Go loops, which they match bit for bit.
func rowKernels() {
	dequant("dequantAddAVX512", true)
	dequant("dequantAVX512", false)
	sumSq()
	addSumSq("addSumSqAVX512", false)
	addSumSq("addBiasSumSqAVX512", true)
	normalize("normalizeAVX512", true)
	normalize("normalizeNoBiasAVX512", false)
	rowKernelsAVX2()
}

// blocks emits the loop over n full blocks, advancing ptrs by 64 bytes each, then the
// partial block of the lanes in mask (K1) if mask != 0.
func blocks(name string, n, mask Register, ptrs []Register, body func(tail bool)) {
	Label(name + "_loop")
	TESTQ(n, n)
	JZ(LabelRef(name + "_tail"))
	body(false)
	for _, p := range ptrs {
		ADDQ(U8(64), p)
	}
	DECQ(n)
	JMP(LabelRef(name + "_loop"))
	Label(name + "_tail")
	TESTQ(mask, mask)
	JZ(LabelRef(name + "_done"))
	KMOVW(mask.(GPVirtual).As32(), K1)
	body(true)
	Label(name + "_done")
}

// load moves 16 lanes from m to z; in a tail block only K1's, the others zeroed.
func load(tail bool, m Mem, z VecPhysical) {
	if tail {
		VMOVDQU32_Z(m, K1, z)
	} else {
		VMOVDQU32(m, z)
	}
}

// store moves 16 lanes (in a tail block K1's) from z to m.
func store(tail bool, z VecPhysical, m Mem) {
	if tail {
		VMOVDQU32(z, K1, m)
	} else {
		VMOVDQU32(z, m)
	}
}

// dequant emits dst = float32(acc (+ add)) · scale + bias (int32 wrap-around add, then
// a rounded multiply and a rounded add). dst may be acc.
func dequant(name string, withAdd bool) {
	sig := "func(n, mask int, dst *float32, acc *int32, scale, bias *float32)"
	if withAdd {
		sig = "func(n, mask int, dst *float32, acc, add *int32, scale, bias *float32)"
	}
	TEXT(name, NOSPLIT, sig)
	Pragma("noescape")
	Doc(fmt.Sprintf("%s sets dst = float32(acc%s)·scale + bias (n blocks of 16, then the lanes in mask); see package vec.", name, map[bool]string{true: " + add", false: ""}[withAdd]))
	n, mask := Load(Param("n"), GP64()), Load(Param("mask"), GP64())
	dst, acc := Load(Param("dst"), GP64()), Load(Param("acc"), GP64())
	scale, bias := Load(Param("scale"), GP64()), Load(Param("bias"), GP64())
	ptrs := []Register{dst, acc, scale, bias}
	var add Register
	if withAdd {
		add = Load(Param("add"), GP64())
		ptrs = append(ptrs, add)
	}
	blocks(name, n, mask, ptrs, func(tail bool) {
		load(tail, Mem{Base: acc}, Z0)
		if withAdd {
			load(tail, Mem{Base: add}, Z1)
			VPADDD(Z1, Z0, Z0)
		}
		VCVTDQ2PS(Z0, Z0)
		load(tail, Mem{Base: scale}, Z2)
		VMULPS(Z2, Z0, Z0)
		load(tail, Mem{Base: bias}, Z3)
		VADDPS(Z3, Z0, Z0)
		store(tail, Z0, Mem{Base: dst})
	})
	VZEROUPPER()
	RET()
}

// widen sets lo and hi to the float64 values of z's lanes 0-7 and 8-15.
func widen(z, lo, hi VecPhysical, tmp VecPhysical) {
	VCVTPS2PD(z.(Vec).AsY(), lo)
	VEXTRACTF32X8(U8(1), z, tmp.(Vec).AsY())
	VCVTPS2PD(tmp.(Vec).AsY(), hi)
}

// stats accumulates the float64 lanes of Z0 into Z8/Z9 (sums of lanes 0-7, 8-15) and
// Z10/Z11 (sums of squares; a float32's square is exact in float64, so the fused
// multiply-add rounds once, as the Go loop's add does).
func stats() {
	widen(Z0, Z1, Z2, Z3)
	VADDPD(Z1, Z8, Z8)
	VADDPD(Z2, Z9, Z9)
	VFMADD231PD(Z1, Z1, Z10)
	VFMADD231PD(Z2, Z2, Z11)
}

// foldStats returns the sums of Z8+Z9 and Z10+Z11 folded to one lane: lanes i and i+8,
// then i and i+4, i and i+2, 0 and 1 (package vec's fold16).
func foldStats() {
	for i, p := range [][2]VecPhysical{{Z8, Z9}, {Z10, Z11}} {
		lo, hi := p[0], p[1]
		VADDPD(hi, lo, lo)
		VEXTRACTF64X4(U8(1), lo, Y1)
		VADDPD(Y1, lo.(Vec).AsY(), lo.(Vec).AsY())
		VEXTRACTF128(U8(1), lo.(Vec).AsY(), X1)
		VADDPD(X1, lo.(Vec).AsX(), lo.(Vec).AsX())
		VPERMILPD(U8(1), lo.(Vec).AsX(), X1)
		VADDSD(X1, lo.(Vec).AsX(), lo.(Vec).AsX())
		Store(lo.(Vec).AsX(), ReturnIndex(i))
	}
}

func clearStats() {
	for _, z := range []VecPhysical{Z8, Z9, Z10, Z11} {
		VXORPD(z, z, z)
	}
}

// sumSq emits the float64 sum and sum of squares of a row.
func sumSq() {
	const name = "sumSqAVX512"
	TEXT(name, NOSPLIT, "func(n, mask int, x *float32) (sum, sq float64)")
	Pragma("noescape")
	Doc(name + " returns the sum and the sum of squares of a row (n blocks of 16, then the lanes in mask); see package vec.")
	n, mask := Load(Param("n"), GP64()), Load(Param("mask"), GP64())
	x := Load(Param("x"), GP64())
	clearStats()
	blocks(name, n, mask, []Register{x}, func(tail bool) {
		load(tail, Mem{Base: x}, Z0)
		stats()
	})
	foldStats()
	VZEROUPPER()
	RET()
}

// addSumSq emits dst = x + y (+ bias) in float32 with the float64 sum and sum of
// squares of dst.
func addSumSq(name string, withBias bool) {
	sig := "func(n, mask int, dst, x, y *float32) (sum, sq float64)"
	if withBias {
		sig = "func(n, mask int, dst, x, y, bias *float32) (sum, sq float64)"
	}
	TEXT(name, NOSPLIT, sig)
	Pragma("noescape")
	what := "x + y"
	if withBias {
		what = "x + y + bias"
	}
	Doc(name + " sets dst = " + what + " and returns its sum and sum of squares (n blocks of 16, then the lanes in mask); see package vec.")
	n, mask := Load(Param("n"), GP64()), Load(Param("mask"), GP64())
	dst, x, y := Load(Param("dst"), GP64()), Load(Param("x"), GP64()), Load(Param("y"), GP64())
	ptrs := []Register{dst, x, y}
	var bias Register
	if withBias {
		bias = Load(Param("bias"), GP64())
		ptrs = append(ptrs, bias)
	}
	clearStats()
	blocks(name, n, mask, ptrs, func(tail bool) {
		load(tail, Mem{Base: x}, Z0)
		load(tail, Mem{Base: y}, Z1)
		VADDPS(Z1, Z0, Z0)
		if withBias {
			load(tail, Mem{Base: bias}, Z1)
			VADDPS(Z1, Z0, Z0)
		}
		store(tail, Z0, Mem{Base: dst})
		stats()
	})
	foldStats()
	VZEROUPPER()
	RET()
}

// normalize emits dst = float32(((float64(src) - mean)·inv)·gamma (+ beta)) with each
// float64 operation rounded (no fused multiply-add).
// normalizeParams emits the shared prologue of normalize and normalizeAVX2: the
// signature, and mean and inv broadcast into meanV and invV.
func normalizeParams(name string, withBeta bool, meanV, invV VecPhysical) (n, mask, dst, src, gamma, beta Register, ptrs []Register) {
	sig := "func(n, mask int, dst, src *float32, mean, inv float64, gamma *float32)"
	if withBeta {
		sig = "func(n, mask int, dst, src *float32, mean, inv float64, gamma, beta *float32)"
	}
	TEXT(name, NOSPLIT, sig)
	Pragma("noescape")
	Doc(name + " sets dst = (src - mean)·inv·gamma" + map[bool]string{true: " + beta", false: ""}[withBeta] + " (n blocks of 16, then the lanes in mask); see package vec.")
	n, mask = Load(Param("n"), GP64()), Load(Param("mask"), GP64())
	dst, src, gamma = Load(Param("dst"), GP64()), Load(Param("src"), GP64()), Load(Param("gamma"), GP64())
	VBROADCASTSD(Load(Param("mean"), XMM()), meanV)
	VBROADCASTSD(Load(Param("inv"), XMM()), invV)
	ptrs = []Register{dst, src, gamma}
	if withBeta {
		beta = Load(Param("beta"), GP64())
		ptrs = append(ptrs, beta)
	}
	return
}

func normalize(name string, withBeta bool) {
	n, mask, dst, src, gamma, beta, ptrs := normalizeParams(name, withBeta, Z14, Z15)
	blocks(name, n, mask, ptrs, func(tail bool) {
		load(tail, Mem{Base: src}, Z0)
		widen(Z0, Z1, Z2, Z3)
		load(tail, Mem{Base: gamma}, Z0)
		widen(Z0, Z4, Z5, Z3)
		for _, z := range []VecPhysical{Z1, Z2} {
			VSUBPD(Z14, z, z)
			VMULPD(Z15, z, z)
		}
		VMULPD(Z4, Z1, Z1)
		VMULPD(Z5, Z2, Z2)
		if withBeta {
			load(tail, Mem{Base: beta}, Z0)
			widen(Z0, Z4, Z5, Z3)
			VADDPD(Z4, Z1, Z1)
			VADDPD(Z5, Z2, Z2)
		}
		VCVTPD2PS(Z1, Y1)
		VCVTPD2PS(Z2, Y2)
		VINSERTF32X8(U8(1), Y2, Z1, Z1)
		store(tail, Z1, Mem{Base: dst})
	})
	VZEROUPPER()
	RET()
}

// rowKernelsAVX2 emits the row kernels for AVX2: the same interface, blocks of 16 lanes
// as two ymm halves, the partial block with VMASKMOVPS/VPMASKMOVD (which also suppress
// faults on the masked lanes), and the statistics in the same 16 float64 lanes folded
// in the same order, so that the results equal the AVX-512 kernels' and the Go loops'.
func rowKernelsAVX2() {
	laneBits = GLOBL("vecLaneBits", RODATA|NOPTR)
	for i := 0; i < 16; i++ {
		DATA(4*i, U32(1<<i))
	}
	dequantAVX2("dequantAddAVX2", true)
	dequantAVX2("dequantAVX2", false)
	sumSqAVX2()
	addSumSqAVX2("addSumSqAVX2", false)
	addSumSqAVX2("addBiasSumSqAVX2", true)
	normalizeAVX2("normalizeAVX2", true)
	normalizeAVX2("normalizeNoBiasAVX2", false)
}

// laneBits holds 1<<i in 32-bit lane i (i < 16): the tail mask's bits spread over lanes.
var laneBits Mem

// blocksAVX2 is blocks with the tail's lane masks in Y14 (lanes 0-7) and Y15 (8-15):
// all ones where the lane's bit of mask is set.
func blocksAVX2(name string, n, mask Register, ptrs []Register, body func(tail bool)) {
	Label(name + "_loop")
	TESTQ(n, n)
	JZ(LabelRef(name + "_tail"))
	body(false)
	for _, p := range ptrs {
		ADDQ(U8(64), p)
	}
	DECQ(n)
	JMP(LabelRef(name + "_loop"))
	Label(name + "_tail")
	TESTQ(mask, mask)
	JZ(LabelRef(name + "_done"))
	VMOVD(mask.(GPVirtual).As32(), X14)
	VPBROADCASTD(X14, Y14)
	VMOVDQA(Y14, Y15)
	VPAND(laneBits, Y14, Y14)
	VPCMPEQD(laneBits, Y14, Y14)
	VPAND(laneBits.Offset(32), Y15, Y15)
	VPCMPEQD(laneBits.Offset(32), Y15, Y15)
	body(true)
	Label(name + "_done")
}

// load2 moves 16 lanes from m to lo and hi (in a tail block only the masked lanes, the
// others zeroed).
func load2(tail bool, m Mem, lo, hi VecPhysical) {
	if tail {
		VPMASKMOVD(m, Y14, lo)
		VPMASKMOVD(m.Offset(32), Y15, hi)
	} else {
		VMOVDQU(m, lo)
		VMOVDQU(m.Offset(32), hi)
	}
}

// store2 moves lo and hi to 16 lanes at m (in a tail block only the masked lanes).
func store2(tail bool, lo, hi VecPhysical, m Mem) {
	if tail {
		VPMASKMOVD(lo, Y14, m)
		VPMASKMOVD(hi, Y15, m.Offset(32))
	} else {
		VMOVDQU(lo, m)
		VMOVDQU(hi, m.Offset(32))
	}
}

func dequantAVX2(name string, withAdd bool) {
	sig := "func(n, mask int, dst *float32, acc *int32, scale, bias *float32)"
	if withAdd {
		sig = "func(n, mask int, dst *float32, acc, add *int32, scale, bias *float32)"
	}
	TEXT(name, NOSPLIT, sig)
	Pragma("noescape")
	Doc(fmt.Sprintf("%s sets dst = float32(acc%s)·scale + bias (n blocks of 16, then the lanes in mask); see package vec.", name, map[bool]string{true: " + add", false: ""}[withAdd]))
	n, mask := Load(Param("n"), GP64()), Load(Param("mask"), GP64())
	dst, acc := Load(Param("dst"), GP64()), Load(Param("acc"), GP64())
	scale, bias := Load(Param("scale"), GP64()), Load(Param("bias"), GP64())
	ptrs := []Register{dst, acc, scale, bias}
	var add Register
	if withAdd {
		add = Load(Param("add"), GP64())
		ptrs = append(ptrs, add)
	}
	blocksAVX2(name, n, mask, ptrs, func(tail bool) {
		load2(tail, Mem{Base: acc}, Y0, Y1)
		if withAdd {
			load2(tail, Mem{Base: add}, Y2, Y3)
			VPADDD(Y2, Y0, Y0)
			VPADDD(Y3, Y1, Y1)
		}
		VCVTDQ2PS(Y0, Y0)
		VCVTDQ2PS(Y1, Y1)
		load2(tail, Mem{Base: scale}, Y2, Y3)
		VMULPS(Y2, Y0, Y0)
		VMULPS(Y3, Y1, Y1)
		load2(tail, Mem{Base: bias}, Y2, Y3)
		VADDPS(Y2, Y0, Y0)
		VADDPS(Y3, Y1, Y1)
		store2(tail, Y0, Y1, Mem{Base: dst})
	})
	VZEROUPPER()
	RET()
}

// quarter sets dst (ymm) to the float64 values of lanes 4k..4k+3 of src's 8 (k 0 or 1).
func quarter(src VecPhysical, k int, dst VecPhysical) {
	if k == 0 {
		VCVTPS2PD(src.(Vec).AsX(), dst)
		return
	}
	VEXTRACTF128(U8(1), src, dst.(Vec).AsX())
	VCVTPS2PD(dst.(Vec).AsX(), dst)
}

// statsAVX2 accumulates the 16 lanes of Y0 (0-7) and Y1 (8-15), widened to float64, into
// Y6-Y9 (sums of lanes 0-3, 4-7, 8-11, 12-15) and Y10-Y13 (sums of squares; a product
// of float32s is exact in float64, so multiply-then-add rounds as the Go loop does).
func statsAVX2() {
	quarter(Y0, 0, Y2)
	quarter(Y0, 1, Y3)
	quarter(Y1, 0, Y4)
	quarter(Y1, 1, Y5)
	for i, z := range []VecPhysical{Y2, Y3, Y4, Y5} {
		VADDPD(z, []VecPhysical{Y6, Y7, Y8, Y9}[i], []VecPhysical{Y6, Y7, Y8, Y9}[i])
		VMULPD(z, z, Y0)
		VADDPD(Y0, []VecPhysical{Y10, Y11, Y12, Y13}[i], []VecPhysical{Y10, Y11, Y12, Y13}[i])
	}
}

// foldStatsAVX2 returns the sums of Y6-Y9 and Y10-Y13 folded in fold16's order: lanes i
// and i+8, then i and i+4, i and i+2, 0 and 1.
func foldStatsAVX2() {
	for i, r := range [][4]VecPhysical{{Y6, Y7, Y8, Y9}, {Y10, Y11, Y12, Y13}} {
		VADDPD(r[2], r[0], r[0]) // lanes 0-3 + 8-11
		VADDPD(r[3], r[1], r[1]) // lanes 4-7 + 12-15
		VADDPD(r[1], r[0], r[0])
		VEXTRACTF128(U8(1), r[0], X1)
		x := r[0].(Vec).AsX()
		VADDPD(X1, x, x)
		VPERMILPD(U8(1), x, X1)
		VADDSD(X1, x, x)
		Store(x, ReturnIndex(i))
	}
}

func clearStatsAVX2() {
	for _, z := range []VecPhysical{Y6, Y7, Y8, Y9, Y10, Y11, Y12, Y13} {
		VXORPD(z, z, z)
	}
}

func sumSqAVX2() {
	const name = "sumSqAVX2"
	TEXT(name, NOSPLIT, "func(n, mask int, x *float32) (sum, sq float64)")
	Pragma("noescape")
	Doc(name + " returns the sum and the sum of squares of a row (n blocks of 16, then the lanes in mask); see package vec.")
	n, mask := Load(Param("n"), GP64()), Load(Param("mask"), GP64())
	x := Load(Param("x"), GP64())
	clearStatsAVX2()
	blocksAVX2(name, n, mask, []Register{x}, func(tail bool) {
		load2(tail, Mem{Base: x}, Y0, Y1)
		statsAVX2()
	})
	foldStatsAVX2()
	VZEROUPPER()
	RET()
}

func addSumSqAVX2(name string, withBias bool) {
	sig := "func(n, mask int, dst, x, y *float32) (sum, sq float64)"
	what := "x + y"
	if withBias {
		sig = "func(n, mask int, dst, x, y, bias *float32) (sum, sq float64)"
		what = "x + y + bias"
	}
	TEXT(name, NOSPLIT, sig)
	Pragma("noescape")
	Doc(name + " sets dst = " + what + " and returns its sum and sum of squares (n blocks of 16, then the lanes in mask); see package vec.")
	n, mask := Load(Param("n"), GP64()), Load(Param("mask"), GP64())
	dst, x, y := Load(Param("dst"), GP64()), Load(Param("x"), GP64()), Load(Param("y"), GP64())
	ptrs := []Register{dst, x, y}
	var bias Register
	if withBias {
		bias = Load(Param("bias"), GP64())
		ptrs = append(ptrs, bias)
	}
	clearStatsAVX2()
	blocksAVX2(name, n, mask, ptrs, func(tail bool) {
		load2(tail, Mem{Base: x}, Y0, Y1)
		load2(tail, Mem{Base: y}, Y2, Y3)
		VADDPS(Y2, Y0, Y0)
		VADDPS(Y3, Y1, Y1)
		if withBias {
			load2(tail, Mem{Base: bias}, Y2, Y3)
			VADDPS(Y2, Y0, Y0)
			VADDPS(Y3, Y1, Y1)
		}
		store2(tail, Y0, Y1, Mem{Base: dst})
		statsAVX2()
	})
	foldStatsAVX2()
	VZEROUPPER()
	RET()
}

func normalizeAVX2(name string, withBeta bool) {
	n, mask, dst, src, gamma, beta, ptrs := normalizeParams(name, withBeta, Y12, Y13)
	blocksAVX2(name, n, mask, ptrs, func(tail bool) {
		load2(tail, Mem{Base: src}, Y0, Y1)
		load2(tail, Mem{Base: gamma}, Y2, Y3)
		if withBeta {
			load2(tail, Mem{Base: beta}, Y4, Y5)
		}
		out := []VecPhysical{Y10, Y11}
		for q := 0; q < 4; q++ {
			h, k := q/2, q%2
			quarter([]VecPhysical{Y0, Y1}[h], k, Y6)
			quarter([]VecPhysical{Y2, Y3}[h], k, Y7)
			VSUBPD(Y12, Y6, Y6)
			VMULPD(Y13, Y6, Y6)
			VMULPD(Y7, Y6, Y6)
			if withBeta {
				quarter([]VecPhysical{Y4, Y5}[h], k, Y8)
				VADDPD(Y8, Y6, Y6)
			}
			if k == 0 {
				VCVTPD2PSY(Y6, out[h].(Vec).AsX())
			} else {
				VCVTPD2PSY(Y6, X9)
				VINSERTF128(U8(1), X9, out[h], out[h])
			}
		}
		store2(tail, Y10, Y11, Mem{Base: dst})
	})
	VZEROUPPER()
	RET()
}

// packKernelsAVX2 emits the data movement of the attention engine (ops/internal/attn):
// transposes that pack operands for the GEMM microkernels, and a scaled copy. They only
// move floats and multiply each by one float32 (one rounding, as in Go), so they give
// the Go loops' bits; AVX2 (sixteen Y registers, no AVX-512) runs on every x86 that
// runs the GEMM kernels.
func packKernelsAVX2() {
	transposeAVX2("transpose8AVX2", 8)
	transposeAVX2("transpose6AVX2", 6)
	scaleAVX2()
	copy16AVX2()
}

// transposeAVX2 emits func(n int, dst *float32, ldd int, src *float32, lds int, scale
// float32): for k < 8n and i < rows, dst[k·ldd + i] = src[i·lds + k]·scale, 8×8 blocks
// transposed in registers (unpack, shuffle, swap halves). Each k gets an 8-float store:
// with 6 rows, lanes 6 and 7 are garbage, which the next k's store overwrites when ldd
// is 6 (the caller keeps the last block's 2 extra floats inside dst).
func transposeAVX2(name string, rows int) {
	TEXT(name, NOSPLIT, "func(n int, dst *float32, ldd int, src *float32, lds int, scale float32)")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s sets dst[k·ldd+i] = src[i·lds+k]·scale for i < %d, k < 8n; see package vec.", name, rows))
	n := Load(Param("n"), GP64())
	dst, ldd := Load(Param("dst"), GP64()), Load(Param("ldd"), GP64())
	src, lds := Load(Param("src"), GP64()), Load(Param("lds"), GP64())
	VBROADCASTSS(Load(Param("scale"), XMM()), Y15)
	SHLQ(U8(2), ldd)
	SHLQ(U8(2), lds)
	// Row pointers: src, src+lds, src+2lds, src+3lds; rows 4-7 from src4 = src+4lds.
	lds3 := GP64()
	LEAQ(Mem{Base: lds, Index: lds, Scale: 2}, lds3)
	src4 := GP64()
	LEAQ(Mem{Base: src, Index: lds, Scale: 4}, src4)
	ldd3 := GP64()
	LEAQ(Mem{Base: ldd, Index: ldd, Scale: 2}, ldd3)
	row := func(base Register, i int) Mem {
		switch i {
		case 0:
			return Mem{Base: base}
		case 1:
			return Mem{Base: base, Index: lds, Scale: 1}
		case 2:
			return Mem{Base: base, Index: lds, Scale: 2}
		}
		return Mem{Base: base, Index: lds3, Scale: 1}
	}
	// half transposes the four rows in a..a+3 (Y registers) into u0..u3 in place, with
	// t..t+3 scratch: u_j holds column j of the rows in its low half, column j+4 in its
	// high half.
	half := func(r [4]VecPhysical, t [4]VecPhysical) {
		VUNPCKLPS(r[1], r[0], t[0])
		VUNPCKHPS(r[1], r[0], t[1])
		VUNPCKLPS(r[3], r[2], t[2])
		VUNPCKHPS(r[3], r[2], t[3])
		VSHUFPS(U8(0x44), t[2], t[0], r[0])
		VSHUFPS(U8(0xee), t[2], t[0], r[1])
		VSHUFPS(U8(0x44), t[3], t[1], r[2])
		VSHUFPS(U8(0xee), t[3], t[1], r[3])
	}
	lo := [4]VecPhysical{Y0, Y1, Y2, Y3}
	hi := [4]VecPhysical{Y4, Y5, Y6, Y7}
	tmp := [4]VecPhysical{Y8, Y9, Y10, Y11}
	Label(name + "_loop")
	TESTQ(n, n)
	JZ(LabelRef(name + "_done"))
	for i := 0; i < 4; i++ {
		VMULPS(row(src, i), Y15, lo[i])
	}
	half(lo, tmp)
	for i := 0; i < 4; i++ {
		if 4+i < rows {
			VMULPS(row(src4, i), Y15, hi[i])
		} else {
			VXORPS(hi[i], hi[i], hi[i])
		}
	}
	half(hi, tmp)
	// Column k: the low halves of lo[k], hi[k] (k < 4), the high halves (k >= 4),
	// stored in order of k (with 6 rows each store overlaps the next).
	out := []VecPhysical{Y8, Y9, Y10, Y11, Y12, Y13, Y14, Y8}
	d := dst
	for k := 0; k < 8; k++ {
		imm := U8(0x20)
		if k >= 4 {
			imm = U8(0x31)
		}
		VPERM2F128(imm, hi[k%4], lo[k%4], out[k])
		switch k % 4 {
		case 0:
			VMOVUPS(out[k], Mem{Base: d})
		case 1:
			VMOVUPS(out[k], Mem{Base: d, Index: ldd, Scale: 1})
		case 2:
			VMOVUPS(out[k], Mem{Base: d, Index: ldd, Scale: 2})
		case 3:
			VMOVUPS(out[k], Mem{Base: d, Index: ldd3, Scale: 1})
			LEAQ(Mem{Base: d, Index: ldd, Scale: 4}, d)
		}
	}
	ADDQ(U8(32), src)
	ADDQ(U8(32), src4)
	DECQ(n)
	JMP(LabelRef(name + "_loop"))
	Label(name + "_done")
	VZEROUPPER()
	RET()
}

// scaleAVX2 emits func(n int, dst, src *float32, c float32): dst = src·c over n blocks
// of 32 floats.
func scaleAVX2() {
	const name = "scaleAVX2"
	TEXT(name, NOSPLIT, "func(n int, dst, src *float32, c float32)")
	Pragma("noescape")
	Doc(name + " sets dst = src·c over n blocks of 32 floats; see package vec.")
	n := Load(Param("n"), GP64())
	dst, src := Load(Param("dst"), GP64()), Load(Param("src"), GP64())
	VBROADCASTSS(Load(Param("c"), XMM()), Y15)
	Label(name + "_loop")
	TESTQ(n, n)
	JZ(LabelRef(name + "_done"))
	ys := []VecPhysical{Y0, Y1, Y2, Y3}
	for i, y := range ys {
		VMULPS(Mem{Base: src, Disp: 32 * i}, Y15, y)
	}
	for i, y := range ys {
		VMOVUPS(y, Mem{Base: dst, Disp: 32 * i})
	}
	ADDQ(U8(128), src)
	ADDQ(U8(128), dst)
	DECQ(n)
	JMP(LabelRef(name + "_loop"))
	Label(name + "_done")
	VZEROUPPER()
	RET()
}

// maxExpSubSumRows emits func(rows, n int, x *float32, ld int, m, sum *float32), the
// streaming softmax step of attention for a panel of rows (row r at x + r·ld, n blocks
// of 16): m[r] = max(m[r], the row's maximum); unless m[r] is -Inf (nothing to weigh:
// the row is left alone, sum[r] = 0), row = e^(row - m[r]) and sum[r] = its sum, summed
// as expSubSumAVX512 sums. Rows are short (16 to a few hundred floats): one call for the
// panel loads the constants once and lets one row's reductions overlap the next row's.
func maxExpSubSumRows() {
	const name = "maxExpSubSumRowsAVX512"
	TEXT(name, NOSPLIT, "func(rows, n int, x *float32, ld int, m, sum *float32)")
	Pragma("noescape")
	Doc(name + " is the softmax step of attention on rows of n blocks of 16 floats, ld apart; see package vec.")
	k := &vk{consts: map[uint32]VecPhysical{}}
	rows, n := Load(Param("rows"), GP64()), Load(Param("n"), GP64())
	x, ld := Load(Param("x"), GP64()), Load(Param("ld"), GP64())
	m, sum := Load(Param("m"), GP64()), Load(Param("sum"), GP64())
	SHLQ(U8(2), ld)
	JMP(LabelRef(name + "_consts"))
	Label(name + "_row")
	TESTQ(rows, rows)
	JZ(LabelRef(name + "_done"))
	// The maximum, in every lane: blocks, then halves, quarters, pairs, neighbours.
	VBROADCASTSS(Mem{Base: m}, Z5)
	i, p := GP64(), GP64()
	MOVQ(n, i)
	MOVQ(x, p)
	Label(name + "_max")
	VMAXPS(Mem{Base: p}, Z5, Z5)
	ADDQ(U8(64), p)
	DECQ(i)
	JNZ(LabelRef(name + "_max"))
	VSHUFF32X4(U8(0x4e), Z5, Z5, Z1)
	VMAXPS(Z1, Z5, Z5)
	VSHUFF32X4(U8(0xb1), Z5, Z5, Z1)
	VMAXPS(Z1, Z5, Z5)
	VPERMILPS(U8(0x4e), Z5, Z1)
	VMAXPS(Z1, Z5, Z5)
	VPERMILPS(U8(0xb1), Z5, Z1)
	VMAXPS(Z1, Z5, Z5)
	VMOVSS(X5, Mem{Base: m})
	VXORPS(X6, X6, X6)
	VUCOMISS(X7, X5)            // X7: -Inf
	JP(LabelRef(name + "_exp")) // NaN: weigh it (the NaN propagates)
	JE(LabelRef(name + "_next"))
	Label(name + "_exp")
	MOVQ(n, i)
	MOVQ(x, p)
	Label(name + "_loop")
	VMOVUPS(Mem{Base: p}, Z0)
	VSUBPS(Z5, Z0, Z0)
	k.exp(Z0, Z1, Z2, Z3)
	VMOVUPS(Z3, Mem{Base: p})
	VADDPS(Z3, Z6, Z6)
	ADDQ(U8(64), p)
	DECQ(i)
	JNZ(LabelRef(name + "_loop"))
	VMOVAPS(Z6, Z0)
	hreduce(VADDPS)
	VMOVAPS(X0, X6)
	Label(name + "_next")
	VMOVSS(X6, Mem{Base: sum})
	ADDQ(ld, x)
	ADDQ(U8(4), m)
	ADDQ(U8(4), sum)
	DECQ(rows)
	JMP(LabelRef(name + "_row"))
	Label(name + "_done")
	VZEROUPPER()
	RET()
	Label(name + "_consts")
	tab := GLOBL("vecMaxExpSubSumConsts", RODATA|NOPTR)
	for j, b := range k.order {
		DATA(4*j, U32(b))
		VBROADCASTSS(tab.Offset(4*j), k.consts[b])
	}
	DATA(4*len(k.order), U32(0xff800000))
	VMOVSS(tab.Offset(4*len(k.order)), X7)
	JMP(LabelRef(name + "_row"))
}

// copy16AVX2 emits func(n int, dst, src *float32, lds int): dst[16t:16t+16] =
// src[t·lds:][:16] for t < n, the rows of a 16-wide GEMM panel.
func copy16AVX2() {
	const name = "copy16AVX2"
	TEXT(name, NOSPLIT, "func(n int, dst, src *float32, lds int)")
	Pragma("noescape")
	Doc(name + " copies n rows of 16 floats, lds apart in src, to consecutive rows of dst; see package vec.")
	n := Load(Param("n"), GP64())
	dst, src, lds := Load(Param("dst"), GP64()), Load(Param("src"), GP64()), Load(Param("lds"), GP64())
	SHLQ(U8(2), lds)
	Label(name + "_loop")
	TESTQ(n, n)
	JZ(LabelRef(name + "_done"))
	VMOVUPS(Mem{Base: src}, Y0)
	VMOVUPS(Mem{Base: src, Disp: 32}, Y1)
	VMOVUPS(Y0, Mem{Base: dst})
	VMOVUPS(Y1, Mem{Base: dst, Disp: 32})
	ADDQ(lds, src)
	ADDQ(U8(64), dst)
	DECQ(n)
	JMP(LabelRef(name + "_loop"))
	Label(name + "_done")
	VZEROUPPER()
	RET()
}

// binaryKernels emits the steps of ops.FusedElementwise on float32 blocks:
// func(n, mask int, dst, a, b *float32), dst = a op b over n blocks of 16 and then the
// lanes in mask, for AVX-512 and AVX2 (relu: func(n, mask int, dst, a *float32)). IEEE
// add, sub, mul and div round the same in every lane width, so they equal the Go loops
// bit for bit. VMAXPS/VMINPS return their second source when either is NaN (and for two
// zeros); ONNX Max/Min as the reference kernel computes them (a NaN in a wins, else
// "a > b ? a : b" picks b) differ only where a is NaN: those lanes are blended back
// to a.
func binaryKernels() {
	ops := []struct {
		name string
		f512 func(b, a, dst Op)
		f2   func(b, a, dst Op)
		nan  bool
	}{
		{"Add", func(b, a, d Op) { VADDPS(b, a, d) }, func(b, a, d Op) { VADDPS(b, a, d) }, false},
		{"Sub", func(b, a, d Op) { VSUBPS(b, a, d) }, func(b, a, d Op) { VSUBPS(b, a, d) }, false},
		{"Mul", func(b, a, d Op) { VMULPS(b, a, d) }, func(b, a, d Op) { VMULPS(b, a, d) }, false},
		{"Div", func(b, a, d Op) { VDIVPS(b, a, d) }, func(b, a, d Op) { VDIVPS(b, a, d) }, false},
		{"Max", func(b, a, d Op) { VMAXPS(b, a, d) }, func(b, a, d Op) { VMAXPS(b, a, d) }, true},
		{"Min", func(b, a, d Op) { VMINPS(b, a, d) }, func(b, a, d Op) { VMINPS(b, a, d) }, true},
	}
	for _, op := range ops {
		binary512("elem"+op.name+"AVX512", op.f512, op.nan, false)
		binaryAVX2("elem"+op.name+"AVX2", op.f2, op.nan, false)
	}
	// Relu is max(a, +0) by the same rule: NaN stays, -0 gives +0.
	binary512("elemReluAVX512", func(b, a, d Op) { VMAXPS(b, a, d) }, true, true)
	binaryAVX2("elemReluAVX2", func(b, a, d Op) { VMAXPS(b, a, d) }, true, true)
}

func binarySig(name string, relu bool) (n, mask, dst, a, b Register, ptrs []Register) {
	if relu {
		TEXT(name, NOSPLIT, "func(n, mask int, dst, a *float32)")
	} else {
		TEXT(name, NOSPLIT, "func(n, mask int, dst, a, b *float32)")
	}
	Pragma("noescape")
	if relu {
		Doc(name + " sets dst = max(a, 0) (n blocks of 16, then the lanes in mask); see package vec.")
	} else {
		Doc(name + " sets dst = " + name[4:7] + "(a, b) (n blocks of 16, then the lanes in mask); see package vec.")
	}
	n, mask = Load(Param("n"), GP64()), Load(Param("mask"), GP64())
	dst, a = Load(Param("dst"), GP64()), Load(Param("a"), GP64())
	ptrs = []Register{dst, a}
	if !relu {
		b = Load(Param("b"), GP64())
		ptrs = append(ptrs, b)
	}
	return n, mask, dst, a, b, ptrs
}

func binary512(name string, f func(b, a, dst Op), nan, relu bool) {
	n, mask, dst, a, b, ptrs := binarySig(name, relu)
	if relu {
		VXORPS(Z1, Z1, Z1)
	}
	blocks(name, n, mask, ptrs, func(tail bool) {
		load(tail, Mem{Base: a}, Z0)
		if !relu {
			load(tail, Mem{Base: b}, Z1)
		}
		f(Z1, Z0, Z2)
		if nan {
			VCMPPS(U8(3), Z0, Z0, K2) // unordered: a is NaN
			VMOVAPS(Z0, K2, Z2)       // merge-masked: those lanes take a
		}
		store(tail, Z2, Mem{Base: dst})
	})
	VZEROUPPER()
	RET()
}

func binaryAVX2(name string, f func(b, a, dst Op), nan, relu bool) {
	n, mask, dst, a, b, ptrs := binarySig(name, relu)
	if relu {
		VXORPS(Y2, Y2, Y2)
		VXORPS(Y3, Y3, Y3)
	}
	blocksAVX2(name, n, mask, ptrs, func(tail bool) {
		load2(tail, Mem{Base: a}, Y0, Y1)
		if !relu {
			load2(tail, Mem{Base: b}, Y2, Y3)
		}
		f(Y2, Y0, Y4)
		f(Y3, Y1, Y5)
		if nan {
			VCMPPS(U8(3), Y0, Y0, Y6)
			VCMPPS(U8(3), Y1, Y1, Y7)
			VBLENDVPS(Y6, Y0, Y4, Y4)
			VBLENDVPS(Y7, Y1, Y5, Y5)
		}
		store2(tail, Y4, Y5, Mem{Base: dst})
	})
	VZEROUPPER()
	RET()
}

// The AVX2+FMA forms of the math kernels, for CPUs without AVX-512: the same formulas
// in the same operation order as the AVX-512 kernels, on 8-lane ymm halves of 16-lane
// blocks, so that they give the AVX-512 kernels' bits. Where AVX-512 has an instruction
// AVX2 lacks: VROUNDPS for VRNDSCALEPS (both round to nearest even), and 2^n built in the
// exponent bits in two factors for VSCALEFPS (see expAVX2). With sixteen Y registers the
// constants live in a table of 8-lane copies, used as memory operands.

// yk hands out the constants of one AVX2 kernel as 32-byte rows of a static table,
// emitted after the function's code by table.
type yk struct {
	sym    Symbol
	consts map[uint32]int
	order  []uint32
}

func newYK(name string) *yk {
	return &yk{sym: NewStaticSymbol(name + "Consts"), consts: map[uint32]int{}}
}

func (k *yk) c(v float32) Mem { return k.bits(math.Float32bits(v)) }

func (k *yk) bits(b uint32) Mem {
	i, ok := k.consts[b]
	if !ok {
		i = len(k.order)
		k.consts[b] = i
		k.order = append(k.order, b)
	}
	return Mem{Symbol: k.sym, Base: StaticBase, Disp: 32 * i}
}

// table emits the constants: each in 8 lanes.
func (k *yk) table() {
	GLOBL(k.sym.Name, RODATA|NOPTR)
	for i, b := range k.order {
		for l := 0; l < 8; l++ {
			DATA(32*i+4*l, U32(b))
		}
	}
}

// horner is vk.horner with the coefficients in memory.
func (k *yk) horner(x, acc VecPhysical, cs ...float64) {
	VMOVUPS(k.c(float32(cs[0])), acc)
	for _, c := range cs[1:] {
		VFMADD213PS(k.c(float32(c)), x, acc) // acc = x·acc + c
	}
}

// exp is vk.exp on 8 lanes (t1, t2, t3 scratch). For VSCALEFPS's out·2^n it multiplies
// by 2^h and then 2^(n-h), h = floor(n/2), both built in the exponent bits: n is in
// [-150, 128] (x was clamped to [-104, 89]), so both factors are normal, out·2^h is
// exact, and the second product rounds once, as VSCALEFPS does (to +Inf, a denormal or
// 0 alike). For a NaN x out is already NaN and stays NaN.
func (k *yk) exp(x, t1, t2, t3, out VecPhysical) {
	VMOVUPS(k.c(89), t1)
	VMINPS(x, t1, t1) // the second source (x) is returned for NaN
	VMOVUPS(k.c(-104), t2)
	VMAXPS(t1, t2, t1)
	VMULPS(k.c(1.44269504088896341), t1, t2)
	VROUNDPS(U8(0), t2, t2)
	VFNMADD231PS(k.c(0.693359375), t2, t1) // t1 -= t2·ln2hi
	VFNMADD231PS(k.c(-2.12194440e-4), t2, t1)
	k.horner(t1, out, 1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1, 1, 1)
	VCVTPS2DQ(t2, t3) // exact: t2 is an integer
	VPSRAD(U8(1), t3, t2)
	VPSUBD(t2, t3, t3)
	for _, t := range []VecPhysical{t2, t3} {
		VPADDD(k.bits(127), t, t)
		VPSLLD(U8(23), t, t)
		VMULPS(t, out, out)
	}
}

// erf is vk.erf on 8 lanes.
func (k *yk) erf(x, t1, t2, out VecPhysical) {
	VMOVUPS(k.c(4), t1)
	VMINPS(x, t1, t1)
	VMOVUPS(k.c(-4), t2)
	VMAXPS(t1, t2, t1)
	VMULPS(t1, t1, t2)
	k.horner(t2, out, -2.72614225801306e-10, 2.77068142495902e-08, -2.10102402082508e-06, -5.69250639462346e-05,
		-7.34990630326855e-04, -2.95459980854025e-03, -1.60960333262415e-02)
	VMULPS(t1, out, out)
	k.horner(t2, t1, -1.45660718464996e-05, -2.13374055278905e-04, -1.68282697438203e-03, -7.37332916720468e-03, -1.42647390514189e-02)
	VDIVPS(t1, out, out)
}

// tanh is vk.tanh on 8 lanes.
func (k *yk) tanh(x, t1, t2, out VecPhysical) {
	VMOVUPS(k.c(7.99881172180175781), t1)
	VMINPS(x, t1, t1)
	VMOVUPS(k.c(-7.99881172180175781), t2)
	VMAXPS(t1, t2, t1)
	VMULPS(t1, t1, t2)
	k.horner(t2, out, -2.76076847742355e-16, 2.00018790482477e-13, -8.60467152213735e-11, 5.12229709037114e-08,
		1.48572235717979e-05, 6.37261928875436e-04, 4.89352455891786e-03)
	VMULPS(t1, out, out)
	k.horner(t2, t1, 1.19825839466702e-06, 1.18534705686654e-04, 2.26843463243900e-03, 4.89352518554385e-03)
	VDIVPS(t1, out, out)
}

// sigmoid is vk.sigmoid on 8 lanes (Y1, Y2, Y4, Y5 scratch).
func (k *yk) sigmoid(x, out VecPhysical) {
	VXORPS(k.bits(1<<31), x, Y4)
	k.exp(Y4, Y1, Y2, Y5, out)
	VADDPS(k.c(1), out, out)
	VMOVUPS(k.c(1), Y4)
	VDIVPS(out, Y4, out)
}

func unaryKernelsAVX2() {
	softmaxKernelsAVX2()
	unaryAVX2("expAVX2", func(k *yk, x VecPhysical) VecPhysical { k.exp(x, Y1, Y2, Y5, Y3); return Y3 })
	unaryAVX2("erfAVX2", func(k *yk, x VecPhysical) VecPhysical { k.erf(x, Y1, Y2, Y3); return Y3 })
	unaryAVX2("tanhAVX2", func(k *yk, x VecPhysical) VecPhysical { k.tanh(x, Y1, Y2, Y3); return Y3 })
	unaryAVX2("sigmoidAVX2", func(k *yk, x VecPhysical) VecPhysical { k.sigmoid(x, Y3); return Y3 })
	unaryAVX2("siluAVX2", func(k *yk, x VecPhysical) VecPhysical {
		k.sigmoid(x, Y3)
		VMULPS(x, Y3, Y3)
		return Y3
	})
	unaryAVX2("geluAVX2", func(k *yk, x VecPhysical) VecPhysical {
		VMULPS(k.c(1/math.Sqrt2), x, Y4)
		k.erf(Y4, Y1, Y2, Y3)
		VADDPS(k.c(1), Y3, Y3)
		VMULPS(x, Y3, Y3)
		VMULPS(k.c(0.5), Y3, Y3)
		return Y3
	})
	unaryAVX2("geluTanhAVX2", func(k *yk, x VecPhysical) VecPhysical {
		VMULPS(x, x, Y4)
		VMULPS(k.c(0.044715), Y4, Y4)
		VFMADD213PS(x, x, Y4) // Y4 = x·Y4 + x
		VMULPS(k.c(-2*0.7978845608028654), Y4, Y4)
		k.exp(Y4, Y1, Y2, Y5, Y3)
		VADDPS(k.c(1), Y3, Y3)
		VDIVPS(Y3, x, Y3)
		return Y3
	})
}

// unaryAVX2 emits func(n, mask int, dst, src *float32): dst = f(src) over n blocks of 16
// and then the lanes in mask (blocksAVX2's tail: masked loads zero the other lanes and
// suppress their faults, masked stores leave them alone), each block as two halves
// through f (which may use Y0-Y13; x is Y0).
func unaryAVX2(name string, f func(k *yk, x VecPhysical) VecPhysical) {
	TEXT(name, NOSPLIT, "func(n, mask int, dst, src *float32)")
	Pragma("noescape")
	Doc(name + " maps n blocks of 16 floats, then the lanes in mask; see package vec.")
	k := newYK(name)
	n, mask := Load(Param("n"), GP64()), Load(Param("mask"), GP64())
	dst, src := Load(Param("dst"), GP64()), Load(Param("src"), GP64())
	blocksAVX2(name, n, mask, []Register{dst, src}, func(tail bool) {
		for h, m := range []VecPhysical{Y14, Y15} {
			in, out := Mem{Base: src, Disp: 32 * h}, Mem{Base: dst, Disp: 32 * h}
			if tail {
				VMASKMOVPS(in, m, Y0)
			} else {
				VMOVUPS(in, Y0)
			}
			r := f(k, Y0)
			if tail {
				VMASKMOVPS(r, m, out)
			} else {
				VMOVUPS(r, out)
			}
		}
	})
	VZEROUPPER()
	RET()
	k.table()
}

// softmaxKernelsAVX2 emits maxAVX512 and expSubSumAVX512 for AVX2: 16-lane blocks as two
// halves, the sums in two 8-lane accumulators (lanes 0-7 and 8-15 of the AVX-512
// kernel's) folded in hreduce's order, so that the sum has the AVX-512 kernel's bits.
func softmaxKernelsAVX2() {
	const mx = "maxAVX2"
	TEXT(mx, NOSPLIT, "func(n int, src *float32) float32")
	Pragma("noescape")
	Doc(mx + " returns the maximum of n blocks of 16 floats (n > 0); see package vec.")
	n := Load(Param("n"), GP64())
	src := Load(Param("src"), GP64())
	VMOVUPS(Mem{Base: src}, Y0)
	VMOVUPS(Mem{Base: src, Disp: 32}, Y1)
	ADDQ(U8(64), src)
	DECQ(n)
	Label(mx + "_loop")
	TESTQ(n, n)
	JZ(LabelRef(mx + "_done"))
	VMAXPS(Mem{Base: src}, Y0, Y0)
	VMAXPS(Mem{Base: src, Disp: 32}, Y1, Y1)
	ADDQ(U8(64), src)
	DECQ(n)
	JMP(LabelRef(mx + "_loop"))
	Label(mx + "_done")
	hreduceAVX2(VMAXPS)
	Store(X0, ReturnIndex(0))
	VZEROUPPER()
	RET()

	const es = "expSubSumAVX2"
	TEXT(es, NOSPLIT, "func(n int, dst, src *float32, m float32) float32")
	Pragma("noescape")
	Doc(es + " sets dst = e^(src-m) over n blocks of 16 floats and returns their sum; see package vec.")
	k := newYK(es)
	n = Load(Param("n"), GP64())
	dst := Load(Param("dst"), GP64())
	src = Load(Param("src"), GP64())
	VBROADCASTSS(Load(Param("m"), XMM()), Y8)
	VXORPS(Y6, Y6, Y6)
	VXORPS(Y7, Y7, Y7)
	Label(es + "_loop")
	TESTQ(n, n)
	JZ(LabelRef(es + "_done"))
	for h, acc := range []VecPhysical{Y6, Y7} {
		VMOVUPS(Mem{Base: src, Disp: 32 * h}, Y0)
		VSUBPS(Y8, Y0, Y0)
		k.exp(Y0, Y1, Y2, Y5, Y3)
		VMOVUPS(Y3, Mem{Base: dst, Disp: 32 * h})
		VADDPS(Y3, acc, acc)
	}
	ADDQ(U8(64), src)
	ADDQ(U8(64), dst)
	DECQ(n)
	JMP(LabelRef(es + "_loop"))
	Label(es + "_done")
	VMOVAPS(Y6, Y0)
	VMOVAPS(Y7, Y1)
	hreduceAVX2(VADDPS)
	Store(X0, ReturnIndex(0))
	VZEROUPPER()
	RET()
	k.table()
}

// hreduceAVX2 is hreduce for 16 lanes held as Y0 (0-7) and Y1 (8-15).
func hreduceAVX2(op func(ops ...Op)) {
	op(Y1, Y0, Y0)
	VEXTRACTF128(U8(1), Y0, X1)
	op(X1, X0, X0)
	VPERMILPS(U8(0x4e), X0, X1) // swap 64-bit halves
	op(X1, X0, X0)
	VPERMILPS(U8(0xb1), X0, X1) // swap neighbours
	op(X1, X0, X0)
}
