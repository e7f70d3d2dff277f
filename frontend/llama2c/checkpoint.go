// Package llama2c reads llama2.c checkpoints (the legacy "version 0" .bin format that
// run.c reads) and lowers the model into ciuic's IR: one graph that runs a batch of S
// tokens at positions pos..pos+S-1 against a key/value cache held as session state, so
// the same graph prefills a prompt (S = prompt length) and decodes (S = 1).
//
// Printed form of one layer (lowered, before passes):
//
//	%xn = ciuic.RMSNorm(%x, %l0.rms_att) {epsilon: 1e-05} : f32[S, 64]
//	%q = MatMul(%xn, %l0.wq) : f32[S, 64]
//	%qr = ciuic.RoPE(%q, %pos) {head_size: 8} : f32[S, 64]
//	%kc = ciuic.KVCacheUpdate(%k_cache.0, %kr, %pos) : f32[512, 32]
//	%att = ciuic.CachedAttention(%qr, %kc, %vc, %pos) {num_heads: 8, kv_num_heads: 4} : f32[S, 64]
//	...
package llama2c

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
)

// Config is the checkpoint header: seven little-endian int32s.
type Config struct {
	Dim, HiddenDim, Layers, Heads, KVHeads, VocabSize, SeqLen int
	// SharedClassifier is true when the header's vocab_size is positive: the classifier
	// reuses the token embedding table. A negative vocab_size means a separate
	// classifier follows the other weights.
	SharedClassifier bool
}

// HeadSize is the size of one attention head.
func (c Config) HeadSize() int { return c.Dim / c.Heads }

// KVDim is the width of one position's keys (or values): KVHeads heads.
func (c Config) KVDim() int { return c.KVHeads * c.HeadSize() }

// Checkpoint is a llama2.c model: its config and weights, as run.c lays them out
// (matrices are [out, in], row-major).
type Checkpoint struct {
	Config
	TokenEmbedding []float32   // [vocab, dim]
	RMSAtt, RMSFFN [][]float32 // per layer [dim]
	WQ, WK, WV, WO [][]float32 // per layer [dim, dim], [kv_dim, dim], [kv_dim, dim], [dim, dim]
	W1, W2, W3     [][]float32 // per layer [hidden, dim], [dim, hidden], [hidden, dim]
	RMSFinal       []float32   // [dim]
	Classifier     []float32   // [vocab, dim]; the embedding table if shared
}

const headerBytes = 7 * 4

// ReadFile reads a checkpoint file.
func ReadFile(path string) (*Checkpoint, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	c, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// ParseConfig reads and checks the header.
func ParseConfig(b []byte) (Config, error) {
	if len(b) < headerBytes {
		return Config{}, fmt.Errorf("file is %d bytes, too short for the %d-byte header", len(b), headerBytes)
	}
	h := make([]int, 7)
	for i := range h {
		h[i] = int(int32(binary.LittleEndian.Uint32(b[4*i:])))
	}
	c := Config{Dim: h[0], HiddenDim: h[1], Layers: h[2], Heads: h[3], KVHeads: h[4], VocabSize: h[5], SeqLen: h[6]}
	c.SharedClassifier = c.VocabSize > 0
	if c.VocabSize < 0 {
		c.VocabSize = -c.VocabSize
	}
	// Bounds that keep every size computable in int64 without overflow (WantBytes);
	// real models are far inside them.
	for _, f := range []struct {
		name   string
		v, lim int
	}{{"dim", c.Dim, 1 << 16}, {"hidden_dim", c.HiddenDim, 1 << 18}, {"n_layers", c.Layers, 1 << 10}, {"n_heads", c.Heads, 1 << 12},
		{"n_kv_heads", c.KVHeads, 1 << 12}, {"vocab_size", c.VocabSize, 1 << 22}, {"seq_len", c.SeqLen, 1 << 22}} {
		if f.v <= 0 || f.v > f.lim {
			return c, fmt.Errorf("header: %s = %d is out of range (1..%d)", f.name, f.v, f.lim)
		}
	}
	if c.Dim%c.Heads != 0 {
		return c, fmt.Errorf("header: dim %d is not a multiple of n_heads %d", c.Dim, c.Heads)
	}
	if c.Heads%c.KVHeads != 0 {
		return c, fmt.Errorf("header: n_heads %d is not a multiple of n_kv_heads %d", c.Heads, c.KVHeads)
	}
	if c.HeadSize()%2 != 0 {
		return c, fmt.Errorf("header: head size %d is odd; RoPE rotates pairs", c.HeadSize())
	}
	return c, nil
}

// WantBytes is the size a checkpoint with this config has.
func (c Config) WantBytes() int64 {
	d, hd, l, kv, v := int64(c.Dim), int64(c.HiddenDim), int64(c.Layers), int64(c.KVDim()), int64(c.VocabSize)
	n := v*d + l*(2*d+2*d*d+2*d*kv+3*d*hd) + d + int64(c.SeqLen)*int64(c.HeadSize()) // freq_cis real+imag
	if !c.SharedClassifier {
		n += v * d
	}
	return headerBytes + 4*n
}

// Parse reads a checkpoint from the bytes of a .bin file.
func Parse(b []byte) (*Checkpoint, error) {
	cfg, err := ParseConfig(b)
	if err != nil {
		return nil, err
	}
	if want := cfg.WantBytes(); int64(len(b)) != want {
		return nil, fmt.Errorf("file is %d bytes, but a checkpoint with dim %d, hidden_dim %d, %d layers, %d heads (%d kv), vocab %d (shared classifier %v), seq_len %d is %d bytes",
			len(b), cfg.Dim, cfg.HiddenDim, cfg.Layers, cfg.Heads, cfg.KVHeads, cfg.VocabSize, cfg.SharedClassifier, cfg.SeqLen, want)
	}
	c := &Checkpoint{Config: cfg}
	off := headerBytes
	take := func(n int) []float32 {
		out := make([]float32, n)
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[off+4*i:]))
		}
		off += 4 * n
		return out
	}
	perLayer := func(n int) [][]float32 {
		out := make([][]float32, cfg.Layers)
		for l := range out {
			out[l] = take(n)
		}
		return out
	}
	d, hd, kv := cfg.Dim, cfg.HiddenDim, cfg.KVDim()
	c.TokenEmbedding = take(cfg.VocabSize * d)
	c.RMSAtt = perLayer(d)
	c.WQ = perLayer(d * d)
	c.WK = perLayer(kv * d)
	c.WV = perLayer(kv * d)
	c.WO = perLayer(d * d)
	c.RMSFFN = perLayer(d)
	c.W1 = perLayer(hd * d)
	c.W2 = perLayer(d * hd)
	c.W3 = perLayer(hd * d)
	c.RMSFinal = take(d)
	off += 4 * cfg.SeqLen * cfg.HeadSize() // freq_cis_real and freq_cis_imag: RoPE is computed, not read
	c.Classifier = c.TokenEmbedding
	if !cfg.SharedClassifier {
		c.Classifier = take(cfg.VocabSize * d)
	}
	return c, nil
}

// WeightBytes is the size of the distinct fp32 weights.
func (c *Checkpoint) WeightBytes() int64 {
	n := c.WantBytes() - headerBytes - 4*int64(c.SeqLen*c.HeadSize())
	return n
}
