package passes

import (
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"github.com/ciuic/ciuic/frontend/onnx"
	"github.com/ciuic/ciuic/ir"
	"github.com/ciuic/ciuic/ops"
)

// nodeTestWithConstants loads an ONNX node test whose inputs other than the first are
// bound as constants (the weights, scales and zero points of a pre-quantized model), and
// returns the graph, its first input's value and the expected output.
func nodeTestWithConstants(t *testing.T, dir string) (*ir.Graph, map[string]*ops.Tensor, *ops.Tensor) {
	t.Helper()
	g, err := onnx.ReadFile(filepath.Join(dir, "model.onnx"), onnx.Options{})
	if err != nil {
		t.Fatal(err)
	}
	read := func(name string) *ir.Tensor {
		nt, err := onnx.ReadTensorFile(filepath.Join(dir, "test_data_set_0", name))
		if err != nil {
			t.Fatal(err)
		}
		return nt.Tensor
	}
	inputs := map[string]*ops.Tensor{}
	for i, in := range slices.Clone(g.Inputs) {
		tv := read(fmt.Sprintf("input_%d.pb", i))
		if i == 0 {
			x, err := ops.FromIR(tv)
			if err != nil {
				t.Fatal(err)
			}
			inputs[in.Name] = x
			continue
		}
		c := g.AddConst(g.UniqueName(in.Name+"_const"), tv)
		g.ReplaceAllUses(in, c)
	}
	g.Inputs = g.Inputs[:1]
	want, err := ops.FromIR(read("output_0.pb"))
	if err != nil {
		t.Fatal(err)
	}
	return g, inputs, want
}

// Pre-quantized QOperator models (the ONNX node tests' QLinearMatMul and QLinearConv with
// their weights, scales and zero points as constants) lower to integer ops followed by
// QuantizeLinear, and give the expected outputs (to one unit of the output grid: the
// integer ops round the scale product to f32 first). The node tests' B minus its zero
// point leaves i8, so their QLinearMatMuls become MatMulInteger; with B clamped into
// range ("fit") they become ciuic.DenseInt8, checked against the QLinearMatMul kernel.
func TestQLinearLowering(t *testing.T) {
	for _, tc := range []struct {
		name, op string
		fit      bool
	}{
		{"test_qlinearmatmul_2D_uint8_float16", "MatMulInteger", false},
		{"test_qlinearmatmul_2D_int8_float16", "MatMulInteger", false},
		{"test_qlinearmatmul_2D_uint8_float16", "ciuic.DenseInt8", true},
		{"test_qlinearmatmul_2D_int8_float16", "ciuic.DenseInt8", true},
		{"test_qlinearconv", "ciuic.ConvInt8", false},
	} {
		t.Run(fmt.Sprintf("%s/%s", tc.name, tc.op), func(t *testing.T) {
			g, inputs, want := nodeTestWithConstants(t, filepath.Join("../testdata/onnx-node", tc.name))
			if tc.fit {
				fitWeight(t, g)
				e, err := newEvaluator(g)
				if err != nil {
					t.Fatal(err)
				}
				outs, err := e.run(inputs, nil, nil) // the QLinearMatMul kernel
				if err != nil {
					t.Fatal(err)
				}
				want = outs[0]
			}
			if _, err := Run(g, Config{Level: 2, VerifyEach: true}); err != nil {
				t.Fatal(err)
			}
			st := ir.ComputeStats(g)
			if st.Ops[tc.op] != 1 || st.Ops["QLinearMatMul"]+st.Ops["QLinearConv"] != 0 || tc.fit && st.Ops["MatMulInteger"] != 0 {
				t.Fatalf("ops after passes: %v\n%s", st.Ops, ir.Print(g))
			}
			e, err := newEvaluator(g)
			if err != nil {
				t.Fatal(err)
			}
			outs, err := e.run(inputs, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			got := outs[0]
			if got.DType != want.DType || !slices.Equal(got.Shape, want.Shape) {
				t.Fatalf("got %s%v, want %s%v", got.DType, got.Shape, want.DType, want.Shape)
			}
			a, _ := got.Floats()
			b, _ := want.Floats()
			off := 0
			for i := range a {
				if d := a[i] - b[i]; d > 1 || d < -1 {
					t.Fatalf("element %d: got %g, want %g", i, a[i], b[i])
				} else if d != 0 {
					off++
				}
			}
			t.Logf("%d of %d elements one unit off", off, len(a))
		})
	}
}

// fitWeight clamps the QLinearMatMul's B so that B minus its zero point fits in i8.
func fitWeight(t *testing.T, g *ir.Graph) {
	for _, n := range g.Nodes {
		if n.Op != "QLinearMatMul" {
			continue
		}
		b, z := n.Inputs[3].Const, n.Inputs[5].Const.Int64s()[0]
		for i, v := range b.Int64s() {
			v = min(max(v, z-127), z+127)
			if b.DType == ir.U8 {
				b.Data[i] = byte(uint8(v))
			} else {
				b.Data[i] = byte(int8(v))
			}
		}
		return
	}
	t.Fatal("no QLinearMatMul")
}
