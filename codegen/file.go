package codegen

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"
	"unsafe"

	"github.com/ciuic/ciuic/ir"
	"github.com/ciuic/ciuic/ops"
)

// The .ciuic file:
//
//	offset  size  field
//	0       8     magic "CIUIC\x00PL"
//	8       4     format version (little-endian uint32)
//	12      4     reserved, 0
//	16      8     header offset (64)
//	24      8     header length
//	32      8     weights offset (a multiple of 64)
//	40      8     weights length
//	48      4     CRC-32C of bytes 0..47, the header and the weights
//	52      12    reserved, 0
//	64            header: JSON (fileHeader), then zero padding to a multiple of 64
//	              weights: constants, packed f32 GEMM panels, packed int8 panels and
//	              their column sums (int32), each 64-byte aligned
//
// The weights are mapped, not read: constants and panels alias the mapping.
//
// Version 2 added the packed int8 weights (Packed8); version 1 files held them raw
// only and are refused.
const (
	Magic        = "CIUIC\x00PL"
	Version      = 2
	preambleSize = 64
)

type fileHeader struct {
	Target   Target           `json:"target"`
	Graph    fileGraph        `json:"graph"`
	Kernels  []KernelChoice   `json:"kernels"`
	Sched    Schedule         `json:"schedule"`
	Bindings map[string]int64 `json:"bindings,omitempty"`
	Arena    int64            `json:"arena_bytes"`
	Naive    int64            `json:"intermediate_bytes_sum"`
	// Memory has one entry per value of Graph.Values, in that order.
	Memory []fileValuePlan `json:"memory"`
	After  [][]int         `json:"after"`
	Packed []filePacked    `json:"packed"`
	// Packed8 are the packed 8-bit weights of MatMulInteger and ciuic.DenseInt8.
	Packed8 []filePacked8 `json:"packed_int8,omitempty"`
}

type fileGraph struct {
	Name    string      `json:"name"`
	Values  []fileValue `json:"values"` // inputs, constants, node outputs, in that order
	Inputs  int         `json:"inputs"` // how many of Values are graph inputs
	Consts  []fileConst `json:"consts"` // the next len(Consts) values
	Nodes   []fileNode  `json:"nodes"`
	Outputs []int       `json:"outputs"`
}

type fileValue struct {
	Name  string   `json:"name"`
	DType string   `json:"dtype"`
	Shape []string `json:"shape"` // "8", "N" or "?"
}

type fileConst struct {
	Offset  int64    `json:"offset"` // in the weights section
	Bytes   int64    `json:"bytes"`
	Strings []string `json:"strings,omitempty"`
}

type fileNode struct {
	Name    string              `json:"name,omitempty"`
	Op      string              `json:"op"`
	Domain  string              `json:"domain,omitempty"`
	Group   string              `json:"group,omitempty"`
	Inputs  []int               `json:"inputs"` // value index, -1 for omitted
	Outputs []int               `json:"outputs"`
	Attrs   map[string]fileAttr `json:"attrs,omitempty"`
}

type fileAttr struct {
	Kind   string      `json:"kind"`
	Int    int64       `json:"i,omitempty"`
	Float  float32     `json:"f,omitempty"`
	Str    string      `json:"s,omitempty"`
	Ints   []int64     `json:"ints,omitempty"`
	Floats []float32   `json:"floats,omitempty"`
	Strs   []string    `json:"strings,omitempty"`
	Tensor *fileTensor `json:"t,omitempty"`
	Graph  *fileSub    `json:"g,omitempty"`
}

type fileTensor struct {
	DType   string   `json:"dtype"`
	Shape   []int64  `json:"shape"`
	Data    []byte   `json:"data,omitempty"`
	Strings []string `json:"strings,omitempty"`
}

// fileSub is a subgraph attribute (If, Loop, Scan bodies): small, so its constants
// travel inline in the header.
type fileSub struct {
	Graph  fileGraph     `json:"graph"`
	Consts []*fileTensor `json:"const_data"`
}

