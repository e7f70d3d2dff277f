package onnx

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// sharedDir locates ../shared beside the repository (the repo root is the folder of
// go.mod), or skips the test when it is absent.
func sharedDir(t testing.TB, sub string) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Skipf("go env GOMOD: %v", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	dir := filepath.Join(root, "..", "shared", sub)
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("%s not found: %v", dir, err)
	}
	return dir
}

// TestNodeSuite imports every model of the ONNX backend node tests. Unsupported ops
// and dtypes are expected (reported as *UnsupportedError); any other failure is a
// bug in the importer or the schema table, and so is a panic.
func TestNodeSuite(t *testing.T) {
	dir := sharedDir(t, "testdata/onnx-node")
	models, _ := filepath.Glob(filepath.Join(dir, "*", "model.onnx"))
	if len(models) == 0 {
		t.Skip("no models")
	}
	var ok, unsupported int
	var failed []string
	for _, path := range models {
		test := filepath.Base(filepath.Dir(path))
		_, err := ReadFile(path, Options{})
		var ue *UnsupportedError
		switch {
		case err == nil:
			ok++
		case errors.As(err, &ue):
			unsupported++
		default:
			failed = append(failed, test+": "+err.Error())
		}
	}
	t.Logf("%d models: %d imported, %d unsupported, %d failed", len(models), ok, unsupported, len(failed))
	if os.Getenv("ONNX_NODE_REPORT") != "" {
		os.WriteFile(os.Getenv("ONNX_NODE_REPORT"), []byte(strings.Join(failed, "\n")+"\n"), 0o644)
	}
	for _, f := range failed {
		t.Log(f)
	}
}

// TestRealModels imports the real models of ../shared/testdata/models: every one must
// import and verify, or fail only with an *UnsupportedError (contrib ops the IR lacks).
func TestRealModels(t *testing.T) {
	dir := sharedDir(t, "testdata/models")
	var models []string
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(path, ".onnx") {
			models = append(models, path)
		}
		return nil
	})
	mustImport := map[string]bool{"mnist.onnx": true, "gpt2_past.onnx": true, "TFBertForQuestionAnswering.onnx": true, "gpt2_megatron.onnx": true}
	var ok, unsupported int
	for _, path := range models {
		rel, _ := filepath.Rel(dir, path)
		g, err := ReadFile(path, Options{})
		var ue *UnsupportedError
		switch {
		case knownBadModels[rel] != "":
			if err == nil {
				t.Errorf("%s imports now (was: %s): remove it from knownBadModels", rel, knownBadModels[rel])
			}
		case err == nil:
			ok++
			if len(g.Nodes) == 0 {
				t.Errorf("%s: no nodes", path)
			}
		case errors.As(err, &ue) && !mustImport[filepath.Base(path)]:
			unsupported++
			t.Logf("%v", err)
		default:
			t.Errorf("%s: %v", path, err)
		}
	}
	t.Logf("%d models: %d imported, %d unsupported", len(models), ok, unsupported)
}

// knownBadModels are onnxruntime's fusion-test inputs that ciuic rejects, with why. Most
// are deliberately odd graphs for negative tests of ORT's optimizer.
var knownBadModels = map[string]string{
	"ort-fusion/attention_mask_no_cast.onnx":                       `LayerNormalization attribute misspelt "epsion"`,
	"ort-fusion/skip_layer_norm_no_beta.onnx":                      `LayerNormalization attribute misspelt "epsion"`,
	"ort-fusion/skip_layer_norm_no_beta_with_cast.onnx":            `LayerNormalization attribute misspelt "epsion"`,
	"ort-fusion/bias_gelu_fusion_recompute.onnx":                   "MatMul of [..., 3072] x [unk_1, unk_2, 3072]: inner dims cannot match",
	"ort-fusion/conv_clip11.onnx":                                  "Clip bounds of shape [1]; the IR requires scalars",
	"ort-fusion/fuse-conv-bn-mul-add-unsqueeze.onnx":               "declared output type disagrees with the graph",
	"ort-fusion/fuse-conv-bn-mul-add-unsqueeze.negative_axes.onnx": "declared output type disagrees with the graph",
	"ort-fusion/fuse-matmul-bn-directly-dont-fuse.onnx":            "BatchNormalization scale of size 5 for 1 channel",
	"ort-fusion/fuse-matmul-bn-only-reshape.onnx":                  "BatchNormalization scale of size 5 for 1 channel",
	"ort-fusion/fuse-matmul-bn-only-transpose.onnx":                "BatchNormalization scale of size 5 for 1 channel",
	"ort-fusion/matmul_integer_to_float_large_tensor.onnx":         "graph has no outputs",
	"ort-fusion/reshape_fusion_concat_subgraph_not_triggered.onnx": "declared output rank disagrees with Reshape's shape input",
	"ort-fusion/reshape_fusion_with_graph_inputs.onnx":             "declared output rank disagrees with Reshape's shape input",
	// Symbolic evaluation of the shape subgraphs shows these two reshape 6000 elements
	// into 120000 and 4000: ORT's C++ test only checks the fusion, never runs them.
	"ort-fusion/reshape_fusion_concat_subgraph_mul.onnx":                     "Reshape target has the wrong element count",
	"ort-fusion/reshape_fusion_multiple_values_in_initializer_tensor_1.onnx": "Reshape target has the wrong element count",
}
