package passes

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ciuic/ciuic/frontend/text"
	"github.com/ciuic/ciuic/ir"
	"github.com/ciuic/ciuic/ops"
	"github.com/ciuic/ciuic/ops/npy"
)

func randList(r *rand.Rand, n int, scale func(i int) float64) string {
	vals := make([]string, n)
	for i := range vals {
		vals[i] = ftoa(r.NormFloat64() * scale(i))
	}
	return "[" + strings.Join(vals, ", ") + "]"
}

func parse(t *testing.T, src string) *ir.Graph {
	t.Helper()
	g, err := text.Parse("q.ciu", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// relRMSOf runs g on the seeded measurement inputs and returns the relative RMS error of
// its last output against ref's, overall and (rows given) over those rows of the last dim.
func relRMSOf(t *testing.T, g, ref *ir.Graph, rows ...int) (float64, float64) {
	t.Helper()
	var st, sub errStats
	for seed := uint64(1); seed <= 2; seed++ {
		in, err := seededInputs(ref, seed)
		if err != nil {
			t.Fatal(err)
		}
		var outs [2][]*ops.Tensor
		for i, gg := range []*ir.Graph{ref, g} {
			e, err := newEvaluator(gg)
			if err != nil {
				t.Fatal(err)
			}
			if outs[i], err = e.run(in, nil, nil); err != nil {
				t.Fatal(err)
			}
		}
		a, b := outs[0][len(outs[0])-1], outs[1][len(outs[1])-1]
		st.add(a, b, false)
		n := a.Shape[a.Rank()-1]
		for _, r := range rows {
			sub.add(ops.MustFromSlice([]int{n}, a.F32()[r*n:(r+1)*n]), ops.MustFromSlice([]int{n}, b.F32()[r*n:(r+1)*n]), false)
		}
	}
	return st.relRMS(), sub.relRMS()
}

// Rows of very different ranges (here scaled from 1 to 2^15) are quantized per row,
// which the pass chooses by itself and which cuts the error many times over.
func TestQuantizeRowsChosen(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	scales := make([]string, 16)
	for i := range scales {
		scales[i] = ftoa(math.Pow(2, float64(i)))
	}
	src := sprintf(`graph r(x: f32[16, 64]) -> (y: f32[16, 32]) {
  @s: f32[16, 1] = [%s]
  @w: f32[64, 32] = %s
  %%y = MatMul(Mul(%%x, @s), @w)
}`, strings.Join(scales, ", "), randList(r, 64*32, func(int) float64 { return 0.125 }))
	g := parse(t, src)
	res, err := Run(g, Config{Level: 2, VerifyEach: true, Quantize: QuantizeDynamic})
	if err != nil {
		t.Fatal(err)
	}
	var d *ir.Node
	for _, n := range g.Nodes {
		if n.OpName() == "ciuic.DenseInt8" {
			d = n
		}
	}
	if d == nil || d.Attrs.String("x_quant", "") != "row" || res.Quantization.Layers[0].XQuant != "row" {
		t.Fatalf("per-row activations not chosen:\n%s", ir.Print(g))
	}
	// The output error: overall (dominated by the largest rows) and of the smallest row,
	// which per-tensor quantization all but zeroes.
	ref := parse(t, src)
	rowErr, rowSmall := relRMSOf(t, g, ref, 0)
	d.Attrs["x_quant"] = ir.StringAttr("tensor")
	tensorErr, tensorSmall := relRMSOf(t, g, ref, 0)
	t.Logf("output rel. RMS error: per row %.3g (row 0: %.3g), per tensor %.3g (row 0: %.3g)", rowErr, rowSmall, tensorErr, tensorSmall)
	if rowErr*1.5 > tensorErr || rowSmall*10 > tensorSmall || math.Abs(rowErr-res.Quantization.OutputRelRMS) > 1e-6 {
		t.Errorf("per row %g (report %g, row 0 %g) vs per tensor %g (row 0 %g): want a >1.5x drop, >10x on row 0",
			rowErr, res.Quantization.OutputRelRMS, rowSmall, tensorErr, tensorSmall)
	}

	// Rows of similar ranges (the mlp's N(0, 1) input) stay per tensor.
	res, err = Run(mlp(t), Config{Level: 2, Quantize: QuantizeDynamic})
	if err != nil {
		t.Fatal(err)
	}
	if l := res.Quantization.Layers[0]; l.XQuant != "tensor" {
		t.Errorf("layer %s of similar rows: x_quant %q", l.Name, l.XQuant)
	}
}

// A Conv with a constant weight becomes ciuic.ConvInt8 within the error of int8, and an
// embedding table becomes ciuic.GatherInt8 at about a quarter of its bytes; a table the
// LM head also reads stays float.
func TestQuantizeConvAndEmbedding(t *testing.T) {
	r := rand.New(rand.NewPCG(6, 6))
	src := sprintf(`graph c(x: f32[1, 3, 12, 12]) -> (y: f32[1, 8, 6, 6]) {
  @w: f32[8, 3, 3, 3] = %s
  @b: f32[8] = %s
  %%y = Relu(Conv(%%x, @w, @b) {pads: [1, 1, 1, 1], strides: [2, 2]})
}`, randList(r, 8*27, func(i int) float64 { return 0.2 * float64(1+i/27) }), randList(r, 8, func(int) float64 { return 0.1 }))
	g := parse(t, src)
	res, err := Run(g, Config{Level: 2, VerifyEach: true, Quantize: QuantizeDynamic})
	if err != nil {
		t.Fatal(err)
	}
	q := res.Quantization
	if st := ir.ComputeStats(g); st.Ops["ciuic.ConvInt8"] != 1 || st.Ops["Conv"] != 0 {
		t.Fatalf("ops %v:\n%s", st.Ops, ir.Print(g))
	}
	if q.OutputRelRMS <= 0 || q.OutputRelRMS > 0.02 || q.Layers[0].Kind != "conv" || !q.Layers[0].Quantized {
		t.Errorf("conv: error %g, layers %+v", q.OutputRelRMS, q.Layers)
	}
	if e, _ := relRMSOf(t, g, parse(t, src)); math.Abs(e-q.OutputRelRMS) > 1e-6 {
		t.Errorf("measured error %g, reported %g", e, q.OutputRelRMS)
	}
	// Static mode keeps Conv in float (with a reason).
	g = parse(t, src)
	if _, err := Run(g, Config{Level: 2, Quantize: QuantizeStatic, CalibDir: calibDir(t, "x", 1, 3, 12, 12)}); err != nil {
		t.Fatal(err)
	}
	if ir.ComputeStats(g).Ops["Conv"] != 1 {
		t.Errorf("static mode quantized the Conv:\n%s", ir.Print(g))
	}

	const emb = `graph e(ids: i64[1, 8]) -> (y: f32[1, 8, 16]) {
  @wte: f32[256, 64] = %s
  @w: f32[64, 16] = %s
  %%y = MatMul(Gather(@wte, %%ids), %s)
}`
	table, w := randList(r, 256*64, func(int) float64 { return 1 }), randList(r, 64*16, func(int) float64 { return 0.125 })
	g = parse(t, sprintf(emb, table, w, "@w"))
	res, err = Run(g, Config{Level: 2, VerifyEach: true, Quantize: QuantizeDynamic})
	if err != nil {
		t.Fatal(err)
	}
	q = res.Quantization
	if st := ir.ComputeStats(g); st.Ops["ciuic.GatherInt8"] != 1 || st.Ops["Gather"] != 0 {
		t.Fatalf("ops %v:\n%s", st.Ops, ir.Print(g))
	}
	if q.WeightRatio > 0.27 || q.Layers[0].Kind != "gather" || q.Layers[0].SNRdB < 35 {
		t.Errorf("embedding: weight ratio %g, layers %+v", q.WeightRatio, q.Layers)
	}
	// A table that a float MatMul also reads stays f32 (an int8 copy would add bytes).
	g = parse(t, sprintf(`graph e(ids: i64[1, 8], h: f32[1, 256]) -> (e: f32[1, 8, 64], y: f32[1, 64]) {
  @wte: f32[256, 64] = %s
  %%e = Gather(@wte, %%ids)
  %%y = MatMul(%%h, @wte)
}`, table))
	res, err = Run(g, Config{Level: 2, Quantize: QuantizeDynamic, QuantizeExclude: "^y$"})
	if err != nil {
		t.Fatal(err)
	}
	if ir.ComputeStats(g).Ops["ciuic.GatherInt8"] != 0 || res.Quantization.WeightRatio != 1 || !strings.Contains(res.Quantization.Layers[0].Kept, "also read by") {
		t.Errorf("shared table: weight ratio %g, layers %+v\n%s", res.Quantization.WeightRatio, res.Quantization.Layers, ir.Print(g))
	}
}

// calibDir writes one calibration sample of a normal f32 input name of the given shape.
func calibDir(t *testing.T, name string, shape ...int) string {
	t.Helper()
	dir := t.TempDir()
	x := ops.New(ir.F32, shape...)
	r := rand.New(rand.NewPCG(7, 7))
	for i := range x.F32() {
		x.F32()[i] = float32(r.NormFloat64())
	}
	if err := npy.WriteFile(filepath.Join(dir, name+".npy"), x); err != nil {
		t.Fatal(err)
	}
	return dir
}

// The LM head (a projection of a normalization's output straight to a graph output)
// stays float unless QuantizeLMHead; a constant table added to the activations (a
// position embedding folded into a constant) is stored as int8 rows, dequantized at run
// time, and counted in the measured error.
func TestQuantizeLMHeadAndTable(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	const src = `graph h(x: f32[128, 64]) -> (y: f32[128, 32]) {
  @pos: f32[128, 256] = %s
  @w1: f32[64, 256] = %s
  @g: f32[256] = %s
  @wh: f32[256, 32] = %s
  %%h = Add(MatMul(%%x, @w1), @pos)
  %%y = MatMul(LayerNormalization(%%h, @g) {axis: -1}, @wh)
}`
	text := sprintf(src, randList(r, 128*256, func(int) float64 { return 0.5 }), randList(r, 64*256, func(int) float64 { return 0.125 }),
		randList(r, 256, func(int) float64 { return 1 }), randList(r, 256*32, func(int) float64 { return 0.0625 }))
	for _, lmHead := range []bool{false, true} {
		g := parse(t, text)
		res, err := Run(g, Config{Level: 2, VerifyEach: true, Quantize: QuantizeDynamic, QuantizeLMHead: lmHead})
		if err != nil {
			t.Fatal(err)
		}
		q := res.Quantization
		var table, head *LayerReport
		for _, l := range q.Layers {
			switch {
			case l.Kind == kindTable:
				table = &l
			case l.Name == "y":
				head = &l
			}
		}
		if table == nil || !table.Quantized || table.SNRdB < 35 {
			t.Fatalf("lmHead=%v: table layer %+v in %+v", lmHead, table, q.Layers)
		}
		if head == nil || head.Quantized != lmHead || !lmHead && !strings.Contains(head.Kept, "LM head") {
			t.Errorf("lmHead=%v: LM head layer %+v", lmHead, head)
		}
		st := ir.ComputeStats(g)
		if st.Ops["DequantizeLinear"] != 1 || st.Ops["ciuic.DenseInt8"] != map[bool]int{false: 1, true: 2}[lmHead] {
			t.Errorf("lmHead=%v: ops %v\n%s", lmHead, st.Ops, ir.Print(g))
		}
		// The table is stored as int8 (plus a scale per row): the whole model shrinks to
		// about a quarter with the LM head quantized.
		if lmHead && q.WeightRatio > 0.27 {
			t.Errorf("weight ratio %g", q.WeightRatio)
		}
		if e, _ := relRMSOf(t, g, parse(t, text)); math.Abs(e-q.OutputRelRMS) > 1e-6 || e > 0.05 {
			t.Errorf("lmHead=%v: measured error %g, reported %g", lmHead, e, q.OutputRelRMS)
		}
	}
}
