//go:build amd64 && !purego

package gemm

// asmAvailable is true: kernels_amd64.s is part of this build.
const asmAvailable = true
