package ops

import (
	"math"
	"math/rand"
	"testing"

	"github.com/ciuic/ciuic/ir"
)

func TestMatMulGemm(t *testing.T) {
	a := f32(sh(2, 3), 1, 2, 3, 4, 5, 6)
	b := f32(sh(3, 2), 1, 0, 0, 1, 1, 1)
	runCases(t, []kcase{
		{name: "2d", op: "MatMul", in: []*Tensor{a, b}, want: []*Tensor{f32(sh(2, 2), 4, 5, 10, 11)}},
		{name: "vec mat", op: "MatMul", in: []*Tensor{f32(sh(3), 1, 1, 1), b}, want: []*Tensor{f32(sh(2), 2, 2)}},
		{name: "mat vec", op: "MatMul", in: []*Tensor{a, f32(sh(3), 1, 0, 1)}, want: []*Tensor{f32(sh(2), 4, 10)}},
		{name: "vec vec", op: "MatMul", in: []*Tensor{f32(sh(3), 1, 2, 3), f32(sh(3), 1, 2, 3)}, want: []*Tensor{f32(sh(), 14)}},
		{name: "batch bcast", op: "MatMul", in: []*Tensor{f32(sh(2, 1, 1, 2), 1, 2, 3, 4), f32(sh(3, 2, 1), 1, 1, 2, 2, 3, 3)},
			want: []*Tensor{f32(sh(2, 3, 1, 1), 3, 6, 9, 7, 14, 21)}},
		{name: "int", op: "MatMul", in: []*Tensor{i64(sh(1, 2), 2, 3), i64(sh(2, 1), 4, 5)}, want: []*Tensor{i64(sh(1, 1), 23)}},
		{name: "empty K", op: "MatMul", in: []*Tensor{iota32(2, 0), iota32(0, 2)}, want: []*Tensor{f32(sh(2, 2), 0, 0, 0, 0)}},
		{name: "mismatch", op: "MatMul", in: []*Tensor{a, a}, wantErr: "inner dims differ"},
		{name: "gemm", op: "Gemm", attrs: ir.Attrs{"transA": ir.IntAttr(1), "alpha": ir.FloatAttr(2), "beta": ir.FloatAttr(0.5)},
			in: []*Tensor{f32(sh(3, 2), 1, 4, 2, 5, 3, 6), b, f32(sh(2), 10, 20)}, want: []*Tensor{f32(sh(2, 2), 13, 20, 25, 32)}},
		{name: "gemm transB", op: "Gemm", attrs: ir.Attrs{"transB": ir.IntAttr(1)}, in: []*Tensor{a, f32(sh(1, 3), 1, 1, 1), f32(sh(), 1)},
			want: []*Tensor{f32(sh(2, 1), 7, 16)}},
		{name: "gemm bad C", op: "Gemm", in: []*Tensor{a, b, f32(sh(3), 1, 2, 3)}, wantErr: "does not broadcast"},
	})
}

// naiveConv2D is an independent, literal transcription of the ONNX Conv definition.
func naiveConv2D(x, w []float32, N, C, H, W, M, KH, KW, group, sh, sw, dh, dw, pt, pl, OH, OW int) []float32 {
	y := make([]float32, N*M*OH*OW)
	cg := C / group
	for n := 0; n < N; n++ {
		for m := 0; m < M; m++ {
			g := m / (M / group)
			for oh := 0; oh < OH; oh++ {
				for ow := 0; ow < OW; ow++ {
					var s float32
					for c := 0; c < cg; c++ {
						for kh := 0; kh < KH; kh++ {
							for kw := 0; kw < KW; kw++ {
								ih, iw := oh*sh-pt+kh*dh, ow*sw-pl+kw*dw
								if ih < 0 || ih >= H || iw < 0 || iw >= W {
									continue
								}
								s += x[((n*C+g*cg+c)*H+ih)*W+iw] * w[((m*cg+c)*KH+kh)*KW+kw]
							}
						}
					}
					y[((n*M+m)*OH+oh)*OW+ow] = s
				}
			}
		}
	}
	return y
}

func randT(r *rand.Rand, shape ...int) *Tensor {
	t := New(ir.F32, shape...)
	for i := range t.F32() {
		t.F32()[i] = float32(r.Intn(7) - 3) // small integers: sums are exact in f32
	}
	return t
}

