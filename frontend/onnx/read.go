// Package onnx reads ONNX models (.onnx protobuf files) into verified ir.Graphs, and
// writes ir.Graphs back out as ONNX.
//
// Import maps each ONNX node to one IR node of the same op and domain, keeping the
// ONNX node name as Node.Name for provenance. Initializers and Constant nodes become
// IR constants; a graph input that has an initializer is treated as a constant. The IR
// follows the latest ONNX opsets, so nodes from older opsets are normalised on the way
// in: attributes that later opsets turned into inputs (Squeeze axes, Split sizes, Slice
// starts/ends, Pad pads, Clip bounds, Reduce* axes, ...) become constant inputs,
// Upsample becomes Resize, and Softmax before opset 13, which flattens its input to 2-D,
// becomes Flatten + Softmax + Reshape unless its axis is already the last one.
//
// Before lowering anything, the importer lists every op the IR does not know and every
// dtype it cannot hold, in one *UnsupportedError.
package onnx

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/ciuic/ciuic/frontend/onnx/onnxpb"
	"github.com/ciuic/ciuic/ir"
)

// Options control the import.
type Options struct {
	// NoVerify skips type inference and verification: the graph is returned as lowered,
	// with types only on graph inputs and constants. For tools that inspect graphs the
	// IR cannot type yet.
	NoVerify bool
	// InputTypes overrides the declared types of main-graph inputs, by name. A model may
	// leave an input's rank unknown, which the IR cannot express; a caller that knows the
	// concrete inputs (the conformance runner, a user binding dims) types them here.
	InputTypes map[string]ir.Type
}

// Model is an imported ONNX model: the lowered graph and the model's metadata.
type Model struct {
	Graph        *ir.Graph
	IRVersion    int64
	Opsets       map[string]int64 // opset version by domain; the ONNX domain is ""
	ProducerName string
}

// ReadFile imports the ONNX model at path. External data is read from path's folder.
func ReadFile(path string, opts Options) (*ir.Graph, error) {
	m, err := ReadModelFile(path, opts)
	if err != nil {
		return nil, err
	}
	return m.Graph, nil
}

// Read imports an ONNX model held in data. name is used in messages; dir is the folder
// external data files are relative to ("" refuses external data).
func Read(data []byte, name, dir string, opts Options) (*ir.Graph, error) {
	m, err := ReadModel(data, name, dir, opts)
	if err != nil {
		return nil, err
	}
	return m.Graph, nil
}

// ReadModelFile is ReadFile returning the model's metadata too.
func ReadModelFile(path string, opts Options) (*Model, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ReadModel(data, filepath.Base(path), filepath.Dir(path), opts)
}

