// Package npy reads and writes NumPy .npy files as ops tensors: the format of inputs
// and outputs on disk (ciuic run -input, -output-dir; calibration data).
//
// Supported: format versions 1.0, 2.0 and 3.0; little-endian (or byte-order-free)
// dtypes <f2 <f4 <f8 <i1 <i2 <i4 <i8 <u1 <u2 <u4 <u8 |b1; C order. Anything else
// (Fortran order, big-endian data, object arrays, a truncated file) is an error that
// says what is wrong, never a panic. Write produces version 1.0 (2.0 when the header
// does not fit), as numpy.save does.
package npy

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/ciuic/ciuic/ir"
	"github.com/ciuic/ciuic/ops"
)

const magic = "\x93NUMPY"

// maxHeader bounds the header length so a corrupt length cannot make Read allocate
// gigabytes (numpy itself refuses headers over 10000 bytes by default).
const maxHeader = 1 << 20

// maxBytes bounds the data size a header may announce.
const maxBytes = 1 << 40

// descrs maps each supported dtype to its descr string as numpy writes it.
var descrs = map[ir.DType]string{
	ir.F16: "<f2", ir.F32: "<f4", ir.F64: "<f8",
	ir.I8: "|i1", ir.I16: "<i2", ir.I32: "<i4", ir.I64: "<i8",
	ir.U8: "|u1", ir.U16: "<u2", ir.U32: "<u4", ir.U64: "<u8",
	ir.Bool: "|b1",
}

// parseDescr maps a descr to a dtype. Single-byte types may be written with any byte
// order mark ('<', '|', '='), since order does not apply to them.
func parseDescr(d string) (ir.DType, error) {
	unsupported := fmt.Errorf("unsupported dtype %q (supported: <f2 <f4 <f8 <i1 <i2 <i4 <i8 <u1 <u2 <u4 <u8 |b1)", d)
	if len(d) < 3 {
		return ir.Invalid, unsupported
	}
	order, kind := d[0], d[1:]
	for dt, want := range descrs {
		if kind != want[1:] {
			continue
		}
		switch {
		case order == '<' || order == '|':
			return dt, nil
		case dt.Size() == 1 && (order == '>' || order == '='):
			return dt, nil
		case order == '>':
			return ir.Invalid, fmt.Errorf("big-endian data (%s) is not supported; save it little-endian (arr.astype('<%s'))", d, kind)
		}
	}
	return ir.Invalid, unsupported
}

// header is the parsed header dictionary.
type header struct {
	descr   string
	fortran bool
	shape   []int
}

// Read reads one .npy array from r, consuming exactly its bytes (so arrays written one
// after another can be read in turn).
func Read(r io.Reader) (*ops.Tensor, error) {
	var pre [8]byte
	if _, err := io.ReadFull(r, pre[:]); err != nil {
		return nil, fmt.Errorf("not a .npy file: %w", eofIsTruncation(err))
	}
	if string(pre[:6]) != magic {
		return nil, errors.New("not a .npy file: bad magic (want \\x93NUMPY)")
	}
	major, minor := pre[6], pre[7]
	var hlen int
	switch major {
	case 1:
		var b [2]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, fmt.Errorf("header length: %w", eofIsTruncation(err))
		}
		hlen = int(binary.LittleEndian.Uint16(b[:]))
	case 2, 3:
		var b [4]byte
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, fmt.Errorf("header length: %w", eofIsTruncation(err))
		}
		n := binary.LittleEndian.Uint32(b[:])
		if n > maxHeader {
			return nil, fmt.Errorf("header length %d is larger than %d", n, maxHeader)
		}
		hlen = int(n)
	default:
		return nil, fmt.Errorf("unsupported .npy format version %d.%d (want 1.0, 2.0 or 3.0)", major, minor)
	}
	if minor != 0 {
		return nil, fmt.Errorf("unsupported .npy format version %d.%d (want 1.0, 2.0 or 3.0)", major, minor)
	}
	hb := make([]byte, hlen)
	if _, err := io.ReadFull(r, hb); err != nil {
		return nil, fmt.Errorf("header: %w", eofIsTruncation(err))
	}
	h, err := parseHeader(string(hb))
	if err != nil {
		return nil, fmt.Errorf("header %q: %w", strings.TrimSpace(string(hb)), err)
	}
	if h.fortran {
		return nil, errors.New("fortran_order True is not supported; save a C-ordered array (np.ascontiguousarray)")
	}
	dt, err := parseDescr(h.descr)
	if err != nil {
		return nil, err
	}
	n := 1
	for _, d := range h.shape {
		if d != 0 && n > maxBytes/d {
			return nil, fmt.Errorf("shape %v is too large", h.shape)
		}
		n *= d
	}
	size := int64(n) * int64(dt.Size())
	if size > maxBytes {
		return nil, fmt.Errorf("shape %v is too large", h.shape)
	}
	// Read through a growing buffer rather than allocating size bytes up front: a
	// header may promise more data than the file holds.
	var data bytes.Buffer
	got, err := io.Copy(&data, io.LimitReader(r, size))
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	if got != size {
		return nil, fmt.Errorf("truncated data: %s%v needs %d bytes, file has %d", dt, h.shape, size, got)
	}
	return decode(dt, h.shape, data.Bytes())
}