func TestConvAgainstNaive(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for _, c := range []struct {
		C, H, W, M, K, group, stride, dil, pad int
	}{
		{1, 5, 5, 1, 3, 1, 1, 1, 0}, {3, 7, 6, 4, 3, 1, 2, 1, 1}, {4, 6, 6, 4, 3, 4, 1, 2, 2},
		{4, 5, 7, 6, 2, 2, 3, 1, 1}, {2, 4, 4, 2, 1, 1, 1, 1, 0},
	} {
		x, w := randT(r, 2, c.C, c.H, c.W), randT(r, c.M, c.C/c.group, c.K, c.K)
		attrs := ir.Attrs{"group": ir.IntAttr(int64(c.group)), "strides": ir.IntsAttr(int64(c.stride), int64(c.stride)),
			"dilations": ir.IntsAttr(int64(c.dil), int64(c.dil)), "pads": ir.IntsAttr(int64(c.pad), int64(c.pad), int64(c.pad), int64(c.pad))}
		got, err := Run("", "Conv", []*Tensor{x, w}, attrs, 1)
		if err != nil {
			t.Fatalf("%+v: %v", c, err)
		}
		eff := (c.K-1)*c.dil + 1
		OH, OW := (c.H+2*c.pad-eff)/c.stride+1, (c.W+2*c.pad-eff)/c.stride+1
		want := naiveConv2D(x.F32(), w.F32(), 2, c.C, c.H, c.W, c.M, c.K, c.K, c.group, c.stride, c.stride, c.dil, c.dil, c.pad, c.pad, OH, OW)
		if err := AllClose(got[0], f32(sh(2, c.M, OH, OW), want...), 0, 0); err != nil {
			t.Errorf("%+v: %v", c, err)
		}
	}
}

func TestConvPool(t *testing.T) {
	x := iota32(1, 1, 3, 3)
	ones := f32(sh(1, 1, 2, 2), 1, 1, 1, 1)
	runCases(t, []kcase{
		{name: "2x2 sum bias", op: "Conv", in: []*Tensor{x, ones, f32(sh(1), 100)}, want: []*Tensor{f32(sh(1, 1, 2, 2), 108, 112, 120, 124)}},
		{name: "same_upper", op: "Conv", attrs: ir.Attrs{"auto_pad": ir.StringAttr("SAME_UPPER")}, in: []*Tensor{x, ones},
			want: []*Tensor{f32(sh(1, 1, 3, 3), 8, 12, 7, 20, 24, 13, 13, 15, 8)}},
		{name: "same_lower", op: "Conv", attrs: ir.Attrs{"auto_pad": ir.StringAttr("SAME_LOWER")}, in: []*Tensor{x, ones},
			want: []*Tensor{f32(sh(1, 1, 3, 3), 0, 1, 3, 3, 8, 12, 9, 20, 24)}},
		{name: "1d", op: "Conv", in: []*Tensor{f32(sh(1, 1, 4), 1, 2, 3, 4), f32(sh(1, 1, 2), 1, -1)}, want: []*Tensor{f32(sh(1, 1, 3), -1, -1, -1)}},
		{name: "bad group", op: "Conv", attrs: ir.Attrs{"group": ir.IntAttr(2)}, in: []*Tensor{x, ones}, wantErr: "group 2"},
		{name: "maxpool", op: "MaxPool", attrs: ir.Attrs{"kernel_shape": ir.IntsAttr(2, 2)}, in: []*Tensor{x},
			want: []*Tensor{f32(sh(1, 1, 2, 2), 4, 5, 7, 8), i64(sh(1, 1, 2, 2), 4, 5, 7, 8)}},
		{name: "maxpool ceil", op: "MaxPool", attrs: ir.Attrs{"kernel_shape": ir.IntsAttr(2, 2), "strides": ir.IntsAttr(2, 2), "ceil_mode": ir.IntAttr(1)},
			in: []*Tensor{x}, want: []*Tensor{f32(sh(1, 1, 2, 2), 4, 5, 7, 8)}},
		{name: "maxpool dilation pad", op: "MaxPool", attrs: ir.Attrs{"kernel_shape": ir.IntsAttr(2, 2), "dilations": ir.IntsAttr(2, 2), "pads": ir.IntsAttr(1, 1, 1, 1)},
			in: []*Tensor{x}, want: []*Tensor{f32(sh(1, 1, 3, 3), 4, 5, 4, 7, 8, 7, 4, 5, 4)}},
		{name: "avgpool pad exclude", op: "AveragePool", attrs: ir.Attrs{"kernel_shape": ir.IntsAttr(2, 2), "pads": ir.IntsAttr(1, 1, 0, 0)},
			in: []*Tensor{x}, want: []*Tensor{f32(sh(1, 1, 3, 3), 0, 0.5, 1.5, 1.5, 2, 3, 4.5, 5, 6)}},
		{name: "avgpool pad include", op: "AveragePool", attrs: ir.Attrs{"kernel_shape": ir.IntsAttr(2, 2), "pads": ir.IntsAttr(1, 1, 0, 0), "count_include_pad": ir.IntAttr(1)},
			in: []*Tensor{x}, want: []*Tensor{f32(sh(1, 1, 3, 3), 0, 0.25, 0.75, 0.75, 2, 3, 2.25, 5, 6)}},
		{name: "avgpool ceil", op: "AveragePool", attrs: ir.Attrs{"kernel_shape": ir.IntsAttr(2, 2), "strides": ir.IntsAttr(2, 2), "ceil_mode": ir.IntAttr(1)},
			in: []*Tensor{x}, want: []*Tensor{f32(sh(1, 1, 2, 2), 2, 3.5, 6.5, 8)}},
		{name: "global avg", op: "GlobalAveragePool", in: []*Tensor{iota32(1, 2, 2, 2)}, want: []*Tensor{f32(sh(1, 2, 1, 1), 1.5, 5.5)}},
		{name: "global max", op: "GlobalMaxPool", in: []*Tensor{iota32(1, 2, 2, 2)}, want: []*Tensor{f32(sh(1, 2, 1, 1), 3, 7)}},
	})
}

