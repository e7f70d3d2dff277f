package codegen

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ciuic/ciuic/ir"
)

func smallPlan(t testing.TB) *Plan {
	g := ir.NewGraph("small")
	x := g.AddInput("x", ir.T(ir.F32, ir.S("N", 8)))
	w := g.AddConst("w", ir.NewTensorF32([]int64{8, 4}, []float32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32}))
	h := g.NewNode("MatMul", []*ir.Value{x, w}, nil).Outputs[0]
	g.Outputs = []*ir.Value{g.NewNode("Relu", []*ir.Value{h}, nil).Outputs[0]}
	if err := ir.InferTypes(g); err != nil {
		t.Fatal(err)
	}
	p, err := Compile(g, Options{Bindings: map[string]int64{"N": 3}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestWriteLoad(t *testing.T) {
	p := smallPlan(t)
	path := filepath.Join(t.TempDir(), "m.ciuic")
	if err := p.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	q, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if got, want := ir.Print(q.Graph), ir.Print(p.Graph); got != want {
		t.Errorf("graph after load:\n%s\nwant:\n%s", got, want)
	}
	if q.Memory.ArenaBytes != p.Memory.ArenaBytes || len(q.Packed) != 1 || q.Memory.Bindings["N"] != 3 {
		t.Errorf("loaded plan: arena %d (want %d), %d packed weights (want 1), bindings %v", q.Memory.ArenaBytes, p.Memory.ArenaBytes, len(q.Packed), q.Memory.Bindings)
	}
	if err := q.Memory.Check(q.Graph); err != nil {
		t.Error(err)
	}
	ents, _ := os.ReadDir(filepath.Dir(path))
	if len(ents) != 1 {
		t.Errorf("folder holds %d files after an atomic write, want 1", len(ents))
	}
}

// TestLoadRefuses: each way a file can be wrong gives its own message, never a panic.
func TestLoadRefuses(t *testing.T) {
	good, err := smallPlan(t).Encode()
	if err != nil {
		t.Fatal(err)
	}
	fix := func(b []byte) []byte { binary.LittleEndian.PutUint32(b[48:], checksum(b)); return b }
	edit := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	withHeader := func(old, new string) []byte {
		// Rewrite a header field and rebuild the file around it: intact but wrong.
		le := binary.LittleEndian
		hlen, woff := le.Uint64(good[24:]), le.Uint64(good[32:])
		hdr := strings.Replace(string(good[64:64+hlen]), old, new, 1)
		if hdr == string(good[64:64+hlen]) {
			t.Fatalf("header has no %q", old)
		}
		nwoff := alignUp(int64(64 + len(hdr)))
		b := make([]byte, nwoff)
		copy(b, good[:64])
		copy(b[64:], hdr)
		le.PutUint64(b[24:], uint64(len(hdr)))
		le.PutUint64(b[32:], uint64(nwoff))
		return fix(append(b, good[woff:]...))
	}
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "not a .ciuic file"},
		{"not a plan", []byte("\x08\x07ONNX model bytes"), "not a .ciuic file"},
		{"preamble only", good[:40], "truncated"},
		{"truncated", good[:len(good)-10], "truncated"},
		{"trailing data", append(append([]byte(nil), good...), 0), "trailing data"},
		{"future version", edit(func(b []byte) []byte { b[8] = 9; return b }), "format version 9"},
		{"flipped weight byte", edit(func(b []byte) []byte { b[len(b)-1] ^= 1; return b }), "checksum mismatch"},
		{"flipped header byte", edit(func(b []byte) []byte { b[70] ^= 0x20; return b }), "checksum mismatch"},
		{"wrong CPU", withHeader(`"required":[`, `"required":["avx9000",`), "this CPU lacks [avx9000]"},
		{"wrong arch", withHeader(`"arch":"`, `"arch":"x`), "compiled for x"},
		{"bad header", withHeader(`{"target"`, `["target"`), "corrupted header"},
	}
	dir := t.TempDir()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_")+".ciuic")
			if err := os.WriteFile(path, c.data, 0o644); err != nil {
				t.Fatal(err)
			}
			p, err := Load(path)
			if err == nil {
				p.Close()
				t.Fatalf("Load accepted the file")
			}
			var le *LoadError
			if !errors.As(err, &le) || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), path+": ") {
				t.Errorf("error %q, want a *LoadError naming the file and containing %q", err, c.want)
			}
		})
	}
	if _, err := Load(filepath.Join(dir, "missing.ciuic")); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing file: %v", err)
	}
}

// FuzzLoad: no input makes Decode panic. With fixCRC the checksum is recomputed first,
// so the fuzzer gets past it into the header and the tables.
func FuzzLoad(f *testing.F) {
	good, err := smallPlan(f).Encode()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good, false)
	f.Add(good, true)
	f.Add(good[:100], true)
	f.Fuzz(func(t *testing.T, data []byte, fixCRC bool) {
		if fixCRC && len(data) >= preambleSize {
			binary.LittleEndian.PutUint32(data[48:], checksum(data))
		}
		p, err := Decode(data)
		if err == nil {
			if err := p.Memory.Check(p.Graph); err != nil && p.Memory.Bindings == nil {
				t.Logf("accepted plan with inconsistent memory: %v", err)
			}
		}
	})
}
