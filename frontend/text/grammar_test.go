package text

import (
	"os"
	"strings"
	"testing"
)

const (
	docPath      = "../../docs/language.md"
	grammarBegin = "<!-- grammar:begin -->\n```ebnf\n"
	grammarEnd   = "```\n<!-- grammar:end -->"
)

// TestGrammarDoc keeps the grammar in docs/language.md equal to the parser's.
func TestGrammarDoc(t *testing.T) {
	doc, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	before, rest, ok := strings.Cut(string(doc), grammarBegin)
	if !ok {
		t.Fatalf("%s: no %q marker", docPath, grammarBegin)
	}
	inDoc, after, ok := strings.Cut(rest, grammarEnd)
	if !ok {
		t.Fatalf("%s: no %q marker", docPath, grammarEnd)
	}
	want := Grammar() + "\n"
	if inDoc == want {
		return
	}
	if !*update {
		t.Fatalf("grammar in %s is out of date (go test ./frontend/text -update); parser's grammar:\n%s", docPath, want)
	}
	out := before + grammarBegin + want + grammarEnd + after
	tmp := docPath + ".tmp"
	if err := os.WriteFile(tmp, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, docPath); err != nil {
		t.Fatal(err)
	}
}
