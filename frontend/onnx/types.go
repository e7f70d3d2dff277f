package onnx

import (
	"fmt"

	"github.com/ciuic/ciuic/frontend/onnx/onnxpb"
	"github.com/ciuic/ciuic/ir"
)

// lowerType converts a TypeProto to an IR type. A missing type is the invalid Type (left for
// inference); a missing shape is reported as ok=false in hasShape so callers can tell
// "scalar" from "rank unknown". Symbolic dims (dim_param) become ir.Sym, dims with
// neither value nor param ir.Unknown.
func lowerType(t *onnxpb.TypeProto) (typ ir.Type, hasShape bool, err error) {
	if t == nil || t.GetValue() == nil {
		return ir.Type{}, false, nil
	}
	tt := t.GetTensorType()
	if tt == nil {
		return ir.Type{}, false, fmt.Errorf("unsupported type %s", typeKind(t))
	}
	if tt.GetElemType() != 0 {
		if typ.DType, err = lowerDType(tt.GetElemType()); err != nil {
			return ir.Type{}, false, err
		}
	}
	if tt.GetShape() == nil {
		return typ, false, nil
	}
	typ.Shape = ir.Shape{}
	for _, d := range tt.GetShape().GetDim() {
		switch v := d.GetValue().(type) {
		case *onnxpb.TensorShapeProto_Dimension_DimValue:
			if v.DimValue < 0 {
				typ.Shape = append(typ.Shape, ir.Unknown())
			} else {
				typ.Shape = append(typ.Shape, ir.Static(v.DimValue))
			}
		case *onnxpb.TensorShapeProto_Dimension_DimParam:
			if v.DimParam == "" {
				typ.Shape = append(typ.Shape, ir.Unknown())
			} else {
				typ.Shape = append(typ.Shape, ir.Sym(v.DimParam))
			}
		default:
			typ.Shape = append(typ.Shape, ir.Unknown())
		}
	}
	return typ, true, nil
}

// typeKind names a non-tensor type for messages: sequence, map, optional, sparse_tensor.
func typeKind(t *onnxpb.TypeProto) string {
	switch t.GetValue().(type) {
	case *onnxpb.TypeProto_SequenceType:
		return "sequence"
	case *onnxpb.TypeProto_MapType:
		return "map"
	case *onnxpb.TypeProto_OptionalType:
		return "optional"
	case *onnxpb.TypeProto_SparseTensorType:
		return "sparse_tensor"
	case *onnxpb.TypeProto_OpaqueType:
		return "opaque"
	}
	return "tensor"
}

// exportType converts an IR type to a TypeProto.
func exportType(t ir.Type) (*onnxpb.TypeProto, error) {
	code, ok := onnxDType(t.DType)
	if !ok {
		return nil, fmt.Errorf("dtype %s has no ONNX equivalent", t.DType)
	}
	shape := &onnxpb.TensorShapeProto{Dim: []*onnxpb.TensorShapeProto_Dimension{}}
	for _, d := range t.Shape {
		dim := &onnxpb.TensorShapeProto_Dimension{}
		switch {
		case d.Name != "":
			dim.Value = &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: d.Name}
		case d.Size >= 0:
			dim.Value = &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: d.Size}
		}
		shape.Dim = append(shape.Dim, dim)
	}
	return &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{TensorType: &onnxpb.TypeProto_Tensor{
		ElemType: int32(code), Shape: shape,
	}}}, nil
}
