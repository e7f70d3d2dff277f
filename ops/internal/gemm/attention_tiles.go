package gemm

// Tile-level access for the attention kernels (ops/internal/attn): they keep their
// operands packed across many small products (a head's keys and values, a block of
// queries) and drive the microkernel tile by tile, which Mul, packing A on every call,
// cannot do without repacking and allocating.

// Named returns the implementation called name if this CPU and build can run it.
func Named(name string) (*Kernel, bool) {
	for _, a := range Available() {
		if a == name {
			return map[string]*Kernel{"avx512": kernAVX512, "avx2": kernAVX2, "go": kernGo}[name], true
		}
	}
	return nil, false
}

// PackA packs rows [i0, i0+MR) of a, K columns, as one panel of the layout the
// microkernel reads (K groups of MR values); rows past a.M are zero. dst holds MR·K.
func (k *Kernel) PackA(dst []float32, a A, i0, K int) {
	packAPanel(dst[:k.MR*K], a, i0, k.MR, K)
}

// Micro computes one MR×NR tile: c = a·b, or c += a·b with add, over kl steps, a being
// a packed A panel (kl·MR), b kl rows of NR from a packed B panel, c's rows ldc apart.
// It allocates nothing; the caller's c must hold the whole tile.
func (k *Kernel) Micro(kl int, a, b, c []float32, ldc int, add bool) {
	_ = c[(k.MR-1)*ldc+k.NR-1] // the tile is in bounds
	if kl == 0 {
		if !add {
			for i := 0; i < k.MR; i++ {
				clear(c[i*ldc:][:k.NR])
			}
		}
		return
	}
	_, _ = a[kl*k.MR-1], b[kl*k.NR-1]
	ad := 0
	if add {
		ad = 1
	}
	micro(k, kl, a, b, c, ldc, ad, nil)
}
