package passes

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ciuic/ciuic/frontend/text"
	"github.com/ciuic/ciuic/ir"
	"github.com/ciuic/ciuic/ops"
	"github.com/ciuic/ciuic/ops/npy"
)

// observe runs an observer's two passes over x.
func observe(x []float32) *observer {
	o := &observer{}
	o.first(x)
	o.second(x)
	return o
}

func TestCalibrationMethods(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	// Uniform on [-1, 3]: MinMax gives the range itself.
	u := make([]float32, 100000)
	for i := range u {
		u[i] = float32(-1 + 4*r.Float64())
	}
	if lo, hi := observe(u).rangeOf("minmax"); math.Abs(lo+1) > 1e-3 || math.Abs(hi-3) > 1e-3 {
		t.Errorf("minmax of U(-1, 3): [%g, %g]", lo, hi)
	}
	// All positive (after a ReLU): the range still contains 0, so zero is exact.
	if lo, _ := observe([]float32{1, 2, 3}).rangeOf("minmax"); lo != 0 {
		t.Errorf("minmax of positive values: lo %g, want 0", lo)
	}
	// N(0, 1) with a few huge outliers: MinMax takes the outliers; Percentile and
	// Entropy clip them and stay within a few sigma.
	g := make([]float32, 200000)
	for i := range g {
		g[i] = float32(r.NormFloat64())
	}
	g[0], g[1], g[2] = 100, -80, 90
	o := observe(g)
	if _, hi := o.rangeOf("minmax"); hi != 100 {
		t.Errorf("minmax hi %g, want the outlier 100", hi)
	}
	lo, hi := o.rangeOf("percentile")
	if hi < 3 || hi > 5 || lo > -3 || lo < -5 {
		t.Errorf("percentile range [%g, %g], want about ±3.9 (the 0.01%% tails of N(0,1))", lo, hi)
	}
	lo, hi = o.rangeOf("entropy")
	if hi < 2 || hi > 10 || lo > -2 || lo < -10 {
		t.Errorf("entropy range [%g, %g], want a few sigma, clipping the outliers", lo, hi)
	}
	// Entropy on a plain Gaussian (no outliers) clips less than MinMax but keeps the bulk.
	if th := entropyThreshold(observe(g[3:]).ahist, observe(g[3:]).amax); th < 2 || th > observe(g[3:]).amax {
		t.Errorf("entropy threshold %g for N(0,1)", th)
	}
	// scaleZero: the zero point makes 0 exactly representable.
	s, z := scaleZero(-1, 3)
	if math.Abs(float64(s)-4.0/255) > 1e-7 || z != 64 {
		t.Errorf("scaleZero(-1, 3) = %g, %d; want 4/255, 64", s, z)
	}
}

const mlpModel = `graph m(x: f32[8, 16]) -> (y: f32[8, 8]) {
  @w1: f32[16, 32] = %s
  @w2: f32[32, 32] = %s
  @w3: f32[32, 8] = %s
  %%h = Relu(MatMul(%%x, @w1))
  %%k = Relu(MatMul(%%h, @w2))
  %%y = MatMul(%%k, @w3)
}`

