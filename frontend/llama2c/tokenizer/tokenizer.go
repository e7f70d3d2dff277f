// Package tokenizer reads llama2.c's tokenizer files and produces token ids from text
// and text from token ids, exactly as llama2.c's run.c does: byte-pair encoding that
// merges the highest-scoring pair first, byte fallback for code points not in the
// vocabulary, and decoding that drops the leading space after BOS and turns <0xHH>
// pieces into raw bytes.
//
// The file format (little endian): int32 max_token_length, then for each of the
// vocabulary's tokens a float32 score, an int32 length and that many bytes.
package tokenizer

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
)

// Special token ids of the Llama 2 sentencepiece vocabulary that llama2.c assumes.
const (
	BOS = 1 // beginning of sequence; generation stops when the model predicts it
	EOS = 2 // end of sequence
	// byteBase is the id of <0x00>: ids 3..258 are the byte-fallback tokens.
	byteBase = 3
)

// Tokenizer is a llama2.c vocabulary. It is immutable after Read.
type Tokenizer struct {
	Vocab          []string
	Scores         []float32
	MaxTokenLength int
	ids            map[string]int // piece -> lowest id with that piece
}

// ReadFile reads a tokenizer file; vocabSize is the model's vocabulary size (the file
// does not record it).
func ReadFile(path string, vocabSize int) (*Tokenizer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	t, err := Parse(b, vocabSize)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// Parse reads a tokenizer from the bytes of a tokenizer file. Errors name the byte
// offset and the token where the file stops making sense.
func Parse(b []byte, vocabSize int) (*Tokenizer, error) {
	if vocabSize <= 0 {
		return nil, fmt.Errorf("vocabulary size %d must be positive", vocabSize)
	}
	if len(b) < 4 {
		return nil, fmt.Errorf("file is %d bytes, too short for the header", len(b))
	}
	t := &Tokenizer{
		MaxTokenLength: int(int32(binary.LittleEndian.Uint32(b))),
		Vocab:          make([]string, vocabSize),
		Scores:         make([]float32, vocabSize),
		ids:            make(map[string]int, vocabSize),
	}
	off := 4
	for i := range vocabSize {
		if len(b)-off < 8 {
			return nil, fmt.Errorf("offset %d: token %d: file ends before its score and length (vocabulary size %d)", off, i, vocabSize)
		}
		t.Scores[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[off:]))
		n := int(int32(binary.LittleEndian.Uint32(b[off+4:])))
		off += 8
		if n < 0 || n > len(b)-off {
			return nil, fmt.Errorf("offset %d: token %d: length %d runs past the end of the file (%d bytes left)", off-4, i, n, len(b)-off)
		}
		// run.c keeps pieces as C strings: a NUL byte ends the piece.
		piece := b[off : off+n]
		for j, c := range piece {
			if c == 0 {
				piece = piece[:j]
				break
			}
		}
		t.Vocab[i] = string(piece)
		if _, dup := t.ids[t.Vocab[i]]; !dup {
			t.ids[t.Vocab[i]] = i
		}
		off += n
	}
	if vocabSize <= byteBase+255 {
		return nil, fmt.Errorf("vocabulary size %d has no room for the 256 byte tokens at ids %d..%d", vocabSize, byteBase, byteBase+255)
	}
	return t, nil
}

// Lookup returns the id of piece, or -1.
func (t *Tokenizer) Lookup(piece string) int {
	if id, ok := t.ids[piece]; ok {
		return id
	}
	return -1
}

// Encode turns text into token ids as run.c's encode does: optional BOS, a dummy-prefix
// space token before non-empty text, one token per UTF-8 code point (or one per byte
// where the code point is not in the vocabulary), then repeated merges of the adjacent
// pair whose merged piece has the highest score (leftmost on ties), optional EOS.
func (t *Tokenizer) Encode(text string, bos, eos bool) []int {
	tokens := make([]int, 0, len(text)+3)
	if bos {
		tokens = append(tokens, BOS)
	}
	if text != "" {
		// sentencepiece's add_dummy_prefix; run.c looks " " up and uses what it finds.
		if id := t.Lookup(" "); id >= 0 {
			tokens = append(tokens, id)
		}
	}
	for i := 0; i < len(text); {
		// A code point: a lead byte and up to three continuation bytes (run.c stops at
		// four bytes in all, and a stray continuation byte starts a point of its own).
		j := i + 1
		for j < len(text) && text[j]&0xC0 == 0x80 && j-i < 4 {
			j++
		}
		if id := t.Lookup(text[i:j]); id >= 0 {
			tokens = append(tokens, id)
		} else {
			for k := i; k < j; k++ {
				tokens = append(tokens, int(text[k])+byteBase)
			}
		}
		i = j
	}
	for {
		best, bestID, bestIdx := float32(-1e10), -1, -1
		for i := 0; i+1 < len(tokens); i++ {
			id := t.Lookup(t.Vocab[tokens[i]] + t.Vocab[tokens[i+1]])
			if id >= 0 && t.Scores[id] > best {
				best, bestID, bestIdx = t.Scores[id], id, i
			}
		}
		if bestIdx < 0 {
			break
		}
		tokens[bestIdx] = bestID
		tokens = append(tokens[:bestIdx+1], tokens[bestIdx+2:]...)
	}
	if eos {
		tokens = append(tokens, EOS)
	}
	return tokens
}

// Decode returns the bytes token stands for when it follows prev: the piece, without
// its leading space right after BOS, and a <0xHH> piece as the single byte HH. It does
// not filter unprintable bytes (see Printable).
func (t *Tokenizer) Decode(prev, token int) string {
	if token < 0 || token >= len(t.Vocab) {
		return ""
	}
	piece := t.Vocab[token]
	if prev == BOS && len(piece) > 0 && piece[0] == ' ' {
		piece = piece[1:]
	}
	if b, ok := rawByte(piece); ok {
		return string([]byte{b})
	}
	return piece
}

// rawByte reports whether piece is a byte token, as run.c's sscanf("<0x%02hhX>")
// decides: "<0x" then one or two hex digits (what follows is not checked).
func rawByte(piece string) (byte, bool) {
	if len(piece) < 4 || piece[:3] != "<0x" {
		return 0, false
	}
	v, n := 0, 0
	for _, c := range []byte(piece[3:]) {
		d, ok := hexDigit(c)
		if !ok || n == 2 {
			break
		}
		v, n = v*16+d, n+1
	}
	return byte(v), n > 0
}

func hexDigit(c byte) (int, bool) {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0'), true
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10, true
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10, true
	}
	return 0, false
}

// Printable returns what run.c's safe_printf prints for a decoded piece: nothing for
// an empty piece or a single byte that is neither printable ASCII nor whitespace (a
// control code), else the piece itself.
func Printable(piece string) string {
	if len(piece) == 1 {
		c := piece[0]
		printable := c >= 0x20 && c <= 0x7e
		space := c == ' ' || c >= '\t' && c <= '\r'
		if !printable && !space {
			return ""
		}
	}
	return piece
}
