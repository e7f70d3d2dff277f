package codegen

import (
	"os"
	"unsafe"
)

// readFile is the fallback where mapping is not available: the file is read into memory
// aligned to Align, since constants and packed panels are used in place.
func readFile(path string) ([]byte, func() error, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	buf := make([]byte, st.Size()+Align)
	pad := int((Align - uintptr(unsafe.Pointer(unsafe.SliceData(buf)))%Align) % Align)
	data := buf[pad : pad+int(st.Size())]
	if _, err := f.ReadAt(data, 0); err != nil {
		return nil, nil, err
	}
	return data, func() error { return nil }, nil
}