type fileValuePlan struct {
	Storage Storage `json:"s"`
	Shape   []int   `json:"shape,omitempty"`
	Offset  int64   `json:"off,omitempty"`
	Bytes   int64   `json:"bytes,omitempty"`
	Alias   int     `json:"alias,omitempty"` // value index + 1; 0: none
	InPlace bool    `json:"inplace,omitempty"`
}

type filePacked struct {
	Const  int    `json:"const"` // value index
	Impl   string `json:"impl"`
	K      int    `json:"k"`
	N      int    `json:"n"`
	Offset int64  `json:"offset"`
	Bytes  int64  `json:"bytes"`
}

type filePacked8 struct {
	Const  int    `json:"const"` // value index
	Impl   string `json:"impl"`  // int8 GEMM implementation: vnni, avx2, go
	K      int    `json:"k"`
	N      int    `json:"n"`
	Flip   bool   `json:"flip,omitempty"` // u8 weights, stored as s8 w-128
	Offset int64  `json:"offset"`         // panels
	Bytes  int64  `json:"bytes"`
	Sums   int64  `json:"sums"` // offset of the N int32 column sums
}

// weightsBuf collects the weights section.
type weightsBuf struct{ b []byte }

func (w *weightsBuf) add(data []byte) (int64, int64) {
	off := alignUp(int64(len(w.b)))
	w.b = append(w.b, make([]byte, off-int64(len(w.b)))...)
	w.b = append(w.b, data...)
	return off, int64(len(data))
}

// valueIndex numbers the values of g: inputs, constants, node outputs.
func valueIndex(g *ir.Graph) ([]*ir.Value, map[*ir.Value]int) {
	var vals []*ir.Value
	idx := map[*ir.Value]int{}
	add := func(v *ir.Value) {
		if v != nil {
			if _, ok := idx[v]; !ok {
				idx[v] = len(vals)
				vals = append(vals, v)
			}
		}
	}
	for _, v := range g.Inputs {
		add(v)
	}
	for _, v := range g.Consts {
		add(v)
	}
	for _, n := range g.Nodes {
		for _, o := range n.Outputs {
			add(o)
		}
	}
	return vals, idx
}

func encodeShape(s ir.Shape) []string {
	out := make([]string, len(s))
	for i, d := range s {
		out[i] = d.String()
	}
	return out
}

func encodeTensor(t *ir.Tensor) *fileTensor {
	return &fileTensor{DType: t.DType.String(), Shape: t.Shape, Data: t.Data, Strings: t.Strings}
}

// encodeGraph encodes g; with w, constant data goes to the weights section, else inline.
func encodeGraph(g *ir.Graph, w *weightsBuf) (fileGraph, []*fileTensor, map[*ir.Value]int, error) {
	vals, idx := valueIndex(g)
	fg := fileGraph{Name: g.Name, Inputs: len(g.Inputs)}
	for _, v := range vals {
		fg.Values = append(fg.Values, fileValue{Name: v.Name, DType: v.Type.DType.String(), Shape: encodeShape(v.Type.Shape)})
	}
	var inline []*fileTensor
	for _, c := range g.Consts {
		if w != nil {
			off, n := w.add(c.Const.Data)
			fg.Consts = append(fg.Consts, fileConst{Offset: off, Bytes: n, Strings: c.Const.Strings})
		} else {
			fg.Consts = append(fg.Consts, fileConst{})
			inline = append(inline, encodeTensor(c.Const))
		}
	}
	for _, n := range g.Nodes {
		fn := fileNode{Name: n.Name, Op: n.Op, Domain: n.Domain, Group: n.Group}
		for _, in := range n.Inputs {
			if in == nil {
				fn.Inputs = append(fn.Inputs, -1)
				continue
			}
			i, ok := idx[in]
			if !ok {
				return fg, nil, nil, fmt.Errorf("node %s reads %s, which is not in the graph", n.Ref(), in)
			}
			fn.Inputs = append(fn.Inputs, i)
		}
		for _, o := range n.Outputs {
			if o == nil {
				fn.Outputs = append(fn.Outputs, -1)
			} else {
				fn.Outputs = append(fn.Outputs, idx[o])
			}
		}
		if len(n.Attrs) > 0 {
			fn.Attrs = map[string]fileAttr{}
		}
		for name, a := range n.Attrs {
			fa := fileAttr{Kind: a.Kind.String(), Int: a.Int, Float: a.Float, Str: a.Str, Ints: a.Ints, Floats: a.Floats, Strs: a.Strs}
			if a.Kind == ir.AttrTensor && a.Tensor != nil {
				fa.Tensor = encodeTensor(a.Tensor)
			}
			if a.Kind == ir.AttrGraph && a.Graph != nil {
				sg, consts, _, err := encodeGraph(a.Graph, nil)
				if err != nil {
					return fg, nil, nil, err
				}
				fa.Graph = &fileSub{Graph: sg, Consts: consts}
			}
			fn.Attrs[name] = fa
		}
		fg.Nodes = append(fg.Nodes, fn)
	}
	for _, o := range g.Outputs {
		i, ok := idx[o]
		if !ok {
			return fg, nil, nil, fmt.Errorf("graph output %s is not computed in the graph", o)
		}
		fg.Outputs = append(fg.Outputs, i)
	}
	return fg, inline, idx, nil
}

