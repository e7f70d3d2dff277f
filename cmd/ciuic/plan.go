package main

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/ciuic/ciuic/codegen"
	"github.com/ciuic/ciuic/exec"
)

// isPlan reports whether model is a compiled .ciuic file.
func isPlan(model string) bool { return strings.EqualFold(filepath.Ext(model), ".ciuic") }

// openPlan loads a compiled model: no frontend, no passes, weights mapped.
func openPlan(model string, opts exec.Options) (*exec.Session, error) {
	start := time.Now()
	p, err := codegen.Load(model)
	if err != nil {
		return nil, err
	}
	s, err := exec.NewPlanSession(p, opts)
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("%s: %w", model, err)
	}
	// The load time -profile reports is the whole of it: the file checked and decoded,
	// and the session prepared (where anything the file lacks would be packed).
	p.LoadTime = time.Since(start)
	return s, nil // the mapping lives as long as the process: ciuic runs one model
}

// printPlanProfile adds the memory plan to -profile: arena bytes against the sum of
// every intermediate, and how long loading took.
func printPlanProfile(w io.Writer, s *exec.Session) {
	p := s.Plan()
	if p == nil {
		return
	}
	st := p.Stats()
	ratio := 0.0
	if st.NaiveBytes > 0 {
		ratio = float64(st.ArenaBytes) / float64(st.NaiveBytes)
	}
	gemms := "gemm " + st.Target.Gemm
	if st.Target.GemmInt8 != "" {
		gemms += ", gemm-int8 " + st.Target.GemmInt8
	}
	fmt.Fprintf(w, "\nplan: arena %s for %s of intermediates (%.1f%%), %d in place, %d views, packed weights %s (%s), loaded in %.3f ms\n",
		bytesString(st.ArenaBytes), bytesString(st.NaiveBytes), 100*ratio, st.InPlace, st.Views,
		bytesString(st.PackedBytes), gemms, st.LoadMs)
}
