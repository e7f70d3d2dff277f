package ops

import (
	"sync"

	"github.com/ciuic/ciuic/ir"
	"github.com/ciuic/ciuic/ops/internal/vec"
)

// Into-variants of LayerNormalization, ciuic.SkipLayerNorm and ciuic.RMSNorm: the
// arithmetic of ciuic_norm.go and vec_kernels.go, row by row, into the caller's
// tensors. They work one row at a time and read a row of every input before writing
// that row of an output, so each output may be the buffer of an input of its shape that
// dies at the node (in place).
//
// A call's operands live in a pooled job holding the method value handed to the
// parallel-for, made once when the pool creates the job: a closure or a method value
// built per call escapes into the executor's parallel-for and is allocated on every
// call, which a compiled plan must not do.

func init() {
	RegisterInto("", "LayerNormalization", layerNormInto, true, ir.F32)
	RegisterInto(ir.CiuicDomain, "SkipLayerNorm", skipLayerNormInto, true, ir.F32)
	RegisterInto(ir.CiuicDomain, "RMSNorm", rmsNormInto, true, ir.F32)
}

// rowGrain is the parallel-for grain of the row-wise normalizations (and Softmax), in
// rows of D elements: chunks of at least rowChunk elements.
func rowGrain(D int) int { return max(1, rowChunk/max(D, 1)) }

// rowChunk is the smallest chunk of row-wise work worth handing to another worker, in
// elements: about 4 µs of LayerNorm. Smaller chunks buy no speed and cost hand-overs:
// with two workers a plan of 9 SkipLayerNorm on [128, 256] took 125 µs with chunks
// of 16K elements (two chunks), 129-131 µs with 2K-8K, and 9 LayerNormalization took
// 106 µs against 107-224 µs (go test ./exec -bench, medians of 5; 185 and 153 µs with
// one worker). gpt4l's 9 SkipLayerNorm with two workers: 108 -> 100 µs.
const rowChunk = 1 << 14

// normJob is one call of a row-wise normalization.
type normJob struct {
	xs, ks, gamma, beta, bias []float32 // ks: Skip (SkipLayerNorm only)
	ys, ss                    []float32 // ss: SkipLayerNorm's sum output, nil if not wanted
	D                         int
	eps                       float64

	skipFn, layerFn, rmsFn func(lo, hi int) // the row loops, bound to this job
}

var normJobs = sync.Pool{New: func() any {
	j := new(normJob)
	j.skipFn, j.layerFn, j.rmsFn = j.skipRows, j.layerRows, j.rmsRows
	return j
}}

// run runs fn (one of j's row loops) over rows and puts j back in the pool, keeping no
// tensor alive there.
func (j *normJob) run(ctx *KernelContext, rows int, fn func(lo, hi int)) {
	ctx.ParallelFor(rows, rowGrain(j.D), fn)
	j.xs, j.ks, j.gamma, j.beta, j.bias, j.ys, j.ss = nil, nil, nil, nil, nil, nil, nil
	normJobs.Put(j)
}

// skipRows computes SkipLayerNorm's rows [lo, hi) with the arithmetic of
// skipLayerNormKernel. Without a sum output the sum is formed in y's row and normalised
// there.
func (j *normJob) skipRows(lo, hi int) {
	D := j.D
	for r := lo; r < hi; r++ {
		// Skip is X's shape or a suffix of it (a positional table added to every batch
		// row): its row for X's row r is r modulo its own rows.
		xrow, krow, yrow := j.xs[r*D:][:D], j.ks[(r*D)%len(j.ks):][:D], j.ys[r*D:][:D]
		srow := yrow
		if j.ss != nil {
			srow = j.ss[r*D:][:D]
		}
		sum, sq := vec.AddSumSq(srow, xrow, krow, j.bias)
		mean, inv := rowMeanInv(sum, sq, D, j.eps)
		vec.Normalize(yrow, srow, mean, inv, j.gamma, j.beta)
	}
}

// layerRows computes LayerNormalization's rows [lo, hi) as fastLayerNormKernel does.
func (j *normJob) layerRows(lo, hi int) {
	D := j.D
	for r := lo; r < hi; r++ {
		LayerNormRow(j.ys[r*D:][:D], j.xs[r*D:][:D], j.gamma, j.beta, j.eps)
	}
}

// rmsRows computes RMSNorm's rows [lo, hi) as fastRMSNormKernel does.
func (j *normJob) rmsRows(lo, hi int) {
	D := j.D
	for r := lo; r < hi; r++ {
		RMSNormRow(j.ys[r*D:][:D], j.xs[r*D:][:D], j.gamma, j.eps)
	}
}

