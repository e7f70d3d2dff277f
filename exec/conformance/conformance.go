// Package conformance runs ONNX backend node tests against ciuic and produces one Result
// per test: PASS, FAIL (with the worst element) or UNSUPPORTED (with the reason).
//
// A node test is a folder holding model.onnx and one or more test_data_set_N folders of
// input_K.pb and output_K.pb files (serialized TensorProtos). The model is imported with
// its inputs typed from the test data: backend test models often leave input shapes (or
// even ranks) open, and the IR has no "unknown rank", so the concrete inputs bind them.
// Outputs are compared with the tolerances of ONNX's backend tests: rtol 1e-3, atol 1e-7
// for floats (NaN equals NaN), exact for integers, bools and strings.
package conformance

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/ciuic/ciuic/exec"
	"github.com/ciuic/ciuic/frontend/onnx"
	"github.com/ciuic/ciuic/ir"
	"github.com/ciuic/ciuic/ops"
)

// Status is the outcome of one test.
type Status int

const (
	Pass Status = iota
	Fail
	Unsupported
)

func (s Status) String() string {
	switch s {
	case Pass:
		return "PASS"
	case Fail:
		return "FAIL"
	}
	return "UNSUPPORTED"
}

// Result is the outcome of one node test.
type Result struct {
	Name   string // the test folder's base name: test_add
	Status Status
	Reason string // why it failed or is unsupported; empty for Pass
}

// String prints the result as one line: "PASS test_add", "FAIL test_x: ...".
func (r Result) String() string {
	if r.Reason == "" {
		return r.Status.String() + " " + r.Name
	}
	return r.Status.String() + " " + r.Name + ": " + r.Reason
}

// Options configure Run. The zero value uses the ONNX backend test tolerances and one
// worker per CPU.
type Options struct {
	Workers int     // executor workers; 0 means runtime.GOMAXPROCS(0)
	RTol    float64 // 0 means 1e-3
	ATol    float64 // 0 means 1e-7
	Level   int     // optimisation level RunModel compiles at (passes.Run); 0 runs the graph as imported
}

func (o Options) tolerances() (rtol, atol float64) {
	rtol, atol = o.RTol, o.ATol
	if rtol == 0 {
		rtol = 1e-3
	}
	if atol == 0 {
		atol = 1e-7
	}
	return rtol, atol
}

// IsTest reports whether dir looks like a node test folder (it holds model.onnx).
func IsTest(dir string) bool {
	st, err := os.Stat(filepath.Join(dir, "model.onnx"))
	return err == nil && !st.IsDir()
}

// Find expands each of dirs into node test folders: a test folder stands for itself, any
// other folder for the test folders directly inside it, sorted by name.
func Find(dirs ...string) ([]string, error) {
	var out []string
	for _, d := range dirs {
		if IsTest(d) {
			out = append(out, d)
			continue
		}
		ents, err := os.ReadDir(d)
		if err != nil {
			return nil, err
		}
		var found []string
		for _, e := range ents {
			p := filepath.Join(d, e.Name())
			if e.IsDir() && IsTest(p) {
				found = append(found, p)
			}
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("%s: no node tests (folders with model.onnx) found", d)
		}
		sort.Strings(found)
		out = append(out, found...)
	}
	return out, nil
}

// dataSet is one test_data_set_N folder read into tensors.
type dataSet struct {
	name    string
	inputs  []*onnx.NamedTensor
	outputs []*onnx.NamedTensor
}

