package ops

import (
	"slices"
	"strings"
	"testing"
	"unsafe"
)

// TestPackedInt8FromPanels: a matrix rebuilt from its stored panels and column sums
// (copied to a fresh 64-byte aligned buffer, as a mapped plan holds them) gives the same
// product as the one packed from the weights, for every int8 kernel here, i8 and u8
// weights, awkward sizes; malformed panels are refused.
func TestPackedInt8FromPanels(t *testing.T) {
	defer SetGemmInt8Impl("")
	for _, impl := range GemmInt8Impls() {
		if err := SetGemmInt8Impl(impl); err != nil {
			t.Fatal(err)
		}
		for _, K := range []int{1, 3, 15, 17, 63, 65} {
			for _, N := range []int{1, 17, 65} {
				for _, unsigned := range []bool{false, true} {
					const M = 5
					wb := make([]byte, K*N)
					for i := range wb {
						wb[i] = byte(i*37 + K)
					}
					w := MustFromSlice([]int{K, N}, unsafe.Slice((*int8)(unsafe.Pointer(&wb[0])), len(wb)))
					if unsigned {
						w = MustFromSlice([]int{K, N}, wb)
					}
					packed, err := PackInt8(nil, w)
					if err != nil {
						t.Fatal(err)
					}
					gi, flip, data, sums := packed.Panels()
					if gi != impl || flip != unsigned {
						t.Fatalf("%s: Panels says %s, flip %v", impl, gi, flip)
					}
					buf := make([]byte, len(data)+4*len(sums)+2*64)
					off := int((64 - uintptr(unsafe.Pointer(&buf[0]))%64) % 64)
					d := unsafe.Slice((*int8)(unsafe.Pointer(&buf[off])), len(data))
					copy(d, data)
					soff := off + (len(data)+63)/64*64
					s := unsafe.Slice((*int32)(unsafe.Pointer(&buf[soff])), len(sums))
					copy(s, sums)
					rebuilt, err := PackedInt8FromPanels(impl, K, N, flip, d, s)
					if err != nil {
						t.Fatalf("%s %dx%d: %v", impl, K, N, err)
					}
					a := make([]uint8, M*K)
					for i := range a {
						a[i] = uint8(i*53 + 7)
					}
					at := MustFromSlice([]int{M, K}, a)
					scales := []float32{0.01}
					y1, err := GemmInt8(nil, at, 0.02, 3, packed, scales, []int32{2}, nil, "")
					if err != nil {
						t.Fatal(err)
					}
					y2, err := GemmInt8(nil, at, 0.02, 3, rebuilt, scales, []int32{2}, nil, "")
					if err != nil {
						t.Fatal(err)
					}
					if !slices.Equal(Elems[float32](y1), Elems[float32](y2)) {
						t.Errorf("%s %dx%d unsigned=%v: rebuilt matrix gives another product", impl, K, N, unsigned)
					}
					if err := UsePackedInt8(w, rebuilt); err != nil {
						t.Errorf("%s %dx%d: UsePackedInt8: %v", impl, K, N, err)
					}
					if got, err := packedInt8For(nil, w); err != nil || got != rebuilt {
						t.Errorf("%s %dx%d: the installed matrix is not the one found for the tensor (%v)", impl, K, N, err)
					}
				}
			}
		}
	}
	bad := []struct {
		name string
		err  func() error
		want string
	}{
		{"unknown kernel", func() error { _, err := PackedInt8FromPanels("vnni9", 4, 4, false, nil, nil); return err }, "unknown"},
		{"short panels", func() error {
			_, err := PackedInt8FromPanels("go", 4, 4, false, make([]int8, 10), make([]int32, 4))
			return err
		}, "needs"},
		{"short sums", func() error {
			_, err := PackedInt8FromPanels("go", 4, 4, false, make([]int8, 64), make([]int32, 3))
			return err
		}, "column sums"},
		{"negative size", func() error { _, err := PackedInt8FromPanels("go", -1, 4, false, nil, nil); return err }, "bad size"},
	}
	for _, c := range bad {
		if err := c.err(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
	w := MustFromSlice([]int{4, 4}, make([]int8, 16))
	p, _ := PackedInt8FromPanels("go", 4, 4, true, make([]int8, 64), make([]int32, 4))
	if err := UsePackedInt8(w, p); err == nil {
		t.Errorf("UsePackedInt8 took u8 (flipped) panels for an i8 tensor")
	}
}
