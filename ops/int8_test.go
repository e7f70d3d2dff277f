package ops

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ciuic/ciuic/ir"
)

// eachInt8Impl runs f under every int8 GEMM implementation (VNNI, Go).
func eachInt8Impl(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	defer SetGemmInt8Impl("")
	for _, name := range GemmInt8Impls() {
		if err := SetGemmInt8Impl(name); err != nil {
			t.Fatal(err)
		}
		t.Run(name, f)
	}
}

func randInt8Tensor(r *rand.Rand, dt ir.DType, shape ...int) *Tensor {
	t := New(dt, shape...)
	for i := 0; i < t.Len(); i++ {
		if dt == ir.U8 {
			Elems[uint8](t)[i] = uint8(r.IntN(256))
		} else {
			Elems[int8](t)[i] = int8(r.IntN(256) - 128)
		}
	}
	return t
}

func TestMatMulIntegerMatchesReference(t *testing.T) {
	dims := []int{1, 3, 15, 17, 63, 65, 1000}
	fast, _ := Lookup("", "MatMulInteger", ir.U8)
	ref, _ := ReferenceKernel("", "MatMulInteger")
	eachInt8Impl(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(4, 4))
		for i, M := range dims {
			K, N := dims[(i+1)%len(dims)], dims[(i+4)%len(dims)]
			if M*K*N > 1<<21 {
				K = 15
			}
			for _, at := range []ir.DType{ir.U8, ir.I8} {
				for _, bt := range []ir.DType{ir.U8, ir.I8} {
					a, b := randInt8Tensor(r, at, M, K), randInt8Tensor(r, bt, K, N)
					zpCases := [][2]*Tensor{
						{nil, nil},
						{randInt8Tensor(r, at), randInt8Tensor(r, bt)},
						{randInt8Tensor(r, at, M), randInt8Tensor(r, bt, N)},
					}
					for zi, zp := range zpCases {
						in := []*Tensor{a, b, zp[0], zp[1]}
						want, err := ref(nil, in, nil)
						if err != nil {
							t.Fatal(err)
						}
						for _, w := range []int{1, 3} {
							got, err := fast(workers(w), in, nil)
							if err != nil {
								t.Fatal(err)
							}
							if !Equal(got[0], want[0]) {
								t.Fatalf("%dx%dx%d %s x %s zero points %d workers %d: differs from the reference", M, K, N, at, bt, zi, w)
							}
						}
					}
				}
			}
		}
		// A batched A and a prepacked B.
		a, b := randInt8Tensor(r, ir.U8, 2, 5, 33), randInt8Tensor(r, ir.I8, 33, 20)
		if err := Prepack(nil, b); err != nil {
			t.Fatal(err)
		}
		want, _ := ref(nil, []*Tensor{a, b}, nil)
		got, err := fast(nil, []*Tensor{a, b}, nil)
		if err != nil || !Equal(got[0], want[0]) {
			t.Fatalf("batched: err %v, equal %v", err, err == nil && Equal(got[0], want[0]))
		}
	})
}

func TestDynamicQuantizeLinearMatchesReference(t *testing.T) {
	fast, _ := Lookup("", "DynamicQuantizeLinear", ir.F32)
	ref, _ := ReferenceKernel("", "DynamicQuantizeLinear")
	r := rand.New(rand.NewPCG(5, 5))
	for _, n := range []int{0, 1, 17, 1000, 100000} {
		for _, kind := range []string{"mixed", "positive", "negative", "zero", "ties"} {
			x := New(ir.F32, n)
			for i := range x.F32() {
				v := float32(r.NormFloat64() * 3)
				switch kind {
				case "positive":
					v = float32(math.Abs(float64(v)))
				case "negative":
					v = -float32(math.Abs(float64(v)))
				case "zero":
					v = 0
				case "ties": // values on the half steps of scale 2/255
					v = float32(r.IntN(511)-255) / 255
				}
				x.F32()[i] = v
			}
			want, err := ref(nil, []*Tensor{x}, nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := fast(workers(3), []*Tensor{x}, nil)
			if err != nil {
				t.Fatal(err)
			}
			for i := range want {
				if !Equal(got[i], want[i]) {
					t.Fatalf("n=%d %s: output %d = %v, want %v", n, kind, i, got[i], want[i])
				}
			}
		}
	}
}

// refGemmInt8 is GemmInt8 by the definition, with the activation in float64.
func refGemmInt8(t *testing.T, a []uint8, M, K int, aScale float32, aZero uint8, w []int8, N int, wScales []float32, wZeros []int32, bias []float32, act string) []float32 {
	f, err := denseActivation(act)
	if err != nil {
		t.Fatal(err)
	}
	y := make([]float32, M*N)
	for i := 0; i < M; i++ {
		for j := 0; j < N; j++ {
			zw := int32(0)
			if wZeros != nil {
				zw = wZeros[min(j, len(wZeros)-1)]
			}
			acc := int32(0)
			for k := 0; k < K; k++ {
				acc += (int32(a[i*K+k]) - int32(aZero)) * (int32(w[k*N+j]) - zw)
			}
			v := float32(acc) * (aScale * wScales[min(j, len(wScales)-1)])
			if bias != nil {
				v += bias[j]
			}
			if f != nil {
				v = f(v)
			}
			y[i*N+j] = v
		}
	}
	return y
}

func TestGemmInt8(t *testing.T) {
	eachInt8Impl(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(6, 6))
		for _, s := range [][3]int{{1, 1, 1}, {2, 17, 65}, {3, 64, 48}, {65, 63, 100}, {17, 1000, 15}} {
			M, K, N := s[0], s[1], s[2]
			at, wt := randInt8Tensor(r, ir.U8, M, K), randInt8Tensor(r, ir.I8, K, N)
			w := Elems[int8](wt)
			p, err := PackInt8(nil, wt)
			if err != nil {
				t.Fatal(err)
			}
			scales := make([]float32, N)
			bias := New(ir.F32, N)
			zeros := make([]int32, N)
			for j := range scales {
				scales[j] = r.Float32() * 0.01
				bias.F32()[j] = r.Float32() - 0.5
				zeros[j] = int32(r.IntN(21) - 10)
			}
			for _, act := range ir.DenseActivations {
				for _, wz := range [][]int32{nil, zeros} {
					want := refGemmInt8(t, Elems[uint8](at), M, K, 0.02, 131, w, N, scales, wz, bias.F32(), act)
					got, err := GemmInt8(workers(2), at, 0.02, 131, p, scales, wz, bias, act)
					if err != nil {
						t.Fatal(err)
					}
					assertClose(t, fmt.Sprintf("%v %q zeros=%v", s, act, wz != nil), got, MustFromSlice([]int{M, N}, want), 1)
				}
			}
			// Requantized: from the f32 result by QuantizeLinear's rule.
			q, err := GemmInt8Requant(nil, at, 0.02, 131, p, scales[:1], nil, bias, 0.05, 7, ir.I8)
			if err != nil {
				t.Fatal(err)
			}
			y := refGemmInt8(t, Elems[uint8](at), M, K, 0.02, 131, w, N, scales[:1], nil, bias.F32(), "")
			for i, v := range y {
				want := int8(min(max(math.RoundToEven(float64(v/0.05))+7, -128), 127))
				if Elems[int8](q)[i] != want {
					t.Fatalf("%v requant element %d = %d, want %d", s, i, Elems[int8](q)[i], want)
				}
			}
		}
		if _, err := GemmInt8(nil, New(ir.U8, 2, 3), 1, 0, PackInt8Slice(nil, make([]int8, 12), 4, 3), []float32{1}, nil, nil, ""); err == nil {
			t.Error("K mismatch accepted")
		}
		if _, err := GemmInt8(nil, New(ir.U8, 2, 4), 1, 0, PackInt8Slice(nil, make([]int8, 12), 4, 3), []float32{1, 2}, nil, nil, ""); err == nil {
			t.Error("2 scales for 3 channels accepted")
		}
	})
}

