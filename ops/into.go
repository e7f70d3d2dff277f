package ops

import (
	"fmt"
	"runtime"
	"unsafe"
	"weak"

	"github.com/ciuic/ciuic/ir"
	"github.com/ciuic/ciuic/ops/internal/gemm"
)

// KernelInto computes an op's outputs into tensors the caller allocated: out[i] has the
// dtype and shape of the node's output i (nil for an output the caller does not need).
// A compiled plan hands kernels slices of one arena this way, so that a run in steady
// state allocates nothing for its intermediates. A KernelInto must produce exactly what
// the op's Kernel produces, bit for bit: it is the same computation with a different
// destination. It returns an error when out does not have the shape the inputs give.
type KernelInto func(ctx *KernelContext, in, out []*Tensor, attrs ir.Attrs) error

type intoEntry struct {
	k       KernelInto
	inPlace bool
}

var intoKernels = map[kernelKey]intoEntry{}

// RegisterInto makes k the into-variant of op for inputs of the given dtypes (all dtypes
// if none). With inPlace, each out[k] may be the very buffer of an input of the same
// shape and dtype (a different input for each output: elementwise and row-wise ops read
// element or row i of their inputs before writing element or row i of their outputs),
// so a memory planner may run the op in place over inputs that die at the node.
func RegisterInto(domain, op string, k KernelInto, inPlace bool, dtypes ...ir.DType) {
	regMu.Lock()
	defer regMu.Unlock()
	domain = normDomain(domain)
	if len(dtypes) == 0 {
		dtypes = []ir.DType{ir.Invalid}
	}
	for _, dt := range dtypes {
		intoKernels[kernelKey{domain, op, dt}] = intoEntry{k, inPlace}
	}
}

// updates maps ops whose output 0 is one of their inputs, updated in place, to that
// input's index.
var updates = map[kernelKey]int{}

// RegisterUpdate declares that op's kernel writes its input `input` in place and
// returns that very tensor as output 0 (ciuic.KVCacheUpdate: a cache that is session
// state). A memory planner must then make output 0 share the input's memory whatever
// the input's lifetime: giving it a buffer of its own would leave the caller's state
// unchanged.
func RegisterUpdate(domain, op string, input int) {
	regMu.Lock()
	defer regMu.Unlock()
	updates[kernelKey{normDomain(domain), op, ir.Invalid}] = input
}

// UpdatedInput returns the input that op updates in place and returns as output 0
// (see RegisterUpdate).
func UpdatedInput(domain, op string) (input int, ok bool) {
	regMu.RLock()
	defer regMu.RUnlock()
	input, ok = updates[kernelKey{normDomain(domain), op, ir.Invalid}]
	return input, ok
}

// LookupInto returns the into-variant of op for first-input dtype dt and whether its
// output may alias an input.
func LookupInto(domain, op string, dt ir.DType) (k KernelInto, inPlace, ok bool) {
	regMu.RLock()
	defer regMu.RUnlock()
	domain = normDomain(domain)
	e, ok := intoKernels[kernelKey{domain, op, dt}]
	if !ok {
		e, ok = intoKernels[kernelKey{domain, op, ir.Invalid}]
	}
	return e.k, e.inPlace, ok
}

// CopyInto copies src into dst, which must have the same dtype and element count: the
// fallback for kernels without an into-variant (compute, then copy into the arena).
func CopyInto(dst, src *Tensor) error {
	if dst.DType != src.DType || dst.Len() != src.Len() {
		return fmt.Errorf("kernel produced %s%v, plan expects %s%v", src.DType, src.Shape, dst.DType, dst.Shape)
	}
	switch d := dst.Data.(type) { // the common dtypes without reflection (which allocates)
	case []float32:
		copy(d, src.Data.([]float32))
	case []int64:
		copy(d, src.Data.([]int64))
	default:
		copyElems(dst.Data, 0, src.Data, 0, src.Len())
	}
	return nil
}

