package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// microkernelI8 emits C[mr x nvec*16] (int32) (+)= A·B over kg groups of 4 k with
// AVX-512 VNNI: A is a packed u8 panel (kg groups of mr·4 bytes) or, with rows, mr
// rows of the unpacked matrix lda bytes apart (read 4 bytes a step: no packing pass
// over A; lda is ignored otherwise), B a packed s8 panel
// (kg groups of bstride·64 bytes, four consecutive k of one column per int32 lane, the
// first nvec vectors used). Each row's 4 bytes are broadcast to every lane and VPDPBUSD
// adds the four u8·s8 products of each lane to the accumulator, exactly (no
// saturation: that is VPDPBUSDS). add != 0 adds C to the sums.
//
// With scale == nil the sums are stored to C. Otherwise they are dequantized on the
// way out and stored to y (the same row stride as C; it may be C's memory):
// y = float32(sum + colAdd[j])·scale[j] + bias[j], the multiply and the add rounded
// separately (never fused), as vec.DequantI32 and the reference compute it. With
// rowScale != nil (activations quantized per row) the correction and the scale are
// per row too: y = float32(sum + rowZero[i]·colAdd[j])·float32(rowScale[i]·scale[j]) +
// bias[j], the int32 multiply and add wrapping.
func microkernelI8(name string, mr, nvec, bstride int, rows bool) {
	TEXT(name, NOSPLIT, "func(kg int, a *uint8, lda int, b *int8, c *int32, ldc int, add int, y *float32, colAdd *int32, scale *float32, bias *float32, rowZero *int32, rowScale *float32)")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s computes a %dx%d int32 tile of C, or its dequantized floats; see microkernelI8 in asmgen.", name, mr, nvec*16))
	k := Load(Param("kg"), GP64())
	ap := Load(Param("a"), GP64())
	bp := Load(Param("b"), GP64())
	// Row i's next 4 bytes: ap+4i packed; rows: ap (rows 0-3) or ap4 = ap+4·lda (rows
	// 4-7), plus 0, 1, 2 or 3 times lda.
	arow := func(i int) Mem { return Mem{Base: ap, Disp: 4 * i} }
	astep := 4 * mr
	var ap4 Register
	if rows {
		lda := Load(Param("lda"), GP64())
		lda3 := GP64()
		LEAQ(Mem{Base: lda, Index: lda, Scale: 2}, lda3)
		ap4 = GP64()
		LEAQ(Mem{Base: ap, Index: lda, Scale: 4}, ap4)
		arow = func(i int) Mem {
			base := ap
			if i >= 4 {
				base = ap4
			}
			switch i % 4 {
			case 0:
				return Mem{Base: base}
			case 3:
				return Mem{Base: base, Index: lda3, Scale: 1}
			}
			return Mem{Base: base, Index: lda, Scale: uint8(i % 4)}
		}
		astep = 4
	}
	acc := func(i, j int) VecPhysical { return zregs[i*nvec+j] }
	breg := func(j int) VecPhysical { return zregs[mr*nvec+j] }
	tmp := zregs[mr*nvec+nvec]
	for i := 0; i < mr; i++ {
		for j := 0; j < nvec; j++ {
			VPXORD(acc(i, j), acc(i, j), acc(i, j))
		}
	}
	TESTQ(k, k)
	JZ(LabelRef(name + "_sums"))
	Label(name + "_loop")
	for j := 0; j < nvec; j++ {
		VMOVDQU32(Mem{Base: bp, Disp: j * 64}, breg(j))
	}
	for i := 0; i < mr; i++ {
		VPBROADCASTD(arow(i), tmp)
		for j := 0; j < nvec; j++ {
			VPDPBUSD(breg(j), tmp, acc(i, j)) // acc += u8(tmp) · s8(breg)
		}
	}
	ADDQ(U32(astep), ap)
	if ap4 != nil {
		ADDQ(U32(astep), ap4)
	}
	ADDQ(U32(bstride*64), bp)
	DECQ(k)
	JNZ(LabelRef(name + "_loop"))

	Label(name + "_sums")
	cp := Load(Param("c"), GP64())
	ldc := Load(Param("ldc"), GP64())
	SHLQ(U8(2), ldc)
	add := Load(Param("add"), GP64())
	TESTQ(add, add)
	JZ(LabelRef(name + "_store"))
	row := GP64()
	MOVQ(cp, row)
	for i := 0; i < mr; i++ {
		for j := 0; j < nvec; j++ {
			VPADDD(Mem{Base: row, Disp: j * 64}, acc(i, j), acc(i, j))
		}
		if i < mr-1 {
			ADDQ(ldc, row)
		}
	}
	Label(name + "_store")
	sp := Load(Param("scale"), GP64())
	TESTQ(sp, sp)
	JNZ(LabelRef(name + "_dequant"))
	for i := 0; i < mr; i++ {
		for j := 0; j < nvec; j++ {
			VMOVDQU32(acc(i, j), Mem{Base: cp, Disp: j * 64})
		}
		if i < mr-1 {
			ADDQ(ldc, cp)
		}
	}
	VZEROUPPER()
	RET()

	Label(name + "_dequant")
	yp := Load(Param("y"), GP64())
	cadd := Load(Param("colAdd"), GP64())
	bias := Load(Param("bias"), GP64())
	rs := Load(Param("rowScale"), GP64())
	TESTQ(rs, rs)
	JNZ(LabelRef(name + "_rows"))
	// The B registers are free now: they hold colAdd, scale and bias when there is room.
	free := zregs[mr*nvec:]
	inReg := 3*nvec <= len(free)
	operand := func(base Register, t, j int) Op {
		if inReg {
			return free[t*nvec+j]
		}
		return Mem{Base: base, Disp: j * 64}
	}
	if inReg {
		for j := 0; j < nvec; j++ {
			VMOVDQU32(Mem{Base: cadd, Disp: j * 64}, free[j])
			VMOVUPS(Mem{Base: sp, Disp: j * 64}, free[nvec+j])
			VMOVUPS(Mem{Base: bias, Disp: j * 64}, free[2*nvec+j])
		}
	}
	for i := 0; i < mr; i++ {
		for j := 0; j < nvec; j++ {
			VPADDD(operand(cadd, 0, j), acc(i, j), acc(i, j))
			VCVTDQ2PS(acc(i, j), acc(i, j))
			VMULPS(operand(sp, 1, j), acc(i, j), acc(i, j))
			VADDPS(operand(bias, 2, j), acc(i, j), acc(i, j))
			VMOVUPS(acc(i, j), Mem{Base: yp, Disp: j * 64})
		}
		if i < mr-1 {
			ADDQ(ldc, yp)
		}
	}
	VZEROUPPER()
	RET()

	Label(name + "_rows")
	rz := Load(Param("rowZero"), GP64())
	zr, sr, t := free[0], free[1], free[2]
	for i := 0; i < mr; i++ {
		VPBROADCASTD(Mem{Base: rz, Disp: 4 * i}, zr)
		VBROADCASTSS(Mem{Base: rs, Disp: 4 * i}, sr)
		for j := 0; j < nvec; j++ {
			VPMULLD(Mem{Base: cadd, Disp: j * 64}, zr, t)
			VPADDD(t, acc(i, j), acc(i, j))
			VCVTDQ2PS(acc(i, j), acc(i, j))
			VMULPS(Mem{Base: sp, Disp: j * 64}, sr, t)
			VMULPS(t, acc(i, j), acc(i, j))
			VADDPS(Mem{Base: bias, Disp: j * 64}, acc(i, j), acc(i, j))
			VMOVUPS(acc(i, j), Mem{Base: yp, Disp: j * 64})
		}
		if i < mr-1 {
			ADDQ(ldc, yp)
		}
	}
	VZEROUPPER()
	RET()
}

