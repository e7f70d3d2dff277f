package passes

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"

	"golang.org/x/sys/cpu"

	"github.com/ciuic/ciuic/ir"
	"github.com/ciuic/ciuic/ops"
)

// QuantReport is what -quantize did and what it cost: printed by ciuicc and emitted under
// "quantization" in -emit stats. Its JSON form is part of the CLI contract.
type QuantReport struct {
	Mode              string  `json:"mode"`
	CalibMethod       string  `json:"calib_method,omitempty"`
	PerChannel        bool    `json:"per_channel"`
	WeightBytesBefore int64   `json:"weight_bytes_before"`
	WeightBytesAfter  int64   `json:"weight_bytes_after"`
	WeightRatio       float64 `json:"weight_ratio"`
	// IntFLOPShare is the share of matrix-product and convolution FLOPs (MatMul, Gemm,
	// Dense, DenseInt8, Attention, Conv, ConvInt8; other ops are not counted) that run in
	// integer arithmetic.
	IntFLOPShare float64 `json:"int_flop_share"`
	MatMulFLOPs  int64   `json:"matmul_flops"`
	// Errors are measured on Samples inputs (InputsFrom: "calibration" or "seeded").
	InputsFrom      string        `json:"inputs_from"`
	Samples         int           `json:"samples"`
	OutputRelRMS    float64       `json:"output_rel_rms"`
	OutputCosine    float64       `json:"output_cosine"`
	Top1Agreement   float64       `json:"top1_agreement"` // share of rows of the last output whose argmax agrees; -1 if not a classifier-like output
	Budget          float64       `json:"budget,omitempty"`
	Layers          []LayerReport `json:"layers"`
	VNNI            bool          `json:"cpu_vnni"`
	AVX2            bool          `json:"cpu_avx2"`
	FastInt8Kernels bool          `json:"fast_int8_kernels"`
	Warnings        []string      `json:"warnings"`

	rowX map[*ir.Node]bool // Dense nodes whose activations quantize-lower quantizes per row
}

// LayerReport is one candidate layer: quantized or kept in float, and the error of its
// output (in the fully quantized model, against float) on the measurement inputs.
type LayerReport struct {
	Name      string  `json:"name"`
	Quantized bool    `json:"quantized"`
	Kept      string  `json:"kept_float_because,omitempty"`
	Kind      string  `json:"kind"`              // "dense", "gather" (embedding table, weight-only), "table" (added table, weight-only) or "conv"
	XQuant    string  `json:"x_quant,omitempty"` // run-time activation quantization: "tensor" or "row"
	FLOPs     int64   `json:"flops"`
	SNRdB     float64 `json:"snr_db"`
	Cosine    float64 `json:"cosine"`
	// Sensitivity is the output relative RMS error with only this layer quantized
	// (measured in budget mode only).
	Sensitivity float64 `json:"sensitivity,omitempty"`
}

// String prints the report for humans.
func (r *QuantReport) String() string {
	s := fmt.Sprintf("quantization %s", r.Mode)
	if r.CalibMethod != "" {
		s += " (" + r.CalibMethod + " calibration)"
	}
	s += fmt.Sprintf(": weights %s -> %s (%.1f%%), %.1f%% of matmul and conv FLOPs in int8\n",
		mib(r.WeightBytesBefore), mib(r.WeightBytesAfter), 100*r.WeightRatio, 100*r.IntFLOPShare)
	s += fmt.Sprintf("  error vs float on %d %s input(s): output rel. RMS %.3g, cosine %.6f", r.Samples, r.InputsFrom, r.OutputRelRMS, r.OutputCosine)
	if r.Top1Agreement >= 0 {
		s += fmt.Sprintf(", top-1 agreement %.1f%%", 100*r.Top1Agreement)
	}
	s += "\n"
	s += fmt.Sprintf("  %-36s %-6s %9s %9s %s\n", "layer", "int8", "SNR dB", "cosine", "note")
	for _, l := range r.Layers {
		q := "yes"
		note := l.Kept
		if !l.Quantized {
			q = "no"
		}
		if l.Sensitivity > 0 {
			note = fmt.Sprintf("alone: rel. RMS %.3g %s", l.Sensitivity, note)
		}
		switch {
		case l.Kind == kindGather && l.Quantized:
			note = "embedding table, int8 rows " + note
		case l.Kind == kindTable && l.Quantized:
			note = "added table, int8 rows " + note
		case l.XQuant == "row":
			note = "activations per row " + note
		}
		s += fmt.Sprintf("  %-36s %-6s %9.1f %9.5f %s\n", l.Name, q, l.SNRdB, l.Cosine, note)
	}
	s += fmt.Sprintf("  CPU: VNNI %v, AVX2 %v; fast int8 kernels %v\n", r.VNNI, r.AVX2, r.FastInt8Kernels)
	for _, w := range r.Warnings {
		s += "  warning: " + w + "\n"
	}
	return s
}

