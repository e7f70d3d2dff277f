package gemm

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"

	"golang.org/x/sys/cpu"
)

// Kernel is one implementation of the microkernels: an MR×NR GEMM tile and an NR-wide
// vector-matrix product, both over packed panels.
type Kernel struct {
	Name   string
	MR, NR int
	// micro and gemv are the assembly kernels; nil means the pure-Go ones.
	micro func(k int, a, b, c *float32, ldc int, add int, bias *float32)
	gemv  func(k int, a, b *float32, ldb int, c *float32)
}

var (
	kernAVX512 = &Kernel{Name: "avx512", MR: 8, NR: 48, micro: sgemmAVX512x8x48, gemv: sgemvAVX512x48}
	kernAVX2   = &Kernel{Name: "avx2", MR: 6, NR: 16, micro: sgemmAVX2x6x16, gemv: sgemvAVX2x16}
	kernGo     = &Kernel{Name: "go", MR: 4, NR: 16}
)

// Available lists the implementations this CPU and build can run, best first.
func Available() []string {
	var names []string
	if asmAvailable && cpu.X86.HasAVX512F && cpu.X86.HasAVX512DQ {
		names = append(names, kernAVX512.Name)
	}
	if asmAvailable && cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		names = append(names, kernAVX2.Name)
	}
	return append(names, kernGo.Name)
}

var active atomic.Pointer[Kernel]

func init() {
	if err := SetImpl(os.Getenv("CIUIC_GEMM")); err != nil {
		fmt.Fprintf(os.Stderr, "ciuic: CIUIC_GEMM: %v; using %s\n", err, Available()[0])
		SetImpl("")
	}
}

// Impl names the implementation in use.
func Impl() string { return active.Load().Name }

// Active returns the kernel in use.
func Active() *Kernel { return active.Load() }

// SetImpl chooses the implementation by name ("avx512", "avx2", "go"); "" picks the
// best available. Matrices packed before a switch keep the kernel they were packed for.
func SetImpl(name string) error {
	avail := Available()
	if name == "" {
		name = avail[0]
	}
	for _, a := range avail {
		if a == name {
			active.Store(map[string]*Kernel{"avx512": kernAVX512, "avx2": kernAVX2, "go": kernGo}[name])
			return nil
		}
	}
	return fmt.Errorf("gemm implementation %q not available here (have %s)", name, strings.Join(avail, ", "))
}

// Blocking: KC is the slice of K one pass over a C tile covers (a KC×NR panel of B stays
// in L1/L2 while it meets every A panel of the block); MB rows of packed A (MB×KC) stay in
// L2. They depend only on the cache sizes, never on the thread count, so the order of
// the sum over K (KC blocks in order, FMA by FMA within a block) is the same for every
// split of the work.
var (
	l1Bytes = cacheSize(1, 32<<10)
	l2Bytes = cacheSize(2, 1<<20)
)

func kcFor(k *Kernel) int {
	// A KC×NR slice of B up to twice L1: measured on Zen 4 (128×256×768 to
	// 128×768×3072), L2 feeds the panel fast enough, and fewer passes over C win
	// (KC 256 vs 80: 5-10% faster). Mul then splits K into equal blocks of at most KC.
	kc := 2 * l1Bytes / (4 * k.NR)
	kc = max(64, min(512, kc&^7))
	if kcOverride > 0 {
		kc = kcOverride
	}
	return kc
}

// kcOverride is CIUIC_GEMM_KC, read once (kcFor runs on every product).
var kcOverride = func() int {
	v, err := strconv.Atoi(os.Getenv("CIUIC_GEMM_KC"))
	if err != nil || v <= 0 {
		return 0
	}
	return v
}()

func mbFor(k *Kernel, kc int) int {
	mb := l2Bytes / 2 / (4 * kc)
	mb = max(k.MR, mb/k.MR*k.MR)
	return mb
}

// cacheSize reads the size of the level-lvl data cache from Linux sysfs (x/sys/cpu does
// not report cache sizes), or returns def.
func cacheSize(lvl int, def int) int {
	for i := 0; i < 8; i++ {
		dir := fmt.Sprintf("/sys/devices/system/cpu/cpu0/cache/index%d/", i)
		l, err1 := os.ReadFile(dir + "level")
		t, err2 := os.ReadFile(dir + "type")
		s, err3 := os.ReadFile(dir + "size")
		if err1 != nil || err2 != nil || err3 != nil {
			break
		}
		if strings.TrimSpace(string(l)) != strconv.Itoa(lvl) || strings.TrimSpace(string(t)) == "Instruction" {
			continue
		}
		str := strings.TrimSpace(string(s))
		mul := 1
		switch {
		case strings.HasSuffix(str, "K"):
			mul, str = 1<<10, strings.TrimSuffix(str, "K")
		case strings.HasSuffix(str, "M"):
			mul, str = 1<<20, strings.TrimSuffix(str, "M")
		}
		if v, err := strconv.Atoi(str); err == nil && v > 0 {
			return v * mul
		}
	}
	return def
}
