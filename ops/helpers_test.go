package ops

import (
	"strings"
	"testing"

	"github.com/ciuic/ciuic/ir"
)

func f32(shape []int, v ...float32) *Tensor { return MustFromSlice(shape, v) }
func f64(shape []int, v ...float64) *Tensor { return MustFromSlice(shape, v) }
func i64(shape []int, v ...int64) *Tensor   { return MustFromSlice(shape, v) }
func i32(shape []int, v ...int32) *Tensor   { return MustFromSlice(shape, v) }
func bools(shape []int, v ...bool) *Tensor  { return MustFromSlice(shape, v) }
func sh(d ...int) []int                     { return d }

// kcase is one table-test case: run op on in with attrs and expect want (or an error
// containing wantErr).
type kcase struct {
	name    string
	op      string
	in      []*Tensor
	attrs   ir.Attrs
	want    []*Tensor
	wantErr string
	tol     float64 // 0: exact; else relative and absolute tolerance
}

func runCases(t *testing.T, cases []kcase) {
	t.Helper()
	for _, c := range cases {
		name := c.op + "/" + c.name
		t.Run(name, func(t *testing.T) {
			nout := len(c.want)
			if nout == 0 {
				nout = 1
			}
			got, err := Run("", c.op, c.in, c.attrs, nout)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) < len(c.want) {
				t.Fatalf("got %d outputs, want %d", len(got), len(c.want))
			}
			for i, w := range c.want {
				if err := AllClose(got[i], w, c.tol, c.tol); err != nil {
					t.Errorf("output %d: %v\n got %v\nwant %v", i, err, got[i], w)
				}
			}
		})
	}
}

// serialParallel is a Parallel that splits into grain-sized chunks but runs them in
// reverse order, so tests catch kernels whose results depend on the split.
func reverseParallel(n, grain int, fn func(lo, hi int)) {
	grain = max(grain, 1)
	for lo := (n - 1) / grain * grain; lo >= 0; lo -= grain {
		fn(lo, min(lo+grain, n))
	}
}
