package gemm

import "fmt"

// Panels returns the packed data (read-only): what a compiled plan stores so that a
// loaded model needs no packing.
func (p *Packed) Panels() []float32 { return p.data }

// FromPanels wraps panels packed earlier for the implementation impl (by PackB, read
// back from a file) without copying them. It fails if impl is unknown here or the
// panel count does not fit K×N.
func FromPanels(impl string, K, N int, data []float32) (*Packed, error) {
	kern := map[string]*Kernel{"avx512": kernAVX512, "avx2": kernAVX2, "go": kernGo}[impl]
	if kern == nil {
		return nil, fmt.Errorf("unknown gemm implementation %q", impl)
	}
	if K < 0 || N < 0 {
		return nil, fmt.Errorf("packed matrix %dx%d: negative size", K, N)
	}
	if want := (N + kern.NR - 1) / kern.NR * kern.NR * K; len(data) != want {
		return nil, fmt.Errorf("packed %dx%d matrix for %s needs %d floats, got %d", K, N, impl, want, len(data))
	}
	return &Packed{K: K, N: N, kern: kern, data: data}, nil
}
