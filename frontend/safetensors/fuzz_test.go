package safetensors

import (
	"bytes"
	"testing"

	"github.com/ciuic/ciuic/ir"
)

// FuzzRead checks that no input makes Read panic, and that whatever Read accepts can be
// written back and read again to the same tensors.
func FuzzRead(f *testing.F) {
	var good bytes.Buffer
	if err := Encode(&good, sampleTensors(), map[string]string{"format": "pt"}); err != nil {
		f.Fatal(err)
	}
	f.Add(good.Bytes())
	f.Add(raw(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"U8","shape":[1],"data_offsets":[4,5]}}`, make([]byte, 8)))
	f.Add(raw(`{"a":{"dtype":"BOOL","shape":[0],"data_offsets":[0,0]}}`, nil))
	f.Add([]byte{})
	for _, tc := range readErrorCases() {
		f.Add(tc.data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := read(data, "fuzz")
		if err != nil {
			return
		}
		tensors := map[string]*ir.Tensor{}
		for _, n := range file.Names() {
			tn, err := file.Tensor(n)
			if err != nil {
				t.Fatalf("Tensor(%q) of a file Read accepted: %v", n, err)
			}
			if err := tn.Check(); err != nil {
				t.Fatalf("tensor %q: %v", n, err)
			}
			tensors[n] = tn
		}
		var buf bytes.Buffer
		if err := Encode(&buf, tensors, file.Metadata()); err != nil {
			// Names that are not valid UTF-8 are refused by the writer.
			return
		}
		again, err := read(buf.Bytes(), "again")
		if err != nil {
			t.Fatalf("re-reading the re-encoded file: %v", err)
		}
		for _, n := range again.Names() {
			a, _ := again.Tensor(n)
			b := tensors[n]
			if b == nil || !bytes.Equal(a.Data, b.Data) || a.DType != b.DType || len(a.Shape) != len(b.Shape) {
				t.Fatalf("tensor %q changed in the round trip", n)
			}
		}
	})
}
