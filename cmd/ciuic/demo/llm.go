package demo

import _ "embed"

// The demo's language model: llama2.c's stories260K (Andrej Karpathy's tinyllamas,
// MIT; provenance in testdata/llm/README.md), 1 MB, embedded so that `ciuic demo` needs
// no download.
var (
	//go:embed stories260K.bin
	LLM []byte
	//go:embed tok512.bin
	LLMTokenizer []byte
)

// LLMFile and LLMTokenizerFile are the names the demo writes them under.
const (
	LLMFile          = "stories260K.bin"
	LLMTokenizerFile = "tok512.bin"
)