func TestNorms(t *testing.T) {
	x := f32(sh(1, 2, 2), 1, 2, 3, 4)
	runCases(t, []kcase{
		{name: "batchnorm", op: "BatchNormalization", in: []*Tensor{x, f32(sh(2), 1, 2), f32(sh(2), 0, 1), f32(sh(2), 1, 3), f32(sh(2), 4, 1)},
			attrs: ir.Attrs{"epsilon": ir.FloatAttr(0)}, want: []*Tensor{f32(sh(1, 2, 2), 0, 0.5, 1, 3)}},
		{name: "layernorm", op: "LayerNormalization", in: []*Tensor{f32(sh(2, 2), 1, 3, 0, 0), f32(sh(2), 1, 2), f32(sh(2), 0, 1)},
			attrs: ir.Attrs{"epsilon": ir.FloatAttr(0)}, want: []*Tensor{f32(sh(2, 2), -1, 3, float32(math.NaN()), float32(math.NaN())), f32(sh(2, 1), 2, 0), f32(sh(2, 1), 1, float32(math.Inf(1)))}},
		{name: "layernorm axis0", op: "LayerNormalization", in: []*Tensor{f32(sh(2, 2), 1, 1, 3, 3), f32(sh(1), 1)},
			attrs: ir.Attrs{"axis": ir.IntAttr(0), "epsilon": ir.FloatAttr(0)}, want: []*Tensor{f32(sh(2, 2), -1, -1, 1, 1)}},
		{name: "softmax", op: "Softmax", in: []*Tensor{f32(sh(2, 2), 0, 0, 1000, 1000)}, want: []*Tensor{f32(sh(2, 2), 0.5, 0.5, 0.5, 0.5)}},
		{name: "softmax axis0", op: "Softmax", attrs: ir.Attrs{"axis": ir.IntAttr(0)}, in: []*Tensor{f32(sh(2, 1), 0, float32(math.Log(3)))}, want: []*Tensor{f32(sh(2, 1), 0.25, 0.75)}, tol: 1e-7},
		{name: "logsoftmax", op: "LogSoftmax", in: []*Tensor{f32(sh(2), 0, 0)}, want: []*Tensor{f32(sh(2), -float32(math.Ln2), -float32(math.Ln2))}},
		{name: "instancenorm", op: "InstanceNormalization", attrs: ir.Attrs{"epsilon": ir.FloatAttr(0)}, in: []*Tensor{f32(sh(1, 1, 2), 1, 3), f32(sh(1), 2), f32(sh(1), 1)},
			want: []*Tensor{f32(sh(1, 1, 2), -1, 3)}},
	})
}

