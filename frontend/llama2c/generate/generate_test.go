package generate

import (
	"bytes"
	"context"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ciuic/ciuic/exec"
	"github.com/ciuic/ciuic/frontend/llama2c"
	"github.com/ciuic/ciuic/frontend/llama2c/tokenizer"
	"github.com/ciuic/ciuic/passes"
)

const (
	modelPath    = "../../../testdata/llm/stories260K.bin"
	tokPath      = "../../../testdata/llm/tok512.bin"
	expectedPath = "../../../testdata/llm/expected_stories260K_t0.txt"
)

func loadModel(t testing.TB, level, workers int) *Model {
	t.Helper()
	ck, err := llama2c.ReadFile(modelPath)
	if err != nil {
		t.Fatal(err)
	}
	g, err := llama2c.Lower(ck)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := passes.Run(g, passes.Config{Level: level}); err != nil {
		t.Fatal(err)
	}
	s, err := exec.NewSession(g, exec.Options{Workers: workers})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.ReadFile(tokPath, ck.VocabSize)
	if err != nil {
		t.Fatal(err)
	}
	return &Model{Config: ck.Config, Session: s, Tok: tok}
}

// Greedy decoding for 256 steps prints exactly what llama2.c's run prints.
func TestGreedyMatchesLlama2c(t *testing.T) {
	want, err := os.ReadFile(expectedPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, level := range []int{0, 2} {
		m := loadModel(t, level, 1)
		var out bytes.Buffer
		st, err := m.Generate(context.Background(), Options{Temperature: 0, Steps: 256}, &out)
		if err != nil {
			t.Fatal(err)
		}
		if out.String() != string(want) {
			t.Errorf("-O%d: greedy output differs from llama2.c's\n got: %q\nwant: %q", level, out.String(), want)
		}
		t.Logf("-O%d: decode %.0f tok/s", level, st.DecodePerSec())
	}
}

// run.c's second sample in doc/stories260K.md: -t 1.0 -p 0.9 -s 133742.
func TestSampledMatchesLlama2c(t *testing.T) {
	m := loadModel(t, 2, 1)
	var out bytes.Buffer
	if _, err := m.Generate(context.Background(), Options{Temperature: 1, TopP: 0.9, Seed: 133742, Steps: 256}, &out); err != nil {
		t.Fatal(err)
	}
	const want = "Once upon a time, there was a little boy named Timmy."
	if !strings.HasPrefix(out.String(), want) {
		t.Errorf("sampled output does not begin %q:\n%s", want, out.String())
	}
}

// BenchmarkDecode256 times greedy generation of 256 positions at one thread; the
// reported tok/s is the decode rate (prefill excluded).
func BenchmarkDecode256(b *testing.B) {
	m := loadModel(b, 2, 1)
	var tokens int
	var decode float64
	cpu0 := cpuTime()
	for b.Loop() {
		st, err := m.Generate(context.Background(), Options{Temperature: 0, Steps: 256}, io.Discard)
		if err != nil {
			b.Fatal(err)
		}
		tokens += st.DecodeTokens
		decode += st.Decode.Seconds()
	}
	b.ReportMetric(float64(tokens)/decode, "tok/s")
	// The machine may be shared: tokens per second of CPU time (all threads, GC
	// included) is what one dedicated core would give.
	b.ReportMetric(float64(tokens)/(cpuTime()-cpu0).Seconds(), "tok/cpu-s")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// A decode step writes the cache in place: the state tensors keep their buffers, and a
// step allocates as much at position 300 as at position 20 (nothing grows per token).
func TestDecodeStepInPlace(t *testing.T) {
	m := loadModel(t, 2, 1)
	r, err := m.NewRunner()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	state := r.Stepper().State()
	k0 := state[llama2c.KCacheName(0)]
	ptr := &k0.F32()[0]
	if _, err := r.Forward(ctx, []int{1, 400, 300}, 0); err != nil {
		t.Fatal(err)
	}
	pos := 3
	step := func() {
		if _, err := r.Forward(ctx, []int{100}, pos); err != nil {
			t.Fatal(err)
		}
		pos++
	}
	for pos < 20 {
		step()
	}
	early := testing.AllocsPerRun(50, step)
	for pos < 300 {
		step()
	}
	late := testing.AllocsPerRun(50, step)
	if late > early {
		t.Errorf("a decode step allocates %.0f times at position 300, %.0f at 20: something grows per token", late, early)
	}
	if got := state[llama2c.KCacheName(0)]; got != k0 || &got.F32()[0] != ptr {
		t.Error("the key cache was replaced or reallocated")
	}
	if row := k0.F32()[349*m.Config.KVDim():][:m.Config.KVDim()]; row[0] == 0 && row[1] == 0 {
		t.Error("position 349 of the key cache was not written in place")
	}
	t.Logf("allocations per decode step: %.0f", late)
}
