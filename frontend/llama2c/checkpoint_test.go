package llama2c

import (
	"encoding/binary"
	"os"
	"strings"
	"testing"

	"github.com/ciuic/ciuic/ir"
)

const modelPath = "../../testdata/llm/stories260K.bin"

func TestReadStories260K(t *testing.T) {
	c, err := ReadFile(modelPath)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Dim: 64, HiddenDim: 172, Layers: 5, Heads: 8, KVHeads: 4, VocabSize: 512, SeqLen: 512, SharedClassifier: true}
	if c.Config != want {
		t.Errorf("config %+v, want %+v", c.Config, want)
	}
	if len(c.W2[4]) != 64*172 || len(c.RMSFinal) != 64 || &c.Classifier[0] != &c.TokenEmbedding[0] {
		t.Error("weights not laid out as run.c reads them")
	}
	g, err := Lower(c)
	if err != nil {
		t.Fatal(err)
	}
	ops := map[string]int{}
	for _, n := range g.Nodes {
		ops[n.OpName()]++
	}
	if ops["ciuic.CachedAttention"] != 5 || ops["ciuic.KVCacheUpdate"] != 10 || ops["ciuic.RoPE"] != 10 || ops["MatMul"] != 36 {
		t.Errorf("unexpected op counts %v", ops)
	}
	if got := g.Outputs[0].Type; got.String() != (ir.Type{DType: ir.F32, Shape: ir.StaticShape(1, 512)}).String() {
		t.Errorf("logits type %s", got)
	}
}

// A separate classifier (negative vocab_size) is read after the other weights.
func TestSeparateClassifier(t *testing.T) {
	b, err := os.ReadFile(modelPath)
	if err != nil {
		t.Fatal(err)
	}
	b = append([]byte{}, b...)
	binary.LittleEndian.PutUint32(b[20:], uint32(0xFFFFFE00)) // -512
	extra := make([]byte, 512*64*4)
	binary.LittleEndian.PutUint32(extra, 0x3f800000) // 1.0
	c, err := Parse(append(b, extra...))
	if err != nil {
		t.Fatal(err)
	}
	if c.SharedClassifier || c.Classifier[0] != 1 || &c.Classifier[0] == &c.TokenEmbedding[0] {
		t.Error("separate classifier not read")
	}
}

func TestParseErrors(t *testing.T) {
	b, err := os.ReadFile(modelPath)
	if err != nil {
		t.Fatal(err)
	}
	header := func(i int, v int32) []byte {
		c := append([]byte{}, b...)
		binary.LittleEndian.PutUint32(c[4*i:], uint32(v))
		return c
	}
	for _, tc := range []struct {
		b    []byte
		want string
	}{
		{b[:10], "too short"},
		{b[:1000], "file is 1000 bytes"},
		{header(0, 0), "dim = 0"},
		{header(3, 7), "not a multiple of n_heads"},
		{header(4, 3), "not a multiple of n_kv_heads"},
		{header(6, -1), "seq_len = -1"},
	} {
		_, err := Parse(tc.b)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse: %v, want an error containing %q", err, tc.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	b, err := os.ReadFile(modelPath)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b[:28])
	small := make([]byte, 28)
	for i, v := range []int32{4, 6, 1, 2, 1, 3, 2} {
		binary.LittleEndian.PutUint32(small[4*i:], uint32(v))
	}
	f.Add(small)
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseConfig(data)
		if err != nil {
			return
		}
		if w := cfg.WantBytes(); w < 1<<16 && int64(len(data)) < w {
			data = append(data, make([]byte, w-int64(len(data)))...)
		}
		c, err := Parse(data)
		if err != nil {
			return
		}
		if _, err := Lower(c); err != nil {
			t.Fatalf("a checkpoint that parses does not lower: %v", err)
		}
	})
}