// Run runs the node test in dir. It never panics: a panic while importing or running
// (a ciuic bug) is reported as a failure.
func Run(dir string, opts Options) (res Result) {
	res = Result{Name: filepath.Base(dir)}
	defer func() {
		if p := recover(); p != nil {
			res.Status, res.Reason = Fail, fmt.Sprintf("panic: %v", p)
		}
	}()
	sets, err := readDataSets(dir)
	if err != nil {
		return unsupported(res, err.Error())
	}
	if len(sets) == 0 {
		return unsupported(res, "no test_data_set_* folders")
	}
	// Type the model's inputs from the first data set: the IR cannot hold an input of
	// unknown rank, and static shapes let inference resolve everything.
	g0, err := onnx.ReadFile(filepath.Join(dir, "model.onnx"), onnx.Options{NoVerify: true})
	if err != nil {
		return importFailure(res, err)
	}
	inputTypes := map[string]ir.Type{}
	names, err := bindInputs(g0, sets[0])
	if err != nil {
		return fail(res, err.Error())
	}
	for i, name := range names {
		t := sets[0].inputs[i].Tensor
		inputTypes[name] = ir.Type{DType: t.DType, Shape: staticShape(t.Shape)}
	}
	constInputs := map[string]bool{} // inputs specialize turned into constants
	g, err := onnx.ReadFile(filepath.Join(dir, "model.onnx"), onnx.Options{InputTypes: inputTypes})
	if err != nil {
		var ue *onnx.UnsupportedError
		if errors.As(err, &ue) {
			return importFailure(res, err)
		}
		// Inference may need values, not just types (a Reshape to computed dims, Reduce
		// axes given as an input): specialize the graph to this test's inputs.
		sg, serr := onnx.ReadFile(filepath.Join(dir, "model.onnx"), onnx.Options{InputTypes: inputTypes, NoVerify: true})
		if serr != nil {
			return importFailure(res, err)
		}
		consts := map[string]*ir.Tensor{}
		for i, name := range names {
			if t := sets[0].inputs[i].Tensor; shapeLike(t) && sameInAllSets(sets, i) {
				consts[name] = t
			}
		}
		bound, serr := specialize(sg, consts)
		if serr != nil {
			return importFailure(res, err)
		}
		g = sg
		for _, name := range bound {
			constInputs[name] = true
		}
	}
	sess, err := exec.NewSession(g, exec.Options{Workers: opts.Workers})
	if err != nil {
		if missingKernels(err) {
			return unsupported(res, firstLines(err.Error(), 3))
		}
		return fail(res, "prepare: "+firstLines(err.Error(), 3))
	}
	rtol, atol := opts.tolerances()
	for _, ds := range sets {
		if len(ds.outputs) != len(g.Outputs) {
			return fail(res, fmt.Sprintf("%s: %d expected outputs for %d graph outputs", ds.name, len(ds.outputs), len(g.Outputs)))
		}
		in := map[string]*ops.Tensor{}
		for i, name := range names {
			if constInputs[name] {
				continue
			}
			t, err := ops.FromIR(ds.inputs[i].Tensor)
			if err != nil {
				return fail(res, fmt.Sprintf("%s: input %d: %v", ds.name, i, err))
			}
			in[name] = t
		}
		out, err := sess.Run(context.Background(), in)
		if err != nil {
			if strings.Contains(err.Error(), "is not supported") {
				// The kernel declines a mode it does not implement (blocked quantization,
				// training-mode Dropout): not a wrong answer.
				return unsupported(res, firstLines(err.Error(), 3))
			}
			return fail(res, ds.name+": "+firstLines(err.Error(), 3))
		}
		for i, o := range g.Outputs {
			want, err := ops.FromIR(ds.outputs[i].Tensor)
			if err != nil {
				return fail(res, fmt.Sprintf("%s: output %d: %v", ds.name, i, err))
			}
			if msg := Compare(out[o.Name], want, rtol, atol); msg != "" {
				prefix := ""
				if len(g.Outputs) > 1 {
					prefix = fmt.Sprintf("output %q: ", o.Name)
				}
				if len(sets) > 1 {
					prefix = ds.name + ": " + prefix
				}
				return fail(res, prefix+msg)
			}
		}
	}
	res.Status = Pass
	return res
}

