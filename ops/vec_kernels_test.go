package ops

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/ciuic/ciuic/ir"
)

// assertNear checks got against want within rel relative error, measured absolutely
// below |want| = floor.
func assertNear(t *testing.T, what string, got, want *Tensor, rel, floor float64) {
	t.Helper()
	if !sameShape(got.Shape, want.Shape) {
		t.Fatalf("%s: shape %v, want %v", what, got.Shape, want.Shape)
	}
	g, w := got.F32(), want.F32()
	for i := range w {
		d := math.Abs(float64(g[i]) - float64(w[i]))
		if d > rel*max(math.Abs(float64(w[i])), floor) || math.IsNaN(float64(g[i])) != math.IsNaN(float64(w[i])) {
			t.Fatalf("%s: element %d = %v, want %v", what, i, g[i], w[i])
		}
	}
}

func TestFastUnariesMatchReference(t *testing.T) {
	x := New(ir.F32, 3, 20001)
	for i := range x.F32() {
		x.F32()[i] = float32(i%20001)*1e-3 - 10 // a sweep over [-10, 10]
	}
	x.F32()[0], x.F32()[1], x.F32()[2] = float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN())
	cases := []struct {
		op    string
		attrs ir.Attrs
		floor float64
		rel   float64
	}{
		{"Exp", nil, 0, 1e-6}, {"Erf", nil, 0, 1e-6}, {"Tanh", nil, 0, 1e-6}, {"Sigmoid", nil, 0, 1e-6},
		{"Gelu", nil, 1, 1.5e-6}, // 1+erf cancels for x << 0: absolute error below |y| = 1
		{"Gelu", ir.Attrs{"approximate": ir.StringAttr("tanh")}, 1e-6, 3e-6},
	}
	eachVecImpl(t, func(t *testing.T) {
		for _, c := range cases {
			ref, _ := ReferenceKernel("", c.op)
			fast, _ := Lookup("", c.op, ir.F32)
			want, err := ref(nil, []*Tensor{x}, c.attrs)
			if err != nil {
				t.Fatal(err)
			}
			got, err := fast(workers(3), []*Tensor{x}, c.attrs)
			if err != nil {
				t.Fatal(err)
			}
			assertNear(t, fmt.Sprintf("%s%v", c.op, c.attrs), got[0], want[0], c.rel, c.floor)
			one, _ := fast(nil, []*Tensor{x}, c.attrs)
			assertBits(t, c.op+" 1 vs 3 workers", got[0], one[0])
			into, _, _ := LookupInto("", c.op, ir.F32)
			out := New(ir.F32, x.Shape...)
			if err := into(workers(2), []*Tensor{x}, []*Tensor{out}, c.attrs); err != nil {
				t.Fatal(err)
			}
			assertBits(t, c.op+" into", out, one[0])
		}
	})
}

func TestFastRowOpsMatchReference(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 3))
	eachVecImpl(t, func(t *testing.T) {
		for _, shape := range [][]int{{1}, {3, 17}, {2, 5, 63}, {65, 1000}, {4, 0}} {
			D := shape[len(shape)-1]
			x := New(ir.F32, shape...)
			for i := range x.F32() {
				x.F32()[i] = float32(r.NormFloat64() * 4)
			}
			if D > 1 {
				// An offset row (mean 300 standard deviations): the one-pass variance of
				// the normalizations must not lose accuracy to it.
				for i := range D {
					x.F32()[i] += 1200
				}
			}
			scale, bias := gemmRand(r, D), gemmRand(r, D)
			for _, c := range []struct {
				domain, op string
				in         []*Tensor
				attrs      ir.Attrs
			}{
				{"", "Softmax", []*Tensor{x}, nil},
				{"", "LayerNormalization", []*Tensor{x, scale, bias}, nil},
				{"", "LayerNormalization", []*Tensor{x, scale}, ir.Attrs{"epsilon": ir.FloatAttr(1e-3)}},
				{ir.CiuicDomain, "RMSNorm", []*Tensor{x, scale}, nil},
			} {
				ref, _ := ReferenceKernel(c.domain, c.op)
				fast, _ := Lookup(c.domain, c.op, ir.F32)
				want, err := ref(nil, c.in, c.attrs)
				if err != nil {
					t.Fatal(err)
				}
				got, err := fast(workers(3), c.in, c.attrs)
				if err != nil {
					t.Fatal(err)
				}
				// Below |y| = 0.1 the error is absolute: LayerNorm's y = x̂·scale + bias
				// cancels, and float32 rounding of the terms (~1) shows there.
				assertNear(t, fmt.Sprintf("%s %v", c.op, shape), got[0], want[0], 1e-5, 0.1)
				one, _ := fast(nil, c.in, c.attrs)
				assertBits(t, c.op+" 1 vs 3 workers", got[0], one[0])
			}
		}
	})
}

// TestFastKernelsReplaceReference guards the registration order (vec_register.go).
func TestFastKernelsReplaceReference(t *testing.T) {
	for _, c := range []struct {
		domain, op string
		dt         ir.DType
		want       Kernel
	}{
		{"", "Softmax", ir.F32, fastSoftmaxKernel},
		{"", "LayerNormalization", ir.F32, fastLayerNormKernel},
		{ir.CiuicDomain, "RMSNorm", ir.F32, fastRMSNormKernel},
		{"", "MatMulInteger", ir.U8, fastMatMulIntegerKernel},
		{"", "MatMulInteger", ir.I8, fastMatMulIntegerKernel},
		{"", "DynamicQuantizeLinear", ir.F32, fastDynQuantKernel},
		{"", "DequantizeLinear", ir.I8, fastDequantKernel},
		{"", "DequantizeLinear", ir.U8, fastDequantKernel},
		{ir.CiuicDomain, "DenseInt8", ir.F32, fastDenseInt8Kernel},
	} {
		k, _ := Lookup(c.domain, c.op, c.dt)
		if reflect.ValueOf(k).Pointer() != reflect.ValueOf(c.want).Pointer() {
			t.Errorf("%s %s on %s: not the fast kernel", c.domain, c.op, c.dt)
		}
	}
	if !HasFastInt8() {
		t.Error("ciuic.DenseInt8 has no fast int8 GEMM installed")
	}
}