// TensorOver makes a tensor of dtype dt and shape whose elements are the bytes b (no
// copy): an arena slice, or weights in a memory-mapped file. b must be aligned for dt
// and hold exactly the elements; strings are not supported (they hold pointers).
// Elements are read in the machine's byte order, which is little-endian on every
// platform ciuic builds for.
func TensorOver(dt ir.DType, shape []int, b []byte) (*Tensor, error) {
	n := NumElems(shape)
	if dt == ir.String || dt.Size() == 0 {
		return nil, fmt.Errorf("TensorOver: dtype %s has no fixed-size elements", dt)
	}
	if len(b) != n*dt.Size() {
		return nil, fmt.Errorf("TensorOver: %s%v needs %d bytes, got %d", dt, shape, n*dt.Size(), len(b))
	}
	if n > 0 && uintptr(unsafe.Pointer(&b[0]))%uintptr(dt.Size()) != 0 {
		return nil, fmt.Errorf("TensorOver: data for %s is not %d-byte aligned", dt, dt.Size())
	}
	t := &Tensor{DType: dt, Shape: append([]int{}, shape...)}
	var p unsafe.Pointer
	if n > 0 {
		p = unsafe.Pointer(&b[0])
	}
	switch dt {
	case ir.F32:
		t.Data = unsafe.Slice((*float32)(p), n)
	case ir.F64:
		t.Data = unsafe.Slice((*float64)(p), n)
	case ir.F16, ir.BF16, ir.U16:
		t.Data = unsafe.Slice((*uint16)(p), n)
	case ir.I8:
		t.Data = unsafe.Slice((*int8)(p), n)
	case ir.I16:
		t.Data = unsafe.Slice((*int16)(p), n)
	case ir.I32:
		t.Data = unsafe.Slice((*int32)(p), n)
	case ir.I64:
		t.Data = unsafe.Slice((*int64)(p), n)
	case ir.U8:
		t.Data = unsafe.Slice((*uint8)(p), n)
	case ir.U32:
		t.Data = unsafe.Slice((*uint32)(p), n)
	case ir.U64:
		t.Data = unsafe.Slice((*uint64)(p), n)
	case ir.Bool:
		t.Data = unsafe.Slice((*bool)(p), n)
	default:
		return nil, fmt.Errorf("TensorOver: unsupported dtype %s", dt)
	}
	if n == 0 {
		// unsafe.Slice(nil, 0) is a nil slice; kernels expect an empty one of the type.
		d, _ := makeData(dt, 0)
		t.Data = d
	}
	return t, nil
}

// Panels returns the implementation the matrix was packed for and its packed panels
// (read-only), for storing in a compiled plan.
func (m *PackedMatrix) Panels() (impl string, data []float32) { return m.p.Kernel(), m.p.Panels() }

// PackedFromPanels rebuilds a PackedMatrix from what Panels returned (for example mapped
// from a compiled plan), without copying.
func PackedFromPanels(impl string, K, N int, data []float32) (*PackedMatrix, error) {
	p, err := gemm.FromPanels(impl, K, N, data)
	if err != nil {
		return nil, err
	}
	return &PackedMatrix{K: K, N: N, p: p}, nil
}

// UsePacked is Prepack with the packing already done: t (2-D f32 K×N) is declared
// constant and p becomes its packed form for every MatMul, Gemm or Dense that gets t as
// its right operand. p must have been packed from t.
func UsePacked(t *Tensor, p *PackedMatrix) error {
	if t == nil || t.DType != ir.F32 || t.Rank() != 2 || t.Shape[0] != p.K || t.Shape[1] != p.N {
		return fmt.Errorf("UsePacked: packed %dx%d matrix does not fit tensor", p.K, p.N)
	}
	storePacked(t, p)
	return nil
}

// storePacked records p as the packed form of t, as Prepack does after packing.
func storePacked(t *Tensor, p *PackedMatrix) {
	key := weak.Make(t)
	if _, loaded := prepacked.Swap(key, p); !loaded {
		runtime.AddCleanup(t, func(k weak.Pointer[Tensor]) { prepacked.Delete(k) }, key)
	}
}
