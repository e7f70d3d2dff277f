package passes

import (
	"fmt"
	"math"
	"regexp"

	"github.com/ciuic/ciuic/ir"
)

// Post-training INT8 quantization (docs/quantization.md) is three passes:
//
//	quantize-import  onnxruntime's DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul(scale) and the
//	                 QDQ MatMul of pre-quantized models -> ciuic.DenseInt8 (before constants are folded,
//	                 so the int8 weights are not dequantized into f32 constants)
//	quantize         -quantize int8-dynamic|int8-static: chooses the layers, calibrates, measures, and
//	                 inserts QuantizeLinear/DequantizeLinear around the chosen Dense/MatMul nodes (QDQ form)
//	quantize-lower   Dense(DQ(q(x)), DQ(@Wq, @ws)) -> ciuic.DenseInt8; bias and activation join the
//	                 integer op's epilogue; redundant Q/DQ pairs go
//
// In QDQ form a dynamically quantized layer prints as
//
//	%x_q, %x_s, %x_z = DynamicQuantizeLinear(%x)
//	%x_dq = DequantizeLinear(%x_q, %x_s, %x_z)
//	%w_dq = DequantizeLinear(@w_q, @w_scale) {axis: 1}
//	%y = ciuic.Dense(%x_dq, %w_dq, @b) {activation: "gelu"}
//
// and lowers to %y = ciuic.DenseInt8(%x, @w_q, @w_scale, @b) {activation: "gelu", x_quant: "tensor"}.

// Quantization modes of Config.Quantize.
const (
	QuantizeNone    = ""
	QuantizeDynamic = "int8-dynamic"
	QuantizeStatic  = "int8-static"
)

// checkQuantConfig validates the quantization options.
func checkQuantConfig(cfg *Config) error {
	switch cfg.Quantize {
	case QuantizeNone, "none", QuantizeDynamic:
	case QuantizeStatic:
		if cfg.CalibDir == "" {
			return fmt.Errorf("-quantize int8-static needs -calib DIR (calibration inputs as .npy files)")
		}
	default:
		return fmt.Errorf("unknown -quantize %q (want none, int8-dynamic or int8-static)", cfg.Quantize)
	}
	switch cfg.CalibMethod {
	case "", "minmax", "percentile", "entropy":
	default:
		return fmt.Errorf("unknown -calib-method %q (want minmax, percentile or entropy)", cfg.CalibMethod)
	}
	if cfg.QuantizeExclude != "" {
		if _, err := regexp.Compile(cfg.QuantizeExclude); err != nil {
			return fmt.Errorf("-quantize-exclude: %v", err)
		}
	}
	if cfg.QuantizeBudget < 0 || math.IsNaN(cfg.QuantizeBudget) {
		return fmt.Errorf("-quantize-budget %g: want a relative error >= 0", cfg.QuantizeBudget)
	}
	return nil
}

func quantizing(cfg Config) bool {
	return cfg.Quantize == QuantizeDynamic || cfg.Quantize == QuantizeStatic
}

// Kinds of layer.
const (
	kindDense  = "dense"  // Dense|MatMul(x, @W[K, N]): W per output column, x at run time
	kindGather = "gather" // Gather(@T[V, D], ids): T per row, weight-only (embeddings)
	kindConv   = "conv"   // Conv(x, @W[M, C/g, k...], b?): W per output channel, x at run time
	kindTable  = "table"  // Add|SkipLayerNorm(x, @T[R, D]): T per row, weight-only (position embeddings)
)

// minGatherTable is the smallest embedding table (elements) stored as int8: smaller ones
// (type or segment embeddings) are not worth a kernel's indirection.
const minGatherTable = 1 << 14

