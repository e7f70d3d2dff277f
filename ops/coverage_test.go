package ops

import (
	"testing"

	"github.com/ciuic/ciuic/ir"
)

// Every op in the IR's schema table must have a kernel (the definition of done),
// except ONNX Runtime's com.microsoft ops, which the ONNX importer lowers onto ciuic and
// ONNX ops (frontend/onnx/msft.go) and which therefore never reach a kernel.
func TestEverySchemaOpHasKernel(t *testing.T) {
	for _, s := range ir.Schemas() {
		if len(KernelDTypes(s.Domain, s.Op)) == 0 && s.Domain != ir.MSFTDomain {
			t.Errorf("op %s (domain %q) has a schema but no kernel", s.Op, s.Domain)
		}
	}
}
