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