func mib(n int64) string { return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20)) }

func (r *QuantReport) fill(g *ir.Graph, layers []*layer) {
	r.Layers = []LayerReport{}
	for _, l := range layers {
		lr := LayerReport{Name: l.name, Quantized: l.keep == "", Kept: l.keep, Kind: l.kind, FLOPs: l.flops,
			SNRdB: round4(l.snr), Cosine: round6(l.cos), Sensitivity: round4(l.sens)}
		if lr.Quantized && l.kind != kindGather && l.kind != kindTable && r.Mode == QuantizeDynamic {
			lr.XQuant = "tensor"
			if l.xrow {
				lr.XQuant = "row"
			}
		}
		r.Layers = append(r.Layers, lr)
	}
	r.fillFlops(g)
	r.VNNI = cpu.X86.HasAVX512VNNI || cpu.X86.HasAVXVNNI
	r.AVX2 = cpu.X86.HasAVX2
	r.FastInt8Kernels = ops.HasFastInt8()
	r.Warnings = []string{}
	if !r.VNNI {
		r.Warnings = append(r.Warnings, "this CPU has no VNNI (AVX512-VNNI or AVX-VNNI): int8 products cost about as much as f32 FMAs, so int8 will likely be no faster than f32, only smaller")
	}
	if !r.FastInt8Kernels {
		r.Warnings = append(r.Warnings, "no SIMD int8 GEMM is installed: ciuic.DenseInt8 runs its pure-Go reference loop and will be slower than f32")
	}
}

// fillFlops computes the integer share of matrix-product FLOPs and the weight ratio.
func (r *QuantReport) fillFlops(g *ir.Graph) {
	var total, integer int64
	for _, n := range g.Nodes {
		f := matmulFLOPs(n)
		total += f
		if n.Domain == ir.CiuicDomain && (n.Op == "DenseInt8" || n.Op == "ConvInt8") || n.Op == "MatMulInteger" || n.Op == "QLinearMatMul" ||
			n.Op == "ConvInteger" || n.Op == "QLinearConv" {
			integer += f
		}
	}
	r.MatMulFLOPs = total
	if total > 0 {
		r.IntFLOPShare = round4(float64(integer) / float64(total))
	}
	if r.WeightBytesBefore > 0 {
		r.WeightRatio = round4(float64(r.WeightBytesAfter) / float64(r.WeightBytesBefore))
	}
}

