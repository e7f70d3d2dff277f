// Package frontend loads a model from any format ciuic reads into a verified ir.Graph.
// Each format has its own sub-package (text, onnx, ...); Load picks one by file extension.
package frontend

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/ciuic/ciuic/frontend/llama2c"
	"github.com/ciuic/ciuic/frontend/onnx"
	"github.com/ciuic/ciuic/frontend/text"
	"github.com/ciuic/ciuic/ir"
)

// Formats lists the file extensions Load understands, with what they are.
var Formats = []struct{ Ext, What string }{
	{".ciu", "Ciuic model language (docs/language.md)"},
	{".onnx", "ONNX model (opsets 7 and later; external data beside the model)"},
	{".bin", "llama2.c checkpoint (lowered to one step of a KV-cached decoder)"},
}

// Load reads the model at path, choosing the frontend by its extension.
func Load(path string) (*ir.Graph, error) {
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".ciu":
		return text.ParseFile(path)
	case ".onnx":
		return onnx.ReadFile(path, onnx.Options{})
	case ".bin":
		ck, err := llama2c.ReadFile(path)
		if err != nil {
			return nil, err
		}
		g, err := llama2c.Lower(ck)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return g, nil
	default:
		var known []string
		for _, f := range Formats {
			known = append(known, f.Ext)
		}
		return nil, fmt.Errorf("%s: unknown model format %q (known: %s)", path, ext, strings.Join(known, ", "))
	}
}
