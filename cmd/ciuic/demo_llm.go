package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ciuic/ciuic/cmd/ciuic/demo"
	"github.com/ciuic/ciuic/cmd/internal/cli"
	"github.com/ciuic/ciuic/exec"
	"github.com/ciuic/ciuic/frontend"
	"github.com/ciuic/ciuic/frontend/llama2c"
	"github.com/ciuic/ciuic/frontend/llama2c/generate"
	"github.com/ciuic/ciuic/frontend/llama2c/tokenizer"
	"github.com/ciuic/ciuic/ir"
	"github.com/ciuic/ciuic/passes"
)

// llmDemo is the main job: the embedded llama2.c model, written out and compiled like a
// user's checkpoint (fusion at -O2, then again with int8 weights), drawn, and run to
// tell a story as llama2.c's run would, with speeds and sizes.
func llmDemo(dir string, w io.Writer) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	modelPath := filepath.Join(dir, demo.LLMFile)
	for name, data := range map[string][]byte{demo.LLMFile: demo.LLM, demo.LLMTokenizerFile: demo.LLMTokenizer} {
		if err := cli.WriteFileAtomic(filepath.Join(dir, name), data); err != nil {
			return err
		}
	}
	cfg, err := llama2c.ParseConfig(demo.LLM)
	if err != nil {
		return err
	}
	tok, err := tokenizer.Parse(demo.LLMTokenizer, cfg.VocabSize)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "model    %s: llama2.c stories260K (%s), dim %d, %d layers, %d heads (%d kv), vocab %d, context %d\n",
		modelPath, bytesString(int64(len(demo.LLM))), cfg.Dim, cfg.Layers, cfg.Heads, cfg.KVHeads, cfg.VocabSize, cfg.SeqLen)

	// Lowered, then optimised by the same pipeline as any model.
	g, err := frontend.Load(modelPath)
	if err != nil {
		return err
	}
	before := ir.ComputeStats(g)
	t0 := time.Now()
	res, err := passes.Run(g, passes.Config{Level: 2})
	if err != nil {
		return err
	}
	after := ir.ComputeStats(g)
	fmt.Fprintf(w, "compile  -O2 in %.1f ms: %d nodes -> %d (%s), fp32 weights %s\n",
		millis(time.Since(t0)), before.Nodes, after.Nodes, changes(res), bytesString(after.WeightBytes))

	dotSrc := ir.Dot(g, ir.DotOptions{})
	dotPath := filepath.Join(dir, "stories260K.dot")
	if err := cli.WriteFileAtomic(dotPath, []byte(dotSrc)); err != nil {
		return err
	}
	fmt.Fprintf(w, "graphviz %s (the optimised decode step)\n", dotPath)
	if svg, err := ir.RenderSVG(dotSrc); err != nil {
		msg, _, _ := strings.Cut(err.Error(), "\n")
		fmt.Fprintf(w, "svg      skipped: %s\n", msg)
	} else {
		svgPath := filepath.Join(dir, "stories260K.svg")
		if err := cli.WriteFileAtomic(svgPath, svg); err != nil {
			return err
		}
		fmt.Fprintf(w, "svg      %s\n", svgPath)
	}

	s, err := exec.NewSession(g, exec.Options{Workers: 1})
	if err != nil {
		return err
	}
	m := &generate.Model{Config: cfg, Session: s, Tok: tok}
	// llama2.c's documented sample: run stories260K.bin -z tok512.bin -t 1.0 -p 0.9 -s 133742.
	opts := generate.Options{Temperature: 1, TopP: 0.9, Seed: 133742, Steps: 256}
	fmt.Fprintf(w, "generate -t 1.0 -p 0.9 -s 133742 -n 256 on 1 thread (the flags of llama2.c's documented sample):\n\n")
	var story strings.Builder
	st, err := m.Generate(context.Background(), opts, io.MultiWriter(w, &story))
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\nspeed    prefill %d token(s) %.0f tok/s; decode %d tokens in %.1f ms = %.0f tok/s (llama2.c's run.c: ~6200 tok/s on one core here)\n",
		st.PrefillTokens, st.PrefillPerSec(), st.DecodeTokens, millis(st.Decode), st.DecodePerSec())

	// The same checkpoint with int8 weight matmuls, if the quantizer is built in.
	qf := cli.CompileFlags{Level: 2, SparseAttention: "exact", Quant: cli.QuantFlags{Mode: "int8-dynamic", CalibMethod: "minmax"}}
	qg, _, err := qf.Compile(modelPath)
	if err != nil {
		fmt.Fprintf(w, "int8     skipped: %v\n", err)
		return nil
	}
	qs, err := exec.NewSession(qg, exec.Options{Workers: 1})
	if err != nil {
		return err
	}
	qm := &generate.Model{Config: cfg, Session: qs, Tok: tok}
	var qstory strings.Builder
	qst, err := qm.Generate(context.Background(), opts, &qstory)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "int8     -quantize int8-dynamic: weights %s (fp32 %s); decode %.0f tok/s; story identical for %d of %d bytes\n",
		bytesString(ir.ComputeStats(qg).WeightBytes), bytesString(after.WeightBytes), qst.DecodePerSec(),
		commonPrefix(story.String(), qstory.String()), story.Len())
	return nil
}

// changes summarises what the passes did: "fuse-dense 45, ...".
func changes(r *passes.Result) string {
	var parts []string
	for _, p := range r.Passes {
		n := 0
		for _, c := range p.Changes {
			n += c
		}
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", p.Name, n))
		}
	}
	return strings.Join(parts, ", ")
}

func commonPrefix(a, b string) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}
