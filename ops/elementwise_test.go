package ops

import (
	"math"
	"testing"

	"github.com/ciuic/ciuic/ir"
)

func TestBinary(t *testing.T) {
	runCases(t, []kcase{
		{name: "same", op: "Add", in: []*Tensor{f32(sh(2), 1, 2), f32(sh(2), 10, 20)}, want: []*Tensor{f32(sh(2), 11, 22)}},
		{name: "scalar", op: "Mul", in: []*Tensor{f32(sh(2, 2), 1, 2, 3, 4), f32(sh(), 2)}, want: []*Tensor{f32(sh(2, 2), 2, 4, 6, 8)}},
		{name: "row+col", op: "Sub", in: []*Tensor{f32(sh(2, 1), 10, 20), f32(sh(3), 1, 2, 3)},
			want: []*Tensor{f32(sh(2, 3), 9, 8, 7, 19, 18, 17)}},
		{name: "rank3 middle", op: "Add", in: []*Tensor{f32(sh(2, 1, 2), 1, 2, 3, 4), f32(sh(1, 3, 1), 10, 20, 30)},
			want: []*Tensor{f32(sh(2, 3, 2), 11, 12, 21, 22, 31, 32, 13, 14, 23, 24, 33, 34)}},
		{name: "empty", op: "Add", in: []*Tensor{f32(sh(0, 3)), f32(sh(1, 3), 1, 2, 3)}, want: []*Tensor{f32(sh(0, 3))}},
		{name: "mismatch", op: "Add", in: []*Tensor{f32(sh(2), 1, 2), f32(sh(3), 1, 2, 3)}, wantErr: "not broadcast-compatible"},
		{name: "dtype", op: "Add", in: []*Tensor{f32(sh(1), 1), i64(sh(1), 1)}, wantErr: "dtypes differ"},
		{name: "int div trunc", op: "Div", in: []*Tensor{i64(sh(3), 7, -7, 6), i64(sh(), 2)}, want: []*Tensor{i64(sh(3), 3, -3, 3)}},
		{name: "int div zero", op: "Div", in: []*Tensor{i32(sh(1), 7), i32(sh(1), 0)}, wantErr: "division by zero"},
		{name: "f64", op: "Div", in: []*Tensor{f64(sh(2), 1, 3), f64(sh(2), 4, 4)}, want: []*Tensor{f64(sh(2), 0.25, 0.75)}},
		{name: "pow", op: "Pow", in: []*Tensor{f32(sh(3), 2, 3, 4), f32(sh(), 2)}, want: []*Tensor{f32(sh(3), 4, 9, 16)}},
		{name: "pow mixed", op: "Pow", in: []*Tensor{f32(sh(2), 2, 9), i64(sh(2), 3, 0)}, want: []*Tensor{f32(sh(2), 8, 1)}},
		{name: "pow int", op: "Pow", in: []*Tensor{i64(sh(2), 2, 3), i64(sh(2), 10, 3)}, want: []*Tensor{i64(sh(2), 1024, 27)}},
		{name: "mod python", op: "Mod", in: []*Tensor{i64(sh(4), 5, -5, 5, -5), i64(sh(4), 3, 3, -3, -3)}, want: []*Tensor{i64(sh(4), 2, 1, -1, -2)}},
		{name: "fmod", op: "Mod", attrs: ir.Attrs{"fmod": ir.IntAttr(1)}, in: []*Tensor{f32(sh(2), 5.5, -5.5), f32(sh(2), 2, 2)}, want: []*Tensor{f32(sh(2), 1.5, -1.5)}},
		{name: "max nan", op: "Max", in: []*Tensor{f32(sh(3), 1, float32(math.NaN()), 5), f32(sh(3), 2, 0, 4)}, want: []*Tensor{f32(sh(3), 2, float32(math.NaN()), 5)}},
		{name: "max variadic", op: "Max", in: []*Tensor{f32(sh(2), 1, 5), f32(sh(), 3), f32(sh(2, 1), 0, 6)}, want: []*Tensor{f32(sh(2, 2), 3, 5, 6, 6)}},
		{name: "min", op: "Min", in: []*Tensor{i32(sh(2), 1, 5), i32(sh(2), 3, 2)}, want: []*Tensor{i32(sh(2), 1, 2)}},
		{name: "sum3", op: "Sum", in: []*Tensor{f32(sh(2), 1, 2), f32(sh(2), 3, 4), f32(sh(), 10)}, want: []*Tensor{f32(sh(2), 14, 16)}},
		{name: "sum1", op: "Sum", in: []*Tensor{f32(sh(2), 1, 2)}, want: []*Tensor{f32(sh(2), 1, 2)}},
		{name: "mean", op: "Mean", in: []*Tensor{f32(sh(2), 1, 2), f32(sh(2), 3, 6)}, want: []*Tensor{f32(sh(2), 2, 4)}},
		{name: "prelu", op: "PRelu", in: []*Tensor{f32(sh(2, 2), -1, 2, -3, 4), f32(sh(2, 1), 0.5, 2)}, want: []*Tensor{f32(sh(2, 2), -0.5, 2, -6, 4)}},
	})
}

