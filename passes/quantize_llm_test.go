package passes_test

import (
	"bytes"
	"context"
	"os"
	"testing"

	"github.com/ciuic/ciuic/exec"
	"github.com/ciuic/ciuic/frontend/llama2c"
	"github.com/ciuic/ciuic/frontend/llama2c/generate"
	"github.com/ciuic/ciuic/frontend/llama2c/tokenizer"
	"github.com/ciuic/ciuic/ir"
	"github.com/ciuic/ciuic/passes"
)

// The floors of TestLLMTeacherForced: the measured values (docs/quantization.md), so that
// a change that makes int8 worse on a real language model fails.
const (
	llmTop1Floor       = 0.988 // share of positions whose next-token argmax agrees (measured 253/256)
	llmRefTop1Floor    = 0.988 // share of the reference text's next tokens int8 predicts (253/256)
	llmFirstDivergence = 114   // greedy int8 text equals fp32's for at least these tokens (measured 114)
)

func llmModel(t *testing.T, quant string) (*generate.Model, *passes.QuantReport) {
	t.Helper()
	ck, err := llama2c.ReadFile("../testdata/llm/stories260K.bin")
	if err != nil {
		t.Fatal(err)
	}
	g, err := llama2c.Lower(ck)
	if err != nil {
		t.Fatal(err)
	}
	res, err := passes.Run(g, passes.Config{Level: 2, Quantize: quant})
	if err != nil {
		t.Fatal(err)
	}
	if quant != "" && ir.ComputeStats(g).Ops["ciuic.DenseInt8"] == 0 {
		t.Fatalf("nothing quantized:\n%s", ir.Print(g))
	}
	s, err := exec.NewSession(g, exec.Options{Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.ReadFile("../testdata/llm/tok512.bin", ck.VocabSize)
	if err != nil {
		t.Fatal(err)
	}
	return &generate.Model{Config: ck.Config, Session: s, Tok: tok}, res.Quantization
}

func argmax(v []float32) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}

// stories260K (llama2.c) teacher-forced on the text its fp32 greedy decoding prints: the
// int8-dynamic model's next-token predictions against fp32's at every position, and the
// first token where int8's own greedy text leaves fp32's.
func TestLLMTeacherForced(t *testing.T) {
	ref, err := os.ReadFile("../testdata/llm/expected_stories260K_t0.txt")
	if err != nil {
		t.Fatal(err)
	}
	f32, _ := llmModel(t, "")
	i8, rep := llmModel(t, passes.QuantizeDynamic)
	tokens := f32.Tok.Encode(string(bytes.TrimSpace(ref)), true, false)
	tokens = tokens[:min(len(tokens), f32.Config.SeqLen)]
	ctx := context.Background()
	rf, err := f32.NewRunner()
	if err != nil {
		t.Fatal(err)
	}
	ri, err := i8.NewRunner()
	if err != nil {
		t.Fatal(err)
	}
	agree, refF32, refI8, n := 0, 0, 0, 0
	for pos := 0; pos+1 < len(tokens); pos++ {
		lf, err := rf.Forward(ctx, tokens[pos:pos+1], pos)
		if err != nil {
			t.Fatal(err)
		}
		pf := argmax(lf)
		li, err := ri.Forward(ctx, tokens[pos:pos+1], pos)
		if err != nil {
			t.Fatal(err)
		}
		pi := argmax(li)
		n++
		if pf == pi {
			agree++
		}
		if pf == tokens[pos+1] {
			refF32++
		}
		if pi == tokens[pos+1] {
			refI8++
		}
	}
	top1, refTop1 := float64(agree)/float64(n), float64(refI8)/float64(n)

	// Greedy texts, token by token.
	var outF, outI bytes.Buffer
	stF, err := f32.Generate(ctx, generate.Options{Temperature: 0, Steps: 256}, &outF)
	if err != nil {
		t.Fatal(err)
	}
	stI, err := i8.Generate(ctx, generate.Options{Temperature: 0, Steps: 256}, &outI)
	if err != nil {
		t.Fatal(err)
	}
	div := 0
	for div < min(len(stF.Tokens), len(stI.Tokens)) && stF.Tokens[div] == stI.Tokens[div] {
		div++
	}
	prefix := ""
	for i := 0; i < div; i++ {
		prev := tokenizer.BOS
		if i > 0 {
			prev = stF.Tokens[i-1]
		}
		prefix += f32.Tok.Decode(prev, stF.Tokens[i])
	}
	t.Logf("stories260K, %d teacher-forced positions: int8 top-1 agrees with fp32 at %d (%.2f%%); next reference token predicted by fp32 %d, int8 %d (%.2f%%)",
		n, agree, 100*top1, refF32, refI8, 100*refTop1)
	t.Logf("greedy text: int8 leaves fp32 at token %d of %d, after %q", div, len(stF.Tokens), prefix)
	t.Logf("quantization report: weights %.1f%% of fp32, %.1f%% of matmul FLOPs in int8", 100*rep.WeightRatio, 100*rep.IntFLOPShare)
	if top1 < llmTop1Floor || refTop1 < llmRefTop1Floor || div < min(llmFirstDivergence, len(stF.Tokens)) {
		t.Errorf("int8 below the floors: top-1 agreement %.4f (floor %g), reference top-1 %.4f (floor %g), first divergence at token %d (floor %d)",
			top1, llmTop1Floor, refTop1, llmRefTop1Floor, div, llmFirstDivergence)
	}
	if outF.String() != string(ref) {
		t.Errorf("fp32 greedy text is not llama2.c's")
	}
}