// matmulFLOPs counts 2·M·K·N for the matrix products of n from static dims (symbolic dims
// count as 1).
func matmulFLOPs(n *ir.Node) int64 {
	dims := func(s ir.Shape) []int64 {
		out := make([]int64, len(s))
		for i, d := range s {
			out[i] = 1
			if d.IsStatic() {
				out[i] = d.Size
			}
		}
		return out
	}
	if len(n.Outputs) == 0 || n.Outputs[0] == nil || len(n.Inputs) < 2 || n.Inputs[0] == nil || n.Inputs[1] == nil {
		return 0
	}
	switch n.OpName() {
	case "MatMul", "Gemm", "ciuic.Dense", "ciuic.DenseInt8", "MatMulInteger":
		x, y := dims(n.Inputs[0].Type.Shape), dims(n.Outputs[0].Type.Shape)
		if len(x) == 0 {
			return 0
		}
		k := x[len(x)-1]
		if n.Op == "Gemm" && n.Attrs.Int("transA", 0) != 0 && len(x) == 2 {
			k = x[0]
		}
		out := int64(1)
		for _, d := range y {
			out *= d
		}
		return 2 * out * k
	case "Conv", "ciuic.ConvInt8", "ConvInteger", "QLinearConv":
		wi := 1
		if n.Op == "QLinearConv" {
			wi = 3
		}
		if wi >= len(n.Inputs) || n.Inputs[wi] == nil {
			return 0
		}
		w, y := dims(n.Inputs[wi].Type.Shape), dims(n.Outputs[0].Type.Shape)
		if len(w) < 3 {
			return 0
		}
		out, per := int64(1), int64(1)
		for _, d := range y {
			out *= d
		}
		for _, d := range w[1:] {
			per *= d
		}
		return 2 * out * per
	case "ciuic.Attention", "ciuic.SparseAttention": // the sparse form counted as dense: an upper bound
		q, k := dims(n.Inputs[0].Type.Shape), dims(n.Inputs[1].Type.Shape)
		if len(q) != 3 || len(k) != 3 {
			return 0
		}
		return 4 * q[0] * q[1] * k[1] * q[2] // Q·Kᵀ and P·V
	}
	return 0
}

func round4(x float64) float64 { return math.Round(x*1e4) / 1e4 }
func round6(x float64) float64 { return math.Round(x*1e6) / 1e6 }

// evaluator runs a graph node by node on the registered kernels, for calibration and
// error measurement: the narrow evaluator through which the quantize pass computes
// values. Overridden nodes compute their first output with a replacement (a layer run
// in int8).
type evaluator struct {
	g      *ir.Graph
	consts map[*ir.Value]*ops.Tensor
}

func newEvaluator(g *ir.Graph) (*evaluator, error) {
	e := &evaluator{g: g, consts: map[*ir.Value]*ops.Tensor{}}
	for _, c := range g.Consts {
		t, err := ops.FromIR(c.Const)
		if err != nil {
			return nil, fmt.Errorf("constant %s: %v", c, err)
		}
		e.consts[c] = t
	}
	return e, nil
}

// An override computes a node's outputs in its place.
type override func(in []*ops.Tensor) ([]*ops.Tensor, error)

// run evaluates the graph on inputs; watch, if set, is called with each graph input and
// each node output. It returns the graph outputs.
func (e *evaluator) run(inputs map[string]*ops.Tensor, over map[*ir.Node]override, watch func(v *ir.Value, t *ops.Tensor)) ([]*ops.Tensor, error) {
	env := make(map[*ir.Value]*ops.Tensor, len(e.g.Nodes)+len(e.consts))
	for v, t := range e.consts {
		env[v] = t
	}
	for _, v := range e.g.Inputs {
		t, ok := inputs[v.Name]
		if !ok {
			return nil, fmt.Errorf("no value for input %s", v.Name)
		}
		env[v] = t
		if watch != nil {
			watch(v, t)
		}
	}
	for _, n := range e.g.Nodes {
		in := make([]*ops.Tensor, len(n.Inputs))
		for i, v := range n.Inputs {
			if v != nil {
				in[i] = env[v]
			}
		}
		var outs []*ops.Tensor
		if f, ok := over[n]; ok {
			var err error
			if outs, err = f(in); err != nil {
				return nil, fmt.Errorf("%s (int8): %v", n.Ref(), err)
			}
		} else {
			var err error
			if outs, err = ops.Run(n.Domain, n.Op, in, n.Attrs, len(n.Outputs)); err != nil {
				return nil, fmt.Errorf("%s: %v", n.Ref(), err)
			}
		}
		for i, o := range n.Outputs {
			if o != nil && i < len(outs) {
				env[o] = outs[i]
				if watch != nil {
					watch(o, outs[i])
				}
			}
		}
	}
	res := make([]*ops.Tensor, len(e.g.Outputs))
	for i, o := range e.g.Outputs {
		res[i] = env[o]
	}
	return res, nil
}

