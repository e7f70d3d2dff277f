//go:build linux || darwin || freebsd

package codegen

import (
	"fmt"
	"os"
	"syscall"
)

// mapFile maps path read-only: the weights are paged in as kernels touch them, and
// processes running the same model share the pages.
func mapFile(path string) ([]byte, func() error, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	size := st.Size()
	if size == 0 {
		return []byte{}, func() error { return nil }, nil
	}
	if int64(int(size)) != size {
		return nil, nil, fmt.Errorf("file of %d bytes is too large to map", size)
	}
	data, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return readFile(path)
	}
	adviseHugePages(data)
	return data, func() error { return syscall.Munmap(data) }, nil
}