func mlp(t *testing.T) *ir.Graph {
	t.Helper()
	r := rand.New(rand.NewPCG(9, 9))
	mat := func(k, n int, outlier bool) string {
		vals := make([]string, k*n)
		for i := range vals {
			v := r.NormFloat64() / math.Sqrt(float64(k))
			if outlier && i%n == 0 {
				v *= 40 // a column with huge weights: per-tensor scales suffer
			}
			vals[i] = strings.TrimRight(strings.TrimRight(ftoa(v), "0"), ".")
		}
		return "[" + strings.Join(vals, ", ") + "]"
	}
	src := sprintf(mlpModel, mat(16, 32, false), mat(32, 32, true), mat(32, 8, false))
	g, err := text.Parse("mlp.ciu", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestQuantizeDynamicReport(t *testing.T) {
	g := mlp(t)
	res, err := Run(g, Config{Level: 2, VerifyEach: true, Quantize: QuantizeDynamic})
	if err != nil {
		t.Fatal(err)
	}
	q := res.Quantization
	if q == nil || len(q.Layers) != 3 {
		t.Fatalf("report: %+v", q)
	}
	if q.IntFLOPShare != 1 || q.WeightRatio > 0.3 {
		t.Errorf("int share %g, weight ratio %g", q.IntFLOPShare, q.WeightRatio)
	}
	if q.OutputRelRMS <= 0 || q.OutputRelRMS > 0.05 || q.OutputCosine < 0.99 {
		t.Errorf("output error rel RMS %g, cosine %g", q.OutputRelRMS, q.OutputCosine)
	}
	for _, l := range q.Layers {
		if !l.Quantized || l.SNRdB < 20 {
			t.Errorf("layer %+v", l)
		}
	}
	if n := ir.ComputeStats(g).Ops["ciuic.DenseInt8"]; n != 3 {
		t.Errorf("%d DenseInt8 nodes, want 3:\n%s", n, ir.Print(g))
	}
	if !strings.Contains(q.String(), "top-1 agreement") {
		t.Errorf("report text:\n%s", q)
	}
}

func TestQuantizeExcludeAndPerTensor(t *testing.T) {
	g := mlp(t)
	res, err := Run(g, Config{Level: 2, Quantize: QuantizeDynamic, QuantizeExclude: "^k$"})
	if err != nil {
		t.Fatal(err)
	}
	if n := ir.ComputeStats(g).Ops["ciuic.DenseInt8"]; n != 2 {
		t.Errorf("%d DenseInt8 nodes, want 2 (k excluded)", n)
	}
	perChannel := res.Quantization.OutputRelRMS
	g = mlp(t)
	res, err = Run(g, Config{Level: 2, Quantize: QuantizeDynamic, QuantizeExclude: "^k$", PerTensor: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Quantization.OutputRelRMS < perChannel {
		t.Errorf("per-tensor error %g below per-channel %g", res.Quantization.OutputRelRMS, perChannel)
	}
	if _, err := Run(mlp(t), Config{Quantize: "int4"}); err == nil || !strings.Contains(err.Error(), "int4") {
		t.Errorf("bad mode: %v", err)
	}
	if _, err := Run(mlp(t), Config{Quantize: QuantizeStatic}); err == nil || !strings.Contains(err.Error(), "-calib") {
		t.Errorf("static without -calib: %v", err)
	}
}

func TestQuantizeBudget(t *testing.T) {
	full, err := Run(mlp(t), Config{Level: 2, Quantize: QuantizeDynamic, PerTensor: true})
	if err != nil {
		t.Fatal(err)
	}
	budget := full.Quantization.OutputRelRMS / 2
	g := mlp(t)
	res, err := Run(g, Config{Level: 2, Quantize: QuantizeDynamic, PerTensor: true, QuantizeBudget: budget})
	if err != nil {
		t.Fatal(err)
	}
	q := res.Quantization
	if q.OutputRelRMS > budget {
		t.Errorf("output error %g over the budget %g", q.OutputRelRMS, budget)
	}
	kept, most := 0, ""
	best := -1.0
	for _, l := range q.Layers {
		if !l.Quantized {
			kept++
		}
		if l.Sensitivity > best {
			best, most = l.Sensitivity, l.Name
		}
	}
	if kept == 0 || kept == len(q.Layers) {
		t.Errorf("budget kept %d of %d layers in float", kept, len(q.Layers))
	}
	for _, l := range q.Layers {
		if l.Name == most && l.Quantized {
			t.Errorf("the most sensitive layer %s was quantized: %+v", most, q.Layers)
		}
	}
	// A zero-error budget keeps everything in float.
	g = mlp(t)
	res, err = Run(g, Config{Level: 2, Quantize: QuantizeDynamic, QuantizeBudget: 1e-12})
	if err != nil {
		t.Fatal(err)
	}
	if n := ir.ComputeStats(g).Ops["ciuic.DenseInt8"]; n != 0 || res.Quantization.OutputRelRMS != 0 {
		t.Errorf("budget 1e-12: %d DenseInt8 nodes, error %g", n, res.Quantization.OutputRelRMS)
	}
}

func TestQuantizeStatic(t *testing.T) {
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(4, 4))
	for s := 0; s < 4; s++ {
		x := ops.New(ir.F32, 8, 16)
		for i := range x.F32() {
			x.F32()[i] = float32(r.NormFloat64())
		}
		sd := filepath.Join(dir, "s"+string(rune('0'+s)))
		if err := os.MkdirAll(sd, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := npy.WriteFile(filepath.Join(sd, "x.npy"), x); err != nil {
			t.Fatal(err)
		}
	}
	for _, method := range []string{"minmax", "percentile", "entropy"} {
		g := mlp(t)
		res, err := Run(g, Config{Level: 2, VerifyEach: true, Quantize: QuantizeStatic, CalibDir: dir, CalibMethod: method})
		if err != nil {
			t.Fatal(err)
		}
		q := res.Quantization
		if q.InputsFrom != "calibration" || q.Samples != 4 || q.CalibMethod != method {
			t.Errorf("%s: report %+v", method, q)
		}
		if q.OutputRelRMS > 0.1 {
			t.Errorf("%s: output error %g", method, q.OutputRelRMS)
		}
		ok := false
		for _, n := range g.Nodes {
			ok = ok || n.Op == "DenseInt8" && len(n.Inputs) == 6 && n.Inputs[4].Const != nil
		}
		if !ok {
			t.Errorf("%s: no static DenseInt8:\n%s", method, ir.Print(g))
		}
	}
	if _, err := Run(mlp(t), Config{Quantize: QuantizeStatic, CalibDir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "no samples") {
		t.Errorf("empty calibration dir: %v", err)
	}
}

func ftoa(v float64) string { return strconv.FormatFloat(v, 'f', 6, 64) }

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }
