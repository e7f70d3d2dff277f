package safetensors

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/ciuic/ciuic/ir"
)

// Write writes tensors and metadata to path as a safetensors file. The file is written
// to a temporary file in the same folder and renamed into place, so a failure never
// leaves a half-written file behind.
func Write(path string, tensors map[string]*ir.Tensor, metadata map[string]string) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	w := bufio.NewWriterSize(tmp, 1<<20)
	if err := encode(w, tensors, metadata, path); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// Encode writes tensors and metadata to w in the safetensors format. The output is
// deterministic: the same tensors give the same bytes.
func Encode(w io.Writer, tensors map[string]*ir.Tensor, metadata map[string]string) error {
	return encode(w, tensors, metadata, "safetensors")
}

func encode(w io.Writer, tensors map[string]*ir.Tensor, metadata map[string]string, name string) error {
	names := make([]string, 0, len(tensors))
	for n, t := range tensors {
		if n == "" || n == metadataKey || !utf8.ValidString(n) {
			return fmt.Errorf("%s: invalid tensor name %q", name, n)
		}
		if t == nil {
			return fmt.Errorf("%s: tensor %q is nil", name, n)
		}
		if _, ok := dtypeName(t.DType); !ok {
			return fmt.Errorf("%s: tensor %q: dtype %s cannot be stored in safetensors", name, n, t.DType)
		}
		if err := t.Check(); err != nil {
			return fmt.Errorf("%s: tensor %q: %v", name, n, err)
		}
		names = append(names, n)
	}
	// Larger elements first, then by name: every tensor then starts at a multiple of its
	// element size (the buffer itself starts 8-aligned), with no gaps. This is the order
	// the reference Python writer uses, and it is deterministic.
	slices.SortFunc(names, func(a, b string) int {
		sa, sb := tensors[a].DType.Size(), tensors[b].DType.Size()
		if sa != sb {
			return sb - sa
		}
		return strings.Compare(a, b)
	})

	var h strings.Builder
	h.WriteByte('{')
	if len(metadata) > 0 {
		h.WriteString(quote(metadataKey) + ":{")
		keys := make([]string, 0, len(metadata))
		for k := range metadata {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for i, k := range keys {
			if i > 0 {
				h.WriteByte(',')
			}
			h.WriteString(quote(k) + ":" + quote(metadata[k]))
		}
		h.WriteByte('}')
		if len(names) > 0 {
			h.WriteByte(',')
		}
	}
	var off int64
	for i, n := range names {
		t := tensors[n]
		dt, _ := dtypeName(t.DType)
		if i > 0 {
			h.WriteByte(',')
		}
		fmt.Fprintf(&h, `%s:{"dtype":%q,"shape":[`, quote(n), dt)
		for j, d := range t.Shape {
			if j > 0 {
				h.WriteByte(',')
			}
			h.WriteString(strconv.FormatInt(d, 10))
		}
		end := off + int64(len(t.Data))
		fmt.Fprintf(&h, `],"data_offsets":[%d,%d]}`, off, end)
		off = end
	}
	h.WriteByte('}')
	// Pad with spaces so the data buffer starts 8-byte aligned (readers may map it).
	for h.Len()%8 != 0 {
		h.WriteByte(' ')
	}
	if h.Len() > MaxHeaderSize {
		return fmt.Errorf("%s: header of %d bytes exceeds the limit of %d", name, h.Len(), MaxHeaderSize)
	}

	var prefix [8]byte
	for i, n := 0, uint64(h.Len()); i < 8; i, n = i+1, n>>8 {
		prefix[i] = byte(n)
	}
	if _, err := w.Write(prefix[:]); err != nil {
		return err
	}
	if _, err := io.WriteString(w, h.String()); err != nil {
		return err
	}
	for _, n := range names {
		if _, err := w.Write(tensors[n].Data); err != nil {
			return err
		}
	}
	return nil
}

// quote encodes s as a JSON string, without the HTML escaping of json.Marshal.
func quote(s string) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(s) // a string always encodes
	return strings.TrimSuffix(b.String(), "\n")
}