func fail(r Result, reason string) Result {
	r.Status, r.Reason = Fail, reason
	return r
}

func unsupported(r Result, reason string) Result {
	r.Status, r.Reason = Unsupported, reason
	return r
}

// importFailure classifies an import error: what the importer reports as unsupported
// (unknown ops, dtypes) is skipped; anything else is a failure of ciuic.
func importFailure(r Result, err error) Result {
	var ue *onnx.UnsupportedError
	if errors.As(err, &ue) {
		return unsupported(r, oneLine(ue.Error()))
	}
	msg := err.Error()
	for _, s := range []string{"unsupported type sequence", "unsupported type optional", "unsupported type map", "unsupported type sparse_tensor"} {
		if strings.Contains(msg, s) {
			return unsupported(r, "import: "+firstLines(msg, 2))
		}
	}
	return fail(r, "import: "+firstLines(msg, 3))
}

// missingKernels reports whether every problem NewSession found is a node without a kernel.
func missingKernels(err error) bool {
	var el ir.ErrorList
	if !errors.As(err, &el) || len(el) == 0 {
		return false
	}
	for _, e := range el {
		if !strings.HasPrefix(e.Msg, "no kernel for") {
			return false
		}
	}
	return true
}

// bindInputs maps the data set's input files to graph input names: by the name saved in
// the file when it names a graph input, else by position among the graph inputs.
func bindInputs(g *ir.Graph, ds dataSet) ([]string, error) {
	if len(ds.inputs) != len(g.Inputs) {
		return nil, fmt.Errorf("%s: %d input files for %d graph inputs", ds.name, len(ds.inputs), len(g.Inputs))
	}
	byName := map[string]bool{}
	for _, v := range g.Inputs {
		byName[v.Name] = true
	}
	names := make([]string, len(ds.inputs))
	for i, t := range ds.inputs {
		if byName[t.Name] {
			names[i] = t.Name
		} else {
			names[i] = g.Inputs[i].Name
		}
	}
	return names, nil
}

// shapeLike reports whether t looks like a shape, axes or count input: a few integers.
func shapeLike(t *ir.Tensor) bool {
	return (t.DType == ir.I64 || t.DType == ir.I32) && len(t.Data) <= 64*8
}

// sameInAllSets reports whether input i holds the same data in every data set, so that
// specializing the graph to it is valid for all of them.
func sameInAllSets(sets []dataSet, i int) bool {
	for _, ds := range sets[1:] {
		if i >= len(ds.inputs) || !bytes.Equal(ds.inputs[i].Tensor.Data, sets[0].inputs[i].Tensor.Data) ||
			!slices.Equal(ds.inputs[i].Tensor.Shape, sets[0].inputs[i].Tensor.Shape) {
			return false
		}
	}
	return true
}

func staticShape(s []int64) ir.Shape {
	out := make(ir.Shape, len(s))
	for i, d := range s {
		out[i] = ir.Static(d)
	}
	return out
}

// readDataSets reads every test_data_set_* folder of dir, in name order.
func readDataSets(dir string) ([]dataSet, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "test_data_set_*"))
	if err != nil {
		return nil, err
	}
	sort.Strings(paths)
	var sets []dataSet
	for _, p := range paths {
		ds := dataSet{name: filepath.Base(p)}
		if ds.inputs, err = readSeries(p, "input_"); err != nil {
			return nil, err
		}
		if ds.outputs, err = readSeries(p, "output_"); err != nil {
			return nil, err
		}
		sets = append(sets, ds)
	}
	return sets, nil
}

