package tokenizer

import (
	"os"
	"strings"
	"testing"
)

func load(t testing.TB, path string, vocab int) *Tokenizer {
	t.Helper()
	tok, err := ReadFile(path, vocab)
	if os.IsNotExist(err) {
		t.Skipf("%s absent", path)
	}
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// decodeAll joins the pieces as run.c prints them after BOS.
func decodeAll(tok *Tokenizer, ids []int) string {
	var b strings.Builder
	prev := BOS
	for _, id := range ids {
		b.WriteString(tok.Decode(prev, id))
		prev = id
	}
	return b.String()
}

var texts = []string{
	"Once upon a time, there was a little girl named Lily.",
	"Lily's mom said, \"Lily, let's go to the park.\"\nThe end.",
	"héllo wörld — ünïcödé ✓ 日本語 🙂",
	"tabs\tand  double  spaces",
	"x",
}

// Encoding then decoding gives the text back (the dummy prefix space is dropped after
// BOS), with byte fallback for what the vocabulary lacks.
func TestRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		path  string
		vocab int
	}{{"../../../testdata/llm/tok512.bin", 512}, {"../../../../shared/testdata/llm/tokenizer.bin", 32000}} {
		tok := load(t, tc.path, tc.vocab)
		for _, text := range texts {
			ids := tok.Encode(text, true, false)
			if ids[0] != BOS {
				t.Errorf("%s: %q: first token %d, want BOS", tc.path, text, ids[0])
			}
			if got := decodeAll(tok, ids[1:]); got != text {
				t.Errorf("%s: round trip of %q gave %q (ids %v)", tc.path, text, got, ids)
			}
		}
	}
}

// Known encodings: the Llama 2 vocabulary's (as sentencepiece and llama2.c give them),
// and merges that make tok512's pieces.
func TestEncodeKnown(t *testing.T) {
	tok := load(t, "../../../../shared/testdata/llm/tokenizer.bin", 32000)
	got := tok.Encode("Hello world", true, true)
	want := []int{1, 15043, 3186, 2}
	if !equal(got, want) {
		t.Errorf("Encode(Hello world) = %v, want %v", got, want)
	}
	if got := tok.Encode("", true, false); !equal(got, []int{1}) {
		t.Errorf("Encode(\"\") = %v, want [1]", got)
	}
	small := load(t, "../../../testdata/llm/tok512.bin", 512)
	ids := small.Encode("Once upon a time", false, false)
	if len(ids) >= len("Once upon a time") {
		t.Errorf("tok512 made no merges: %v", ids)
	}
	if p := small.Vocab[ids[0]]; p != " Once" && !strings.HasPrefix(" Once", p) {
		t.Errorf("first piece %q, want a prefix of \" Once\"", p)
	}
}

func TestDecodeRules(t *testing.T) {
	tok := load(t, "../../../testdata/llm/tok512.bin", 512)
	if got := tok.Decode(BOS, 3+'A'); got != "A" {
		t.Errorf("byte token <0x41> decodes to %q", got)
	}
	sp := tok.Lookup(" a")
	if sp < 0 {
		t.Skip("no \" a\" piece")
	}
	if got := tok.Decode(BOS, sp); got != "a" {
		t.Errorf("after BOS, %q decodes to %q, want the leading space dropped", " a", got)
	}
	if got := tok.Decode(5, sp); got != " a" {
		t.Errorf("not after BOS, %q decodes to %q", " a", got)
	}
	if Printable("\x01") != "" || Printable("\n") != "\n" || Printable("ab") != "ab" {
		t.Error("Printable does not filter like safe_printf")
	}
}

func TestParseErrors(t *testing.T) {
	b, err := os.ReadFile("../../../testdata/llm/tok512.bin")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		b     []byte
		vocab int
		want  string
	}{
		{b[:2], 512, "too short"},
		{b[:100], 512, "file ends"},
		{b, 0, "must be positive"},
		{b, 100, "no room"},
	} {
		_, err := Parse(tc.b, tc.vocab)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%d bytes, %d) = %v, want an error containing %q", len(tc.b), tc.vocab, err, tc.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	b, err := os.ReadFile("../../../testdata/llm/tok512.bin")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b[:300], "hello")
	f.Fuzz(func(t *testing.T, data []byte, text string) {
		tok, err := Parse(data, 300)
		if err != nil {
			return
		}
		ids := tok.Encode(text, true, true)
		for _, id := range ids {
			if id < 0 || id >= 300 {
				t.Fatalf("Encode gave id %d outside the vocabulary", id)
			}
			tok.Decode(BOS, id)
		}
	})
}

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