func TestCompareLogicWhere(t *testing.T) {
	T, F := true, false
	runCases(t, []kcase{
		{name: "less", op: "Less", in: []*Tensor{f32(sh(3), 1, 2, 3), f32(sh(), 2)}, want: []*Tensor{bools(sh(3), T, F, F)}},
		{name: "ge", op: "GreaterOrEqual", in: []*Tensor{i64(sh(3), 1, 2, 3), i64(sh(), 2)}, want: []*Tensor{bools(sh(3), F, T, T)}},
		{name: "eq str", op: "Equal", in: []*Tensor{MustFromSlice(sh(2), []string{"a", "b"}), Scalar("b")}, want: []*Tensor{bools(sh(2), F, T)}},
		{name: "eq nan", op: "Equal", in: []*Tensor{f32(sh(1), float32(math.NaN())), f32(sh(1), float32(math.NaN()))}, want: []*Tensor{bools(sh(1), F)}},
		{name: "xor", op: "Xor", in: []*Tensor{bools(sh(2, 1), T, F), bools(sh(2), T, F)}, want: []*Tensor{bools(sh(2, 2), F, T, T, F)}},
		{name: "and", op: "And", in: []*Tensor{bools(sh(2), T, T), bools(sh(2), T, F)}, want: []*Tensor{bools(sh(2), T, F)}},
		{name: "not", op: "Not", in: []*Tensor{bools(sh(2), T, F)}, want: []*Tensor{bools(sh(2), F, T)}},
		{name: "where bcast", op: "Where", in: []*Tensor{bools(sh(2, 1), T, F), f32(sh(3), 1, 2, 3), f32(sh(), -1)},
			want: []*Tensor{f32(sh(2, 3), 1, 2, 3, -1, -1, -1)}},
		{name: "where str", op: "Where", in: []*Tensor{bools(sh(2), F, T), MustFromSlice(sh(2), []string{"a", "b"}), MustFromSlice(sh(2), []string{"c", "d"})},
			want: []*Tensor{MustFromSlice(sh(2), []string{"c", "b"})}},
		{name: "where cond dtype", op: "Where", in: []*Tensor{f32(sh(1), 1), f32(sh(1), 1), f32(sh(1), 1)}, wantErr: "no kernel"},
		{name: "bitand", op: "BitwiseAnd", in: []*Tensor{i32(sh(2), 12, -1), i32(sh(2), 10, 7)}, want: []*Tensor{i32(sh(2), 8, 7)}},
		{name: "shift", op: "BitShift", attrs: ir.Attrs{"direction": ir.StringAttr("LEFT")}, in: []*Tensor{MustFromSlice(sh(2), []uint8{1, 3}), MustFromSlice(sh(2), []uint8{2, 1})},
			want: []*Tensor{MustFromSlice(sh(2), []uint8{4, 6})}},
	})
}