// readSeries reads prefix0.pb, prefix1.pb, ... until one is missing.
func readSeries(dir, prefix string) ([]*onnx.NamedTensor, error) {
	var out []*onnx.NamedTensor
	for i := 0; ; i++ {
		p := filepath.Join(dir, fmt.Sprintf("%s%d.pb", prefix, i))
		if _, err := os.Stat(p); err != nil {
			return out, nil
		}
		t, err := onnx.ReadTensorFile(p)
		if err != nil {
			// Sequence and optional values are stored as SequenceProto/OptionalProto,
			// which ciuic cannot hold; they fail to parse as a TensorProto.
			msg := errors.Unwrap(err).Error()
			if !strings.HasPrefix(msg, "unsupported dtype") {
				msg += " (ciuic reads tensors, not sequences or optionals)"
			}
			return nil, fmt.Errorf("%s%d.pb: %s", prefix, i, msg)
		}
		out = append(out, t)
	}
}

// Compare checks got against want with numpy's allclose rule |got-want| <= atol +
// rtol*|want| for floats (NaN equals NaN, infinities equal by sign) and exact equality
// otherwise. It returns "" when they agree, else what differs: the dtype, the shape, or
// the worst element with its index.
func Compare(got, want *ops.Tensor, rtol, atol float64) string {
	if got == nil {
		return "no output"
	}
	if got.DType != want.DType {
		return fmt.Sprintf("dtype %s, want %s", got.DType, want.DType)
	}
	if !sameShape(got.Shape, want.Shape) {
		return fmt.Sprintf("shape %v, want %v", got.Shape, want.Shape)
	}
	if want.DType.IsFloat() {
		g, err := got.Floats()
		if err != nil {
			return err.Error()
		}
		w, _ := want.Floats()
		worst, worstDiff, bad := -1, 0.0, 0
		for i := range w {
			d, ok := closeF(g[i], w[i], rtol, atol)
			if ok {
				continue
			}
			bad++
			if worst < 0 || d > worstDiff {
				worst, worstDiff = i, d
			}
		}
		if worst < 0 {
			return ""
		}
		return fmt.Sprintf("worst |got-want| %g at %v (got %g, want %g), %d of %d elements differ",
			worstDiff, unravel(worst, want.Shape), g[worst], w[worst], bad, len(w))
	}
	gv, wv := reflect.ValueOf(got.Data), reflect.ValueOf(want.Data)
	first, bad := -1, 0
	for i := 0; i < wv.Len(); i++ {
		if gv.Index(i).Interface() != wv.Index(i).Interface() {
			bad++
			if first < 0 {
				first = i
			}
		}
	}
	if first < 0 {
		return ""
	}
	return fmt.Sprintf("first mismatch at %v (got %v, want %v), %d of %d elements differ",
		unravel(first, want.Shape), gv.Index(first).Interface(), wv.Index(first).Interface(), bad, wv.Len())
}

// closeF returns |g-w| (infinite for NaN or infinity mismatches) and whether g is close to w.
func closeF(g, w, rtol, atol float64) (float64, bool) {
	switch {
	case math.IsNaN(w) || math.IsNaN(g):
		if math.IsNaN(w) && math.IsNaN(g) {
			return 0, true
		}
		return math.Inf(1), false
	case math.IsInf(w, 0) || math.IsInf(g, 0):
		if g == w {
			return 0, true
		}
		return math.Inf(1), false
	}
	d := math.Abs(g - w)
	return d, d <= atol+rtol*math.Abs(w)
}

func sameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// unravel turns a flat row-major index into per-dim indices.
func unravel(i int, shape []int) []int {
	idx := make([]int, len(shape))
	for k := len(shape) - 1; k >= 0; k-- {
		if shape[k] > 0 {
			idx[k] = i % shape[k]
			i /= shape[k]
		}
	}
	return idx
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// firstLines keeps the first n lines of a long message, joined with "; ".
func firstLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	more := ""
	if len(lines) > n {
		more = fmt.Sprintf(" (and %d more)", len(lines)-n)
		lines = lines[:n]
	}
	for i := range lines {
		lines[i] = strings.TrimSpace(lines[i])
	}
	return strings.Join(lines, "; ") + more
}
