package onnx

import (
	"fmt"
	"os"
	"path/filepath"

	"google.golang.org/protobuf/proto"

	"github.com/ciuic/ciuic/frontend/onnx/onnxpb"
	"github.com/ciuic/ciuic/ir"
)

// NamedTensor is a tensor read from a serialized TensorProto, with the name it was saved
// under ("" if none).
type NamedTensor struct {
	Name   string
	Tensor *ir.Tensor
}

// ReadTensorFile reads one serialized ONNX TensorProto (the input_N.pb and output_N.pb
// files of the ONNX backend tests). External data is resolved relative to the file's
// folder.
func ReadTensorFile(path string) (*NamedTensor, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	t, err := ReadTensor(data, filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// ReadTensor decodes a serialized TensorProto; dir is the folder external data is
// relative to ("" refuses external data).
func ReadTensor(data []byte, dir string) (*NamedTensor, error) {
	var tp onnxpb.TensorProto
	if err := proto.Unmarshal(data, &tp); err != nil {
		return nil, fmt.Errorf("not a valid TensorProto: %v", err)
	}
	r := tensorReader{dir: dir}
	t, err := r.lower(&tp)
	if err != nil {
		return nil, err
	}
	return &NamedTensor{Name: tp.GetName(), Tensor: t}, nil
}