// Encode serialises the plan as a .ciuic file.
func (p *Plan) Encode() ([]byte, error) {
	var w weightsBuf
	fg, _, idx, err := encodeGraph(p.Graph, &w)
	if err != nil {
		return nil, err
	}
	h := fileHeader{Target: p.Target, Graph: fg, Kernels: p.Kernels, Sched: p.Sched,
		Bindings: p.Memory.Bindings, Arena: p.Memory.ArenaBytes, Naive: p.Memory.NaiveBytes, After: p.Memory.After}
	vals, _ := valueIndex(p.Graph)
	for _, v := range vals {
		vp := p.Memory.Values[v]
		if vp == nil {
			vp = &ValuePlan{Storage: External}
		}
		fv := fileValuePlan{Storage: vp.Storage, Shape: vp.Shape, Offset: vp.Offset, Bytes: vp.Bytes, InPlace: vp.InPlace}
		if vp.Alias != nil {
			fv.Alias = idx[vp.Alias] + 1
		}
		h.Memory = append(h.Memory, fv)
	}
	consts := make([]*ir.Value, 0, len(p.Packed))
	for c := range p.Packed {
		consts = append(consts, c)
	}
	sort.Slice(consts, func(i, j int) bool { return idx[consts[i]] < idx[consts[j]] })
	for _, c := range consts {
		impl, data := p.Packed[c].Panels()
		raw := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(data))), 4*len(data))
		off, n := w.add(raw)
		h.Packed = append(h.Packed, filePacked{Const: idx[c], Impl: impl, K: p.Packed[c].K, N: p.Packed[c].N, Offset: off, Bytes: n})
	}
	consts = consts[:0]
	for c := range p.PackedInt8 {
		consts = append(consts, c)
	}
	sort.Slice(consts, func(i, j int) bool { return idx[consts[i]] < idx[consts[j]] })
	for _, c := range consts {
		pm := p.PackedInt8[c]
		impl, flip, data, sums := pm.Panels()
		off, n := w.add(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(data))), len(data)))
		soff, _ := w.add(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(sums))), 4*len(sums)))
		h.Packed8 = append(h.Packed8, filePacked8{Const: idx[c], Impl: impl, K: pm.K, N: pm.N, Flip: flip, Offset: off, Bytes: n, Sums: soff})
	}
	hdr, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	woff := alignUp(preambleSize + int64(len(hdr)))
	out := make([]byte, woff, woff+int64(len(w.b)))
	copy(out, Magic)
	le := binary.LittleEndian
	le.PutUint32(out[8:], Version)
	le.PutUint64(out[16:], preambleSize)
	le.PutUint64(out[24:], uint64(len(hdr)))
	le.PutUint64(out[32:], uint64(woff))
	le.PutUint64(out[40:], uint64(len(w.b)))
	copy(out[preambleSize:], hdr)
	out = append(out, w.b...)
	le.PutUint32(out[48:], checksum(out))
	return out, nil
}