// gemvI8 emits c[0:nvec*16] = Σ_g a[g]·B[g] (int32) for one u8 row a (kg groups of 4
// bytes) and one packed s8 panel: four sets of accumulators over consecutive groups
// keep four VPDPBUSD chains in flight per column vector; integer sums are exact, so
// their order does not matter.
func gemvI8(name string, nvec int) {
	TEXT(name, NOSPLIT, "func(kg int, a *uint8, b *int8, c *int32)")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s computes %d int32 outputs of a u8 vector times an s8 panel; see gemvI8 in asmgen.", name, nvec*16))
	const u = 4
	k := Load(Param("kg"), GP64())
	ap := Load(Param("a"), GP64())
	bp := Load(Param("b"), GP64())
	acc := func(p, j int) VecPhysical { return zregs[p*nvec+j] }
	tmp := zregs[u*nvec]
	for p := 0; p < u; p++ {
		for j := 0; j < nvec; j++ {
			VPXORD(acc(p, j), acc(p, j), acc(p, j))
		}
	}
	step := func(p, g int) {
		VPBROADCASTD(Mem{Base: ap, Disp: 4 * g}, tmp)
		for j := 0; j < nvec; j++ {
			VPDPBUSD(Mem{Base: bp, Disp: (g*nvec + j) * 64}, tmp, acc(p, j))
		}
	}
	Label(name + "_loop4")
	CMPQ(k, U8(u))
	JL(LabelRef(name + "_tail"))
	for p := 0; p < u; p++ {
		step(p, p)
	}
	ADDQ(U8(4*u), ap)
	ADDQ(U32(u*nvec*64), bp)
	SUBQ(U8(u), k)
	JMP(LabelRef(name + "_loop4"))
	Label(name + "_tail")
	TESTQ(k, k)
	JZ(LabelRef(name + "_sum"))
	step(0, 0)
	ADDQ(U8(4), ap)
	ADDQ(U32(nvec*64), bp)
	DECQ(k)
	JMP(LabelRef(name + "_tail"))
	Label(name + "_sum")
	for j := 0; j < nvec; j++ {
		VPADDD(acc(1, j), acc(0, j), acc(0, j))
		VPADDD(acc(3, j), acc(2, j), acc(2, j))
		VPADDD(acc(2, j), acc(0, j), acc(0, j))
	}
	cp := Load(Param("c"), GP64())
	for j := 0; j < nvec; j++ {
		VMOVDQU32(acc(0, j), Mem{Base: cp, Disp: j * 64})
	}
	VZEROUPPER()
	RET()
}