func eofIsTruncation(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("file is truncated")
	}
	return err
}

// decode builds the tensor from little-endian element data.
func decode(dt ir.DType, shape []int, b []byte) (*ops.Tensor, error) {
	shape64 := make([]int64, len(shape))
	for i, d := range shape {
		shape64[i] = int64(d)
	}
	if dt == ir.Bool {
		for i, v := range b {
			if v > 1 {
				return nil, fmt.Errorf("bool element %d has byte value %d, want 0 or 1", i, v)
			}
		}
	}
	return ops.FromIR(&ir.Tensor{DType: dt, Shape: shape64, Data: b})
}

// ReadFile reads the .npy file at path. Errors name the file, and bytes after the
// array are an error (a file holds one array).
func ReadFile(path string) (*ops.Tensor, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	br := bufio.NewReader(f)
	t, err := Read(br)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if _, err := br.ReadByte(); err == nil {
		return nil, fmt.Errorf("%s: unexpected bytes after the %s%v array", path, t.DType, t.Shape)
	}
	return t, nil
}

// parseHeader reads the header's Python dict literal, e.g.
//
//	{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
func parseHeader(s string) (*header, error) {
	p := &lexer{s: s}
	if !p.eat('{') {
		return nil, errors.New("want a dict")
	}
	h := &header{}
	seen := map[string]bool{}
	for {
		p.space()
		if p.eat('}') {
			break
		}
		key, err := p.str()
		if err != nil {
			return nil, err
		}
		if seen[key] {
			return nil, fmt.Errorf("key %q repeated", key)
		}
		seen[key] = true
		if !p.eat(':') {
			return nil, fmt.Errorf("want ':' after %q", key)
		}
		switch key {
		case "descr":
			if h.descr, err = p.str(); err != nil {
				return nil, fmt.Errorf("descr: %w (structured dtypes are not supported)", err)
			}
		case "fortran_order":
			if h.fortran, err = p.boolean(); err != nil {
				return nil, fmt.Errorf("fortran_order: %w", err)
			}
		case "shape":
			if h.shape, err = p.tuple(); err != nil {
				return nil, fmt.Errorf("shape: %w", err)
			}
		default:
			return nil, fmt.Errorf("unexpected key %q", key)
		}
		if !p.eat(',') {
			p.space()
			if !p.eat('}') {
				return nil, errors.New("want ',' or '}'")
			}
			break
		}
	}
	if rest := strings.TrimRight(s[p.i:], " \t\n\x00"); rest != "" {
		return nil, fmt.Errorf("unexpected %q after the dict", rest)
	}
	for _, k := range []string{"descr", "fortran_order", "shape"} {
		if !seen[k] {
			return nil, fmt.Errorf("missing key %q", k)
		}
	}
	return h, nil
}

type lexer struct {
	s string
	i int
}

func (l *lexer) space() {
	for l.i < len(l.s) && (l.s[l.i] == ' ' || l.s[l.i] == '\t' || l.s[l.i] == '\n') {
		l.i++
	}
}

