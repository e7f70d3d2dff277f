package exec

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ciuic/ciuic/codegen"
	"github.com/ciuic/ciuic/frontend/text"
	"github.com/ciuic/ciuic/ir"
	"github.com/ciuic/ciuic/ops"
)

func parse(t *testing.T, src string) *ir.Graph {
	t.Helper()
	g, err := text.Parse(t.Name()+".ciu", []byte(src))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return g
}

func session(t *testing.T, src string, opts Options) *Session {
	t.Helper()
	s, err := NewSession(parse(t, src), opts)
	if err != nil {
		t.Fatalf("NewSession: %v", err)
	}
	return s
}

// planSession compiles src to a plan and makes a session of it.
func planSession(t *testing.T, src string, opts Options) *Session {
	t.Helper()
	p, err := codegen.Compile(parse(t, src), codegen.Options{})
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	s, err := NewPlanSession(p, opts)
	if err != nil {
		t.Fatalf("NewPlanSession: %v", err)
	}
	return s
}

func f32(shape []int, v ...float32) *ops.Tensor { return ops.MustFromSlice(shape, v) }

// filled returns an f32 tensor of the given shape with elements 0, 1, 2, ...
func filled(shape ...int) *ops.Tensor {
	t := ops.New(ir.F32, shape...)
	for i := range t.F32() {
		t.F32()[i] = float32(i)
	}
	return t
}

func wantTensor(t *testing.T, name string, got, want *ops.Tensor) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: missing", name)
	}
	if !ops.Equal(got, want) {
		t.Errorf("%s = %v, want %v", name, got, want)
	}
}

func TestDiamond(t *testing.T) {
	s := session(t, `graph diamond(x: f32[2, 3]) -> (y) {
  %a = Relu(%x)
  %b = Mul(%x, %x)
  %y = Add(%a, %b)
}`, Options{Workers: 2})
	x := f32([]int{2, 3}, -2, -1, 0, 1, 2, 3)
	out, err := s.Run(context.Background(), map[string]*ops.Tensor{"x": x})
	if err != nil {
		t.Fatal(err)
	}
	// relu(x) + x*x
	wantTensor(t, "y", out["y"], f32([]int{2, 3}, 4, 1, 0, 2, 6, 12))
	if len(out) != 1 {
		t.Errorf("got %d outputs, want 1", len(out))
	}
}

func TestOutputsInGraphOrder(t *testing.T) {
	// Outputs may be inputs, constants, or the same value twice.
	s := session(t, `graph g(x: f32[2]) -> (c, y, x, y2) {
  @c: f32[2] = [5, 6]
  %y = Neg(%x)
  %y2 = Add(%y, @c)
}`, Options{})
	x := f32([]int{2}, 1, 2)
	outs, err := s.RunOrdered(context.Background(), map[string]*ops.Tensor{"x": x})
	if err != nil {
		t.Fatal(err)
	}
	want := []*ops.Tensor{f32([]int{2}, 5, 6), f32([]int{2}, -1, -2), x, f32([]int{2}, 4, 4)}
	if len(outs) != len(want) {
		t.Fatalf("got %d outputs, want %d", len(outs), len(want))
	}
	for i := range want {
		wantTensor(t, s.Outputs()[i].Name, outs[i], want[i])
	}
}

func TestMultiOutput(t *testing.T) {
	s := session(t, `graph g(x: f32[4, 2]) -> (a, b, d) {
  %a, %b = exectest.Halves(%x)
  %d = Sub(%a, %b)
}`, Options{Workers: 2})
	out, err := s.Run(context.Background(), map[string]*ops.Tensor{"x": filled(4, 2)})
	if err != nil {
		t.Fatal(err)
	}
	wantTensor(t, "a", out["a"], f32([]int{2, 2}, 0, 1, 2, 3))
	wantTensor(t, "b", out["b"], f32([]int{2, 2}, 4, 5, 6, 7))
	wantTensor(t, "d", out["d"], f32([]int{2, 2}, -4, -4, -4, -4))
}