// WriteFile writes the plan to path atomically (a temporary file in the same folder,
// then a rename): a reader sees the old file or the complete new one.
func (p *Plan) WriteFile(path string) error {
	data, err := p.Encode()
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Chmod(tmp, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// LoadError is why a .ciuic file was refused.
type LoadError struct {
	Path string
	Msg  string
}

func (e *LoadError) Error() string {
	if e.Path == "" {
		return e.Msg
	}
	return e.Path + ": " + e.Msg
}

// ErrNotPlan is wrapped by the error for a file that does not start with Magic.
var ErrNotPlan = errors.New("not a .ciuic file")

// Load maps and checks a .ciuic file: magic, version, checksum, and that this CPU has
// the features the plan was compiled for. Every failure is a *LoadError that names
// the file and the problem. Close the plan to unmap it.
func Load(path string) (*Plan, error) {
	start := time.Now()
	data, unmap, err := mapFile(path)
	if err != nil {
		return nil, &LoadError{Path: path, Msg: err.Error()}
	}
	p, err := Decode(data)
	if err != nil {
		unmap()
		var le *LoadError
		if errors.As(err, &le) {
			le.Path = path
			return nil, le
		}
		return nil, &LoadError{Path: path, Msg: err.Error()}
	}
	p.close = unmap
	p.LoadTime = time.Since(start)
	return p, nil
}

func loadErr(format string, args ...any) error { return &LoadError{Msg: fmt.Sprintf(format, args...)} }

// Decode checks and decodes a .ciuic file held in data. The plan's constants and
// packed weights alias data, which must stay unchanged while the plan is used.
func Decode(data []byte) (*Plan, error) {
	if len(data) < len(Magic) || !bytes.Equal(data[:len(Magic)], []byte(Magic)) {
		return nil, &LoadError{Msg: ErrNotPlan.Error() + " (bad magic)"}
	}
	if len(data) < preambleSize {
		return nil, loadErr("truncated: %d bytes, shorter than the %d-byte preamble", len(data), preambleSize)
	}
	le := binary.LittleEndian
	if v := le.Uint32(data[8:]); v != Version {
		return nil, loadErr("format version %d, this ciuic reads version %d: compile the model again with this ciuicc", v, Version)
	}
	hoff, hlen := le.Uint64(data[16:]), le.Uint64(data[24:])
	woff, wlen := le.Uint64(data[32:]), le.Uint64(data[40:])
	size := uint64(len(data))
	if hoff != preambleSize || hlen > size || woff%Align != 0 || woff < hoff+hlen || wlen > size || woff > size-wlen {
		if woff <= size && wlen <= size && woff+wlen > size {
			return nil, loadErr("truncated: %d bytes, the sections end at %d", size, woff+wlen)
		}
		return nil, loadErr("corrupted preamble (header %d+%d, weights %d+%d, file %d bytes)", hoff, hlen, woff, wlen, size)
	}
	if woff+wlen != size {
		return nil, loadErr("%d bytes of trailing data after the weights", size-woff-wlen)
	}
	if got, want := checksum(data), le.Uint32(data[48:]); got != want {
		return nil, loadErr("checksum mismatch (CRC-32C %08x, header says %08x): the file is corrupted", got, want)
	}
	var h fileHeader
	if err := json.Unmarshal(data[hoff:hoff+hlen], &h); err != nil {
		return nil, loadErr("corrupted header: %v", err)
	}
	if err := h.Target.CheckHost(); err != nil {
		return nil, loadErr("%v", err)
	}
	weights := data[woff : woff+wlen]
	p, err := decodePlan(&h, weights)
	if err != nil {
		return nil, loadErr("corrupted header: %v", err)
	}
	return p, nil
}

func parseDType(s string) (ir.DType, error) {
	dt, ok := ir.ParseDType(s)
	if !ok {
		return ir.Invalid, fmt.Errorf("unknown dtype %q", s)
	}
	return dt, nil
}

func parseShape(s []string) (ir.Shape, error) {
	out := make(ir.Shape, len(s))
	for i, d := range s {
		switch {
		case d == "?":
			out[i] = ir.Unknown()
		case d != "" && d[0] >= '0' && d[0] <= '9':
			var n int64
			if _, err := fmt.Sscan(d, &n); err != nil || n < 0 {
				return nil, fmt.Errorf("bad dim %q", d)
			}
			out[i] = ir.Static(n)
		case d != "":
			out[i] = ir.Sym(d)
		default:
			return nil, fmt.Errorf("empty dim")
		}
	}
	return out, nil
}

func decodeTensor(ft *fileTensor) (*ir.Tensor, error) {
	if ft == nil {
		return nil, fmt.Errorf("missing tensor")
	}
	dt, err := parseDType(ft.DType)
	if err != nil {
		return nil, err
	}
	t := &ir.Tensor{DType: dt, Shape: ft.Shape, Data: ft.Data, Strings: ft.Strings}
	if err := t.Check(); err != nil {
		return nil, err
	}
	return t, nil
}

var attrKinds = map[string]ir.AttrKind{}

func init() {
	for k := ir.AttrInt; k <= ir.AttrGraph; k++ {
		attrKinds[k.String()] = k
	}
}

// decodeGraph rebuilds a graph; constant data comes from weights (top level) or inline.
func decodeGraph(fg *fileGraph, weights []byte, inline []*fileTensor, depth int) (*ir.Graph, []*ir.Value, error) {
	if depth > 16 {
		return nil, nil, fmt.Errorf("subgraphs nested too deep")
	}
	if fg.Inputs < 0 || fg.Inputs+len(fg.Consts) > len(fg.Values) {
		return nil, nil, fmt.Errorf("graph %q: %d inputs and %d constants but %d values", fg.Name, fg.Inputs, len(fg.Consts), len(fg.Values))
	}
	if weights == nil && len(inline) != len(fg.Consts) {
		return nil, nil, fmt.Errorf("graph %q: %d constants, %d with data", fg.Name, len(fg.Consts), len(inline))
	}
	g := ir.NewGraph(fg.Name)
	vals := make([]*ir.Value, len(fg.Values))
	types := make([]ir.Type, len(fg.Values))
	for i, fv := range fg.Values {
		dt, err := parseDType(fv.DType)
		if err != nil {
			return nil, nil, fmt.Errorf("value %q: %v", fv.Name, err)
		}
		sh, err := parseShape(fv.Shape)
		if err != nil {
			return nil, nil, fmt.Errorf("value %q: %v", fv.Name, err)
		}
		types[i] = ir.T(dt, sh)
	}
	for i := 0; i < fg.Inputs; i++ {
		vals[i] = g.AddInput(fg.Values[i].Name, types[i])
	}
	for k, fc := range fg.Consts {
		i := fg.Inputs + k
		var t *ir.Tensor
		if weights != nil {
			dims, ok := types[i].Shape.Ints()
			if !ok {
				return nil, nil, fmt.Errorf("constant %q has a non-static shape", fg.Values[i].Name)
			}
			if fc.Offset < 0 || fc.Bytes < 0 || fc.Offset > int64(len(weights)) || fc.Bytes > int64(len(weights))-fc.Offset {
				return nil, nil, fmt.Errorf("constant %q: data [%d, +%d) outside the weights", fg.Values[i].Name, fc.Offset, fc.Bytes)
			}
			t = &ir.Tensor{DType: types[i].DType, Shape: dims, Data: weights[fc.Offset : fc.Offset+fc.Bytes : fc.Offset+fc.Bytes], Strings: fc.Strings}
			if err := t.Check(); err != nil {
				return nil, nil, fmt.Errorf("constant %q: %v", fg.Values[i].Name, err)
			}
		} else {
			var err error
			if t, err = decodeTensor(inline[k]); err != nil {
				return nil, nil, fmt.Errorf("constant %q: %v", fg.Values[i].Name, err)
			}
		}
		vals[i] = g.AddConst(fg.Values[i].Name, t)
	}
	defined := fg.Inputs + len(fg.Consts)
	for _, fn := range fg.Nodes {
		n := &ir.Node{Name: fn.Name, Op: fn.Op, Domain: fn.Domain, Group: fn.Group}
		for _, i := range fn.Inputs {
			if i == -1 {
				n.Inputs = append(n.Inputs, nil)
				continue
			}
			if i < 0 || i >= len(vals) || vals[i] == nil {
				return nil, nil, fmt.Errorf("node %s %q reads value %d before it is defined", fn.Op, fn.Name, i)
			}
			n.Inputs = append(n.Inputs, vals[i])
		}
		for _, i := range fn.Outputs {
			if i == -1 {
				n.Outputs = append(n.Outputs, nil)
				continue
			}
			if i != defined || i >= len(vals) {
				return nil, nil, fmt.Errorf("node %s %q defines value %d out of order", fn.Op, fn.Name, i)
			}
			defined++
			vals[i] = &ir.Value{Name: fg.Values[i].Name, Type: types[i]}
			n.Outputs = append(n.Outputs, vals[i])
		}
		if len(fn.Attrs) > 0 {
			n.Attrs = ir.Attrs{}
		}
		for name, fa := range fn.Attrs {
			kind, ok := attrKinds[fa.Kind]
			if !ok {
				return nil, nil, fmt.Errorf("node %s %q: attribute %s has unknown kind %q", fn.Op, fn.Name, name, fa.Kind)
			}
			a := ir.Attr{Kind: kind, Int: fa.Int, Float: fa.Float, Str: fa.Str, Ints: fa.Ints, Floats: fa.Floats, Strs: fa.Strs}
			switch kind {
			case ir.AttrTensor:
				t, err := decodeTensor(fa.Tensor)
				if err != nil {
					return nil, nil, fmt.Errorf("node %s %q: attribute %s: %v", fn.Op, fn.Name, name, err)
				}
				a.Tensor = t
			case ir.AttrGraph:
				if fa.Graph == nil {
					return nil, nil, fmt.Errorf("node %s %q: attribute %s: missing graph", fn.Op, fn.Name, name)
				}
				sg, _, err := decodeGraph(&fa.Graph.Graph, nil, fa.Graph.Consts, depth+1)
				if err != nil {
					return nil, nil, fmt.Errorf("node %s %q: attribute %s: %v", fn.Op, fn.Name, name, err)
				}
				a.Graph = sg
			}
			n.Attrs[name] = a
		}
		g.AddNode(n)
	}
	if defined != len(vals) {
		return nil, nil, fmt.Errorf("graph %q: %d values, %d defined", fg.Name, len(vals), defined)
	}
	for _, i := range fg.Outputs {
		if i < 0 || i >= len(vals) {
			return nil, nil, fmt.Errorf("graph %q: output %d out of range", fg.Name, i)
		}
		g.Outputs = append(g.Outputs, vals[i])
	}
	return g, vals, nil
}

func decodePlan(h *fileHeader, weights []byte) (*Plan, error) {
	g, vals, err := decodeGraph(&h.Graph, weights, nil, 0)
	if err != nil {
		return nil, err
	}
	if err := ir.Verify(g); err != nil {
		return nil, err
	}
	if len(h.Kernels) != len(g.Nodes) || len(h.Sched.Level) != len(g.Nodes) || len(h.After) != len(g.Nodes) || len(h.Memory) != len(vals) {
		return nil, fmt.Errorf("plan tables do not match the graph's %d nodes and %d values", len(g.Nodes), len(vals))
	}
	for i, deps := range h.After {
		for _, d := range deps {
			if d < 0 || d >= i {
				return nil, fmt.Errorf("node %d: memory dependency on node %d is not earlier", i, d)
			}
		}
	}
	for _, c := range h.Sched.Components {
		for _, i := range c {
			if i < 0 || i >= len(g.Nodes) {
				return nil, fmt.Errorf("schedule names node %d of %d", i, len(g.Nodes))
			}
		}
	}
	if h.Arena < 0 || h.Arena > 1<<40 {
		return nil, fmt.Errorf("arena of %d bytes", h.Arena)
	}
	mp := &MemoryPlan{Bindings: h.Bindings, Values: map[*ir.Value]*ValuePlan{}, ArenaBytes: h.Arena, NaiveBytes: h.Naive, After: h.After}
	for i, fv := range h.Memory {
		v := vals[i]
		vp := &ValuePlan{Storage: fv.Storage, Shape: fv.Shape, Offset: fv.Offset, Bytes: fv.Bytes, InPlace: fv.InPlace}
		switch fv.Storage {
		case External, Dynamic:
		case Arena, Alias:
			if fv.Storage == Alias {
				if fv.Alias < 1 || fv.Alias > len(vals) || fv.Alias-1 == i {
					return nil, fmt.Errorf("value %s: bad alias %d", v, fv.Alias)
				}
				vp.Alias = vals[fv.Alias-1]
			}
			n := int64(1)
			for _, d := range fv.Shape {
				if d < 0 || d > 1<<40 {
					return nil, fmt.Errorf("value %s: bad planned shape %v", v, fv.Shape)
				}
				n *= int64(d)
				if n > 1<<40 {
					return nil, fmt.Errorf("value %s: planned shape %v too large", v, fv.Shape)
				}
			}
			if v.Type.DType == ir.String || n*int64(v.Type.DType.Size()) != fv.Bytes {
				return nil, fmt.Errorf("value %s: planned %d bytes for %s%v", v, fv.Bytes, v.Type.DType, fv.Shape)
			}
			if fv.Storage == Arena && (fv.Offset < 0 || fv.Offset%Align != 0 || fv.Offset > h.Arena-fv.Bytes) {
				return nil, fmt.Errorf("value %s: buffer [%d, +%d) outside the %d-byte arena", v, fv.Offset, fv.Bytes, h.Arena)
			}
			if v.Def == nil {
				return nil, fmt.Errorf("value %s: an input or constant cannot live in the arena", v)
			}
		default:
			return nil, fmt.Errorf("value %s: unknown storage %d", v, fv.Storage)
		}
		mp.Values[v] = vp
	}
	// Aliases must end in an arena buffer of the same size, or in an external value.
	for v, vp := range mp.Values {
		if vp.Storage != Alias {
			continue
		}
		r, steps := vp.Alias, 0
		for mp.Values[r].Storage == Alias && steps <= len(vals) {
			r, steps = mp.Values[r].Alias, steps+1
		}
		rp := mp.Values[r]
		if rp.Storage == Dynamic || rp.Storage == Alias || rp.Storage == Arena && (rp.Bytes != vp.Bytes || rp.Offset != vp.Offset) {
			return nil, fmt.Errorf("value %s: alias of %s does not resolve to a buffer of its size", v, vp.Alias)
		}
	}
	p := &Plan{Graph: g, Target: h.Target, Kernels: h.Kernels, Memory: mp, Sched: h.Sched,
		Packed: map[*ir.Value]*ops.PackedMatrix{}, PackedInt8: map[*ir.Value]*ops.PackedInt8{}}
	for _, fp := range h.Packed {
		if fp.Const < len(g.Inputs) || fp.Const >= len(g.Inputs)+len(g.Consts) {
			return nil, fmt.Errorf("packed weights for value %d, which is not a constant", fp.Const)
		}
		c := vals[fp.Const]
		if fp.Offset < 0 || fp.Offset%Align != 0 || fp.Bytes < 0 || fp.Bytes%4 != 0 || fp.Offset > int64(len(weights)) || fp.Bytes > int64(len(weights))-fp.Offset {
			return nil, fmt.Errorf("packed %s: data [%d, +%d) outside the weights", c, fp.Offset, fp.Bytes)
		}
		if c.Const.DType != ir.F32 || len(c.Const.Shape) != 2 || c.Const.Shape[0] != int64(fp.K) || c.Const.Shape[1] != int64(fp.N) {
			return nil, fmt.Errorf("packed %s: %dx%d does not fit %s", c, fp.K, fp.N, c.Type)
		}
		raw := weights[fp.Offset : fp.Offset+fp.Bytes]
		var panels []float32
		if len(raw) > 0 {
			panels = unsafe.Slice((*float32)(unsafe.Pointer(&raw[0])), len(raw)/4)
		}
		pm, err := ops.PackedFromPanels(fp.Impl, fp.K, fp.N, panels)
		if err != nil {
			return nil, fmt.Errorf("packed %s: %v", c, err)
		}
		p.Packed[c] = pm
	}
	for _, fp := range h.Packed8 {
		if fp.Const < len(g.Inputs) || fp.Const >= len(g.Inputs)+len(g.Consts) {
			return nil, fmt.Errorf("packed int8 weights for value %d, which is not a constant", fp.Const)
		}
		c := vals[fp.Const]
		if p.PackedInt8[c] != nil {
			return nil, fmt.Errorf("packed int8 %s: stored twice", c)
		}
		if fp.Impl != h.Target.GemmInt8 {
			return nil, fmt.Errorf("packed int8 %s: packed for %q, the target says %q", c, fp.Impl, h.Target.GemmInt8)
		}
		dt := c.Const.DType
		if dt != ir.I8 && dt != ir.U8 || fp.Flip != (dt == ir.U8) || len(c.Const.Shape) != 2 || c.Const.Shape[0] != int64(fp.K) || c.Const.Shape[1] != int64(fp.N) {
			return nil, fmt.Errorf("packed int8 %s: %dx%d (flip %v) does not fit %s", c, fp.K, fp.N, fp.Flip, c.Type)
		}
		if fp.N < 0 || int64(fp.N) > int64(len(weights))/4 {
			return nil, fmt.Errorf("packed int8 %s: %d column sums do not fit the weights", c, fp.N)
		}
		sumBytes := 4 * int64(fp.N)
		if fp.Offset < 0 || fp.Offset%Align != 0 || fp.Bytes < 0 || fp.Offset > int64(len(weights)) || fp.Bytes > int64(len(weights))-fp.Offset ||
			fp.Sums < 0 || fp.Sums%Align != 0 || fp.Sums > int64(len(weights)) || sumBytes > int64(len(weights))-fp.Sums {
			return nil, fmt.Errorf("packed int8 %s: data [%d, +%d) or column sums [%d, +%d) outside the weights", c, fp.Offset, fp.Bytes, fp.Sums, sumBytes)
		}
		if !slices.Contains(ops.GemmInt8Impls(), fp.Impl) {
			// The CPU has the features (CheckHost) but this build lacks the kernel (purego):
			// exec.NewPlanSession packs the raw weights for the kernel it has instead.
			continue
		}
		var data []int8
		if fp.Bytes > 0 {
			data = unsafe.Slice((*int8)(unsafe.Pointer(&weights[fp.Offset])), fp.Bytes)
		}
		var sums []int32
		if fp.N > 0 {
			sums = unsafe.Slice((*int32)(unsafe.Pointer(&weights[fp.Sums])), fp.N)
		}
		pm, err := ops.PackedInt8FromPanels(fp.Impl, fp.K, fp.N, fp.Flip, data, sums)
		if err != nil {
			return nil, fmt.Errorf("packed int8 %s: %v", c, err)
		}
		p.PackedInt8[c] = pm
	}
	return p, nil
}
