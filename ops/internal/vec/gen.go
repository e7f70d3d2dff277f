package vec

//go:generate sh -c "cd ../gemm/asmgen && go run . -kind vec -out ../../vec/vec_amd64.s -stubs ../../vec/vec_amd64.go -pkg vec"
