// Package safetensors reads and writes the safetensors weight format, producing ir.Tensor
// values that alias one data buffer.
//
// A safetensors file is an 8-byte little-endian header length N, N bytes of JSON header,
// then the raw data buffer:
//
//	{"fc1.weight": {"dtype": "F32", "shape": [784, 128], "data_offsets": [0, 401408]},
//	 "__metadata__": {"format": "pt"}}
//
// Offsets are relative to the start of the buffer. Every field of the header is checked
// before any tensor is handed out, so a malformed or truncated file is an error that names
// the file and the tensor, never a panic or a slice out of range.
package safetensors

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"os"
	"slices"
	"strings"

	"github.com/ciuic/ciuic/ir"
)

// MaxHeaderSize bounds the JSON header. The reference implementation uses the same limit;
// it keeps a corrupt length prefix from making us allocate gigabytes.
const MaxHeaderSize = 100 << 20

const metadataKey = "__metadata__"

// dtypes maps the safetensors dtype names to ir dtypes (and back, see dtypeName).
var dtypes = map[string]ir.DType{
	"F64": ir.F64, "F32": ir.F32, "F16": ir.F16, "BF16": ir.BF16,
	"I64": ir.I64, "I32": ir.I32, "I16": ir.I16, "I8": ir.I8,
	"U64": ir.U64, "U32": ir.U32, "U16": ir.U16, "U8": ir.U8,
	"BOOL": ir.Bool,
}

func dtypeName(d ir.DType) (string, bool) {
	for name, dt := range dtypes {
		if dt == d {
			return name, true
		}
	}
	return "", false
}

// File is an opened safetensors file. Its tensors' Data slices alias one buffer that
// belongs to the File (today a heap copy, later possibly a memory map): they must be
// treated as read-only and not used after Close.
type File struct {
	name    string
	data    []byte // the data buffer, after the header
	entries map[string]entry
	meta    map[string]string
}

type entry struct {
	dtype      ir.DType
	dtypeName  string
	shape      []int64
	begin, end int64
}

// ReadFile reads the safetensors file at path.
func ReadFile(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	return Read(f, st.Size(), path)
}

// Read reads a safetensors file of size bytes from r; name is used in error messages.
// The whole data buffer is read into memory.
func Read(r io.ReaderAt, size int64, name string) (*File, error) {
	if size < 8 {
		return nil, fmt.Errorf("%s: truncated: %d bytes, want at least 8 for the header length", name, size)
	}
	var prefix [8]byte
	if _, err := r.ReadAt(prefix[:], 0); err != nil {
		return nil, fmt.Errorf("%s: reading header length: %w", name, err)
	}
	n := leUint64(prefix[:])
	if n > MaxHeaderSize {
		return nil, fmt.Errorf("%s: header length %d exceeds the limit of %d bytes (not a safetensors file?)", name, n, MaxHeaderSize)
	}
	if int64(n) > size-8 {
		return nil, fmt.Errorf("%s: truncated: header says %d bytes, file has %d after the length prefix", name, n, size-8)
	}
	header := make([]byte, n)
	if _, err := r.ReadAt(header, 8); err != nil {
		return nil, fmt.Errorf("%s: reading header: %w", name, err)
	}
	f := &File{name: name}
	if err := f.parseHeader(header); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	bufSize := size - 8 - int64(n)
	if err := f.checkEntries(bufSize); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	f.data = make([]byte, bufSize)
	if _, err := r.ReadAt(f.data, 8+int64(n)); err != nil && !(err == io.EOF && bufSize == 0) {
		return nil, fmt.Errorf("%s: reading data: %w", name, err)
	}
	return f, nil
}

func leUint64(b []byte) uint64 {
	var v uint64
	for i := 7; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v
}

// headerEntry is one tensor's JSON description; pointers tell absent fields from zero ones.
type headerEntry struct {
	DType       *string  `json:"dtype"`
	Shape       *[]int64 `json:"shape"`
	DataOffsets *[]int64 `json:"data_offsets"`
}

// parseHeader decodes the JSON header key by key, so that duplicate names are caught
// (decoding into a map would silently keep the last one).
func (f *File) parseHeader(header []byte) error {
	dec := json.NewDecoder(bytes.NewReader(header))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return errors.New("header is not a JSON object")
	}
	f.entries = map[string]entry{}
	seenMeta := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("malformed JSON header: %v", err)
		}
		key := tok.(string) // object keys are always strings
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return fmt.Errorf("malformed JSON header at %q: %v", key, err)
		}
		if key == metadataKey {
			if seenMeta {
				return errors.New("duplicate __metadata__")
			}
			seenMeta = true
			if err := json.Unmarshal(raw, &f.meta); err != nil {
				return fmt.Errorf("__metadata__ must map strings to strings: %v", err)
			}
			continue
		}
		if _, dup := f.entries[key]; dup {
			return fmt.Errorf("duplicate tensor %q", key)
		}
		e, err := parseEntry(raw)
		if err != nil {
			return fmt.Errorf("tensor %q: %w", key, err)
		}
		f.entries[key] = e
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return fmt.Errorf("malformed JSON header: %v", err)
	}
	// Only padding may follow the object.
	rest, _ := io.ReadAll(dec.Buffered())
	if len(bytes.TrimRight(rest, " \t\r\n\x00")) != 0 {
		return errors.New("malformed JSON header: data after the closing brace")
	}
	return nil
}