func TestDenseInt8Fast(t *testing.T) {
	k := denseInt8Kernel // quant_dense.go's kernel: its reference loops vs the hook
	r := rand.New(rand.NewPCG(8, 8))
	x, w := gemmRand(r, 2, 33, 70), randInt8Tensor(r, ir.I8, 70, 50)
	ws, b := gemmRand(r, 50), gemmRand(r, 50)
	for _, act := range ir.DenseActivations {
		for _, attrs := range []ir.Attrs{{"activation": ir.StringAttr(act)}, {"activation": ir.StringAttr(act), "x_quant": ir.StringAttr("row")}} {
			in := []*Tensor{x, w, ws, b}
			SetInt8Gemm(nil)
			want, err := k(nil, in, attrs)
			SetInt8Gemm(fastDenseInt8)
			if err != nil {
				t.Fatal(err)
			}
			got, err := k(workers(3), in, attrs)
			if err != nil {
				t.Fatal(err)
			}
			assertClose(t, "DenseInt8 "+act, got[0], want[0], 1)
		}
	}
}

// TestFastDenseInt8Kernel checks the vectorised-quantization DenseInt8 against the
// quant_dense.go kernel (with the same int8 GEMM): the same bits, for every X
// quantization mode, including an all-zero X and a tie-heavy one.
func TestFastDenseInt8Kernel(t *testing.T) {
	fast, _ := Lookup(ir.CiuicDomain, "DenseInt8", ir.F32)
	ref, _ := ReferenceKernel(ir.CiuicDomain, "DenseInt8")
	r := rand.New(rand.NewPCG(9, 1))
	w, ws, b := randInt8Tensor(r, ir.I8, 70, 50), gemmRand(r, 50), gemmRand(r, 50)
	for _, xkind := range []string{"random", "zero", "ties"} {
		x := gemmRand(r, 3, 17, 70)
		for i := range x.F32() {
			switch xkind {
			case "zero":
				x.F32()[i] = 0
			case "ties":
				x.F32()[i] = float32(r.IntN(511)-255) / 255
			}
		}
		for _, c := range []struct {
			in    []*Tensor
			attrs ir.Attrs
		}{
			{[]*Tensor{x, w, ws, b}, ir.Attrs{"activation": ir.StringAttr("gelu")}},
			{[]*Tensor{x, w, ws, nil}, ir.Attrs{"x_quant": ir.StringAttr("row")}},
			{[]*Tensor{x, w, Scalar(float32(0.003)), b, Scalar(float32(0.01)), Scalar(uint8(120))}, nil},
		} {
			want, err := ref(nil, c.in, c.attrs)
			if err != nil {
				t.Fatal(err)
			}
			got, err := fast(workers(3), c.in, c.attrs)
			if err != nil {
				t.Fatal(err)
			}
			assertBits(t, fmt.Sprintf("%s %v", xkind, c.attrs), got[0], want[0])
		}
	}
	if _, err := fast(nil, []*Tensor{gemmRand(r, 2, 3), w, ws}, nil); err == nil {
		t.Error("K mismatch accepted")
	}
}