func skipLayerNormInto(ctx *KernelContext, in, out []*Tensor, attrs ir.Attrs) error {
	if len(in) < 3 || in[0] == nil || in[1] == nil || len(out) == 0 || out[0] == nil {
		return fallbackInto(ctx, skipLayerNormKernel, in, out, attrs)
	}
	x, skip, y := in[0], in[1], out[0]
	var sum *Tensor
	if len(out) > 1 {
		sum = out[1]
	}
	if x.DType != ir.F32 || skip.DType != ir.F32 || x.Rank() == 0 || skip.Rank() == 0 || !suffixOf(skip.Shape, x.Shape) ||
		skip.Len() == 0 || skip.Shape[skip.Rank()-1] != x.Shape[x.Rank()-1] ||
		y.DType != ir.F32 || !sameShape(y.Shape, x.Shape) || sum != nil && (sum.DType != ir.F32 || !sameShape(sum.Shape, x.Shape)) {
		return fallbackInto(ctx, skipLayerNormKernel, in, out, attrs) // other broadcasts, errors
	}
	const op = "SkipLayerNorm"
	D := x.Shape[x.Rank()-1]
	gamma, err := lastDimParam(op, "Gamma", in[2], D)
	if err != nil {
		return err
	}
	beta, err := lastDimParam(op, "Beta", input(in, 3), D)
	if err != nil {
		return err
	}
	bias, err := lastDimParam(op, "Bias", input(in, 4), D)
	if err != nil {
		return err
	}
	if gamma == nil {
		return fallbackInto(ctx, skipLayerNormKernel, in, out, attrs)
	}
	j := normJobs.Get().(*normJob)
	j.xs, j.ks, j.gamma, j.beta, j.bias, j.ys, j.ss = x.F32(), skip.F32(), gamma, beta, bias, y.F32(), nil
	j.D, j.eps = D, float64(attrs.Float("epsilon", 1e-5))
	if sum != nil {
		j.ss = sum.F32()
	}
	j.run(ctx, NumElems(x.Shape[:x.Rank()-1]), j.skipFn)
	return nil
}

// layerNormInto is fastLayerNormKernel into out: f32 over the last axis, per-column
// scale and bias, output Y only. Other cases (and Mean and InvStdDev, which the
// reference kernel computes along with its own Y) go through the kernel and a copy.
func layerNormInto(ctx *KernelContext, in, out []*Tensor, attrs ir.Attrs) error {
	if len(in) < 2 || in[0] == nil || len(out) == 0 || out[0] == nil || ctx.numOutputs() > 1 {
		return fallbackInto(ctx, fastLayerNormKernel, in, out, attrs)
	}
	x, y := in[0], out[0]
	axis, err := normAxis(attrs.Int("axis", -1), x.Rank())
	if x.DType != ir.F32 || err != nil || axis != x.Rank()-1 || y.DType != ir.F32 || !sameShape(y.Shape, x.Shape) {
		return fallbackInto(ctx, fastLayerNormKernel, in, out, attrs)
	}
	D := x.Shape[axis]
	scale, ok1 := rowParam(in[1], D)
	bias, ok2 := rowParam(input(in, 2), D)
	if !ok1 || !ok2 || scale == nil {
		return fallbackInto(ctx, fastLayerNormKernel, in, out, attrs)
	}
	layerNormRows(ctx, y.F32(), x.F32(), scale, bias, D, float64(attrs.Float("epsilon", 1e-5)))
	return nil
}

// layerNormRows sets each row of D elements of ys to LayerNormRow of that row of xs.
func layerNormRows(ctx *KernelContext, ys, xs, scale, bias []float32, D int, eps float64) {
	j := normJobs.Get().(*normJob)
	j.xs, j.gamma, j.beta, j.ys, j.D, j.eps = xs, scale, bias, ys, D, eps
	j.run(ctx, len(xs)/max(D, 1), j.layerFn)
}

func rmsNormInto(ctx *KernelContext, in, out []*Tensor, attrs ir.Attrs) error {
	if len(in) < 2 || in[0] == nil || in[1] == nil || len(out) == 0 || out[0] == nil {
		return fallbackInto(ctx, fastRMSNormKernel, in, out, attrs)
	}
	x, y := in[0], out[0]
	if x.DType != ir.F32 || x.Rank() == 0 || y.DType != ir.F32 || !sameShape(y.Shape, x.Shape) {
		return fallbackInto(ctx, fastRMSNormKernel, in, out, attrs)
	}
	D := x.Shape[x.Rank()-1]
	scale, err := lastDimParam("RMSNorm", "Scale", in[1], D)
	if err != nil {
		return err
	}
	rmsNormRows(ctx, y.F32(), x.F32(), scale, D, float64(attrs.Float("epsilon", 1e-5)))
	return nil
}

// rmsNormRows sets each row of D elements of ys to RMSNormRow of that row of xs.
func rmsNormRows(ctx *KernelContext, ys, xs, scale []float32, D int, eps float64) {
	j := normJobs.Get().(*normJob)
	j.xs, j.gamma, j.ys, j.D, j.eps = xs, scale, ys, D, eps
	j.run(ctx, len(xs)/max(D, 1), j.rmsFn)
}
