package vec

import (
	"fmt"
	"os"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/cpu"
)

// useAsm says whether the AVX-512 kernels run; otherwise the Go loops do. The two
// compute the same formulas, but the assembly fuses multiply-adds, so their last bits
// can differ: either is chosen for the whole process, never per call. useAVX2 (set
// only without useAsm) runs the AVX2 row kernels of rows.go, whose results equal the
// Go loops' and AVX-512's, and (with FMA) the AVX2 math kernels, whose results equal
// AVX-512's; the other functions then run as Go loops.
var useAsm, useAVX2 atomic.Bool

// hasFMA says whether the AVX2 forms of the math kernels (Exp, Sigmoid, ...: fused
// multiply-adds, as in the AVX-512 kernels, whose bits they give) can run under "avx2".
var hasFMA = cpu.X86.HasFMA

func init() {
	SetImpl(os.Getenv("CIUIC_VEC"))
}

// Available lists the implementations this CPU and build can run, best first:
// "avx512" (every kernel), "avx2" (the row kernels of rows.go; the math functions in
// Go loops on CPUs without FMA; with FMA the math kernels in AVX2 too) and "go".
func Available() []string {
	var a []string
	if asmAvailable && cpu.X86.HasAVX512F && cpu.X86.HasAVX512DQ {
		a = append(a, "avx512")
	}
	if asmAvailable && cpu.X86.HasAVX2 {
		a = append(a, "avx2")
	}
	return append(a, "go")
}

// Impl names the implementation in use.
func Impl() string {
	switch {
	case useAsm.Load():
		return "avx512"
	case useAVX2.Load():
		return "avx2"
	}
	return "go"
}

// SetImpl chooses "avx512", "avx2" or "go"; "" picks the best available.
func SetImpl(name string) error {
	avail := Available()
	if name == "" {
		name = avail[0]
	}
	for _, a := range avail {
		if a == name {
			useAsm.Store(name == "avx512")
			useAVX2.Store(name == "avx2")
			return nil
		}
	}
	return fmt.Errorf("vec implementation %q not available here (have %v)", name, avail)
}

// apply maps src to dst with the assembly kernel in blocks of 16, the last partial
// block through a 16-float buffer (so that every element goes through the same code
// whatever the slice's length), or with the Go function.
// kernel names an assembly kernel. apply calls it through a switch, not a function value,
// so the compiler sees the callee's noescape pragma and apply's tail buffer stays on the
// stack (through a function value it escaped: one allocation per call).
type kernel int

const (
	kExp kernel = iota
	kErf
	kTanh
	kSigmoid
	kSilu
	kGelu
	kGeluTanh
)

func callAsm(k kernel, n int, dst, src *float32) {
	switch k {
	case kExp:
		expAVX512(n, dst, src)
	case kErf:
		erfAVX512(n, dst, src)
	case kTanh:
		tanhAVX512(n, dst, src)
	case kSigmoid:
		sigmoidAVX512(n, dst, src)
	case kSilu:
		siluAVX512(n, dst, src)
	case kGelu:
		geluAVX512(n, dst, src)
	case kGeluTanh:
		geluTanhAVX512(n, dst, src)
	}
}

func callAVX2(k kernel, n, mask int, dst, src *float32) {
	switch k {
	case kExp:
		expAVX2(n, mask, dst, src)
	case kErf:
		erfAVX2(n, mask, dst, src)
	case kTanh:
		tanhAVX2(n, mask, dst, src)
	case kSigmoid:
		sigmoidAVX2(n, mask, dst, src)
	case kSilu:
		siluAVX2(n, mask, dst, src)
	case kGelu:
		geluAVX2(n, mask, dst, src)
	case kGeluTanh:
		geluTanhAVX2(n, mask, dst, src)
	}
}

func apply(asm kernel, f func(float32) float32, dst, src []float32) {
	src = src[:len(dst)]
	if useAVX2.Load() && hasFMA {
		// Masked moves for the last block: the kernel never touches memory past the slices.
		if full, mask := blocks16(len(dst)); full > 0 || mask != 0 {
			callAVX2(asm, full, mask, unsafe.SliceData(dst), unsafe.SliceData(src))
		}
		return
	}
	if !useAsm.Load() {
		for i, x := range src {
			dst[i] = f(x)
		}
		return
	}
	full := len(dst) / 16
	if full > 0 {
		callAsm(asm, full, unsafe.SliceData(dst), unsafe.SliceData(src))
	}
	if rest := len(dst) - 16*full; rest > 0 {
		var buf [16]float32
		copy(buf[:], src[16*full:])
		callAsm(asm, 1, &buf[0], &buf[0])
		copy(dst[16*full:], buf[:rest])
	}
}

// softmaxAsm says whether Softmax and ExpSubSum run their blocks of 16 in assembly
// (AVX-512, or AVX2 with FMA: the same bits).
func softmaxAsm() bool { return useAsm.Load() || useAVX2.Load() && hasFMA }

func maxBlocks(n int, src *float32) float32 {
	if useAsm.Load() {
		return maxAVX512(n, src)
	}
	return maxAVX2(n, src)
}

func expSubSumBlocks(n int, dst, src *float32, m float32) float32 {
	if useAsm.Load() {
		return expSubSumAVX512(n, dst, src, m)
	}
	return expSubSumAVX2(n, dst, src, m)
}

// exp16 sets buf = e^buf with the assembly kernel.
func exp16(buf *[16]float32) {
	if useAsm.Load() {
		expAVX512(1, &buf[0], &buf[0])
		return
	}
	expAVX2(1, 0, &buf[0], &buf[0])
}