// microkernelI8AVX2 emits the exact AVX2 int8 kernel on the same B layout as the VNNI
// one (groups of 4 k per column), for mr rows × 8 columns. VPMADDUBSW would add two
// u8·s8 products into a saturating int16 (255·127·2 > 32767), so instead B is widened
// to int16 (VPMOVSXBW) and A is packed as int16 (kg groups of mr·4 int16): VPMADDWD
// gives exact int32 sums of pairs, so each column keeps two partial sums (lanes 2j,
// 2j+1) until the end, where VPHADDD adds them and VPERMQ puts the columns in order.
func microkernelI8AVX2(name string, mr int) {
	TEXT(name, NOSPLIT, "func(kg int, a *uint8, b *int8, c *int32, ldc int, add int)")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s computes a %dx8 int32 tile of C (A packed as int16); see microkernelI8AVX2 in asmgen.", name, mr))
	ymm := []VecPhysical{Y0, Y1, Y2, Y3, Y4, Y5, Y6, Y7, Y8, Y9, Y10, Y11, Y12, Y13, Y14, Y15}
	k := Load(Param("kg"), GP64())
	ap := Load(Param("a"), GP64())
	bp := Load(Param("b"), GP64())
	acc := func(i, j int) VecPhysical { return ymm[2*i+j] } // j: columns 0-3, 4-7
	b0, b1 := ymm[2*mr], ymm[2*mr+1]
	av, t := ymm[2*mr+2], ymm[2*mr+3]
	for i := 0; i < mr; i++ {
		for j := 0; j < 2; j++ {
			VPXOR(acc(i, j), acc(i, j), acc(i, j))
		}
	}
	TESTQ(k, k)
	JZ(LabelRef(name + "_store"))
	Label(name + "_loop")
	VPMOVSXBW(Mem{Base: bp}, b0)
	VPMOVSXBW(Mem{Base: bp, Disp: 16}, b1)
	for i := 0; i < mr; i++ {
		VPBROADCASTQ(Mem{Base: ap, Disp: 8 * i}, av)
		VPMADDWD(b0, av, t)
		VPADDD(t, acc(i, 0), acc(i, 0))
		VPMADDWD(b1, av, t)
		VPADDD(t, acc(i, 1), acc(i, 1))
	}
	ADDQ(U32(8*mr), ap)
	ADDQ(U8(32), bp)
	DECQ(k)
	JNZ(LabelRef(name + "_loop"))

	Label(name + "_store")
	for i := 0; i < mr; i++ {
		VPHADDD(acc(i, 1), acc(i, 0), acc(i, 0))
		VPERMQ(U8(0xd8), acc(i, 0), acc(i, 0))
	}
	cp := Load(Param("c"), GP64())
	ldc := Load(Param("ldc"), GP64())
	SHLQ(U8(2), ldc)
	add := Load(Param("add"), GP64())
	TESTQ(add, add)
	JZ(LabelRef(name + "_overwrite"))
	row := GP64()
	MOVQ(cp, row)
	for i := 0; i < mr; i++ {
		VPADDD(Mem{Base: row}, acc(i, 0), acc(i, 0))
		if i < mr-1 {
			ADDQ(ldc, row)
		}
	}
	Label(name + "_overwrite")
	for i := 0; i < mr; i++ {
		VMOVDQU(acc(i, 0), Mem{Base: cp})
		if i < mr-1 {
			ADDQ(ldc, cp)
		}
	}
	VZEROUPPER()
	RET()
}