// layer is a candidate for quantization: a Dense or MatMul node with a constant 2-D f32
// weight, a Gather of a large constant table, or (int8-dynamic) a Conv with a constant
// weight.
type layer struct {
	kind string
	node *ir.Node
	name string // for reports: node name, else output name
	x    *ir.Value
	w    *ir.Value
	keep string // why it stays in float ("" if quantized)
	xrow bool   // activations quantized per row (rows of very different ranges)
	// tableIn is the input of node that reads the table (kindTable).
	tableIn int

	wq      *ir.Tensor // i8 [K, N]
	wscale  *ir.Tensor // f32 [N] or []
	xs      float32    // static activation scale
	xz      uint8      // and zero point
	flops   int64
	sens    float64 // output rel. RMS error with only this layer quantized (budget mode)
	snr     float64
	cos     float64
	measure bool
}

// quantize is the QDQ-inserting pass.
func quantize(c *Context, g *ir.Graph) error {
	if err := checkQuantConfig(&c.Config); err != nil {
		return err
	}
	if !quantizing(c.Config) {
		return nil
	}
	rep := &QuantReport{Mode: c.Quantize, WeightBytesBefore: g.WeightBytes(), PerChannel: !c.PerTensor}
	c.quant = rep
	layers := candidates(c, g)
	for _, l := range layers {
		if l.keep != "" {
			continue
		}
		switch l.kind {
		case kindDense:
			l.wq, l.wscale = quantizeWeight(l.w.Const, c.PerTensor)
		default: // embedding rows and conv output channels: one scale per leading index
			l.wq, l.wscale = quantizeRows(l.w.Const, c.PerTensor && l.kind == kindConv)
		}
	}
	samples, from, err := measureInputs(c, g)
	if err != nil {
		return err
	}
	rep.InputsFrom, rep.Samples = from, len(samples)
	if c.Quantize == QuantizeStatic {
		rep.CalibMethod = calibMethod(c.Config)
		if err := calibrate(c, g, layers, samples); err != nil {
			return err
		}
	}
	if err := measure(c, g, layers, samples, rep); err != nil {
		return err
	}
	shared := map[*ir.Value]*ir.Value{}
	rep.rowX = map[*ir.Node]bool{}
	for _, l := range layers {
		if l.keep == "" {
			insertQDQ(c, g, l, shared)
			if l.xrow {
				rep.rowX[l.node] = true
			}
		}
	}
	c.Count("removed f32 weights", g.RemoveUnusedConsts())
	rep.WeightBytesAfter = g.WeightBytes()
	rep.fill(g, layers)
	return nil
}

// candidates lists the layers the pass could quantize and marks those it keeps in float.
func candidates(c *Context, g *ir.Graph) []*layer {
	var excl *regexp.Regexp
	if c.QuantizeExclude != "" {
		excl = regexp.MustCompile(c.QuantizeExclude) // checked by checkQuantConfig
	}
	var ls []*layer
	for _, n := range g.Nodes {
		if l := otherCandidate(c, g, n); l != nil {
			if excl != nil && (excl.MatchString(n.Name) || excl.MatchString(n.Outputs[0].Name)) {
				l.keep = "excluded by -quantize-exclude"
			}
			if l.keep != "" {
				c.Missed(n, "quantize: kept in float: %s", l.keep)
			}
			ls = append(ls, l)
			continue
		}
		isDense := n.Op == "Dense" && n.Domain == ir.CiuicDomain
		isMatMul := n.Op == "MatMul" && n.Domain == ""
		if !isDense && !isMatMul || len(n.Inputs) < 2 {
			continue
		}
		x, w := n.Inputs[0], n.Inputs[1]
		if w == nil || w.Const == nil || w.Const.DType != ir.F32 || len(w.Const.Shape) != 2 || x.Type.DType != ir.F32 {
			continue
		}
		l := &layer{kind: kindDense, node: n, name: n.Name, x: x, w: w}
		if l.name == "" {
			l.name = n.Outputs[0].Name
		}
		m := int64(1)
		for _, d := range x.Type.Shape[:len(x.Type.Shape)-1] {
			if d.IsStatic() {
				m *= d.Size
			}
		}
		l.flops = 2 * m * w.Const.Shape[0] * w.Const.Shape[1]
		switch {
		case excl != nil && (excl.MatchString(n.Name) || excl.MatchString(n.Outputs[0].Name)):
			l.keep = "excluded by -quantize-exclude"
		case !c.QuantizeLMHead && isLMHead(g, n):
			l.keep = "LM head (projection of a normalized value to a graph output)"
		}
		if l.keep != "" {
			c.Missed(n, "quantize: kept in float: %s", l.keep)
		}
		ls = append(ls, l)
	}
	return ls
}

