package gemm

//go:generate sh -c "cd asmgen && go run . -out ../kernels_amd64.s -stubs ../kernels_amd64.go -pkg gemm"
