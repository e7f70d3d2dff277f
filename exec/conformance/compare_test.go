package conformance

import (
	"math"
	"strings"
	"testing"

	"github.com/ciuic/ciuic/ops"
)

func TestCompare(t *testing.T) {
	nan := float32(math.NaN())
	f := func(v ...float32) *ops.Tensor { return ops.MustFromSlice([]int{2, 2}, v) }
	tests := []struct {
		name      string
		got, want *ops.Tensor
		msg       string // "" means equal; else a substring of the message
	}{
		{"equal", f(1, 2, 3, 4), f(1, 2, 3, 4), ""},
		{"within rtol", f(1, 2, 3, 4.003), f(1, 2, 3, 4), ""},
		{"nan equals nan", f(nan, 2, 3, 4), f(nan, 2, 3, 4), ""},
		{"worst element", f(1, 2.5, 3, 4.01), f(1, 2, 3, 4), "worst |got-want| 0.5 at [0 1] (got 2.5, want 2), 2 of 4 elements differ"},
		{"nan vs number", f(1, 2, nan, 4), f(1, 2, 3, 4), "at [1 0]"},
		{"shape", ops.MustFromSlice([]int{4}, []float32{1, 2, 3, 4}), f(1, 2, 3, 4), "shape [4], want [2 2]"},
		{"ints exact", ops.MustFromSlice([]int{3}, []int64{1, 2, 3}), ops.MustFromSlice([]int{3}, []int64{1, 2, 4}), "first mismatch at [2] (got 3, want 4)"},
		{"dtype", ops.MustFromSlice([]int{1}, []int32{1}), ops.MustFromSlice([]int{1}, []int64{1}), "dtype i32, want i64"},
	}
	for _, tc := range tests {
		msg := Compare(tc.got, tc.want, 1e-3, 1e-7)
		if tc.msg == "" && msg != "" || tc.msg != "" && !strings.Contains(msg, tc.msg) {
			t.Errorf("%s: Compare = %q, want %q", tc.name, msg, tc.msg)
		}
	}
}

func TestRunReportsFailureAndUnsupported(t *testing.T) {
	r := Run("../../testdata/onnx-node/test_abs", Options{})
	if r.Status != Pass || r.String() != "PASS test_abs" {
		t.Errorf("test_abs: %s", r)
	}
	r = Run("../../testdata/onnx-node/test_ai_onnx_ml_binarizer", Options{})
	if r.Status != Unsupported || !strings.Contains(r.Reason, "ai.onnx.ml.Binarizer") {
		t.Errorf("binarizer: %s", r)
	}
	r = Run("no/such/test", Options{})
	if r.Status == Pass {
		t.Errorf("missing folder passed: %s", r)
	}
}