func TestUnary(t *testing.T) {
	nan := float32(math.NaN())
	runCases(t, []kcase{
		{name: "relu", op: "Relu", in: []*Tensor{f32(sh(3), -1, 0, 2)}, want: []*Tensor{f32(sh(3), 0, 0, 2)}},
		{name: "relu int", op: "Relu", in: []*Tensor{i32(sh(3), -1, 0, 2)}, want: []*Tensor{i32(sh(3), 0, 0, 2)}},
		{name: "abs int", op: "Abs", in: []*Tensor{i64(sh(2), -3, 4)}, want: []*Tensor{i64(sh(2), 3, 4)}},
		{name: "neg", op: "Neg", in: []*Tensor{f32(sh(2), -3, 4)}, want: []*Tensor{f32(sh(2), 3, -4)}},
		{name: "sign", op: "Sign", in: []*Tensor{f32(sh(3), -3, 0, 4)}, want: []*Tensor{f32(sh(3), -1, 0, 1)}},
		{name: "round even", op: "Round", in: []*Tensor{f32(sh(5), 0.5, 1.5, 2.5, -0.5, 2.4)}, want: []*Tensor{f32(sh(5), 0, 2, 2, -0, 2)}},
		{name: "sigmoid", op: "Sigmoid", in: []*Tensor{f32(sh(3), 0, 1000, -1000)}, want: []*Tensor{f32(sh(3), 0.5, 1, 0)}},
		{name: "softplus big", op: "Softplus", in: []*Tensor{f32(sh(2), 100, 0)}, want: []*Tensor{f32(sh(2), 100, float32(math.Ln2))}},
		{name: "leaky", op: "LeakyRelu", attrs: ir.Attrs{"alpha": ir.FloatAttr(0.1)}, in: []*Tensor{f32(sh(2), -10, 3)}, want: []*Tensor{f32(sh(2), -1, 3)}, tol: 1e-6},
		{name: "elu", op: "Elu", in: []*Tensor{f32(sh(2), -1, 3)}, want: []*Tensor{f32(sh(2), float32(math.Exp(-1)-1), 3)}},
		{name: "selu", op: "Selu", in: []*Tensor{f32(sh(2), 0, 1)}, want: []*Tensor{f32(sh(2), 0, 1.0507010)}, tol: 1e-6},
		{name: "hardsigmoid", op: "HardSigmoid", in: []*Tensor{f32(sh(3), -10, 0, 10)}, want: []*Tensor{f32(sh(3), 0, 0.5, 1)}},
		{name: "gelu erf", op: "Gelu", in: []*Tensor{f32(sh(3), -1, 0, 1)}, want: []*Tensor{f32(sh(3), -0.15865525, 0, 0.84134475)}, tol: 1e-6},
		{name: "gelu tanh", op: "Gelu", attrs: ir.Attrs{"approximate": ir.StringAttr("tanh")}, in: []*Tensor{f32(sh(2), -1, 1)}, want: []*Tensor{f32(sh(2), -0.15880801, 0.841192)}, tol: 1e-6},
		{name: "gelu bad", op: "Gelu", attrs: ir.Attrs{"approximate": ir.StringAttr("fast")}, in: []*Tensor{f32(sh(1), 1)}, wantErr: "approximate"},
		{name: "sqrt nan", op: "Sqrt", in: []*Tensor{f32(sh(2), 4, -1)}, want: []*Tensor{f32(sh(2), 2, nan)}},
		{name: "exp f64", op: "Exp", in: []*Tensor{f64(sh(1), 1)}, want: []*Tensor{f64(sh(1), math.E)}},
		{name: "erf", op: "Erf", in: []*Tensor{f32(sh(1), 0.5)}, want: []*Tensor{f32(sh(1), float32(math.Erf(0.5)))}},
		{name: "int exp", op: "Exp", in: []*Tensor{i64(sh(1), 1)}, wantErr: "no kernel"},
		{name: "clip", op: "Clip", in: []*Tensor{f32(sh(4), -5, 0, 5, nan), f32(sh(), -1), f32(sh(), 1)}, want: []*Tensor{f32(sh(4), -1, 0, 1, nan)}},
		{name: "clip min only", op: "Clip", in: []*Tensor{i64(sh(2), -5, 5), i64(sh(), 0)}, want: []*Tensor{i64(sh(2), 0, 5)}},
		{name: "clip max only", op: "Clip", in: []*Tensor{f32(sh(2), -5, 5), nil, f32(sh(1), 2)}, want: []*Tensor{f32(sh(2), -5, 2)}},
		{name: "clip attrs", op: "Clip", attrs: ir.Attrs{"min": ir.FloatAttr(-1), "max": ir.FloatAttr(1)}, in: []*Tensor{f32(sh(2), -5, 5)}, want: []*Tensor{f32(sh(2), -1, 1)}},
		{name: "clip none", op: "Clip", in: []*Tensor{f32(sh(2), -5, 5)}, want: []*Tensor{f32(sh(2), -5, 5)}},
		{name: "identity", op: "Identity", in: []*Tensor{i64(sh(2), 1, 2)}, want: []*Tensor{i64(sh(2), 1, 2)}},
		{name: "dropout", op: "Dropout", in: []*Tensor{f32(sh(2), 1, 2)}, want: []*Tensor{f32(sh(2), 1, 2), bools(sh(2), true, true)}},
		{name: "isinf", op: "IsInf", attrs: ir.Attrs{"detect_negative": ir.IntAttr(0)}, in: []*Tensor{f32(sh(3), float32(math.Inf(1)), float32(math.Inf(-1)), 0)}, want: []*Tensor{bools(sh(3), true, false, false)}},
	})
}

