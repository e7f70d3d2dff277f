package safetensors

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ciuic/ciuic/ir"
	"github.com/google/go-cmp/cmp"
)

// raw builds a file from a literal header and data buffer.
func raw(header string, buf []byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	b = append(b, header...)
	return append(b, buf...)
}

func read(data []byte, name string) (*File, error) {
	return Read(bytes.NewReader(data), int64(len(data)), name)
}

func sampleTensors() map[string]*ir.Tensor {
	ts := map[string]*ir.Tensor{
		"fc1.weight": ir.NewTensorF32([]int64{2, 3}, []float32{1, 2, 3, 4, 5, -6.5}),
		"fc1.bias":   ir.NewTensorF32([]int64{3}, []float32{0.5, 0, -1}),
		"step":       ir.NewTensorI64(nil, []int64{42}), // scalar
		"empty":      {DType: ir.F32, Shape: []int64{0, 4}, Data: []byte{}},
		"mask":       {DType: ir.Bool, Shape: []int64{3}, Data: []byte{1, 0, 1}},
		"h":          {DType: ir.F16, Shape: []int64{1}, Data: []byte{0x00, 0x3c}},
		"b":          {DType: ir.BF16, Shape: []int64{1}, Data: []byte{0x80, 0x3f}},
		"d":          {DType: ir.F64, Shape: []int64{1}, Data: make([]byte, 8)},
		"i8":         {DType: ir.I8, Shape: []int64{2}, Data: []byte{0xff, 1}},
		"u8":         {DType: ir.U8, Shape: []int64{1}, Data: []byte{7}},
		"i16":        {DType: ir.I16, Shape: []int64{1}, Data: []byte{1, 2}},
		"u16":        {DType: ir.U16, Shape: []int64{1}, Data: []byte{1, 2}},
		"i32":        {DType: ir.I32, Shape: []int64{1}, Data: []byte{1, 2, 3, 4}},
		"u32":        {DType: ir.U32, Shape: []int64{1}, Data: []byte{1, 2, 3, 4}},
		"u64":        {DType: ir.U64, Shape: []int64{1}, Data: []byte{1, 2, 3, 4, 5, 6, 7, 8}},
		"odd/name:1": ir.NewTensorF32([]int64{1}, []float32{3}),
	}
	ts["step"].Shape = []int64{}
	return ts
}

func TestRoundTrip(t *testing.T) {
	want := sampleTensors()
	meta := map[string]string{"format": "pt", "note": `quotes " and <tags>`}
	path := filepath.Join(t.TempDir(), "model.safetensors")
	if err := Write(path, want, meta); err != nil {
		t.Fatal(err)
	}
	f, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if diff := cmp.Diff(meta, f.Metadata()); diff != "" {
		t.Errorf("metadata (-want +got):\n%s", diff)
	}
	var wantNames []string
	for n := range want {
		wantNames = append(wantNames, n)
	}
	if diff := cmp.Diff(sortedCopy(wantNames), f.Names()); diff != "" {
		t.Errorf("names (-want +got):\n%s", diff)
	}
	for _, n := range f.Names() {
		got, err := f.Tensor(n)
		if err != nil {
			t.Fatal(err)
		}
		w := want[n]
		if got.DType != w.DType || !cmp.Equal(got.Shape, w.Shape) || !bytes.Equal(got.Data, w.Data) {
			t.Errorf("tensor %q: got %s%v %x, want %s%v %x", n, got.DType, got.Shape, got.Data, w.DType, w.Shape, w.Data)
		}
		if err := got.Check(); err != nil {
			t.Errorf("tensor %q: %v", n, err)
		}
	}

	// The data buffer starts 8-aligned and every tensor is aligned to its element size.
	b, _ := os.ReadFile(path)
	n := binary.LittleEndian.Uint64(b)
	if n%8 != 0 {
		t.Errorf("header length %d is not a multiple of 8", n)
	}
	for _, name := range f.Names() {
		e := f.entries[name]
		if e.begin%int64(e.dtype.Size()) != 0 {
			t.Errorf("tensor %q at offset %d is not aligned to %d", name, e.begin, e.dtype.Size())
		}
	}
	// No temporary files are left behind.
	if ents, _ := os.ReadDir(filepath.Dir(path)); len(ents) != 1 {
		t.Errorf("folder has %d entries, want 1", len(ents))
	}
}

func sortedCopy(s []string) []string {
	s = append([]string{}, s...)
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s
}

