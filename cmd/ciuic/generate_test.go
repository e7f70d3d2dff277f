package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// ciuic generate prints exactly what llama2.c's run prints: greedy (-t 0, 256 steps by
// default), and a prompt's pieces followed by the generated ones.
func TestGenerateCLI(t *testing.T) {
	want, err := os.ReadFile("../../testdata/llm/expected_stories260K_t0.txt")
	if err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := run([]string{"generate", "../../testdata/llm/stories260K.bin", "-t", "0"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if out.String() != string(want) {
		t.Errorf("greedy output differs from llama2.c's:\n got: %q\nwant: %q", out.String(), want)
	}
	if !strings.Contains(errb.String(), "decode: 255 tokens") {
		t.Errorf("stderr has no decode speed: %q", errb.String())
	}

	out.Reset()
	errb.Reset()
	args := []string{"generate", "../../testdata/llm/stories260K.bin", "-tokenizer", "../../testdata/llm/tok512.bin", "-t", "0", "-n", "30", "-i", "Once upon a time, Tom", "-threads", "2"}
	if code := run(args, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if !strings.HasPrefix(out.String(), "Once upon a time, Tom") || !strings.HasSuffix(out.String(), "\n") {
		t.Errorf("prompted output %q does not start with the prompt", out.String())
	}
	if !strings.Contains(errb.String(), "prefill: 8 tokens") {
		t.Errorf("the prompt was not prefilled as one batch: %q", errb.String())
	}
}

func TestGenerateErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.bin")
	if err := os.WriteFile(bad, []byte("not a model at all, just text"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	if code := run([]string{"generate", bad}, &out, &errb); code == 0 || !strings.Contains(errb.String(), "out of range") {
		t.Errorf("bad checkpoint: exit %d, stderr %q", code, errb.String())
	}
	errb.Reset()
	model, _ := os.ReadFile("../../testdata/llm/stories260K.bin")
	lone := filepath.Join(dir, "m.bin")
	if err := os.WriteFile(lone, model, 0o644); err != nil {
		t.Fatal(err)
	}
	if code := run([]string{"generate", lone}, &out, &errb); code == 0 || !strings.Contains(errb.String(), "give -tokenizer") {
		t.Errorf("no tokenizer: exit %d, stderr %q", code, errb.String())
	}
}