func parseEntry(raw json.RawMessage) (entry, error) {
	var h headerEntry
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&h); err != nil {
		return entry{}, fmt.Errorf("malformed entry: %v", err)
	}
	switch {
	case h.DType == nil:
		return entry{}, errors.New("missing dtype")
	case h.Shape == nil:
		return entry{}, errors.New("missing shape")
	case h.DataOffsets == nil:
		return entry{}, errors.New("missing data_offsets")
	}
	dt, ok := dtypes[*h.DType]
	if !ok {
		return entry{}, fmt.Errorf("unsupported dtype %q", *h.DType)
	}
	e := entry{dtype: dt, dtypeName: *h.DType, shape: *h.Shape}
	if e.shape == nil {
		e.shape = []int64{} // "shape": [] is a scalar; keep it non-nil like the JSON
	}
	for _, d := range e.shape {
		if d < 0 {
			return entry{}, fmt.Errorf("negative dimension in shape %s", fmtShape(e.shape))
		}
	}
	offs := *h.DataOffsets
	if len(offs) != 2 {
		return entry{}, fmt.Errorf("data_offsets has %d numbers, want 2 (begin, end)", len(offs))
	}
	e.begin, e.end = offs[0], offs[1]
	if e.begin < 0 || e.end < 0 {
		return entry{}, fmt.Errorf("negative data_offsets [%d, %d]", e.begin, e.end)
	}
	if e.begin > e.end {
		return entry{}, fmt.Errorf("data_offsets [%d, %d] end before they begin", e.begin, e.end)
	}
	return e, nil
}

// byteSize is numel*elemSize, or ok=false if it overflows int64.
func byteSize(shape []int64, elemSize int) (n int64, ok bool) {
	n = int64(elemSize)
	for _, d := range shape {
		hi, lo := bits.Mul64(uint64(n), uint64(d))
		if hi != 0 || lo > 1<<62 {
			return 0, false
		}
		n = int64(lo)
	}
	return n, true
}

// checkEntries checks sizes against shapes, bounds against the buffer, and overlaps.
// It reports the first problem in name order, so the message does not depend on map order.
func (f *File) checkEntries(bufSize int64) error {
	names := f.Names()
	for _, name := range names {
		e := f.entries[name]
		want, ok := byteSize(e.shape, e.dtype.Size())
		if !ok {
			return fmt.Errorf("tensor %q: shape %s of %s is too large", name, fmtShape(e.shape), e.dtypeName)
		}
		if got := e.end - e.begin; got != want {
			return fmt.Errorf("tensor %q: data_offsets [%d, %d] give %d bytes, want %d for %s%s",
				name, e.begin, e.end, got, want, e.dtypeName, fmtShape(e.shape))
		}
		if e.end > bufSize {
			return fmt.Errorf("tensor %q: data_offsets [%d, %d] are past the end of the %d-byte data buffer (truncated file?)",
				name, e.begin, e.end, bufSize)
		}
	}
	// Gaps between tensors are allowed; overlaps are not (a writer bug would make two
	// weights share bytes).
	byBegin := slices.Clone(names)
	slices.SortStableFunc(byBegin, func(a, b string) int {
		ea, eb := f.entries[a], f.entries[b]
		if ea.begin != eb.begin {
			return cmpInt(ea.begin, eb.begin)
		}
		return cmpInt(ea.end, eb.end)
	})
	prev := ""
	for _, name := range byBegin {
		e := f.entries[name]
		if e.begin == e.end {
			continue // empty tensors occupy no bytes
		}
		if prev != "" && e.begin < f.entries[prev].end {
			p := f.entries[prev]
			return fmt.Errorf("tensors %q [%d, %d] and %q [%d, %d] overlap", prev, p.begin, p.end, name, e.begin, e.end)
		}
		prev = name
	}
	return nil
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func fmtShape(s []int64) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, d := range s {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprint(&b, d)
	}
	b.WriteByte(']')
	return b.String()
}

// Names returns the tensor names in sorted order.
func (f *File) Names() []string {
	names := make([]string, 0, len(f.entries))
	for n := range f.entries {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Tensor returns the named tensor. Its Data aliases the file's buffer.
func (f *File) Tensor(name string) (*ir.Tensor, error) {
	e, ok := f.entries[name]
	if !ok {
		return nil, fmt.Errorf("tensor %q not found in %s", name, f.name)
	}
	if f.data == nil && e.end > 0 {
		return nil, fmt.Errorf("%s: tensor %q: file is closed", f.name, name)
	}
	return &ir.Tensor{
		DType: e.dtype,
		Shape: slices.Clone(e.shape),
		Data:  f.data[e.begin:e.end:e.end], // capped, so an append cannot scribble on the next tensor
	}, nil
}

// Metadata returns a copy of the __metadata__ map (empty if the file has none).
func (f *File) Metadata() map[string]string {
	m := make(map[string]string, len(f.meta))
	for k, v := range f.meta {
		m[k] = v
	}
	return m
}

// Close releases the data buffer. Tensors returned earlier must not be used afterwards
// (with a memory map they would fault).
func (f *File) Close() error {
	f.data = nil
	return nil
}