func TestCast(t *testing.T) {
	code := func(d ir.DType) ir.Attrs { return ir.Attrs{"to": ir.IntAttr(d.ONNXCode())} }
	runCases(t, []kcase{
		{name: "f32 to i32 trunc", op: "Cast", attrs: code(ir.I32), in: []*Tensor{f32(sh(4), 1.9, -1.9, 0.5, -0.5)}, want: []*Tensor{i32(sh(4), 1, -1, 0, 0)}},
		{name: "f32 to bool", op: "Cast", attrs: code(ir.Bool), in: []*Tensor{f32(sh(3), 0, -2, float32(math.NaN()))}, want: []*Tensor{bools(sh(3), false, true, true)}},
		{name: "bool to f32", op: "Cast", attrs: code(ir.F32), in: []*Tensor{bools(sh(2), true, false)}, want: []*Tensor{f32(sh(2), 1, 0)}},
		{name: "string to f32", op: "Cast", attrs: code(ir.F32), in: []*Tensor{MustFromSlice(sh(4), []string{"1.5", "-INF", "NaN", "1e3"})},
			want: []*Tensor{f32(sh(4), 1.5, float32(math.Inf(-1)), float32(math.NaN()), 1000)}},
		{name: "string to i64", op: "Cast", attrs: code(ir.I64), in: []*Tensor{MustFromSlice(sh(2), []string{"9007199254740993", "-3"})},
			want: []*Tensor{i64(sh(2), 9007199254740993, -3)}},
		{name: "bad string", op: "Cast", attrs: code(ir.F32), in: []*Tensor{MustFromSlice(sh(1), []string{"x"})}, wantErr: "not a number"},
		{name: "f32 to string", op: "Cast", attrs: code(ir.String), in: []*Tensor{f32(sh(3), 0.1, float32(math.Inf(1)), -2)},
			want: []*Tensor{MustFromSlice(sh(3), []string{"0.1", "INF", "-2"})}},
		{name: "i64 to u8 wrap", op: "Cast", attrs: code(ir.U8), in: []*Tensor{i64(sh(2), 257, -1)}, want: []*Tensor{MustFromSlice(sh(2), []uint8{1, 255})}},
	})
	// f16 round trip of exactly representable values.
	h, err := Cast(f32(sh(3), 1.5, -2, 65504), ir.F16)
	if err != nil {
		t.Fatal(err)
	}
	back, _ := Cast(h, ir.F32)
	if !Equal(back, f32(sh(3), 1.5, -2, 65504)) {
		t.Errorf("f16 round trip = %v", back)
	}
	b, _ := Cast(f32(sh(1), 1.00390625), ir.BF16) // halfway between 1 and 1.0078125: rounds to even (1)
	if got := b.Data.([]uint16)[0]; got != 0x3f80 {
		t.Errorf("bf16(1.00390625) = %#x, want 0x3f80", got)
	}
}

// Results must not depend on how ParallelFor splits the work.
func TestParallelSplitIndependent(t *testing.T) {
	n := 3*elemGrain + 5
	a, b := New(ir.F32, n), New(ir.F32, 1, n)
	for i := range a.F32() {
		a.F32()[i] = float32(i)
		b.F32()[i] = float32(n - i)
	}
	serial, err := arith(&KernelContext{}, "Add", a, b)
	if err != nil {
		t.Fatal(err)
	}
	par, _ := arith(&KernelContext{Parallel: reverseParallel}, "Add", a, b)
	if !Equal(serial, par) {
		t.Fatal("parallel Add differs from serial")
	}
	for i, v := range serial.F32() {
		if v != float32(n) {
			t.Fatalf("element %d = %v, want %d", i, v, n)
		}
	}
}