func TestSoftmaxRowsSumToOne(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	x := New(ir.F32, 7, 5, 3)
	for i := range x.F32() {
		x.F32()[i] = float32(r.NormFloat64() * 30)
	}
	for axis := -3; axis < 3; axis++ {
		y, err := Run("", "Softmax", []*Tensor{x}, ir.Attrs{"axis": ir.IntAttr(int64(axis))}, 1)
		if err != nil {
			t.Fatal(err)
		}
		s, _ := reduce(nil, "ReduceSum", y[0], []int{(axis + 3) % 3}, false)
		for i, v := range s.F32() {
			if math.Abs(float64(v)-1) > 1e-5 {
				t.Fatalf("axis %d: row %d sums to %v", axis, i, v)
			}
		}
	}
}

func TestReduce(t *testing.T) {
	x := iota32(2, 3)
	runCases(t, []kcase{
		{name: "sum axis1", op: "ReduceSum", in: []*Tensor{x, i64(sh(1), 1)}, want: []*Tensor{f32(sh(2, 1), 3, 12)}},
		{name: "sum all nokeep", op: "ReduceSum", attrs: ir.Attrs{"keepdims": ir.IntAttr(0)}, in: []*Tensor{x}, want: []*Tensor{f32(sh(), 15)}},
		{name: "sum noop", op: "ReduceSum", attrs: ir.Attrs{"noop_with_empty_axes": ir.IntAttr(1)}, in: []*Tensor{x, i64(sh(0))}, want: []*Tensor{x}},
		{name: "mean attr axes neg", op: "ReduceMean", attrs: ir.Attrs{"axes": ir.IntsAttr(-2), "keepdims": ir.IntAttr(0)}, in: []*Tensor{x}, want: []*Tensor{f32(sh(3), 1.5, 2.5, 3.5)}},
		{name: "max", op: "ReduceMax", in: []*Tensor{x, i64(sh(1), 0)}, want: []*Tensor{f32(sh(1, 3), 3, 4, 5)}},
		{name: "min int", op: "ReduceMin", in: []*Tensor{i64(sh(3), 5, -2, 9)}, want: []*Tensor{i64(sh(1), -2)}},
		{name: "prod", op: "ReduceProd", in: []*Tensor{f32(sh(3), 2, 3, 4)}, want: []*Tensor{f32(sh(1), 24)}},
		{name: "l1", op: "ReduceL1", in: []*Tensor{f32(sh(2), -3, 4)}, want: []*Tensor{f32(sh(1), 7)}},
		{name: "l2", op: "ReduceL2", in: []*Tensor{f32(sh(2), 3, 4)}, want: []*Tensor{f32(sh(1), 5)}},
		{name: "sumsquare", op: "ReduceSumSquare", in: []*Tensor{i32(sh(2), 3, 4)}, want: []*Tensor{i32(sh(1), 25)}},
		{name: "logsum", op: "ReduceLogSum", in: []*Tensor{f32(sh(2), 1, 1)}, want: []*Tensor{f32(sh(1), float32(math.Ln2))}},
		{name: "logsumexp big", op: "ReduceLogSumExp", in: []*Tensor{f32(sh(2), 1000, 1000)}, want: []*Tensor{f32(sh(1), 1000+float32(math.Ln2))}},
		{name: "empty sum", op: "ReduceSum", in: []*Tensor{iota32(0, 2), i64(sh(1), 0)}, want: []*Tensor{f32(sh(1, 2), 0, 0)}},
		{name: "empty max", op: "ReduceMax", in: []*Tensor{iota32(0, 2), i64(sh(1), 0)}, want: []*Tensor{f32(sh(1, 2), float32(math.Inf(-1)), float32(math.Inf(-1)))}},
		{name: "bad axis", op: "ReduceSum", in: []*Tensor{x, i64(sh(1), 2)}, wantErr: "out of range"},
		{name: "argmax", op: "ArgMax", attrs: ir.Attrs{"axis": ir.IntAttr(1)}, in: []*Tensor{f32(sh(2, 3), 1, 5, 5, 7, 2, 7)}, want: []*Tensor{i64(sh(2, 1), 1, 0)}},
		{name: "argmax last", op: "ArgMax", attrs: ir.Attrs{"axis": ir.IntAttr(1), "select_last_index": ir.IntAttr(1), "keepdims": ir.IntAttr(0)},
			in: []*Tensor{f32(sh(2, 3), 1, 5, 5, 7, 2, 7)}, want: []*Tensor{i64(sh(2), 2, 2)}},
		{name: "argmin", op: "ArgMin", in: []*Tensor{f32(sh(2, 2), 1, 5, 0, 7)}, want: []*Tensor{i64(sh(1, 2), 1, 0)}},
	})
}
