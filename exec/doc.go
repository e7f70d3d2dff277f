// Package exec runs ciuic graphs: a Session, built once from a verified ir.Graph, runs
// it on concrete input tensors and produces the graph's output tensors, with optional
// per-node timings and a Chrome trace.
//
// # Preparing
//
// NewSession resolves every node's kernel once (ops.Lookup by the node's domain, op
// and the dtype of its first present input; every node without a kernel is reported
// in one error), converts the constants to ops tensors once, and numbers every value
// with a slot. For each node it records its input and output slots, how many input
// edges come from other nodes (its dependency count), and which nodes its outputs
// feed. None of that changes between runs, so the Session is read-only afterwards
// and any number of goroutines may run it at once.
//
// # Scheduling
//
// A run copies the dependency counts. Nodes with no producer are ready at once; when
// a node finishes it decrements the count of each consumer and pushes the ones that
// reach zero on a ready stack (depth first: a branch's consumers run before the next
// branch starts, so its intermediates are freed early). A dispatcher (the goroutine
// that called Run) pops ready nodes and starts
// every ready node on an errgroup with SetLimit(workers), so independent branches of
// the graph run at the same time. Node goroutines never start other goroutines on
// the group themselves: errgroup's Go blocks at the limit, and a node waiting for a
// slot it is itself occupying would deadlock.
//
// The first error (a kernel error, a kernel output that disagrees with the declared
// type, a recovered kernel panic) cancels the group's context; nodes not yet started
// do not start, and the error is returned as
//
//	node <ref>: <op> with inputs f32[2, 3], f32[4, 5]: <kernel error>
//
// Canceling the caller's context stops a run the same way.
//
// # The worker budget
//
// Options.Workers (default runtime.GOMAXPROCS(0)) bounds the number of goroutines that
// compute at once, counting both nodes and the helpers that split one large kernel.
// Each run has a pool of that many worker tokens. A node goroutine computes only
// while holding a token. Kernels split their work through KernelContext.Parallel: the
// parallel-for takes extra tokens only if they are free right now (never waiting),
// hands each to a helper, and every participant, the node goroutine included, pulls
// chunks from a shared counter until none are left. A helper returns its token
// between chunks as soon as a node is waiting for one, because running independent
// nodes side by side costs nothing while splitting a kernel costs synchronisation. So
// a kernel running alone gets every worker, kernels running side by side share them
// (each finishing its own chunks if no helper stays), and the total never
// exceeds the budget: there is no oversubscription to make 2 cores time-slice 8
// goroutines. The parallel-for stops handing out chunks once the run is canceled, so
// even one long kernel stops promptly. Results do not depend on the split (see
// package ops), so outputs are bit-identical for any number of workers.
//
// Helpers are goroutines shared by the whole process (pool.go): parked between tasks,
// after polling for the next one for a short while, because waking a parked thread
// takes as long as a small kernel. They start only when none is idle. A helper woken
// too late for a parallel-for finds it over and leaves: the kernel never waits for a
// helper to wake, only for chunks being computed.
//
// # Plans
//
// A session made from a compiled plan (plan.go) runs into a reusable run state. With
// one worker the caller runs the nodes in graph order; with more, a scheduler kept in
// the run state runs them on the caller and on helpers that take free tokens when more
// than one node is ready, with one parallel-for per token made once. In steady state a
// run allocates nothing (TestPlanZeroAllocs).
//
// # Memory
//
// Each releasable slot (a node output that is not a graph output) counts its distinct
// reader nodes; when the last one finishes, the run drops its reference and the
// garbage collector can reclaim the tensor. Stats.PeakBytes reports the largest total
// of live node-computed tensors during the run.
package exec
