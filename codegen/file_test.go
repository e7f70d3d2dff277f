package codegen

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/ciuic/ciuic/ir"
	"github.com/ciuic/ciuic/ops"
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

// int8Plan has an i8 DenseInt8 weight and a u8 MatMulInteger weight, with sizes that
// leave partial panels (N=17, 5) and a partial group of k (K=15).
func int8Plan(t testing.TB) *Plan {
	g := ir.NewGraph("int8")
	x := g.AddInput("x", ir.T(ir.F32, ir.StaticShape(3, 15)))
	wdata := make([]byte, 15*17)
	for i := range wdata {
		wdata[i] = byte(i*37 + 5)
	}
	w := g.AddConst("w", &ir.Tensor{DType: ir.I8, Shape: []int64{15, 17}, Data: wdata})
	ws := g.AddConst("ws", ir.NewTensorF32([]int64{1}, []float32{0.02}))
	d := g.NewNode("DenseInt8", []*ir.Value{x, w, ws}, nil)
	d.Domain = ir.CiuicDomain
	a := g.AddInput("a", ir.T(ir.U8, ir.StaticShape(3, 17)))
	udata := make([]byte, 17*5)
	for i := range udata {
		udata[i] = byte(i*91 + 3)
	}
	u := g.AddConst("u", &ir.Tensor{DType: ir.U8, Shape: []int64{17, 5}, Data: udata})
	m := g.NewNode("MatMulInteger", []*ir.Value{a, u}, nil)
	g.Outputs = []*ir.Value{d.Outputs[0], m.Outputs[0]}
	if err := ir.InferTypes(g); err != nil {
		t.Fatal(err)
	}
	p, err := Compile(g, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestWriteLoadInt8: the packed int8 panels and column sums come back from the file
// as they were packed, 64-byte aligned, and the target asks for the int8 kernel's
// CPU features.
func TestWriteLoadInt8(t *testing.T) {
	p := int8Plan(t)
	if len(p.PackedInt8) != 2 || p.Target.GemmInt8 != ops.GemmInt8Impl() {
		t.Fatalf("compiled %d packed int8 weights for %q, want 2 for %q", len(p.PackedInt8), p.Target.GemmInt8, ops.GemmInt8Impl())
	}
	for _, f := range gemmInt8Features[ops.GemmInt8Impl()] {
		if !slices.Contains(p.Target.Required, f) {
			t.Errorf("target requires %v, without %s (int8 kernel %s)", p.Target.Required, f, ops.GemmInt8Impl())
		}
	}
	path := filepath.Join(t.TempDir(), "m.ciuic")
	if err := p.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	q, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	byName := map[string]*ops.PackedInt8{}
	for c, pm := range q.PackedInt8 {
		byName[c.Name] = pm
	}
	for c, want := range p.PackedInt8 {
		got := byName[c.Name]
		if got == nil {
			t.Errorf("%s: not packed after load", c.Name)
			continue
		}
		gi, gf, gd, gs := got.Panels()
		wi, wf, wd, ws := want.Panels()
		if gi != wi || gf != wf || got.K != want.K || got.N != want.N || !slices.Equal(gd, wd) || !slices.Equal(gs, ws) {
			t.Errorf("%s: loaded %s flip=%v %dx%d, sums %v; packed %s flip=%v %dx%d, sums %v (or panels differ)", c.Name, gi, gf, got.K, got.N, gs, wi, wf, want.K, want.N, ws)
		}
		if uintptr(unsafe.Pointer(unsafe.SliceData(gd)))%Align != 0 || uintptr(unsafe.Pointer(unsafe.SliceData(gs)))%Align != 0 {
			t.Errorf("%s: panels or sums not %d-byte aligned", c.Name, Align)
		}
		if gf != (c.Const.DType == ir.U8) {
			t.Errorf("%s: flip %v for %s weights", c.Name, gf, c.Const.DType)
		}
	}
}

// TestCheckHostInt8: the int8 kernel's features are required even if the file's list
// lacks them.
func TestCheckHostInt8(t *testing.T) {
	for impl, want := range map[string]string{"vnni": "avx512vnni", "avx2": "avx2"} {
		tg := Target{Arch: runtime.GOARCH, Gemm: "go", GemmInt8: impl}
		if m := tg.missing(map[string]bool{}); !slices.Contains(m, want) {
			t.Errorf("int8 %s on a bare CPU: missing %v, want %s among them", impl, m, want)
		}
		if m := tg.missing(map[string]bool{"avx512f": true, "avx512bw": true, "avx512vnni": true, "avx2": true}); len(m) != 0 {
			t.Errorf("int8 %s on a full CPU: missing %v", impl, m)
		}
	}
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
	good8, err := int8Plan(t).Encode()
	if err != nil {
		t.Fatal(err)
	}
	withHeader8 := func(old, new string) []byte {
		saved := good
		good = good8
		defer func() { good = saved }()
		return withHeader(old, new)
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
		{"version 1 (int8 packed at load)", edit(func(b []byte) []byte { b[8] = 1; return b }), "format version 1, this ciuic reads version 2: compile the model again"},
		{"flipped weight byte", edit(func(b []byte) []byte { b[len(b)-1] ^= 1; return b }), "checksum mismatch"},
		{"flipped header byte", edit(func(b []byte) []byte { b[70] ^= 0x20; return b }), "checksum mismatch"},
		// The original list moves to a field Decode ignores: it may be empty (purego).
		{"wrong CPU", withHeader(`"required":`, `"required":["avx9000"],"was":`), "this CPU lacks [avx9000]"},
		{"wrong arch", withHeader(`"arch":"`, `"arch":"x`), "compiled for x"},
		{"bad header", withHeader(`{"target"`, `["target"`), "corrupted header"},
		{"int8 kernel mismatch", withHeader8(`"impl":"`+ops.GemmInt8Impl()+`","k":15`, `"impl":"other","k":15`), "packed for \"other\""},
		{"int8 panels short", withHeader8(`"k":15,"n":17`, `"k":19,"n":17`), "does not fit"},
		{"int8 sums outside", withHeader8(`"sums":`, `"sums":99999`), "outside the weights"},
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
	if good8, err := int8Plan(f).Encode(); err == nil {
		f.Add(good8, true)
	}
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

// TestChecksumHalves: the two-goroutine checksum of a large file is the plain CRC-32C
// with the checksum field left out, for even and odd sizes.
func TestChecksumHalves(t *testing.T) {
	for _, n := range []int{parallelCRCBytes, parallelCRCBytes + 1, parallelCRCBytes + 63} {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i*131 + i>>9)
		}
		want := crc32.Update(crc32.Update(0, crcTable, b[:48]), crcTable, b[52:])
		if got := checksum(b); got != want {
			t.Errorf("%d bytes: checksum %08x, want %08x", n, got, want)
		}
	}
	for _, split := range []int{0, 1, 7, 100, 4095} {
		b := []byte("a .ciuic file's bytes, split anywhere, combine to the CRC of the whole; ")
		b = append(b, make([]byte, 5000)...)
		a, c := b[:min(split, len(b))], b[min(split, len(b)):]
		got := crcCombine(crc32.Checksum(a, crcTable), crc32.Checksum(c, crcTable), int64(len(c)))
		if want := crc32.Checksum(b, crcTable); got != want {
			t.Errorf("split at %d: combined %08x, want %08x", split, got, want)
		}
	}
}

// BenchmarkChecksum: the load-time check of a 27 MB plan (gpt4l_d256_fp32's size), on
// one goroutine and as Load does it.
func BenchmarkChecksum(b *testing.B) {
	data := make([]byte, 27<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	b.Run("serial", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			crc32.Update(crc32.Update(0, crcTable, data[:48]), crcTable, data[52:])
		}
	})
	b.Run("load", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			checksum(data)
		}
	})
}
