package ops

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/ciuic/ciuic/ir"
)

// eachVecImpl runs f under every vec implementation (AVX-512 and Go).
func eachVecImpl(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	defer SetVecImpl("")
	for _, name := range VecImpls() {
		if err := SetVecImpl(name); err != nil {
			t.Fatal(err)
		}
		t.Run(name, f)
	}
}

// referenceDense is ciuic.Dense by the reference loops: float32 sums over k in order,
// then the bias and the activation in float64 as the ONNX ops compute them.
func referenceDense(t *testing.T, x, w, b *Tensor, act string) *Tensor {
	K, N := w.Shape[0], w.Shape[1]
	M := x.Len() / K
	y := New(ir.F32, append(append([]int{}, x.Shape[:x.Rank()-1]...), N)...)
	f, err := denseActivation(act)
	if err != nil {
		t.Fatal(err)
	}
	var bias []float32
	if b != nil {
		bias = b.F32()
	}
	denseRows(x.F32(), w.F32(), y.F32(), K, N, 0, M)
	denseEpilogue(y.F32(), N, bias, f)
	return y
}

func TestDenseMatchesReference(t *testing.T) {
	dims := []int{1, 3, 15, 17, 63, 65, 1000}
	eachGemmImpl(t, func(t *testing.T) {
		eachVecImpl(t, func(t *testing.T) {
			r := rand.New(rand.NewPCG(7, 8))
			for i, M := range dims {
				K, N := dims[(i+2)%len(dims)], dims[(i+5)%len(dims)]
				if M*K*N > 1<<22 {
					K = 17
				}
				x, w, b := gemmRand(r, M, K), gemmRand(r, K, N), gemmRand(r, N)
				x.F32()[0] = 4 // large arguments for the activations' tails
				for _, act := range ir.DenseActivations {
					for _, bias := range []*Tensor{nil, b} {
						want := referenceDense(t, x, w, bias, act)
						in := []*Tensor{x, w}
						if bias != nil {
							in = append(in, bias)
						}
						got, err := Run(ir.CiuicDomain, "Dense", in, ir.Attrs{"activation": ir.StringAttr(act)}, 1)
						if err != nil {
							t.Fatal(err)
						}
						assertClose(t, fmt.Sprintf("%dx%dx%d %q bias=%v", M, K, N, act, bias != nil), got[0], want, K)
					}
				}
			}
		})
	})
}

// TestDenseThreadIndependent checks that Dense gives the same bits for every worker
// count, prepacked or not.
func TestDenseThreadIndependent(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	x, w, b := gemmRand(r, 2, 65, 300), gemmRand(r, 300, 130), gemmRand(r, 130)
	k, _ := Lookup(ir.CiuicDomain, "Dense", ir.F32)
	attrs := ir.Attrs{"activation": ir.StringAttr("gelu")}
	one, err := k(&KernelContext{}, []*Tensor{x, w, b}, attrs)
	if err != nil {
		t.Fatal(err)
	}
	if err := Prepack(nil, w); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{1, 2, 3, 7} {
		got, err := k(workers(n), []*Tensor{x, w, b}, attrs)
		if err != nil {
			t.Fatal(err)
		}
		assertBits(t, fmt.Sprintf("%d workers", n), got[0], one[0])
	}
}

// TestDensePrepacked checks that a prepacked weight is not packed again by a call.
func TestDensePrepacked(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	x, w := gemmRand(r, 5, 40), gemmRand(r, 40, 70)
	if err := Prepack(nil, w); err != nil {
		t.Fatal(err)
	}
	before := GemmPacks()
	for range 3 {
		if _, err := Run(ir.CiuicDomain, "Dense", []*Tensor{x, w}, nil, 1); err != nil {
			t.Fatal(err)
		}
	}
	if n := GemmPacks() - before; n != 0 {
		t.Errorf("3 calls with a prepacked weight packed %d times, want 0", n)
	}
	if _, err := Run(ir.CiuicDomain, "Dense", []*Tensor{x, gemmRand(r, 40, 70)}, nil, 1); err != nil {
		t.Fatal(err)
	}
	if n := GemmPacks() - before; n != 1 {
		t.Errorf("a call with a fresh weight packed %d times, want 1", n)
	}
}