// otherCandidate returns n as a Gather or Conv layer, or nil.
func otherCandidate(c *Context, g *ir.Graph, n *ir.Node) *layer {
	name := n.Name
	if name == "" {
		name = n.Outputs[0].Name
	}
	switch {
	case n.Op == "Gather" && n.Domain == "" && len(n.Inputs) == 2:
		t := n.Inputs[0]
		if t.Const == nil || t.Const.DType != ir.F32 || len(t.Const.Shape) != 2 || t.Const.NumElements() < minGatherTable || n.Attrs.Int("axis", 0) != 0 {
			return nil
		}
		l := &layer{kind: kindGather, node: n, name: name, w: t}
		for _, u := range t.Uses() {
			if u.Node.Op != "Gather" || u.Index != 0 || u.Node.Attrs.Int("axis", 0) != 0 {
				// A tied LM head reads the same table: an int8 copy would add bytes.
				l.keep = fmt.Sprintf("table also read by %s (an int8 copy would add bytes)", u.Node.Ref())
			}
		}
		if isOutput(g, t) {
			l.keep = "table is a graph output"
		}
		return l
	case n.Op == "Add" && n.Domain == "" || n.Op == "SkipLayerNorm" && n.Domain == ir.CiuicDomain:
		return tableCandidate(g, n, name)
	case n.Op == "Conv" && n.Domain == "" && len(n.Inputs) >= 2:
		x, w := n.Inputs[0], n.Inputs[1]
		if w.Const == nil || w.Const.DType != ir.F32 || len(w.Const.Shape) < 3 || x.Type.DType != ir.F32 {
			return nil
		}
		if len(n.Inputs) > 2 && n.Inputs[2] != nil && n.Inputs[2].Type.DType != ir.F32 {
			return nil
		}
		l := &layer{kind: kindConv, node: n, name: name, x: x, w: w}
		if o := n.Outputs[0].Type.Shape; len(o) > 0 {
			out := int64(1)
			for _, d := range o {
				if d.IsStatic() {
					out *= d.Size
				}
			}
			l.flops = 2 * out * w.Const.NumElements() / max(1, w.Const.Shape[0])
		}
		if c.Quantize != QuantizeDynamic {
			l.keep = "Conv is quantized in int8-dynamic mode only"
		}
		return l
	}
	return nil
}

// tableCandidate returns the constant table n adds (a position embedding folded into a
// constant: Add or SkipLayerNorm(x, @T[R, D])) as a weight-only layer, or nil. Only a
// table n alone reads: its int8 rows are dequantized at run time, once per reader.
func tableCandidate(g *ir.Graph, n *ir.Node, name string) *layer {
	for idx, t := range n.Inputs[:min(2, len(n.Inputs))] {
		if t == nil || t.Const == nil || t.Const.DType != ir.F32 || len(t.Const.Shape) != 2 || t.Const.NumElements() < minGatherTable {
			continue
		}
		if len(t.Uses()) != 1 || isOutput(g, t) {
			continue
		}
		return &layer{kind: kindTable, node: n, name: name, w: t, tableIn: idx}
	}
	return nil
}

