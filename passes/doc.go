// Package passes optimises an ir.Graph. Every pass is one entry of the ordered table in
// pass.go, runs in its own file with its own golden test, and reports what it changed.
// Pipelines for -O0, -O1 and -O2 are the table filtered by level:
//
//	-O0  infer shapes, dead code                       (required passes only)
//	-O1  + simplify, fold constants, cse               (graph cleanup, exact)
//	-O2  + fusions (gelu, layer norm, rms norm, attention, dense, elementwise chains)
//
// Rewrites are written as patterns (pattern.go): an op tree with captures and conditions,
// first match wins, and a failed condition is recorded as a remark so -explain can say why
// a pattern that looked fusable did not fire.
//
// Passes never run kernels, except constant folding through the narrow evaluator in eval.go.
package passes