// int8Override runs layer l as its integer op (ciuic.DenseInt8, GatherInt8 or
// ConvInt8) would after lowering.
func int8Override(cfg Config, l *layer) override {
	wq, _ := ops.FromIR(l.wq)
	ws, _ := ops.FromIR(l.wscale)
	n := l.node
	act := n.Attrs.String("activation", "")
	run := func(op string, args []*ops.Tensor, attrs ir.Attrs) ([]*ops.Tensor, error) {
		return ops.Run(ir.CiuicDomain, op, args, attrs, 1)
	}
	switch l.kind {
	case kindTable: // the reader, on the dequantized table
		return func(in []*ops.Tensor) ([]*ops.Tensor, error) {
			dq, err := ops.Run("", "DequantizeLinear", []*ops.Tensor{wq, ws}, ir.Attrs{"axis": ir.IntAttr(0)}, 1)
			if err != nil {
				return nil, err
			}
			args := append([]*ops.Tensor{}, in...)
			args[l.tableIn] = dq[0]
			return ops.Run(n.Domain, n.Op, args, n.Attrs, len(n.Outputs))
		}
	case kindGather:
		return func(in []*ops.Tensor) ([]*ops.Tensor, error) {
			return run("GatherInt8", []*ops.Tensor{wq, ws, in[1]}, nil)
		}
	case kindConv:
		return func(in []*ops.Tensor) ([]*ops.Tensor, error) {
			args := []*ops.Tensor{in[0], wq, ws}
			if len(in) > 2 && in[2] != nil {
				args = append(args, in[2])
			}
			return run("ConvInt8", args, n.Attrs)
		}
	}
	return func(in []*ops.Tensor) ([]*ops.Tensor, error) {
		args := []*ops.Tensor{in[0], wq, ws, nil}
		if len(in) > 2 {
			args[3] = in[2]
		}
		attrs := ir.Attrs{"activation": ir.StringAttr(act)}
		switch {
		case cfg.Quantize == QuantizeStatic:
			args = append(args, ops.Scalar(l.xs), ops.Scalar(uint8(l.xz)))
		case l.xrow:
			attrs["x_quant"] = ir.StringAttr("row")
		default:
			attrs["x_quant"] = ir.StringAttr("tensor")
		}
		return ops.Run(ir.CiuicDomain, "DenseInt8", args, attrs, 1)
	}
}

// measureInputs returns the inputs errors are measured on: the calibration samples if
// -calib was given, else two seeded random samples.
func measureInputs(c *Context, g *ir.Graph) ([]map[string]*ops.Tensor, string, error) {
	if c.CalibDir != "" {
		s, err := loadCalib(c.CalibDir, g)
		return s, "calibration", err
	}
	var out []map[string]*ops.Tensor
	for seed := uint64(1); seed <= 2; seed++ {
		s, err := seededInputs(g, seed)
		if err != nil {
			return nil, "", err
		}
		out = append(out, s)
	}
	return out, "seeded", nil
}

// seededInputs makes inputs from a seeded generator: floats normal(0, 1); integers that
// index a constant table (Gather) uniform over the table, other integers in [0, 3);
// symbolic dims of size 4.
func seededInputs(g *ir.Graph, seed uint64) (map[string]*ops.Tensor, error) {
	r := rand.New(rand.NewPCG(seed, 0x71756174)) // "quat"
	out := map[string]*ops.Tensor{}
	for _, v := range g.Inputs {
		shape := make([]int, len(v.Type.Shape))
		for i, d := range v.Type.Shape {
			shape[i] = 4
			if d.IsStatic() {
				shape[i] = int(d.Size)
			}
		}
		t := ops.New(v.Type.DType, shape...)
		switch d := t.Data.(type) {
		case []float32:
			for i := range d {
				d[i] = float32(r.NormFloat64())
			}
		case []int64:
			hi := indexRange(v)
			for i := range d {
				d[i] = int64(r.IntN(hi))
			}
		case []int32:
			hi := indexRange(v)
			for i := range d {
				d[i] = int32(r.IntN(hi))
			}
		case []bool:
			for i := range d {
				d[i] = true
			}
		default:
			return nil, fmt.Errorf("input %s: cannot make seeded %s values (give -calib DIR)", v.Name, v.Type.DType)
		}
		out[v.Name] = t
	}
	return out, nil
}

