// Package onnxpb holds the Go types of the ONNX protobuf schema, generated from
// ../shared/onnx/onnx.proto3 (ONNX's own file, unedited) by protoc-gen-go v1.36.12.
//
// To regenerate, from this folder, with protoc and protoc-gen-go v1.36.12 on PATH
// (apt-get install protobuf-compiler; go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12):
//
//go:generate protoc --proto_path=../../../../shared/onnx --go_out=. --go_opt=paths=source_relative --go_opt=Monnx.proto3=github.com/ciuic/ciuic/frontend/onnx/onnxpb onnx.proto3
package onnxpb
