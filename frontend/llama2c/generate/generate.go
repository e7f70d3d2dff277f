// Package generate runs a compiled llama2.c model to produce text: it prefills the
// prompt in one batched step, then decodes a token per step against the key/value cache
// the exec.Stepper holds as state, and writes the pieces exactly as llama2.c's run.c
// prints them.
package generate

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"time"

	"github.com/ciuic/ciuic/exec"
	"github.com/ciuic/ciuic/frontend/llama2c"
	"github.com/ciuic/ciuic/frontend/llama2c/tokenizer"
	"github.com/ciuic/ciuic/ir"
	"github.com/ciuic/ciuic/ops"
)

// Options are run.c's generation settings.
type Options struct {
	Temperature float32 // 0: greedy
	TopP        float32 // top-p (nucleus) sampling; <= 0 or >= 1 samples from everything
	Seed        uint64  // xorshift seed; must not be 0
	Steps       int     // positions to run, prompt included; <= 0 or > seq_len means seq_len
	Prompt      string
}

// Stats are what a generation measured.
type Stats struct {
	PromptTokens  int           // prompt tokens including BOS
	PrefillTokens int           // tokens run in the prefill step
	Prefill       time.Duration // the prefill step
	DecodeTokens  int           // one-token steps
	Decode        time.Duration // all one-token steps, sampling and printing included
	Tokens        []int         // every token after BOS: forced prompt tokens, then generated ones
}

// PrefillPerSec and DecodePerSec are throughputs in tokens per second.
func (s Stats) PrefillPerSec() float64 { return perSec(s.PrefillTokens, s.Prefill) }
func (s Stats) DecodePerSec() float64  { return perSec(s.DecodeTokens, s.Decode) }

func perSec(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// Model is a compiled step graph (llama2c.Lower, then passes) ready to run.
type Model struct {
	Config  llama2c.Config
	Session *exec.Session
	Tok     *tokenizer.Tokenizer
}

// NewState allocates the key/value caches of every layer: the Stepper's state.
func (m *Model) NewState() map[string]*ops.Tensor {
	st := map[string]*ops.Tensor{}
	for l := range m.Config.Layers {
		st[llama2c.KCacheName(l)] = ops.New(ir.F32, m.Config.SeqLen, m.Config.KVDim())
		st[llama2c.VCacheName(l)] = ops.New(ir.F32, m.Config.SeqLen, m.Config.KVDim())
	}
	return st
}

// Runner steps the model: each call to Forward runs tokens at pos and returns the logits
// after the last one.
type Runner struct {
	st     *exec.Stepper
	tokens *ops.Tensor
	pos    *ops.Tensor
	in     map[string]*ops.Tensor
}

// NewRunner makes a Runner with fresh caches.
func (m *Model) NewRunner() (*Runner, error) {
	st, err := m.Session.NewStepper(m.NewState())
	if err != nil {
		return nil, err
	}
	r := &Runner{st: st, pos: ops.Scalar[int64](0), in: map[string]*ops.Tensor{}}
	return r, nil
}

// Stepper is the Runner's stepper (its state is the caches).
func (r *Runner) Stepper() *exec.Stepper { return r.st }

// Forward runs tokens at positions pos, pos+1, ... and returns the logits that follow
// the last token. The slice is valid until the next call.
func (r *Runner) Forward(ctx context.Context, tokens []int, pos int) ([]float32, error) {
	if r.tokens == nil || r.tokens.Len() != len(tokens) {
		r.tokens = ops.New(ir.I64, len(tokens))
	}
	td := r.tokens.Data.([]int64)
	for i, t := range tokens {
		td[i] = int64(t)
	}
	r.pos.Data.([]int64)[0] = int64(pos)
	r.in[llama2c.InputTokens] = r.tokens
	r.in[llama2c.InputPos] = r.pos
	res, err := r.st.Step(ctx, r.in)
	if err != nil {
		return nil, err
	}
	return res.Outputs[0].F32(), nil
}

// Generate writes to w what run.c prints for these options: the prompt's pieces, the
// generated ones, then a newline. It stops after opts.Steps positions or when the model
// predicts BOS.
func (m *Model) Generate(ctx context.Context, opts Options, w io.Writer) (Stats, error) {
	var st Stats
	steps := opts.Steps
	if steps <= 0 || steps > m.Config.SeqLen {
		steps = m.Config.SeqLen
	}
	prompt := m.Tok.Encode(opts.Prompt, true, false)
	for _, t := range prompt {
		if t < 0 || t >= m.Config.VocabSize {
			return st, fmt.Errorf("prompt token %d is outside the model's vocabulary of %d", t, m.Config.VocabSize)
		}
	}
	st.PromptTokens = len(prompt)
	r, err := m.NewRunner()
	if err != nil {
		return st, err
	}
	out := bufio.NewWriter(w)
	sampler := llama2c.NewSampler(opts.Temperature, opts.TopP, opts.Seed)

	// Prefill: every prompt token that fits in the steps, in one batch.
	P := min(len(prompt), steps)
	t0 := time.Now()
	logits, err := r.Forward(ctx, prompt[:P], 0)
	if err != nil {
		return st, err
	}
	st.PrefillTokens, st.Prefill = P, time.Since(t0)

	t0 = time.Now()
	token := prompt[0]
	for pos := 0; pos < steps; {
		// The forward pass of position pos is done: logits follow token.
		var next int
		if pos < len(prompt)-1 {
			next = prompt[pos+1]
		} else {
			next = sampler.Sample(logits)
		}
		pos++
		if next == tokenizer.BOS {
			break
		}
		st.Tokens = append(st.Tokens, next)
		out.WriteString(tokenizer.Printable(m.Tok.Decode(token, next)))
		if err := out.Flush(); err != nil { // stream as run.c does (fflush per piece)
			return st, err
		}
		token = next
		if pos < steps && pos >= P {
			if logits, err = r.Forward(ctx, []int{token}, pos); err != nil {
				return st, err
			}
			st.DecodeTokens++
		}
	}
	st.Decode = time.Since(t0)
	out.WriteString("\n")
	return st, out.Flush()
}