func indexRange(v *ir.Value) int {
	for _, u := range v.Uses() {
		n := u.Node
		if n.Op == "Gather" && u.Index == 1 && n.Inputs[0].Const != nil {
			axis := int(n.Attrs.Int("axis", 0))
			if s := n.Inputs[0].Const.Shape; axis >= 0 && axis < len(s) && s[axis] > 0 {
				return int(s[axis])
			}
		}
	}
	return 3
}

// measure computes per-layer and output errors of quantizing the chosen layers and, in
// budget mode, keeps the most sensitive layers in float until the output error fits.
func measure(c *Context, g *ir.Graph, layers []*layer, samples []map[string]*ops.Tensor, rep *QuantReport) error {
	e, err := newEvaluator(g)
	if err != nil {
		return err
	}
	floatOut := make([][]*ops.Tensor, len(samples))
	floatLayer := make([]map[*ir.Node]*ops.Tensor, len(samples))
	isLayer := map[*ir.Node]bool{}
	rows := map[*ir.Value]*rowSpread{}
	for _, l := range layers {
		isLayer[l.node] = true
		if l.kind == kindDense && c.Quantize == QuantizeDynamic {
			rows[l.x] = &rowSpread{}
		}
	}
	for i, s := range samples {
		floatLayer[i] = map[*ir.Node]*ops.Tensor{}
		if floatOut[i], err = e.run(s, nil, func(v *ir.Value, t *ops.Tensor) {
			if n := v.Def; n != nil && isLayer[n] && v == n.Outputs[0] {
				floatLayer[i][n] = t
			}
			if r := rows[v]; r != nil && t.DType == ir.F32 && t.Rank() > 0 {
				r.add(t.F32(), t.Shape[t.Rank()-1])
			}
		}); err != nil {
			return fmt.Errorf("measuring quantization error: %v", err)
		}
	}
	for _, l := range layers {
		if r := rows[l.x]; r != nil && l.kind == kindDense {
			l.xrow = r.gain() >= rowGain
		}
	}
	overrides := func(only *layer) map[*ir.Node]override {
		m := map[*ir.Node]override{}
		for _, l := range layers {
			if l.keep == "" && (only == nil || l == only) {
				m[l.node] = int8Override(c.Config, l)
			}
		}
		return m
	}
	outErr := func(over map[*ir.Node]override, watch func(i int, n *ir.Node, t *ops.Tensor)) (errStats, error) {
		var st errStats
		for i, s := range samples {
			outs, err := e.run(s, over, func(v *ir.Value, t *ops.Tensor) {
				if watch != nil && v.Def != nil && v == v.Def.Outputs[0] {
					watch(i, v.Def, t)
				}
			})
			if err != nil {
				return st, fmt.Errorf("measuring quantization error: %v", err)
			}
			for k := range outs {
				st.add(floatOut[i][k], outs[k], k == len(outs)-1)
			}
		}
		return st, nil
	}
	if c.QuantizeBudget > 0 {
		rep.Budget = c.QuantizeBudget
		st, err := outErr(overrides(nil), nil)
		if err != nil {
			return err
		}
		if st.relRMS() > c.QuantizeBudget {
			var active []*layer
			for _, l := range layers {
				if l.keep != "" {
					continue
				}
				one, err := outErr(overrides(l), nil)
				if err != nil {
					return err
				}
				l.sens = one.relRMS()
				active = append(active, l)
			}
			sort.SliceStable(active, func(i, j int) bool { return active[i].sens > active[j].sens })
			for _, l := range active {
				l.keep = fmt.Sprintf("-quantize-budget %g: among the most sensitive layers", c.QuantizeBudget)
				c.Missed(l.node, "quantize: kept in float: %s (alone it costs rel. RMS %.3g)", l.keep, l.sens)
				st, err := outErr(overrides(nil), nil)
				if err != nil {
					return err
				}
				if st.relRMS() <= c.QuantizeBudget {
					break
				}
			}
		}
	}
	layerErr := map[*ir.Node]*errStats{}
	for _, l := range layers {
		layerErr[l.node] = &errStats{}
	}
	st, err := outErr(overrides(nil), func(i int, n *ir.Node, t *ops.Tensor) {
		if s, ok := layerErr[n]; ok {
			s.add(floatLayer[i][n], t, false)
		}
	})
	if err != nil {
		return err
	}
	for _, l := range layers {
		s := layerErr[l.node]
		l.snr, l.cos = s.snr(), s.cosine()
	}
	rep.OutputRelRMS, rep.OutputCosine, rep.Top1Agreement = round6(st.relRMS()), round6(st.cosine()), -1
	if st.rows > 0 {
		rep.Top1Agreement = round4(float64(st.agree) / float64(st.rows))
	}
	return nil
}

