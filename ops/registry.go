package ops

import (
	"fmt"
	"sort"
	"sync"

	"github.com/ciuic/ciuic/ir"
)

// Kernel computes the outputs of one op. in[i] is nil for an omitted optional input, and
// in may be shorter than the op's full input list. A kernel returns ctx.NumOutputs
// tensors (optional outputs it cannot produce are nil), never modifies its inputs, and
// returns an error, not a panic, for inputs that break the op's rules.
type Kernel func(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error)

// KernelContext is what the caller tells a kernel about one invocation.
type KernelContext struct {
	// NumOutputs is how many outputs the node has (Split, optional outputs).
	NumOutputs int
	// Parallel, if set, runs fn over [0, n) split into chunks of at least grain items,
	// and returns when all chunks are done. The executor supplies one that draws on its
	// worker budget; nil runs serially.
	Parallel func(n, grain int, fn func(lo, hi int))
}

// ParallelFor runs fn over [0, n) in chunks, serially if the context has no Parallel.
func (c *KernelContext) ParallelFor(n, grain int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	if c == nil || c.Parallel == nil || n <= grain {
		fn(0, n)
		return
	}
	c.Parallel(n, grain, fn)
}

func (c *KernelContext) numOutputs() int {
	if c == nil || c.NumOutputs == 0 {
		return 1
	}
	return c.NumOutputs
}

type kernelKey struct {
	domain, op string
	dtype      ir.DType // ir.Invalid: any dtype
}

var (
	regMu   sync.RWMutex
	kernels = map[kernelKey]Kernel{}
)

func normDomain(d string) string {
	if d == "ai.onnx" {
		return ""
	}
	return d
}

// Register makes k the kernel of op in domain ("" for ONNX) for inputs of the given
// dtypes. The dtype that selects a kernel is that of the op's first present input
// (ir.Invalid for ops without inputs, such as Constant); with no dtypes, k serves every
// dtype not registered explicitly. A later registration replaces an earlier one, which
// is how a faster kernel takes over from a reference one. Custom operators register here.
func Register(domain, op string, k Kernel, dtypes ...ir.DType) {
	regMu.Lock()
	defer regMu.Unlock()
	domain = normDomain(domain)
	if len(dtypes) == 0 {
		dtypes = []ir.DType{ir.Invalid}
	}
	for _, dt := range dtypes {
		kernels[kernelKey{domain, op, dt}] = k
	}
}

// Lookup returns the kernel for op in domain with first-input dtype dt.
func Lookup(domain, op string, dt ir.DType) (Kernel, bool) {
	regMu.RLock()
	defer regMu.RUnlock()
	domain = normDomain(domain)
	if k, ok := kernels[kernelKey{domain, op, dt}]; ok {
		return k, true
	}
	k, ok := kernels[kernelKey{domain, op, ir.Invalid}]
	return k, ok
}

// KernelDTypes lists the dtypes op has kernels for (ir.Invalid meaning "any"), for
// error messages and docs.
func KernelDTypes(domain, op string) []ir.DType {
	regMu.RLock()
	defer regMu.RUnlock()
	domain = normDomain(domain)
	var ds []ir.DType
	for k := range kernels {
		if k.domain == domain && k.op == op {
			ds = append(ds, k.dtype)
		}
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds
}

// RegisteredOps lists every (domain, op) with at least one kernel, sorted.
func RegisteredOps() [][2]string {
	regMu.RLock()
	defer regMu.RUnlock()
	seen := map[[2]string]bool{}
	var out [][2]string
	for k := range kernels {
		p := [2]string{k.domain, k.op}
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i][0] != out[j][0] {
			return out[i][0] < out[j][0]
		}
		return out[i][1] < out[j][1]
	})
	return out
}

// Run looks up and runs the kernel for op on in: a convenience for tests, constant
// folding and callers without a plan.
func Run(domain, op string, in []*Tensor, attrs ir.Attrs, numOutputs int) ([]*Tensor, error) {
	dt := ir.Invalid
	for _, t := range in {
		if t != nil {
			dt = t.DType
			break
		}
	}
	k, ok := Lookup(domain, op, dt)
	if !ok {
		return nil, fmt.Errorf("no kernel for %s on %s", opName(domain, op), dt)
	}
	return k(&KernelContext{NumOutputs: numOutputs}, in, attrs)
}

func opName(domain, op string) string {
	if domain == "" {
		return op
	}
	return domain + "." + op
}

// Dtype groups used at registration.
var (
	floatTypes   = []ir.DType{ir.F32, ir.F64, ir.F16, ir.BF16}
	intTypes     = []ir.DType{ir.I8, ir.I16, ir.I32, ir.I64, ir.U8, ir.U16, ir.U32, ir.U64}
	numericTypes = append(append([]ir.DType{}, floatTypes...), intTypes...)
	allTypes     = append(append([]ir.DType{}, numericTypes...), ir.Bool, ir.String)
)

// input returns in[i], or nil if it is absent.
func input(in []*Tensor, i int) *Tensor {
	if i < len(in) {
		return in[i]
	}
	return nil
}

// need checks that the required inputs are present.
func need(in []*Tensor, n int) error {
	for i := 0; i < n; i++ {
		if input(in, i) == nil {
			return fmt.Errorf("required input %d is missing", i)
		}
	}
	return nil
}

func one(t *Tensor) []*Tensor { return []*Tensor{t} }

// normAxis maps a possibly negative axis into [0, rank).
func normAxis(axis int64, rank int) (int, error) {
	a := axis
	if a < 0 {
		a += int64(rank)
	}
	if a < 0 || a >= int64(rank) {
		return 0, fmt.Errorf("axis %d out of range for rank %d", axis, rank)
	}
	return int(a), nil
}

// intsInputOrAttr reads an int list from input i if present, else from attribute name
// (older opsets had attributes where newer ones have inputs).
func intsInputOrAttr(in []*Tensor, i int, attrs ir.Attrs, name string) ([]int64, bool, error) {
	if t := input(in, i); t != nil {
		v, err := t.Ints()
		if err != nil {
			return nil, false, fmt.Errorf("input %d (%s): %v", i, name, err)
		}
		return v, true, nil
	}
	v, ok := attrs.Ints(name)
	return v, ok, nil
}