// quantizeRows quantizes t [R, ...] symmetrically to int8 with one scale per leading
// index (an embedding row, a conv output channel), or one for the whole tensor.
func quantizeRows(t *ir.Tensor, perTensor bool) (*ir.Tensor, *ir.Tensor) {
	R := int(t.Shape[0])
	f := t.Float32s()
	C := len(f) / max(R, 1)
	scale := make([]float32, R)
	for r := range R {
		for _, v := range f[r*C : (r+1)*C] {
			scale[r] = max(scale[r], float32(math.Abs(float64(v))))
		}
	}
	if perTensor {
		m := float32(0)
		for _, a := range scale {
			m = max(m, a)
		}
		for r := range scale {
			scale[r] = m
		}
	}
	q := make([]byte, len(f))
	for r := range R {
		scale[r] /= 127
		if scale[r] == 0 {
			continue
		}
		for i, v := range f[r*C : (r+1)*C] {
			q[r*C+i] = byte(int8(min(max(math.RoundToEven(float64(v/scale[r])), -127), 127)))
		}
	}
	wq := &ir.Tensor{DType: ir.I8, Shape: append([]int64{}, t.Shape...), Data: q}
	if perTensor {
		return wq, ir.NewTensorF32(nil, scale[:1])
	}
	return wq, ir.NewTensorF32([]int64{int64(R)}, scale)
}

// isLMHead reports whether n projects the output of a normalization straight (through
// shape-only ops) to a graph output: the LM head of a transformer, whose logits decide
// every token and which quantization hurts most.
func isLMHead(g *ir.Graph, n *ir.Node) bool {
	v := n.Outputs[0]
	for !isOutput(g, v) {
		us := v.Uses()
		if len(us) != 1 || !shapeOnly[us[0].Node.Op] || us[0].Node.Domain != "" {
			return false
		}
		v = us[0].Node.Outputs[0]
	}
	src := n.Inputs[0].Def
	for src != nil && shapeOnly[src.Op] && src.Domain == "" {
		src = src.Inputs[0].Def
	}
	return src != nil && normOps[src.OpName()]
}

var shapeOnly = map[string]bool{"Reshape": true, "Transpose": true, "Squeeze": true, "Unsqueeze": true, "Flatten": true, "Identity": true}

var normOps = map[string]bool{"LayerNormalization": true, "ciuic.RMSNorm": true, "ciuic.SkipLayerNorm": true,
	"RMSNormalization": true, "SimplifiedLayerNormalization": true}

// quantizeWeight quantizes W [K, N] symmetrically to int8 in [-127, 127], per output
// channel (column) or per tensor.
func quantizeWeight(w *ir.Tensor, perTensor bool) (*ir.Tensor, *ir.Tensor) {
	K, N := int(w.Shape[0]), int(w.Shape[1])
	f := w.Float32s()
	amax := make([]float32, N)
	for k := 0; k < K; k++ {
		for j, v := range f[k*N : (k+1)*N] {
			amax[j] = max(amax[j], float32(math.Abs(float64(v))))
		}
	}
	if perTensor {
		m := float32(0)
		for _, a := range amax {
			m = max(m, a)
		}
		for j := range amax {
			amax[j] = m
		}
	}
	scale := make([]float32, N)
	for j, a := range amax {
		scale[j] = a / 127
	}
	q := make([]byte, K*N)
	for k := 0; k < K; k++ {
		for j := 0; j < N; j++ {
			if scale[j] == 0 {
				continue
			}
			r := math.RoundToEven(float64(f[k*N+j] / scale[j]))
			q[k*N+j] = byte(int8(min(max(r, -127), 127)))
		}
	}
	wq := &ir.Tensor{DType: ir.I8, Shape: []int64{int64(K), int64(N)}, Data: q}
	if perTensor {
		return wq, ir.NewTensorF32(nil, scale[:1])
	}
	return wq, ir.NewTensorF32([]int64{int64(N)}, scale)
}

