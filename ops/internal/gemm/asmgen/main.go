// Command asmgen writes the GEMM microkernels of package gemm (kernels_amd64.s and
// the Go stubs in kernels_amd64.go) with avo. It is a separate module so that the
// main module's `go build ./...` never compiles it; run it with `go generate` in
// ops/internal/gemm, which commits the generated files.
package main

import (
	"flag"
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

var kind = flag.String("kind", "gemm", "what to generate: gemm (package gemm's kernels) or vec (package vec's)")

func main() {
	flag.Parse()
	ConstraintExpr("amd64,!purego")
	if *kind == "vec" {
		vecKernels()
		Generate()
		return
	}

	zmm := func(i int) VecPhysical {
		return []VecPhysical{Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7, Z8, Z9, Z10, Z11, Z12, Z13, Z14, Z15, Z16, Z17, Z18, Z19, Z20, Z21, Z22, Z23, Z24, Z25, Z26, Z27, Z28, Z29, Z30, Z31}[i]
	}
	ymm := func(i int) VecPhysical {
		return []VecPhysical{Y0, Y1, Y2, Y3, Y4, Y5, Y6, Y7, Y8, Y9, Y10, Y11, Y12, Y13, Y14, Y15}[i]
	}

	// On Zen 4 (zmm FMAs are split in two ymm halves) 8x48 and 6x16 both reach the
	// core's FMA peak on L1-resident panels; 14x32 with broadcast operands did not.
	microkernel("sgemmAVX2x6x16", 6, 2, 32, ymm, false, 2)
	microkernel("sgemmAVX512x8x48", 8, 3, 64, zmm, false, 3)
	// The first 16 or 32 columns of a 48-column panel: the last panel of N = 256, 512
	// or 1024 (N mod 48 = 16 or 32), where the full kernel would spend a third or two
	// thirds of its multiplies on the zero padding.
	microkernel("sgemmAVX512x8x16", 8, 1, 64, zmm, false, 3)
	microkernel("sgemmAVX512x8x32", 8, 2, 64, zmm, false, 3)
	gemv("sgemvAVX512x48", 3, 64, zmm, true)
	gemv("sgemvAVX2x16", 2, 32, ymm, false)
	// The first 16 or 32 columns of a 48-column panel, for the last panel of N mod 48 =
	// 16 or 32 (N = 256, 512, 1024), as for the float kernels; the "r" forms read A's
	// rows unpacked.
	for _, w := range []int{48, 32, 16} {
		microkernelI8(fmt.Sprintf("igemmVNNI8x%d", w), 8, w/16, 3, false)
		microkernelI8(fmt.Sprintf("igemmVNNI8x%dr", w), 8, w/16, 3, true)
	}
	gemvI8("igemvVNNI48", 3)
	microkernelI8AVX2("igemmAVX2x6x8", 6)
	Generate()
}

// microkernel emits C[mr x nvec*lanes] (+)= A·B over k, where A is a packed panel
// (k groups of mr floats) and B a packed panel (k groups of nvec vectors). The sum over
// k runs in order with one FMA per step, so every output element is computed the same
// way whatever tile or thread computes it. add != 0 adds to C instead of overwriting it.
// A non-nil bias (nvec·lanes floats) is then added to each row before the store: the
// same two roundings as storing C and adding the bias in a second pass, without it.
// B's rows are bstride vectors apart (nvec of them are used).
func microkernel(name string, mr, nvec, width int, vr func(int) VecPhysical, bcst bool, bstride int) {
	TEXT(name, NOSPLIT, "func(k int, a, b, c *float32, ldc int, add int, bias *float32)")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s computes a %dx%d tile of C; see microkernel in asmgen.", name, mr, nvec*width/4))
	k := Load(Param("k"), GP64())
	ap := Load(Param("a"), GP64())
	bp := Load(Param("b"), GP64())
	acc := func(i, j int) VecPhysical { return vr(i*nvec + j) }
	breg := func(j int) VecPhysical { return vr(mr*nvec + j) }
	tmp := vr(mr*nvec + nvec)
	for i := 0; i < mr; i++ {
		for j := 0; j < nvec; j++ {
			VXORPS(acc(i, j), acc(i, j), acc(i, j))
		}
	}
	TESTQ(k, k)
	JZ(LabelRef(name + "_store"))
	Label(name + "_loop")
	for j := 0; j < nvec; j++ {
		VMOVUPS(Mem{Base: bp, Disp: j * width}, breg(j))
	}
	for i := 0; i < mr; i++ {
		a := Mem{Base: ap, Disp: 4 * i}
		if !bcst {
			VBROADCASTSS(a, tmp)
		}
		for j := 0; j < nvec; j++ {
			if bcst {
				VFMADD231PS_BCST(a, breg(j), acc(i, j))
			} else {
				VFMADD231PS(breg(j), tmp, acc(i, j))
			}
		}
	}
	ADDQ(U32(4*mr), ap)
	ADDQ(U32(bstride*width), bp)
	DECQ(k)
	JNZ(LabelRef(name + "_loop"))

	Label(name + "_store")
	cp := Load(Param("c"), GP64())
	ldc := Load(Param("ldc"), GP64())
	SHLQ(U8(2), ldc)
	add := Load(Param("add"), GP64())
	TESTQ(add, add)
	JZ(LabelRef(name + "_overwrite"))
	row := GP64()
	MOVQ(cp, row)
	for i := 0; i < mr; i++ {
		for j := 0; j < nvec; j++ {
			VADDPS(Mem{Base: row, Disp: j * width}, acc(i, j), acc(i, j))
		}
		if i < mr-1 {
			ADDQ(ldc, row)
		}
	}
	Label(name + "_overwrite")
	// The loop's B registers are free now: they hold the bias.
	bias := Load(Param("bias"), GP64())
	TESTQ(bias, bias)
	JZ(LabelRef(name + "_nobias"))
	for j := 0; j < nvec; j++ {
		VMOVUPS(Mem{Base: bias, Disp: j * width}, breg(j))
	}
	for i := 0; i < mr; i++ {
		for j := 0; j < nvec; j++ {
			VADDPS(breg(j), acc(i, j), acc(i, j))
		}
	}
	Label(name + "_nobias")
	for i := 0; i < mr; i++ {
		for j := 0; j < nvec; j++ {
			VMOVUPS(acc(i, j), Mem{Base: cp, Disp: j * width})
		}
		if i < mr-1 {
			ADDQ(ldc, cp)
		}
	}
	VZEROUPPER()
	RET()
}

// gemv emits c[0:nvec*lanes] = sum over k of a[k]·B[k, 0:nvec*lanes], with B rows ldb
// floats apart. Four partial sums (k mod 4) are added at the end in a fixed order, so
// the result depends only on k, not on how columns are split among threads.
func gemv(name string, nvec, width int, vr func(int) VecPhysical, bcst bool) {
	TEXT(name, NOSPLIT, "func(k int, a, b *float32, ldb int, c *float32)")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s computes %d outputs of a vector-matrix product; see gemv in asmgen.", name, nvec*width/4))
	const u = 4
	k := Load(Param("k"), GP64())
	ap := Load(Param("a"), GP64())
	bp := Load(Param("b"), GP64())
	ldb := Load(Param("ldb"), GP64())
	SHLQ(U8(2), ldb)
	acc := func(p, j int) VecPhysical { return vr(p*nvec + j) }
	breg := func(j int) VecPhysical { return vr(u*nvec + j) }
	tmp := vr(u*nvec + nvec)
	for p := 0; p < u; p++ {
		for j := 0; j < nvec; j++ {
			VXORPS(acc(p, j), acc(p, j), acc(p, j))
		}
	}
	step := func(p int, disp int) {
		for j := 0; j < nvec; j++ {
			VMOVUPS(Mem{Base: bp, Disp: j * width}, breg(j))
		}
		a := Mem{Base: ap, Disp: disp}
		if !bcst {
			VBROADCASTSS(a, tmp)
		}
		for j := 0; j < nvec; j++ {
			if bcst {
				VFMADD231PS_BCST(a, breg(j), acc(p, j))
			} else {
				VFMADD231PS(breg(j), tmp, acc(p, j))
			}
		}
		ADDQ(ldb, bp)
	}
	Label(name + "_loop4")
	CMPQ(k, U8(u))
	JL(LabelRef(name + "_tail"))
	for p := 0; p < u; p++ {
		step(p, 4*p)
	}
	ADDQ(U8(4*u), ap)
	SUBQ(U8(u), k)
	JMP(LabelRef(name + "_loop4"))
	Label(name + "_tail")
	TESTQ(k, k)
	JZ(LabelRef(name + "_sum"))
	step(0, 0)
	ADDQ(U8(4), ap)
	DECQ(k)
	JMP(LabelRef(name + "_tail"))
	Label(name + "_sum")
	for j := 0; j < nvec; j++ {
		VADDPS(acc(1, j), acc(0, j), acc(0, j))
		VADDPS(acc(3, j), acc(2, j), acc(2, j))
		VADDPS(acc(2, j), acc(0, j), acc(0, j))
	}
	cp := Load(Param("c"), GP64())
	for j := 0; j < nvec; j++ {
		VMOVUPS(acc(0, j), Mem{Base: cp, Disp: j * width})
	}
	VZEROUPPER()
	RET()
}
