package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/ciuic/ciuic/cmd/internal/cli"
	"github.com/ciuic/ciuic/exec"
	"github.com/ciuic/ciuic/frontend/llama2c"
	"github.com/ciuic/ciuic/frontend/llama2c/generate"
	"github.com/ciuic/ciuic/frontend/llama2c/tokenizer"
)

// genFlags are run.c's options (same letters, same defaults) plus ciuic's compile flags
// and -threads.
type genFlags struct {
	compile   cli.CompileFlags
	tokenizer string
	temp      float64
	topp      float64
	seed      int64
	steps     int
	prompt    string
	threads   int
}

func (f *genFlags) register(fs *flag.FlagSet) {
	f.compile.Register(fs)
	fs.StringVar(&f.tokenizer, "tokenizer", "", "llama2.c tokenizer file (default: tok512.bin, else tokenizer.bin, next to the model)")
	fs.StringVar(&f.tokenizer, "z", "", "same as -tokenizer (run.c's letter)")
	fs.Float64Var(&f.temp, "t", 1.0, "temperature; 0 = greedy")
	fs.Float64Var(&f.topp, "p", 0.9, "top-p (nucleus) sampling; outside (0, 1) samples from every token")
	fs.Int64Var(&f.seed, "s", 0, "random seed (default 0 = time, as run.c)")
	fs.IntVar(&f.steps, "n", 256, "positions to run, prompt included; 0 = the model's seq_len")
	fs.StringVar(&f.prompt, "i", "", "prompt")
	fs.IntVar(&f.threads, "threads", 1, "worker goroutines (0 = all CPUs)")
}

func runGenerate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ciuic generate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f genFlags
	f.register(fs)
	model, code := parseFlags(fs, args, "ciuic generate MODEL.bin [-tokenizer TOK] [-t TEMP] [-p TOPP] [-s SEED] [-n STEPS] [-i PROMPT] [-threads N] [compile flags]")
	if code >= 0 {
		return code
	}
	m, err := f.open(model)
	if err != nil {
		fmt.Fprintf(stderr, "ciuic generate: %v\n", err)
		return 1
	}
	opts := f.options()
	st, err := m.Generate(context.Background(), opts, stdout)
	if err != nil {
		fmt.Fprintf(stderr, "ciuic generate: %v\n", err)
		return 1
	}
	printSpeeds(stderr, st, m.Session.Workers())
	return 0
}

// options maps the flags to generation options as run.c's main does: a negative
// temperature is 0, a top-p outside [0, 1] is 0.9, seed 0 is the time.
func (f *genFlags) options() generate.Options {
	o := generate.Options{Temperature: float32(f.temp), TopP: float32(f.topp), Steps: f.steps, Prompt: f.prompt}
	if o.Temperature < 0 {
		o.Temperature = 0
	}
	if o.TopP < 0 || o.TopP > 1 {
		o.TopP = 0.9
	}
	o.Seed = uint64(f.seed)
	if f.seed <= 0 {
		o.Seed = uint64(uint32(time.Now().Unix()))
	}
	return o
}

// open compiles the checkpoint with the compile flags and loads its tokenizer.
func (f *genFlags) open(model string) (*generate.Model, error) {
	hdr := make([]byte, 28)
	fh, err := os.Open(model)
	if err != nil {
		return nil, err
	}
	_, err = io.ReadFull(fh, hdr)
	fh.Close()
	if err != nil {
		return nil, fmt.Errorf("%s: not a llama2.c checkpoint: %v", model, err)
	}
	cfg, err := llama2c.ParseConfig(hdr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", model, err)
	}
	tokPath := f.tokenizer
	if tokPath == "" {
		for _, name := range []string{"tok512.bin", "tokenizer.bin"} {
			p := filepath.Join(filepath.Dir(model), name)
			if _, err := os.Stat(p); err == nil {
				tokPath = p
				break
			}
		}
		if tokPath == "" {
			return nil, fmt.Errorf("%s: no tok512.bin or tokenizer.bin next to the model; give -tokenizer FILE", model)
		}
	}
	tok, err := tokenizer.ReadFile(tokPath, cfg.VocabSize)
	if err != nil {
		return nil, err
	}
	g, _, err := f.compile.Compile(model)
	if err != nil {
		return nil, err
	}
	s, err := exec.NewSession(g, exec.Options{Workers: f.threads})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", model, err)
	}
	return &generate.Model{Config: cfg, Session: s, Tok: tok}, nil
}

func printSpeeds(w io.Writer, st generate.Stats, workers int) {
	fmt.Fprintf(w, "prefill: %d tokens in %.2f ms (%.0f tok/s); decode: %d tokens in %.2f ms (%.0f tok/s); %d thread(s)\n",
		st.PrefillTokens, millis(st.Prefill), st.PrefillPerSec(), st.DecodeTokens, millis(st.Decode), st.DecodePerSec(), workers)
}

func millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