func TestONNXSplit(t *testing.T) {
	if _, ok := ops.Lookup("", "Split", ir.F32); !ok {
		t.Skip("no Split kernel yet")
	}
	s := session(t, `graph g(x: f32[3, 2]) -> (a, b) {
  @sizes: i64[2] = [1, 2]
  %a, %b = Split(%x, @sizes) {axis: 0}
}`, Options{Workers: 2})
	out, err := s.Run(context.Background(), map[string]*ops.Tensor{"x": filled(3, 2)})
	if err != nil {
		t.Fatal(err)
	}
	wantTensor(t, "a", out["a"], f32([]int{1, 2}, 0, 1))
	wantTensor(t, "b", out["b"], f32([]int{2, 2}, 2, 3, 4, 5))
}

func TestOptionalInputs(t *testing.T) {
	s := session(t, `graph g(x: f32[2], y: f32[2]) -> (a, b) {
  %a = exectest.OptAdd(%x, _)
  %b = exectest.OptAdd(%x, %y)
}`, Options{})
	out, err := s.Run(context.Background(), map[string]*ops.Tensor{"x": f32([]int{2}, 1, 2), "y": f32([]int{2}, 10, 20)})
	if err != nil {
		t.Fatal(err)
	}
	wantTensor(t, "a", out["a"], f32([]int{2}, 1, 2))
	wantTensor(t, "b", out["b"], f32([]int{2}, 11, 22))
}

func TestMissingKernels(t *testing.T) {
	g := parse(t, `graph g(x: f32[2], n: i64[2]) -> (a, b, c) {
  %a = exectest.NoKernel(%x)
  %b = Relu(%x)
  %c = exectest.Busy(%n)
}`)
	_, err := NewSession(g, Options{})
	want := "graph g: node exectest.NoKernel defining %a: no kernel for exectest.NoKernel on f32\n" +
		"node exectest.Busy defining %c: no kernel for exectest.Busy on i64"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
	var list ir.ErrorList
	if !errors.As(err, &list) || len(list) != 2 || list[0].Node != g.Nodes[0] {
		t.Errorf("error is not an ir.ErrorList naming the nodes: %#v", err)
	}
}

func TestInputErrors(t *testing.T) {
	s := session(t, `graph g(x: f32[N, 4], y: f32[N, 2, M], z: i64[]) -> (a) {
  %a = Relu(%x)
}`, Options{})
	cases := []struct {
		name   string
		inputs map[string]*ops.Tensor
		want   []string
	}{
		{
			name:   "symbolic conflict and static dim",
			inputs: map[string]*ops.Tensor{"x": filled(3, 4), "y": filled(4, 3, 5), "z": ops.Scalar(int64(1))},
			want: []string{
				`input "y": dim 0 binds N to 4, but input "x" bound it to 3`,
				`input "y": dim 1 is 3, want 2 (f32[N, 2, M])`,
			},
		},
		{
			name:   "missing, dtype, rank, unknown",
			inputs: map[string]*ops.Tensor{"x": ops.New(ir.I64, 3, 4), "y": filled(3, 2), "w": filled(1), "v": nil},
			want: []string{
				`input "x": dtype i64, want f32`,
				`input "y": rank 2 (shape [3 2]), want rank 3 (f32[N, 2, M])`,
				`missing input "z" (i64[])`,
				`unknown input "v" (graph inputs: x, y, z)`,
				`unknown input "w" (graph inputs: x, y, z)`,
			},
		},
		{
			name: "malformed tensors",
			inputs: map[string]*ops.Tensor{
				"x": {DType: ir.F32, Shape: []int{3, 4}, Data: make([]float32, 5)},
				"y": {DType: ir.F32, Shape: []int{1, 2, 1}, Data: []int64{1, 2}},
				"z": nil,
			},
			want: []string{
				`input "x": shape [3 4] needs 12 elements, data has 5`,
				`input "y": f32 tensor holds []int64, want []float32`,
				`input "z" is nil, want i64[]`,
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := s.Run(context.Background(), c.inputs)
			var ie *InputError
			if !errors.As(err, &ie) {
				t.Fatalf("err = %v, want an *InputError", err)
			}
			if got, want := strings.Join(ie.Problems, "\n"), strings.Join(c.want, "\n"); got != want {
				t.Errorf("problems:\n%s\nwant:\n%s", got, want)
			}
			if !strings.HasPrefix(err.Error(), "bad inputs:\n\t") {
				t.Errorf("message %q lacks its heading", err)
			}
		})
	}
	// The same session still runs good inputs.
	out, err := s.Run(context.Background(), map[string]*ops.Tensor{"x": filled(2, 4), "y": filled(2, 2, 7), "z": ops.Scalar(int64(0))})
	if err != nil {
		t.Fatal(err)
	}
	wantTensor(t, "a", out["a"], filled(2, 4))
}

