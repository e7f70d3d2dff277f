package gemm

import (
	"fmt"
	"slices"
)

// Panels returns the packed data and the column sums (read-only): what a compiled
// plan stores so that loading it packs nothing.
func (p *PackedI8) Panels() (data []int8, colSum []int32) { return p.data, p.ColSum }

// FromPanelsI8 wraps panels and column sums packed earlier for the int8 kernel impl
// (read back from a file) without copying them. It fails if impl is unknown, if this
// CPU or build cannot run it (its assembly would fault), or if the sizes do not fit
// K×N.
func FromPanelsI8(impl string, K, N int, data []int8, colSum []int32) (*PackedI8, error) {
	kern := map[string]*KernelI8{"vnni": kernI8VNNI, "avx2": kernI8AVX2, "go": kernI8Go}[impl]
	if kern == nil {
		return nil, fmt.Errorf("unknown int8 gemm implementation %q", impl)
	}
	if !slices.Contains(AvailableI8(), impl) {
		return nil, fmt.Errorf("int8 gemm implementation %q cannot run here (have %v)", impl, AvailableI8())
	}
	if K < 0 || N < 0 || K > 1<<30 || N > 1<<30 {
		return nil, fmt.Errorf("packed int8 matrix %dx%d: bad size", K, N)
	}
	if want := (N + kern.NR - 1) / kern.NR * kern.NR * k4(K); len(data) != want {
		return nil, fmt.Errorf("packed int8 %dx%d matrix for %s needs %d bytes, got %d", K, N, impl, want, len(data))
	}
	if len(colSum) != N {
		return nil, fmt.Errorf("packed int8 %dx%d matrix: %d column sums", K, N, len(colSum))
	}
	return &PackedI8{K: K, N: N, ColSum: colSum, kern: kern, data: data}, nil
}