// ReadModel is Read returning the model's metadata too.
func ReadModel(data []byte, name, dir string, opts Options) (*Model, error) {
	var mp onnxpb.ModelProto
	if err := proto.Unmarshal(data, &mp); err != nil {
		return nil, fmt.Errorf("%s: not a valid ONNX model: %v", name, err)
	}
	if mp.Graph == nil {
		return nil, fmt.Errorf("%s: not a valid ONNX model: no graph", name)
	}
	m := &Model{IRVersion: mp.GetIrVersion(), Opsets: map[string]int64{}, ProducerName: mp.GetProducerName()}
	for _, o := range mp.GetOpsetImport() {
		m.Opsets[normDomain(o.GetDomain())] = o.GetVersion()
	}
	if len(mp.GetOpsetImport()) == 0 {
		// IR version 1 and 2 models predate opset imports; they use opset 1.
		m.Opsets[""] = 1
	}
	if err := checkSupported(name, mp.Graph, m.Opsets); err != nil {
		return nil, err
	}
	l := &lowerer{file: name, opsets: m.Opsets, tensors: tensorReader{dir: dir}, inputTypes: opts.InputTypes}
	g, err := l.graph(mp.Graph, nil)
	if err == nil && len(l.errs) > 0 {
		err = errors.New(strings.Join(l.errs, "\n"))
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	if g.Name == "" {
		g.Name = strings.TrimSuffix(name, filepath.Ext(name))
	}
	for _, p := range mp.GetMetadataProps() {
		if p.GetKey() == metaWeightsFile {
			g.WeightsFile = p.GetValue()
		}
	}
	m.Graph = g
	if opts.NoVerify {
		return m, nil
	}
	if err := l.typeCheck(g); err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	return m, nil
}

// metaWeightsFile is the model metadata key under which Write records Graph.WeightsFile.
const metaWeightsFile = "ciuic.weights_file"

// metaGroup is the node metadata key under which Write records Node.Group.
const metaGroup = "ciuic.group"

func normDomain(d string) string {
	if d == "ai.onnx" {
		return ""
	}
	return d
}

// scope maps ONNX value names to IR values. Subgraphs (the bodies of If, Loop, Scan)
// may read values of the enclosing graphs; the IR node then holds the outer *ir.Value
// directly.
type scope struct {
	parent *scope
	g      *ir.Graph
	vals   map[string]*ir.Value
}

func (s *scope) lookup(name string) *ir.Value {
	for ; s != nil; s = s.parent {
		if v, ok := s.vals[name]; ok {
			return v
		}
	}
	return nil
}

// declared is a type an ONNX model states for a value (value_info or graph output),
// checked against inference after lowering.
type declared struct {
	v   *ir.Value
	t   ir.Type
	rnk bool // the declaration has a shape
}

// pendingSoftmax is a Softmax/LogSoftmax/Hardmax from before opset 13, whose meaning
// depends on the rank of its input: it is resolved once types are known.
type pendingSoftmax struct {
	g    *ir.Graph
	n    *ir.Node
	axis int64
}

type lowerer struct {
	file     string
	opsets   map[string]int64
	tensors  tensorReader
	errs     []string
	declared []declared
	softmax  []pendingSoftmax
	// inputTypes are Options.InputTypes: they replace the main graph's declared input types.
	inputTypes map[string]ir.Type
}

func (l *lowerer) errorf(format string, args ...any) {
	l.errs = append(l.errs, fmt.Sprintf(format, args...))
}

// graph lowers gp; parent is the enclosing scope for subgraphs, nil for the main graph.
// Problems with single nodes or tensors are collected in l.errs so they are reported
// together; the returned error is for problems that stop lowering this graph.
func (l *lowerer) graph(gp *onnxpb.GraphProto, parent *scope) (*ir.Graph, error) {
	g := ir.NewGraph(gp.GetName())
	s := &scope{parent: parent, g: g, vals: map[string]*ir.Value{}}
	if len(gp.GetSparseInitializer()) > 0 {
		return nil, fmt.Errorf("graph %q: sparse initializers are not supported", gp.GetName())
	}
	for _, init := range gp.GetInitializer() {
		if init.GetName() == "" {
			l.errorf("graph %q: initializer without a name", gp.GetName())
			continue
		}
		t, err := l.tensors.lower(init)
		if err != nil {
			l.errorf("initializer %q: %v", init.GetName(), err)
			continue
		}
		s.vals[init.GetName()] = g.AddConst(init.GetName(), t)
	}
	for _, in := range gp.GetInput() {
		if _, isInit := s.vals[in.GetName()]; isInit || in.GetName() == "" {
			// IR version 4+: an input with an initializer is an overridable default;
			// ciuic treats it as a constant.
			continue
		}
		t, hasShape, err := lowerType(in.GetType())
		if it, ok := l.inputTypes[in.GetName()]; ok && parent == nil && it.IsValid() {
			t, hasShape, err = it, true, nil
		}
		switch {
		case err != nil:
			l.errorf("input %q: %v", in.GetName(), err)
		case !t.IsValid() && parent == nil:
			l.errorf("input %q has no element type", in.GetName())
		case !t.IsValid():
			// A Scan body may leave its inputs untyped: Scan's inference types them.
			t = ir.Type{}
		case !hasShape && parent == nil:
			l.errorf("input %q has no shape (tensors of unknown rank are not supported)", in.GetName())
		case !hasShape:
			// Loop and Scan bodies may leave their inputs' shapes to the op; inference fills them.
			t = ir.Type{}
		}
		s.vals[in.GetName()] = g.AddInput(in.GetName(), t)
	}
	decl := map[string]*onnxpb.TypeProto{}
	for _, vi := range gp.GetValueInfo() {
		decl[vi.GetName()] = vi.GetType()
	}
	for _, np := range topoOrder(gp.GetNode()) {
		l.node(s, np)
	}
	for _, out := range gp.GetOutput() {
		v := s.lookup(out.GetName())
		if v == nil {
			l.errorf("graph output %q is not defined", out.GetName())
			continue
		}
		g.Outputs = append(g.Outputs, v)
		decl[out.GetName()] = out.GetType()
	}
	for name, tp := range decl {
		v := s.vals[name]
		if v == nil || v.Def == nil {
			continue
		}
		if t, hasShape, err := lowerType(tp); err == nil && t.IsValid() {
			l.declared = append(l.declared, declared{v: v, t: t, rnk: hasShape})
		}
	}
	// Nodes of subgraphs recorded uses on outer values; Rebuild resets each graph's own
	// values, and graphs are finished inner first, so only this graph's uses remain.
	g.Rebuild()
	return g, nil
}

// node lowers one ONNX node into s.g.
func (l *lowerer) node(s *scope, np *onnxpb.NodeProto) {
	domain := normDomain(np.GetDomain())
	ref := np.GetOpType()
	if np.GetName() != "" {
		ref = fmt.Sprintf("%s %q", np.GetOpType(), np.GetName())
	} else if len(np.GetOutput()) > 0 {
		ref = fmt.Sprintf("%s defining %q", np.GetOpType(), np.GetOutput()[0])
	}
	n := &ir.Node{Name: np.GetName(), Op: np.GetOpType(), Domain: domain, Attrs: ir.Attrs{}}
	ok := true
	for _, name := range np.GetInput() {
		if name == "" {
			n.Inputs = append(n.Inputs, nil)
			continue
		}
		v := s.lookup(name)
		if v == nil {
			l.errorf("node %s: input %q is not defined", ref, name)
			ok = false
		}
		n.Inputs = append(n.Inputs, v)
	}
	for len(n.Inputs) > 0 && n.Inputs[len(n.Inputs)-1] == nil && ok {
		n.Inputs = n.Inputs[:len(n.Inputs)-1]
	}
	for _, a := range np.GetAttribute() {
		if n.Attrs.Has(a.GetName()) {
			l.errorf("node %s: attribute %q given twice", ref, a.GetName())
			ok = false
			continue
		}
		attr, err := l.lowerAttr(a, func(gp *onnxpb.GraphProto) (*ir.Graph, error) { return l.graph(gp, s) })
		if err != nil {
			l.errorf("node %s: %v", ref, err)
			ok = false
			continue
		}
		n.Attrs[a.GetName()] = attr
	}
	for _, md := range np.GetMetadataProps() {
		if md.GetKey() == metaGroup {
			n.Group = md.GetValue()
		}
	}
	if !ok {
		return
	}
	if domain == "" && n.Op == "Constant" {
		l.constant(s, n, np, ref)
		return
	}
	outNames := np.GetOutput()
	for len(outNames) > 0 && outNames[len(outNames)-1] == "" {
		outNames = outNames[:len(outNames)-1]
	}
	for _, name := range outNames {
		if name == "" {
			n.Outputs = append(n.Outputs, nil)
			continue
		}
		if s.vals[name] != nil {
			l.errorf("node %s: output %q is already defined", ref, name)
			return
		}
		n.Outputs = append(n.Outputs, &ir.Value{Name: name})
	}
	if err := l.normalize(s, n); err != nil {
		l.errorf("node %s: %v", ref, err)
		return
	}
	s.g.AddNode(n)
	for i, o := range n.Outputs {
		if o != nil {
			s.vals[outNames[i]] = o
		}
	}
}

// constant turns a Constant node into an IR constant named after its output.
func (l *lowerer) constant(s *scope, n *ir.Node, np *onnxpb.NodeProto, ref string) {
	if len(np.GetOutput()) != 1 || np.GetOutput()[0] == "" || len(n.Attrs) != 1 {
		l.errorf("node %s: Constant needs one output and exactly one value attribute", ref)
		return
	}
	var t *ir.Tensor
	for name, a := range n.Attrs {
		switch name {
		case "value":
			t = a.Tensor
		case "value_float":
			t = ir.NewTensorF32([]int64{}, []float32{a.Float})
		case "value_floats":
			t = ir.NewTensorF32([]int64{int64(len(a.Floats))}, a.Floats)
		case "value_int":
			t = ir.NewTensorI64([]int64{}, []int64{a.Int})
		case "value_ints":
			t = ir.NewTensorI64([]int64{int64(len(a.Ints))}, a.Ints)
		case "value_string":
			t = &ir.Tensor{DType: ir.String, Shape: []int64{}, Strings: []string{a.Str}}
		case "value_strings":
			t = &ir.Tensor{DType: ir.String, Shape: []int64{int64(len(a.Strs))}, Strings: a.Strs}
		default:
			l.errorf("node %s: Constant attribute %q is not supported", ref, name)
			return
		}
	}
	if t == nil {
		l.errorf("node %s: Constant value has the wrong kind", ref)
		return
	}
	// A Constant output defined twice keeps its last definition (see topoOrder); other
	// duplicates are renamed by AddConst.
	out := np.GetOutput()[0]
	s.vals[out] = s.g.AddConst(out, t)
}

// typeCheck runs type inference on g and its subgraphs, resolves old-opset Softmax nodes
// now that ranks are known, checks the model's declared types and verifies the graph.
func (l *lowerer) typeCheck(g *ir.Graph) error {
	err := inferAll(g)
	if err == nil {
		var changed bool
		if changed, err = l.lowerMSFT(g); err != nil {
			return err
		}
		if changed {
			rebuildAll(g)
			resetTypes(g)
			err = inferAll(g)
		}
	}
	if len(l.softmax) > 0 {
		for _, p := range l.softmax {
			l.resolveSoftmax(p)
		}
		rebuildAll(g)
		resetTypes(g)
		err = inferAll(g)
	}
	if err != nil {
		return err
	}
	var conflicts []string
	for _, d := range l.declared {
		if msg := conflict(d, d.v.Type); msg != "" {
			conflicts = append(conflicts, msg)
		}
	}
	if len(conflicts) > 0 {
		return errors.New(strings.Join(conflicts, "\n"))
	}
	return ir.Verify(g)
}

// conflict reports a real disagreement between a declared and an inferred type: a
// different dtype or rank, or two different static sizes. "Unknown vs known" and
// symbolic names are not conflicts: ONNX exporters invent dim names freely.
func conflict(d declared, inferred ir.Type) string {
	bad := func() string {
		return fmt.Sprintf("value %q is declared %s but infers to %s", d.v.Name, d.t, inferred)
	}
	if !inferred.IsValid() {
		return ""
	}
	if d.t.DType != inferred.DType {
		return bad()
	}
	if !d.rnk {
		return ""
	}
	if len(d.t.Shape) != len(inferred.Shape) {
		return bad()
	}
	for i, dd := range d.t.Shape {
		e := inferred.Shape[i]
		if dd.IsStatic() && e.IsStatic() && dd.Size != e.Size {
			return bad()
		}
	}
	return ""
}

// inferAll infers the types of g, then of its subgraphs (whose nodes may read g's values).
func inferAll(g *ir.Graph) error {
	var errs ir.ErrorList
	if err := ir.InferTypes(g); err != nil {
		var el ir.ErrorList
		if errors.As(err, &el) {
			errs = append(errs, el...)
		} else {
			return err
		}
	}
	for _, sub := range subgraphs(g) {
		if err := inferAll(sub); err != nil {
			var el ir.ErrorList
			if errors.As(err, &el) {
				errs = append(errs, el...)
			} else {
				return err
			}
		}
	}
	return errs.Err()
}

func subgraphs(g *ir.Graph) []*ir.Graph {
	var subs []*ir.Graph
	for _, n := range g.Nodes {
		for _, name := range n.Attrs.Names() {
			if a := n.Attrs[name]; a.Kind == ir.AttrGraph && a.Graph != nil {
				subs = append(subs, a.Graph)
			}
		}
	}
	return subs
}

// rebuildAll rebuilds use lists inner graphs first, so outer values end up with only
// their own graph's uses (see lowerer.graph).
func rebuildAll(g *ir.Graph) {
	for _, sub := range subgraphs(g) {
		rebuildAll(sub)
	}
	g.Rebuild()
}

// resetTypes forgets the inferred types of node outputs so inference can run afresh.
func resetTypes(g *ir.Graph) {
	for _, n := range g.Nodes {
		for _, o := range n.Outputs {
			if o != nil {
				o.Type = ir.Type{}
			}
		}
	}
	for _, sub := range subgraphs(g) {
		resetTypes(sub)
	}
}

// topoOrder returns the nodes in an order where each is after the nodes that compute its
// inputs. ONNX requires that order, but some exporters (PyTorch 1.x) break it; a valid
// order is returned as is. Names a subgraph reads from this graph count as inputs.
//
// A name defined twice is read from its last definition, as ONNX Runtime does (its
// producer map keeps the last node): model editors such as the one that shrank
// gpt2_past append replacement Constants with the old output names, and the earlier,
// shadowed Constants are dropped.
func topoOrder(nodes []*onnxpb.NodeProto) []*onnxpb.NodeProto {
	producer := map[string]int{}
	for i, n := range nodes {
		for _, o := range n.GetOutput() {
			if o != "" {
				producer[o] = i
			}
		}
	}
	kept := nodes[:0:0]
	for i, n := range nodes {
		if n.GetOpType() == "Constant" && normDomain(n.GetDomain()) == "" && len(n.GetOutput()) == 1 && producer[n.GetOutput()[0]] != i {
			continue
		}
		kept = append(kept, n)
	}
	if len(kept) != len(nodes) {
		nodes = kept
		for k := range producer {
			delete(producer, k)
		}
		for i, n := range nodes {
			for _, o := range n.GetOutput() {
				if o != "" {
					producer[o] = i
				}
			}
		}
	}
	deps := make([][]int, len(nodes))
	sorted := true
	for i, n := range nodes {
		for _, name := range nodeReads(n) {
			if p, ok := producer[name]; ok && p != i {
				deps[i] = append(deps[i], p)
				if p > i {
					sorted = false
				}
			}
		}
	}
	if sorted {
		return nodes
	}
	// Depth-first from each node in order keeps the original order where it is valid.
	const (
		todo = iota
		busy
		done
	)
	state := make([]int, len(nodes))
	out := make([]*onnxpb.NodeProto, 0, len(nodes))
	var visit func(i int)
	visit = func(i int) {
		if state[i] != todo {
			return // done, or on a cycle: lowering reports the undefined input
		}
		state[i] = busy
		for _, d := range deps[i] {
			visit(d)
		}
		state[i] = done
		out = append(out, nodes[i])
	}
	for i := range nodes {
		visit(i)
	}
	return out
}

// nodeReads lists the value names n reads: its inputs and every input of nodes in its
// subgraphs (names the subgraph defines itself are harmless extra edges only when they
// collide with this graph's names, which ONNX forbids).
func nodeReads(n *onnxpb.NodeProto) []string {
	names := append([]string{}, n.GetInput()...)
	var walk func(g *onnxpb.GraphProto)
	walk = func(g *onnxpb.GraphProto) {
		for _, m := range g.GetNode() {
			names = append(names, nodeReads(m)...)
		}
	}
	for _, a := range n.GetAttribute() {
		if a.G != nil {
			walk(a.G)
		}
		for _, g := range a.GetGraphs() {
			walk(g)
		}
	}
	return names
}
