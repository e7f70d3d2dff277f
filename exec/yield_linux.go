package exec

import "syscall"

// osYield lets the threads waiting for this core run first: a spinning helper or
// parallel-for caller must not keep a core from a thread that has work, its own
// helpers' included, when the machine has more runnable threads than cores.
func osYield() { syscall.Syscall(syscall.SYS_SCHED_YIELD, 0, 0, 0) }
