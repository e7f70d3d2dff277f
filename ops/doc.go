// Package ops produces ciuic's kernels: the Tensor type they compute on, a registry of
// kernels keyed by (domain, op, dtype), and a reference kernel for every ONNX op that
// ciuic knows, following the ONNX operator specification (attributes, defaults,
// numpy-style broadcasting, edge cases).
//
// The reference kernels are written for clarity and correctness first; faster kernels
// (SIMD, pre-packed weights) register under the same keys later and are tested against
// them. Kernels know nothing about graphs: they take tensors and attributes and return
// tensors. They never modify their inputs, and an output may share its data with an
// input (Reshape, Squeeze, Identity return views), so the caller must treat every
// tensor as immutable once produced.
//
// Results never depend on how ParallelFor splits work: each output element is computed
// by the same sequence of operations whatever the split, so outputs are bit-identical
// for any number of workers.
package ops