func TestEncodeDeterministic(t *testing.T) {
	var first []byte
	for i := 0; i < 20; i++ {
		var buf bytes.Buffer
		if err := Encode(&buf, sampleTensors(), map[string]string{"a": "1", "b": "2", "c": "3"}); err != nil {
			t.Fatal(err)
		}
		if first == nil {
			first = buf.Bytes()
		} else if !bytes.Equal(first, buf.Bytes()) {
			t.Fatalf("encoding %d differs from the first", i)
		}
	}
}

func TestEncodeLayout(t *testing.T) {
	var buf bytes.Buffer
	ts := map[string]*ir.Tensor{
		"w": ir.NewTensorF32([]int64{2}, []float32{1, 2}),
		"n": ir.NewTensorI64([]int64{1}, []int64{3}),
	}
	if err := Encode(&buf, ts, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	n := binary.LittleEndian.Uint64(b)
	got := string(b[8 : 8+n])
	want := `{"__metadata__":{"format":"pt"},"n":{"dtype":"I64","shape":[1],"data_offsets":[0,8]},"w":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}`
	if strings.TrimRight(got, " ") != want {
		t.Errorf("header:\n got %s\nwant %s", got, want)
	}
	if len(got) != len(want)+(8-len(want)%8)%8 {
		t.Errorf("header padded to %d bytes, want the next multiple of 8 after %d", len(got), len(want))
	}
}

func TestWriteErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bad.safetensors")
	for _, tc := range []struct {
		tensors map[string]*ir.Tensor
		want    string
	}{
		{map[string]*ir.Tensor{"s": {DType: ir.String, Shape: []int64{1}, Strings: []string{"x"}}},
			`bad.safetensors: tensor "s": dtype string cannot be stored in safetensors`},
		{map[string]*ir.Tensor{"w": {DType: ir.F32, Shape: []int64{2}, Data: make([]byte, 4)}},
			`bad.safetensors: tensor "w": f32[2] tensor has 4 bytes of data, want 8`},
		{map[string]*ir.Tensor{"__metadata__": ir.NewTensorF32(nil, []float32{1})},
			`bad.safetensors: invalid tensor name "__metadata__"`},
		{map[string]*ir.Tensor{"x": nil}, `bad.safetensors: tensor "x" is nil`},
	} {
		err := Write(path, tc.tensors, nil)
		if err == nil || !strings.HasSuffix(err.Error(), tc.want) {
			t.Errorf("Write: got error %v, want one ending in %s", err, tc.want)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("failed writes left %d files behind", len(ents))
	}
	if err := Write(filepath.Join(dir, "no/such/dir/x.safetensors"), sampleTensors(), nil); err == nil {
		t.Errorf("Write into a missing folder succeeded")
	}
}

type readErrorCase struct {
	name string
	data []byte
	want string
}

// readErrorCases are malformed files and the error each must give; FuzzRead seeds from them.
func readErrorCases() []readErrorCase {
	f32 := func(shape string, begin, end int) string {
		return `{"dtype":"F32","shape":` + shape + `,"data_offsets":[` + itoa(begin) + `,` + itoa(end) + `]}`
	}
	return []readErrorCase{
		{"short", []byte{1, 2, 3}, "model.safetensors: truncated: 3 bytes, want at least 8 for the header length"},
		{"truncated header", append(binary.LittleEndian.AppendUint64(nil, 1234), make([]byte, 20)...),
			"model.safetensors: truncated: header says 1234 bytes, file has 20 after the length prefix"},
		{"huge header", binary.LittleEndian.AppendUint64(nil, 1<<40),
			"model.safetensors: header length 1099511627776 exceeds the limit of 104857600 bytes (not a safetensors file?)"},
		{"not an object", raw(`[1, 2]`, nil), "model.safetensors: header is not a JSON object"},
		{"malformed", raw(`{"a": {"dtype": `, nil), "model.safetensors: malformed JSON header at \"a\": unexpected EOF"},
		{"trailing", raw(`{} x`, nil), "model.safetensors: malformed JSON header: data after the closing brace"},
		{"duplicate", raw(`{"a":`+f32(`[1]`, 0, 4)+`,"a":`+f32(`[1]`, 4, 8)+`}`, make([]byte, 8)),
			`model.safetensors: duplicate tensor "a"`},
		{"missing dtype", raw(`{"a":{"shape":[1],"data_offsets":[0,4]}}`, make([]byte, 4)),
			`model.safetensors: tensor "a": missing dtype`},
		{"missing shape", raw(`{"a":{"dtype":"F32","data_offsets":[0,4]}}`, make([]byte, 4)),
			`model.safetensors: tensor "a": missing shape`},
		{"missing offsets", raw(`{"a":{"dtype":"F32","shape":[1]}}`, make([]byte, 4)),
			`model.safetensors: tensor "a": missing data_offsets`},
		{"unknown field", raw(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1}}`, make([]byte, 4)),
			`model.safetensors: tensor "a": malformed entry: json: unknown field "x"`},
		{"bad shape type", raw(`{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}`, make([]byte, 4)),
			`model.safetensors: tensor "a": malformed entry: json: cannot unmarshal number 1.5 into Go struct field headerEntry.shape of type int64`},
		{"unknown dtype", raw(`{"a":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[0,1]}}`, make([]byte, 1)),
			`model.safetensors: tensor "a": unsupported dtype "F8_E4M3"`},
		{"negative dim", raw(`{"a":`+f32(`[2,-1]`, 0, 0)+`}`, nil),
			`model.safetensors: tensor "a": negative dimension in shape [2, -1]`},
		{"three offsets", raw(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}`, make([]byte, 8)),
			`model.safetensors: tensor "a": data_offsets has 3 numbers, want 2 (begin, end)`},
		{"negative offset", raw(`{"a":`+f32(`[1]`, -4, 0)+`}`, nil),
			`model.safetensors: tensor "a": negative data_offsets [-4, 0]`},
		{"begin after end", raw(`{"a":`+f32(`[1]`, 8, 4)+`}`, make([]byte, 8)),
			`model.safetensors: tensor "a": data_offsets [8, 4] end before they begin`},
		{"size mismatch", raw(`{"fc1.weight":`+f32(`[784, 1]`, 0, 100)+`}`, make([]byte, 100)),
			`model.safetensors: tensor "fc1.weight": data_offsets [0, 100] give 100 bytes, want 3136 for F32[784, 1]`},
		{"past the end", raw(`{"a":`+f32(`[4]`, 0, 16)+`}`, make([]byte, 12)),
			`model.safetensors: tensor "a": data_offsets [0, 16] are past the end of the 12-byte data buffer (truncated file?)`},
		{"overlap", raw(`{"a":`+f32(`[2]`, 0, 8)+`,"b":`+f32(`[2]`, 4, 12)+`}`, make([]byte, 12)),
			`model.safetensors: tensors "a" [0, 8] and "b" [4, 12] overlap`},
		{"numel overflow", raw(`{"a":`+f32(`[4294967296, 4294967296]`, 0, 4)+`}`, make([]byte, 4)),
			`model.safetensors: tensor "a": shape [4294967296, 4294967296] of F32 is too large`},
		{"bad metadata", raw(`{"__metadata__":{"n":1}}`, nil),
			`model.safetensors: __metadata__ must map strings to strings: json: cannot unmarshal number into Go value of type string`},
	}
}