// chainSrc is a chain of n Slow nodes; parallelSlow runs them beside a Fail node.
const slowChain = `graph g(x: f32[4]) -> (y) {
  %a = exectest.Slow(%x)
  %b = exectest.Slow(%a)
  %y = exectest.Slow(%b)
}`

func TestCancel(t *testing.T) {
	for _, c := range []struct {
		workers int
		plan    bool
	}{{1, false}, {2, false}, {2, true}} { // one-worker plan runs check between nodes only
		workers := c.workers
		s := session(t, slowChain, Options{Workers: workers})
		if c.plan {
			s = planSession(t, slowChain, Options{Workers: workers})
		}
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(30*time.Millisecond, cancel)
		start := time.Now()
		_, err := s.Run(ctx, map[string]*ops.Tensor{"x": filled(4)})
		took := time.Since(start)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("workers=%d, plan %v: err = %v, want context.Canceled", workers, c.plan, err)
		}
		// Uncanceled, the chain takes 3*2000*slowItem/workers >= 600ms. A chunk is at
		// most 2000/(4*workers) items (100ms with one worker).
		if took > 300*time.Millisecond {
			t.Errorf("workers=%d, plan %v: cancellation took %v", workers, c.plan, took)
		}
	}
}

func TestDeadline(t *testing.T) {
	s := session(t, slowChain, Options{Workers: 2})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := s.Run(ctx, map[string]*ops.Tensor{"x": filled(4)}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want context.DeadlineExceeded", err)
	}
}

func TestKernelError(t *testing.T) {
	s := session(t, `graph g(x: f32[2, 3], w: f32[4, 5]) -> (a, b) {
  %s = exectest.Slow(%w)
  %a = exectest.Slow(%s)
  %f = exectest.OptAdd(%x, %x)
  %b = exectest.Fail(%f) [name: "bad"]
}`, Options{Workers: 2})
	start := time.Now()
	_, err := s.Run(context.Background(), map[string]*ops.Tensor{"x": filled(2, 3), "w": filled(4, 5)})
	took := time.Since(start)
	want := `node exectest.Fail "bad": exectest.Fail with inputs f32[2, 3]: boom`
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
	if took > 300*time.Millisecond {
		t.Errorf("the failure did not cancel the slow branch: run took %v", took)
	}
}

func TestKernelPanicAndBadOutput(t *testing.T) {
	s := session(t, `graph g(x: f32[2]) -> (a) { %a = exectest.Panic(%x) }`, Options{Workers: 4})
	_, err := s.Run(context.Background(), map[string]*ops.Tensor{"x": filled(2)})
	if err == nil || !strings.HasPrefix(err.Error(), "node exectest.Panic defining %a: exectest.Panic with inputs f32[2]: kernel panic: kaboom") {
		t.Errorf("err = %v", err)
	}
	s = session(t, `graph g(x: f32[2]) -> (a) { %a = exectest.WrongShape(%x) }`, Options{})
	_, err = s.Run(context.Background(), map[string]*ops.Tensor{"x": filled(2)})
	want := "node exectest.WrongShape defining %a: exectest.WrongShape with inputs f32[2]: kernel produced f32[7] for output %a, declared f32[2]"
	if err == nil || err.Error() != want {
		t.Errorf("err = %v\nwant %s", err, want)
	}
}

