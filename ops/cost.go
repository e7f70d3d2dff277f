package ops

import (
	"sync"

	"github.com/ciuic/ciuic/ir"
)

// CostFunc estimates how much work one call of an op does, in floating-point operations
// (multiply-adds count two), from its input types and attributes. Symbolic dims in the
// types are unknown sizes; a CostFunc may substitute a guess or return a negative number
// for "unknown".
type CostFunc func(in []ir.Type, attrs ir.Attrs) float64

var (
	costMu sync.RWMutex
	costs  = map[[2]string]CostFunc{}
)

// RegisterCost attaches a cost estimate to op in domain ("" for ONNX), for a scheduler
// that orders or splits work by cost. It is optional: an op without one is treated as
// cheap. A later registration replaces an earlier one. The executor does not read costs
// yet; registering one now keeps a custom operator ready for when it does.
func RegisterCost(domain, op string, f CostFunc) {
	costMu.Lock()
	defer costMu.Unlock()
	costs[[2]string{normDomain(domain), op}] = f
}

// Cost returns op's registered estimate for the given inputs, and whether it has one.
func Cost(domain, op string, in []ir.Type, attrs ir.Attrs) (float64, bool) {
	costMu.RLock()
	f, ok := costs[[2]string{normDomain(domain), op}]
	costMu.RUnlock()
	if !ok {
		return 0, false
	}
	return f(in, attrs), true
}