func TestReadErrors(t *testing.T) {
	for _, tc := range readErrorCases() {
		t.Run(tc.name, func(t *testing.T) {
			f, err := read(tc.data, "model.safetensors")
			if err == nil {
				t.Fatalf("no error, want %s (names %v)", tc.want, f.Names())
			}
			if err.Error() != tc.want {
				t.Errorf("got  %s\nwant %s", err, tc.want)
			}
		})
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestReadHandWritten(t *testing.T) {
	// A file as the reference writer lays it out, with gaps allowed between tensors and
	// an empty tensor sharing an offset with another.
	data := raw(`{"__metadata__":{"format":"np"},"b":{"dtype":"I32","shape":[],"data_offsets":[8,12]},"a":{"dtype":"U8","shape":[2,2],"data_offsets":[0,4]},"z":{"dtype":"F32","shape":[0],"data_offsets":[8,8]}}   `,
		[]byte{1, 2, 3, 4, 0xee, 0xee, 0xee, 0xee, 7, 0, 0, 0})
	f, err := read(data, "hand.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"a", "b", "z"}, f.Names()); diff != "" {
		t.Errorf("names (-want +got):\n%s", diff)
	}
	b, err := f.Tensor("b")
	if err != nil {
		t.Fatal(err)
	}
	if got := b.Int64s(); len(got) != 1 || got[0] != 7 || len(b.Shape) != 0 {
		t.Errorf("b = %v %v, want scalar 7", b.Shape, got)
	}
	if got := f.Metadata()["format"]; got != "np" {
		t.Errorf("metadata format = %q, want np", got)
	}
	if _, err := f.Tensor("x"); err == nil || err.Error() != `tensor "x" not found in hand.safetensors` {
		t.Errorf("Tensor(x): got error %v", err)
	}
	f.Close()
	if _, err := f.Tensor("a"); err == nil {
		t.Errorf("Tensor after Close succeeded")
	}
}