// TestWorkerBudget runs eight independent Busy nodes, each splitting its work into
// 16 chunks, and checks that no more than Workers goroutines are ever inside a chunk
// at once, while more than one is (the branches and chunks do run in parallel).
func TestWorkerBudget(t *testing.T) {
	var src strings.Builder
	src.WriteString("graph g(x: f32[2]) -> (y) {\n")
	for i := 0; i < 8; i++ {
		src.WriteString("  %b" + string(rune('0'+i)) + " = exectest.Busy(%x)\n")
	}
	src.WriteString("  %y = Sum(%b0, %b1, %b2, %b3, %b4, %b5, %b6, %b7)\n}")
	for _, workers := range []int{1, 3} {
		s := session(t, src.String(), Options{Workers: workers})
		// The same graph compiled to a plan: its scheduler and helpers keep the budget too.
		p, err := codegen.Compile(parse(t, src.String()), codegen.Options{})
		if err != nil {
			t.Fatal(err)
		}
		ps, err := NewPlanSession(p, Options{Workers: workers})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []*Session{s, ps, ps} { // twice: the plan's run state is reused
			resetBusy()
			out, err := s.Run(context.Background(), map[string]*ops.Tensor{"x": f32([]int{2}, 1, 2)})
			if err != nil {
				t.Fatal(err)
			}
			wantTensor(t, "y", out["y"], f32([]int{2}, 8, 16))
			if got := maxBusy.Load(); got > int64(workers) || (workers > 1 && got < 2) {
				t.Errorf("workers=%d, plan %v: %d goroutines busy at once", workers, s.plan != nil, got)
			}
		}
	}
	// A single node gets the whole budget for its parallel-for.
	s := session(t, "graph g(x: f32[2]) -> (y) { %y = exectest.Busy(%x) }", Options{Workers: 4})
	resetBusy()
	if _, err := s.Run(context.Background(), map[string]*ops.Tensor{"x": filled(2)}); err != nil {
		t.Fatal(err)
	}
	if got := maxBusy.Load(); got < 2 || got > 4 {
		t.Errorf("one node with 4 workers: %d goroutines busy at once, want 2..4", got)
	}
}

