package vec

import (
	"math"
	"math/rand/v2"
	"testing"
)

// binaryRef is each binary step by the reference kernels' scalar rule.
var binaryRef = map[string]struct {
	f   func(dst, a, b []float32)
	ref func(a, b float32) float32
}{
	"Add": {Add, func(a, b float32) float32 { return a + b }},
	"Sub": {Sub, func(a, b float32) float32 { return a - b }},
	"Mul": {Mul, func(a, b float32) float32 { return a * b }},
	"Div": {Div, func(a, b float32) float32 { return a / b }},
	"Max": {Max, func(a, b float32) float32 {
		if a != a || a > b {
			return a
		}
		return b
	}},
	"Min": {Min, func(a, b float32) float32 {
		if a != a || a < b {
			return a
		}
		return b
	}},
	"Relu": {func(dst, a, _ []float32) { Relu(dst, a) }, func(a, _ float32) float32 { return max(a, 0) }},
}

// specialRow is randRow with some zeros of both signs, infinities, NaNs of two
// payloads, denormals and equal pairs mixed in.
func specialRow(r *rand.Rand, n int) []float32 {
	x := randRow(r, n, 0)
	for i := range x {
		switch r.IntN(12) {
		case 0:
			x[i] = 0
		case 1:
			x[i] = float32(math.Copysign(0, -1))
		case 2:
			x[i] = float32(math.Inf(1 - 2*r.IntN(2)))
		case 3:
			x[i] = math.Float32frombits(0x7fc00000 | uint32(r.IntN(1000)) | uint32(r.IntN(2))<<31)
		case 4:
			x[i] = math.Float32frombits(uint32(r.IntN(1 << 23)))
		case 5:
			x[i] = 1
		}
	}
	return x
}

func TestBinary(t *testing.T) {
	lens := []int{0, 1, 3, 15, 16, 17, 63, 65, 257, 1000}
	for name, op := range binaryRef {
		eachImpl(t, func(t *testing.T) bool {
			r := rand.New(rand.NewPCG(3, uint64(len(name))))
			for _, n := range lens {
				a, b := specialRow(r, n+1), specialRow(r, n+1)
				dst := make([]float32, n+1)
				dst[n] = 42 // past the end: must stay
				op.f(dst[:n], a, b)
				for i := range n {
					want := op.ref(a[i], b[i])
					g, w := math.Float32bits(dst[i]), math.Float32bits(want)
					// Max and Min pick an operand: the same NaN. The arithmetic keeps one
					// of its NaN operands, which one may depend on operand order, and the
					// builtin max (Relu's Go loop) may clear a NaN's sign.
					pick := name == "Max" || name == "Min"
					if g != w && (pick || !(dst[i] != dst[i] && want != want)) {
						t.Fatalf("%s n=%d: %s(%v, %v) = %v (%#x), want %v (%#x)", Impl(), n, name, a[i], b[i], dst[i], g, want, w)
					}
				}
				if dst[n] != 42 {
					t.Fatalf("%s n=%d: wrote past the end", name, n)
				}
				// In place over a.
				c := append([]float32(nil), a...)
				op.f(c[:n], c, b)
				for i := range n {
					if math.Float32bits(c[i]) != math.Float32bits(dst[i]) && !(c[i] != c[i] && dst[i] != dst[i]) {
						t.Fatalf("%s n=%d in place: [%d] = %v, want %v", name, n, i, c[i], dst[i])
					}
				}
			}
			return true
		})
	}
}