// rowGain is the estimated reduction of quantization noise power at which a layer's
// activations are quantized per row instead of per tensor (4.8 dB). Rows of i.i.d.
// values measure 1.5-2.1 (the maximum of a few hundred similar ranges); gpt4l_d256's
// first attention output measures 20 (its first rows attend to few keys).
const rowGain = 3

// minRowLen is the shortest row for which a range says something about the row.
const minRowLen = 16

// rowSpread estimates what per-row activation quantization gains over per-tensor: the
// rounding noise power of a row is proportional to its step squared, so quantizing M
// rows with their own ranges r_i instead of the tensor's range R divides the total noise
// power by M·R² / Σ r_i². Rows of very different ranges (attention-sized activations,
// a few outlier tokens) gain much; rows like LayerNorm outputs gain little.
type rowSpread struct {
	sumR2, maxR float64
	rows        int
}

func (s *rowSpread) add(x []float32, K int) {
	if K < minRowLen || len(x) < 2*K {
		return // a single row: nothing to gain; short rows: their ranges are noise
	}
	for r := 0; r+K <= len(x); r += K {
		lo, hi := float32(0), float32(0)
		for _, v := range x[r : r+K] {
			lo, hi = min(lo, v), max(hi, v)
		}
		rg := float64(hi - lo)
		s.sumR2 += rg * rg
		s.maxR = max(s.maxR, rg)
		s.rows++
	}
}

// gain is the noise-power ratio per tensor / per row (1 when nothing was observed).
func (s *rowSpread) gain() float64 {
	if s.rows == 0 || s.sumR2 == 0 {
		return 1
	}
	return float64(s.rows) * s.maxR * s.maxR / s.sumR2
}

// errStats accumulates the error of approximate tensors against reference ones.
type errStats struct {
	sumRef2, sumErr2, dot, sumGot2 float64
	agree, rows                    int
}

func (s *errStats) add(ref, got *ops.Tensor, top1 bool) {
	if ref == nil || got == nil || ref.DType != ir.F32 || got.DType != ir.F32 || ref.Len() != got.Len() {
		return
	}
	a, b := ref.F32(), got.F32()
	for i := range a {
		x, y := float64(a[i]), float64(b[i])
		s.sumRef2 += x * x
		s.sumGot2 += y * y
		s.sumErr2 += (x - y) * (x - y)
		s.dot += x * y
	}
	if top1 && ref.Rank() >= 1 && ref.Shape[ref.Rank()-1] > 1 {
		n := ref.Shape[ref.Rank()-1]
		for r := 0; r+n <= len(a); r += n {
			if argmax(a[r:r+n]) == argmax(b[r:r+n]) {
				s.agree++
			}
			s.rows++
		}
	}
}

func argmax(v []float32) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}

func (s *errStats) relRMS() float64 {
	if s.sumRef2 == 0 {
		return math.Sqrt(s.sumErr2)
	}
	return math.Sqrt(s.sumErr2 / s.sumRef2)
}

func (s *errStats) snr() float64 {
	if s.sumErr2 == 0 {
		return 200 // exact: report a large finite number (JSON has no +Inf)
	}
	return 10 * math.Log10(s.sumRef2/s.sumErr2)
}

func (s *errStats) cosine() float64 {
	if s.sumRef2 == 0 || s.sumGot2 == 0 {
		return 1
	}
	return s.dot / math.Sqrt(s.sumRef2*s.sumGot2)
}
