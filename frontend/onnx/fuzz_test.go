package onnx

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzRead feeds arbitrary bytes to the importer: any input must give a graph or an
// error, never a panic. Seeds are a few small models of the ONNX node tests.
func FuzzRead(f *testing.F) {
	for _, test := range []string{"test_add", "test_softmax_axis_1", "test_slice", "test_if", "test_constant"} {
		data, err := os.ReadFile(filepath.Join("..", "..", "..", "shared", "testdata", "onnx-node", test, "model.onnx"))
		if err == nil {
			f.Add(data)
		}
	}
	f.Add(addModel(external("w.bin", "0", "8")))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		g, err := Read(data, "fuzz.onnx", dir, Options{})
		if err == nil && g == nil {
			t.Fatal("nil graph without an error")
		}
	})
}