// insertQDQ rewrites l's inputs into QDQ form: a (shared) quantize-dequantize of the
// activation and a dequantize of the int8 weight.
func insertQDQ(c *Context, g *ir.Graph, l *layer, shared map[*ir.Value]*ir.Value) {
	n := l.node
	group := c.NewGroup()
	add := func(op string, in []*ir.Value, attrs ir.Attrs, names ...string) *ir.Node {
		nn := &ir.Node{Op: op, Inputs: in, Attrs: attrs, Group: group}
		for _, name := range names {
			nn.Outputs = append(nn.Outputs, &ir.Value{Name: name})
		}
		g.InsertBefore(n, nn)
		ts, err := ir.InferNode(nn)
		if err != nil {
			panic(fmt.Sprintf("quantize: building %s: %v", nn.OpName(), err)) // inputs were checked: a broken invariant
		}
		for i, o := range nn.Outputs {
			o.Type = ts[i]
		}
		return nn
	}
	if l.kind == kindGather { // weight-only: Gather(DQ(@T_q, @T_scale){axis: 0}, ids)
		tq := g.AddConst(l.w.Name+"_q", l.wq)
		ts := g.AddConst(l.w.Name+"_scale", l.wscale)
		td := add("DequantizeLinear", []*ir.Value{tq, ts}, ir.Attrs{"axis": ir.IntAttr(0)}, l.w.Name+"_dq").Outputs[0]
		g.SetInput(n, 0, td)
		c.Count("quantized embeddings", 1)
		c.Fired(n, "quantize: int8 table i8%v with a scale per row", l.wq.Shape)
		return
	}
	if l.kind == kindTable { // weight-only: Add(x, DQ(@T_q, @T_scale){axis: 0}), dequantized at run time
		tq := g.AddConst(l.w.Name+"_q", l.wq)
		ts := g.AddConst(l.w.Name+"_scale", l.wscale)
		td := add("DequantizeLinear", []*ir.Value{tq, ts}, ir.Attrs{"axis": ir.IntAttr(0)}, l.w.Name+"_dq").Outputs[0]
		g.SetInput(n, l.tableIn, td)
		c.Count("quantized tables", 1)
		c.Fired(n, "quantize: int8 table i8%v with a scale per row, dequantized at run time", l.wq.Shape)
		return
	}
	xd, ok := shared[l.x]
	if !ok {
		base := l.x.Name
		if c.Quantize == QuantizeStatic {
			s := g.AddConst(base+"_scale", ir.NewTensorF32(nil, []float32{l.xs}))
			z := g.AddConst(base+"_zero", &ir.Tensor{DType: ir.U8, Data: []byte{byte(l.xz)}})
			q := add("QuantizeLinear", []*ir.Value{l.x, s, z}, nil, base+"_q")
			xd = add("DequantizeLinear", []*ir.Value{q.Outputs[0], s, z}, nil, base+"_dq").Outputs[0]
		} else {
			q := add("DynamicQuantizeLinear", []*ir.Value{l.x}, nil, base+"_q", base+"_s", base+"_z")
			xd = add("DequantizeLinear", q.Outputs, nil, base+"_dq").Outputs[0]
		}
		shared[l.x] = xd
	}
	wq := g.AddConst(l.w.Name+"_q", l.wq)
	ws := g.AddConst(l.w.Name+"_scale", l.wscale)
	var attrs ir.Attrs
	if len(l.wscale.Shape) == 1 {
		axis := int64(1) // Dense W [K, N]: per output column
		if l.kind == kindConv {
			axis = 0 // Conv W [M, C/g, k...]: per output channel
		}
		attrs = ir.Attrs{"axis": ir.IntAttr(axis)}
	}
	wd := add("DequantizeLinear", []*ir.Value{wq, ws}, attrs, l.w.Name+"_dq").Outputs[0]
	g.SetInput(n, 0, xd)
	g.SetInput(n, 1, wd)
	c.Count("quantized layers", 1)
	rows := ""
	if l.xrow {
		rows = " per row"
	}
	c.Fired(n, "quantize: int8 weights %s%v, %s activations%s", "i8", l.wq.Shape, c.Quantize, rows)
}

func calibMethod(cfg Config) string {
	if cfg.CalibMethod == "" {
		return "minmax"
	}
	return cfg.CalibMethod
}
