package ops

import (
	"testing"

	"github.com/ciuic/ciuic/ir"
)

func TestRecycle(t *testing.T) {
	const n = recycleMin * 3
	a := New(ir.F32, n)
	for i := range a.F32() {
		a.F32()[i] = 7
	}
	data := &a.F32()[0]
	Recycle(a)
	b := New(ir.F32, 3, recycleMin)
	if &b.F32()[0] != data {
		t.Fatal("a recycled buffer of the same length was not reused")
	}
	for i, v := range b.F32() {
		if v != 0 {
			t.Fatalf("reused buffer not cleared at %d: %v", i, v)
		}
	}
	if c := New(ir.F32, n); &c.F32()[0] == data {
		t.Fatal("one buffer handed out twice")
	}
	// Small buffers and slices into larger ones are not taken.
	Recycle(New(ir.F32, 16))
	big := make([]float32, 2*n)
	part := MustFromSlice([]int{n}, big[:n])
	Recycle(part)
	if d := New(ir.F32, n); &d.F32()[0] == &big[0] {
		t.Fatal("a slice into a larger buffer was recycled")
	}
}