func TestPeakBytes(t *testing.T) {
	const n, size = 10, 1024 // chain of 10 Relus on f32[1024]: 4 KiB per tensor
	var src strings.Builder
	src.WriteString("graph chain(x: f32[1024]) -> (y) {\n  %t0 = Relu(%x)\n")
	for i := 1; i < n; i++ {
		src.WriteString("  %t" + itoa(i) + " = Neg(%t" + itoa(i-1) + ")\n")
	}
	src.WriteString("  %y = Relu(%t" + itoa(n-1) + ")\n}")
	s := session(t, src.String(), Options{Workers: 2})
	r, err := s.Execute(context.Background(), map[string]*ops.Tensor{"x": filled(size)})
	if err != nil {
		t.Fatal(err)
	}
	all := int64((n + 1) * size * 4)
	if r.Stats.PeakBytes <= 0 || r.Stats.PeakBytes > 2*size*4 {
		t.Errorf("PeakBytes = %d, want at most two tensors (%d) of the %d computed", r.Stats.PeakBytes, 2*size*4, all)
	}
	if r.Stats.Nodes != nil {
		t.Errorf("Stats.Nodes recorded without Profile or Trace")
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestConcurrentRuns(t *testing.T) {
	s := session(t, `graph g(x: f32[N, 3]) -> (y, z) {
  %a = Relu(%x)
  %b = Neg(%x)
  %c = exectest.Sum(%a)
  %y = Add(%a, %b)
  %z = Mul(%c, %b)
}`, Options{Workers: 3, Profile: true})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for gr := 0; gr < 8; gr++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := 0; it < 20; it++ {
				rows := 1 + (gr+it)%5
				x := filled(rows, 3)
				out, err := s.Run(context.Background(), map[string]*ops.Tensor{"x": x})
				if err != nil {
					errs <- err
					return
				}
				y, z := out["y"].F32(), out["z"].F32()
				total := float32(0)
				for _, v := range x.F32() {
					total += v
				}
				for i, v := range x.F32() {
					if y[i] != 0 || z[i] != -total*v {
						errs <- errors.New("wrong result in a concurrent run")
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestTrace(t *testing.T) {
	s := session(t, `graph g(x: f32[2]) -> (y) {
  %a = exectest.Busy(%x)
  %b = exectest.Busy(%x)
  %y = Add(%a, %b)
}`, Options{Workers: 2, Trace: true})
	r, err := s.Execute(context.Background(), map[string]*ops.Tensor{"x": filled(2)})
	if err != nil {
		t.Fatal(err)
	}
	var buf strings.Builder
	if err := r.Stats.WriteTrace(&buf); err != nil {
		t.Fatal(err)
	}
	var tf struct {
		TraceEvents []struct {
			Name string            `json:"name"`
			Ph   string            `json:"ph"`
			Ts   float64           `json:"ts"`
			Dur  float64           `json:"dur"`
			Tid  int               `json:"tid"`
			Args map[string]string `json:"args"`
		} `json:"traceEvents"`
	}
	if err := json.Unmarshal([]byte(buf.String()), &tf); err != nil {
		t.Fatalf("trace is not JSON: %v\n%s", err, buf.String())
	}
	if len(tf.TraceEvents) != 3 {
		t.Fatalf("%d events, want 3", len(tf.TraceEvents))
	}
	ends := map[string]float64{}
	for _, e := range tf.TraceEvents {
		if e.Ph != "X" || e.Dur < 0 || e.Tid < 0 || e.Tid >= 2 {
			t.Errorf("bad event %+v", e)
		}
		ends[e.Args["node"]] = e.Ts + e.Dur
	}
	last := tf.TraceEvents[2]
	if last.Name != "Add" || last.Ts < ends["exectest.Busy defining %a"] || last.Ts < ends["exectest.Busy defining %b"] {
		t.Errorf("Add does not start after both Busy nodes end: %+v", tf.TraceEvents)
	}
	if ops := r.Stats.ByOp(); len(ops) != 2 || ops[0].Op != "exectest.Busy" || ops[0].Count != 2 {
		t.Errorf("ByOp = %+v", ops)
	}
	if top := r.Stats.TopNodes(1); len(top) != 1 || top[0].Node.Op != "Busy" {
		t.Errorf("TopNodes(1) = %+v", top)
	}
}

func TestDefaultWorkers(t *testing.T) {
	s := session(t, `graph g(x: f32[1]) -> (y) { %y = Relu(%x) }`, Options{})
	if s.Workers() < 1 {
		t.Errorf("Workers() = %d", s.Workers())
	}
	var nan = float32(math.NaN())
	out, err := s.Run(context.Background(), map[string]*ops.Tensor{"x": f32([]int{1}, nan)})
	if err != nil || !math.IsNaN(float64(out["y"].F32()[0])) {
		t.Errorf("Relu(NaN) = %v, %v", out["y"], err)
	}
}

// TestPeakBytesBranches checks that ready nodes run depth first: with one worker, four
// branches that each widen to f32[1, 256] and narrow back to f32[1, 1] never hold more
// than one branch's wide tensors at once.
func TestPeakBytesBranches(t *testing.T) {
	var src strings.Builder
	src.WriteString("graph g(x: f32[1, 4]) -> (y) {\n  @w: f32[4, 256] = [" +
		strings.TrimSuffix(strings.Repeat("0.5, ", 1024), ", ") + "]\n  @v: f32[256, 1] = [" +
		strings.TrimSuffix(strings.Repeat("0.25, ", 256), ", ") + "]\n")
	for i := 0; i < 4; i++ {
		src.WriteString("  %y" + itoa(i) + " = MatMul(Relu(MatMul(%x, @w)), @v)\n")
	}
	src.WriteString("  %y = Sum(%y0, %y1, %y2, %y3)\n}")
	s := session(t, src.String(), Options{Workers: 1})
	r, err := s.Execute(context.Background(), map[string]*ops.Tensor{"x": f32([]int{1, 4}, 1, 2, 3, 4)})
	if err != nil {
		t.Fatal(err)
	}
	// y_i = 256 * 0.25 * relu(0.5*(1+2+3+4)) = 320; y = 1280.
	wantTensor(t, "y", r.Outputs[0], f32([]int{1, 1}, 1280))
	const wide = 256 * 4
	if r.Stats.PeakBytes > 2*wide+5*4 {
		t.Errorf("PeakBytes = %d, want at most two wide tensors (%d) and the small ones", r.Stats.PeakBytes, 2*wide)
	}
}

// TestPeakBytesViews checks that a view of an input costs nothing and that tensors
// sharing one buffer count once.
func TestPeakBytesViews(t *testing.T) {
	s := session(t, `graph g(x: f32[256]) -> (a, y) {
  %a = Identity(%x)
  %r = Relu(%x)
  %i = Identity(%r)
  %y = Neg(%i)
}`, Options{Workers: 1})
	r, err := s.Execute(context.Background(), map[string]*ops.Tensor{"x": filled(256)})
	if err != nil {
		t.Fatal(err)
	}
	if r.Outputs[0].F32()[3] != 3 {
		t.Errorf("a = %v", r.Outputs[0])
	}
	if r.Stats.PeakBytes != 2*256*4 {
		t.Errorf("PeakBytes = %d, want %d (r and y; a is x, i is r)", r.Stats.PeakBytes, 2*256*4)
	}
}