func (l *lexer) eat(c byte) bool {
	l.space()
	if l.i < len(l.s) && l.s[l.i] == c {
		l.i++
		return true
	}
	return false
}

// str reads a quoted string without escapes (numpy never writes any in a header).
func (l *lexer) str() (string, error) {
	l.space()
	if l.i >= len(l.s) || (l.s[l.i] != '\'' && l.s[l.i] != '"') {
		return "", errors.New("want a quoted string")
	}
	q := l.s[l.i]
	end := strings.IndexByte(l.s[l.i+1:], q)
	if end < 0 {
		return "", errors.New("unterminated string")
	}
	v := l.s[l.i+1 : l.i+1+end]
	l.i += end + 2
	return v, nil
}

func (l *lexer) boolean() (bool, error) {
	l.space()
	for _, w := range []string{"True", "False"} {
		if strings.HasPrefix(l.s[l.i:], w) {
			l.i += len(w)
			return w == "True", nil
		}
	}
	return false, errors.New("want True or False")
}

// tuple reads a tuple of non-negative ints: (), (3,), (2, 3). Python 2 wrote longs
// with an L suffix.
func (l *lexer) tuple() ([]int, error) {
	if !l.eat('(') {
		return nil, errors.New("want a tuple")
	}
	dims := []int{}
	for {
		if l.eat(')') {
			return dims, nil
		}
		l.space()
		j := l.i
		for j < len(l.s) && l.s[j] >= '0' && l.s[j] <= '9' {
			j++
		}
		if j == l.i {
			return nil, errors.New("want a non-negative integer")
		}
		d, err := strconv.Atoi(l.s[l.i:j])
		if err != nil || d > math.MaxInt32*16 {
			return nil, fmt.Errorf("dimension %s is too large", l.s[l.i:j])
		}
		dims = append(dims, d)
		l.i = j
		if l.i < len(l.s) && l.s[l.i] == 'L' {
			l.i++
		}
		if !l.eat(',') {
			if !l.eat(')') {
				return nil, errors.New("want ',' or ')'")
			}
			if len(dims) == 1 {
				// (3) is not a tuple in Python; numpy writes (3,).
				return nil, errors.New("a one-element shape needs a trailing comma: (3,)")
			}
			return dims, nil
		}
	}
}

// Write writes t to w in .npy format.
func Write(w io.Writer, t *ops.Tensor) error {
	descr, ok := descrs[t.DType]
	if !ok {
		return fmt.Errorf("npy: cannot write %s tensors (numpy has no such dtype)", t.DType)
	}
	var shape strings.Builder
	shape.WriteByte('(')
	for i, d := range t.Shape {
		if i > 0 {
			shape.WriteString(", ")
		}
		shape.WriteString(strconv.Itoa(d))
	}
	if len(t.Shape) == 1 {
		shape.WriteByte(',')
	}
	shape.WriteByte(')')
	dict := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, shape.String())

	// The header (magic, version, length, dict, padding, newline) is padded to a
	// multiple of 64 bytes so that the data is aligned, as numpy does.
	version, lenBytes := byte(1), 2
	if len(dict)+1+10 > math.MaxUint16 {
		version, lenBytes = 2, 4
	}
	pre := len(magic) + 2 + lenBytes
	total := pre + len(dict) + 1
	pad := (64 - total%64) % 64
	hlen := len(dict) + pad + 1

	bw := bufio.NewWriter(w)
	bw.WriteString(magic)
	bw.WriteByte(version)
	bw.WriteByte(0)
	if version == 1 {
		binary.Write(bw, binary.LittleEndian, uint16(hlen))
	} else {
		binary.Write(bw, binary.LittleEndian, uint32(hlen))
	}
	bw.WriteString(dict)
	bw.WriteString(strings.Repeat(" ", pad))
	bw.WriteByte('\n')
	bw.Write(t.ToIR().Data)
	return bw.Flush()
}

// WriteFile writes t to path atomically: into a temporary file in the same directory,
// renamed over path only once complete, so a reader never sees half a file.
func WriteFile(path string, t *ops.Tensor) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	err = Write(f, t)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
