package text

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/tools/txtar"

	"github.com/ciuic/ciuic/ir"
)

// FuzzParse checks that no input makes the parser panic, and that whatever parses also
// survives a print and parse round trip.
func FuzzParse(f *testing.F) {
	cases, _ := filepath.Glob(filepath.Join(goldenDir, "*.txtar"))
	for _, c := range cases {
		ar, err := txtar.ParseFile(c)
		if err != nil {
			f.Fatal(err)
		}
		if src, ok := section(ar, "input.ciu"); ok {
			f.Add(src)
		}
	}
	cius, _ := filepath.Glob(filepath.Join(goldenDir, "*.ciu"))
	for _, c := range cius {
		src, err := os.ReadFile(c)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src)
	}
	dir := f.TempDir() // no weights here: weights lines fail cleanly
	f.Fuzz(func(t *testing.T, src []byte) {
		g, err := Parse("fuzz.ciu", src, WeightsDir(dir))
		if err != nil {
			if _, ok := err.(ErrorList); !ok {
				t.Fatalf("error is %T, want ErrorList: %v", err, err)
			}
			return
		}
		first := ir.Print(g)
		g2, err := Parse("fuzz.ciu", []byte(first), WeightsDir(dir))
		if err != nil {
			t.Fatalf("printed graph does not parse: %v\n%s", err, first)
		}
		if second := ir.Print(g2); second != first {
			t.Fatalf("print not stable:\n%s\n%s", first, second)
		}
	})
}
