package conformance

import (
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "add newly passing tests to testdata/onnx-node/expected_pass.txt")

const suiteDir = "../../testdata/onnx-node"

// TestSuite runs every ONNX node test and holds ciuic to the committed list of tests
// that pass: a listed test that no longer passes fails the build. With -update, tests
// that newly pass are added to the list (tests are never removed by -update: a
// regression must be fixed, or removed from the list by hand with a reason).
func TestSuite(t *testing.T) {
	listPath := filepath.Join(suiteDir, "expected_pass.txt")
	expected := readList(t, listPath)
	dirs, err := Find(suiteDir)
	if err != nil {
		t.Fatal(err)
	}
	var sum Summary
	var newlyPassing []string
	seen := map[string]bool{}
	for _, r := range RunAll(dirs, Options{}, 0, nil) {
		sum.Add(r.Result)
		seen[r.Name] = true
		switch {
		case expected[r.Name] && r.Status != Pass:
			t.Errorf("%s (expected to pass)", r.Result)
		case !expected[r.Name] && r.Status == Pass:
			newlyPassing = append(newlyPassing, r.Name)
		}
	}
	for name := range expected {
		if !seen[name] {
			t.Errorf("%s is listed in %s but there is no such test", name, listPath)
		}
	}
	t.Logf("%d passed, %d failed, %d skipped (of %d)", sum.Passed, sum.Failed, sum.Skipped, len(dirs))
	if len(newlyPassing) == 0 {
		return
	}
	if !*update {
		t.Logf("%d tests pass that %s does not list (add them with -update): %s",
			len(newlyPassing), listPath, strings.Join(newlyPassing, " "))
		return
	}
	for _, n := range newlyPassing {
		expected[n] = true
	}
	names := make([]string, 0, len(expected))
	for n := range expected {
		names = append(names, n)
	}
	sort.Strings(names)
	data := "# ONNX node tests that ciuic passes; checked by TestSuite, extended with -update.\n" +
		strings.Join(names, "\n") + "\n"
	if err := writeAtomic(listPath, []byte(data)); err != nil {
		t.Fatal(err)
	}
}

func readList(t *testing.T, path string) map[string]bool {
	t.Helper()
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) && *update {
		return map[string]bool{}
	}
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]bool{}
	for _, line := range strings.Split(string(data), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			m[line] = true
		}
	}
	return m
}

// writeAtomic writes data to path through a temporary file and a rename, so an
// interrupted -update never leaves a half-written list.
func writeAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
