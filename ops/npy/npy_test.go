package npy

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ciuic/ciuic/ir"
	"github.com/ciuic/ciuic/ops"
)

// file builds a .npy file from a version, a header dict and data bytes.
func file(major byte, dict string, data []byte) []byte {
	var b bytes.Buffer
	b.WriteString(magic)
	b.WriteByte(major)
	b.WriteByte(0)
	hdr := dict + "\n"
	if major == 1 {
		binary.Write(&b, binary.LittleEndian, uint16(len(hdr)))
	} else {
		binary.Write(&b, binary.LittleEndian, uint32(len(hdr)))
	}
	b.WriteString(hdr)
	b.Write(data)
	return b.Bytes()
}

func TestFixtures(t *testing.T) {
	cases := []struct {
		path string
		want *ops.Tensor
	}{
		{"testdata/gpt2_input_ids.npy", ops.MustFromSlice([]int{1, 8}, []int64{3, 0, 6, 2, 4, 2, 8, 0})},
		{"testdata/mnist_output.npy", ops.MustFromSlice([]int{1, 10}, []float32{-1.6329386, 0.55296576, 1.0718482,
			0.8361381, -0.979769, 0.81613374, 1.3099018, -1.0690198, -0.098830685, -3.1882858})},
	}
	for _, c := range cases {
		got, err := ReadFile(c.path)
		if err != nil {
			t.Fatal(err)
		}
		if !ops.Equal(got, c.want) {
			t.Errorf("%s: got %v, want %v", c.path, got, c.want)
		}
		// Write reproduces the file byte for byte.
		raw, _ := os.ReadFile(c.path)
		var buf bytes.Buffer
		if err := Write(&buf, got); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf.Bytes(), raw) {
			t.Errorf("%s: Write differs from the file:\n got %q\nwant %q", c.path, buf.Bytes()[:128], raw[:128])
		}
	}
}

func TestRoundTrip(t *testing.T) {
	f16, _ := ops.FromBits(ir.F16, []int{3}, []uint16{0x3c00, 0x7c00, 0x8000})
	tensors := []*ops.Tensor{
		ops.Scalar(float32(2.5)),
		ops.MustFromSlice([]int{0}, []float32{}),
		ops.MustFromSlice([]int{2, 0, 3}, []int32{}),
		ops.MustFromSlice([]int{2, 2}, []float64{1, -2, 3.5, 1e300}),
		f16,
		ops.MustFromSlice([]int{3}, []int8{-128, 0, 127}),
		ops.MustFromSlice([]int{2}, []int16{-1, 300}),
		ops.MustFromSlice([]int{1, 1, 2}, []int64{-1 << 62, 7}),
		ops.MustFromSlice([]int{2}, []uint8{0, 255}),
		ops.MustFromSlice([]int{2}, []uint16{1, 65535}),
		ops.MustFromSlice([]int{2}, []uint32{1, 1 << 31}),
		ops.MustFromSlice([]int{2}, []uint64{1, 1 << 63}),
		ops.MustFromSlice([]int{3}, []bool{true, false, true}),
	}
	dir := t.TempDir()
	for i, want := range tensors {
		path := filepath.Join(dir, "t.npy")
		if err := WriteFile(path, want); err != nil {
			t.Fatal(err)
		}
		raw, _ := os.ReadFile(path)
		if hdr := 10 + int(binary.LittleEndian.Uint16(raw[8:])); hdr%64 != 0 || raw[hdr-1] != '\n' {
			t.Errorf("case %d: data starts at %d, want a multiple of 64 after a newline", i, hdr)
		}
		got, err := ReadFile(path)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if !ops.Equal(got, want) || got.DType != want.DType {
			t.Errorf("case %d: got %v, want %v", i, got, want)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("WriteFile left temporary files: %v", entries)
	}
}

func TestVersions(t *testing.T) {
	data := []byte{1, 0, 0, 0, 2, 0, 0, 0}
	for _, v := range []byte{1, 2, 3} {
		got, err := Read(bytes.NewReader(file(v, `{"shape": (2,), 'fortran_order': False, 'descr': '<i4'}`, data)))
		if err != nil {
			t.Fatalf("version %d: %v", v, err)
		}
		if want := ops.MustFromSlice([]int{2}, []int32{1, 2}); !ops.Equal(got, want) {
			t.Errorf("version %d: got %v", v, got)
		}
	}
	// Single-byte types with any order mark; Python 2 long dims.
	got, err := Read(bytes.NewReader(file(1, `{'descr': '<u1', 'fortran_order': False, 'shape': (2L, 1L), }`, []byte{7, 9})))
	if err != nil || !ops.Equal(got, ops.MustFromSlice([]int{2, 1}, []uint8{7, 9})) {
		t.Errorf("got %v, %v", got, err)
	}
}

func TestConsecutiveArrays(t *testing.T) {
	var buf bytes.Buffer
	a, b := ops.MustFromSlice([]int{2}, []float32{1, 2}), ops.MustFromSlice([]int{1}, []int64{3})
	Write(&buf, a)
	Write(&buf, b)
	for _, want := range []*ops.Tensor{a, b} {
		got, err := Read(&buf)
		if err != nil || !ops.Equal(got, want) {
			t.Fatalf("got %v, %v; want %v", got, err, want)
		}
	}
}

func TestErrors(t *testing.T) {
	four := []byte{0, 0, 0, 0}
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "not a .npy file: file is truncated"},
		{"magic", []byte("PK\x03\x04 this is a zip"), `not a .npy file: bad magic (want \x93NUMPY)`},
		{"version", file(4, `{}`, nil), "unsupported .npy format version 4.0 (want 1.0, 2.0 or 3.0)"},
		{"fortran", file(1, `{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }`, four),
			"fortran_order True is not supported; save a C-ordered array (np.ascontiguousarray)"},
		{"big-endian", file(1, `{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }`, four),
			"big-endian data (>f4) is not supported; save it little-endian (arr.astype('<f4'))"},
		{"object", file(1, `{'descr': '|O', 'fortran_order': False, 'shape': (1,), }`, four),
			`unsupported dtype "|O" (supported: <f2 <f4 <f8 <i1 <i2 <i4 <i8 <u1 <u2 <u4 <u8 |b1)`},
		{"structured", file(1, `{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }`, four),
			`header "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }": descr: want a quoted string (structured dtypes are not supported)`},
		{"truncated data", file(1, `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`, four),
			"truncated data: f32[2 3] needs 24 bytes, file has 4"},
		{"truncated header", file(1, `{'descr': '<f4'`, nil)[:14], "header: file is truncated"},
		{"missing key", file(1, `{'descr': '<f4', 'shape': (1,)}`, four),
			`header "{'descr': '<f4', 'shape': (1,)}": missing key "fortran_order"`},
		{"one-tuple", file(1, `{'descr': '<f4', 'fortran_order': False, 'shape': (1)}`, four),
			`header "{'descr': '<f4', 'fortran_order': False, 'shape': (1)}": shape: a one-element shape needs a trailing comma: (3,)`},
		{"huge", file(1, `{'descr': '<f8', 'fortran_order': False, 'shape': (100000000, 100000000, 100000000), }`, nil),
			"shape [100000000 100000000 100000000] is too large"},
		{"bool", file(1, `{'descr': '|b1', 'fortran_order': False, 'shape': (2,), }`, []byte{1, 2}),
			"bool element 1 has byte value 2, want 0 or 1"},
	}
	for _, c := range cases {
		_, err := Read(bytes.NewReader(c.data))
		if err == nil || err.Error() != c.want {
			t.Errorf("%s: err = %v\nwant %s", c.name, err, c.want)
		}
	}
}

func TestFileErrorsNameTheFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.npy")
	raw := file(1, `{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }`, []byte{0, 0, 0, 0, 9})
	os.WriteFile(path, raw, 0o644)
	if _, err := ReadFile(path); err == nil || err.Error() != path+": unexpected bytes after the f32[1] array" {
		t.Errorf("err = %v", err)
	}
	os.WriteFile(path, raw[:len(raw)-3], 0o644)
	if _, err := ReadFile(path); err == nil || !strings.HasPrefix(err.Error(), path+": truncated data") {
		t.Errorf("err = %v", err)
	}
	if err := WriteFile(filepath.Join(dir, "bf.npy"), &ops.Tensor{DType: ir.BF16, Shape: []int{1}, Data: []uint16{0}}); err == nil ||
		!strings.Contains(err.Error(), "bf.npy: npy: cannot write bf16 tensors") {
		t.Errorf("err = %v", err)
	}
	if err := WriteFile(filepath.Join(dir, "missing", "y.npy"), ops.Scalar(float32(1))); err == nil {
		t.Error("WriteFile into a missing directory succeeded")
	}
}

func FuzzRead(f *testing.F) {
	for _, t := range []*ops.Tensor{
		ops.MustFromSlice([]int{2, 3}, []float32{1, 2, 3, 4, 5, 6}),
		ops.MustFromSlice([]int{2}, []bool{true, false}),
		ops.Scalar(int64(7)),
	} {
		var b bytes.Buffer
		Write(&b, t)
		f.Add(b.Bytes())
	}
	f.Add(file(2, `{'descr': '<f2', 'fortran_order': False, 'shape': (1,), }`, []byte{0, 0x3c}))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := Read(bytes.NewReader(data))
		if err != nil {
			return
		}
		// Whatever reads must write and read back to the same tensor.
		var b bytes.Buffer
		if err := Write(&b, got); err != nil {
			t.Fatalf("Write after Read: %v", err)
		}
		again, err := Read(&b)
		if err != nil || !ops.Equal(again, got) {
			t.Fatalf("round trip: %v, %v vs %v", err, again, got)
		}
	})
}
