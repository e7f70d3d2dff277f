package onnx

import (
	"fmt"

	"github.com/ciuic/ciuic/frontend/onnx/onnxpb"
	"github.com/ciuic/ciuic/ir"
)

// attrType returns the declared type of a, or for old models that leave it UNDEFINED
// (IR version 1), the type implied by the one field that is set.
func attrType(a *onnxpb.AttributeProto) onnxpb.AttributeProto_AttributeType {
	if a.GetType() != onnxpb.AttributeProto_UNDEFINED {
		return a.GetType()
	}
	switch {
	case len(a.Floats) > 0:
		return onnxpb.AttributeProto_FLOATS
	case len(a.Ints) > 0:
		return onnxpb.AttributeProto_INTS
	case len(a.Strings) > 0:
		return onnxpb.AttributeProto_STRINGS
	case a.T != nil:
		return onnxpb.AttributeProto_TENSOR
	case a.G != nil:
		return onnxpb.AttributeProto_GRAPH
	case a.SparseTensor != nil:
		return onnxpb.AttributeProto_SPARSE_TENSOR
	case a.S != nil:
		return onnxpb.AttributeProto_STRING
	case a.F != 0:
		return onnxpb.AttributeProto_FLOAT
	}
	return onnxpb.AttributeProto_INT
}

// lowerAttr converts one attribute. Graph attributes are lowered by sub, which the
// caller provides so that the subgraph sees the enclosing scope.
func (l *lowerer) lowerAttr(a *onnxpb.AttributeProto, sub func(*onnxpb.GraphProto) (*ir.Graph, error)) (ir.Attr, error) {
	if a.GetRefAttrName() != "" {
		return ir.Attr{}, fmt.Errorf("attribute %q refers to a function attribute (%q); functions are not supported", a.GetName(), a.GetRefAttrName())
	}
	switch attrType(a) {
	case onnxpb.AttributeProto_INT:
		return ir.IntAttr(a.GetI()), nil
	case onnxpb.AttributeProto_FLOAT:
		return ir.FloatAttr(a.GetF()), nil
	case onnxpb.AttributeProto_STRING:
		return ir.StringAttr(string(a.GetS())), nil
	case onnxpb.AttributeProto_INTS:
		return ir.IntsAttr(append([]int64{}, a.GetInts()...)...), nil
	case onnxpb.AttributeProto_FLOATS:
		return ir.FloatsAttr(append([]float32{}, a.GetFloats()...)...), nil
	case onnxpb.AttributeProto_STRINGS:
		ss := make([]string, len(a.GetStrings()))
		for i, s := range a.GetStrings() {
			ss[i] = string(s)
		}
		return ir.StringsAttr(ss...), nil
	case onnxpb.AttributeProto_TENSOR:
		if a.T == nil {
			return ir.Attr{}, fmt.Errorf("tensor attribute %q has no tensor", a.GetName())
		}
		t, err := l.tensors.lower(a.T)
		if err != nil {
			return ir.Attr{}, fmt.Errorf("attribute %q: %v", a.GetName(), err)
		}
		return ir.TensorAttr(t), nil
	case onnxpb.AttributeProto_GRAPH:
		if a.G == nil {
			return ir.Attr{}, fmt.Errorf("graph attribute %q has no graph", a.GetName())
		}
		g, err := sub(a.G)
		if err != nil {
			return ir.Attr{}, err
		}
		return ir.GraphAttr(g), nil
	case onnxpb.AttributeProto_SPARSE_TENSOR:
		return ir.Attr{}, fmt.Errorf("attribute %q: sparse tensor attributes are not supported", a.GetName())
	}
	return ir.Attr{}, fmt.Errorf("attribute %q: %s attributes are not supported", a.GetName(), attrType(a))
}

// exportAttr converts an IR attribute; graphs are exported by sub.
func exportAttr(name string, a ir.Attr, sub func(*ir.Graph) (*onnxpb.GraphProto, error)) (*onnxpb.AttributeProto, error) {
	p := &onnxpb.AttributeProto{Name: name}
	switch a.Kind {
	case ir.AttrInt:
		p.Type, p.I = onnxpb.AttributeProto_INT, a.Int
	case ir.AttrFloat:
		p.Type, p.F = onnxpb.AttributeProto_FLOAT, a.Float
	case ir.AttrString:
		p.Type, p.S = onnxpb.AttributeProto_STRING, []byte(a.Str)
	case ir.AttrInts:
		p.Type, p.Ints = onnxpb.AttributeProto_INTS, a.Ints
	case ir.AttrFloats:
		p.Type, p.Floats = onnxpb.AttributeProto_FLOATS, a.Floats
	case ir.AttrStrings:
		p.Type = onnxpb.AttributeProto_STRINGS
		for _, s := range a.Strs {
			p.Strings = append(p.Strings, []byte(s))
		}
	case ir.AttrTensor:
		t, err := exportTensor("", a.Tensor)
		if err != nil {
			return nil, err
		}
		p.Type, p.T = onnxpb.AttributeProto_TENSOR, t
	case ir.AttrGraph:
		g, err := sub(a.Graph)
		if err != nil {
			return nil, err
		}
		p.Type, p.G = onnxpb.AttributeProto_GRAPH, g
	default:
		return nil, fmt.Errorf("attribute %q has kind %s", name, a.Kind)
	}
	return p, nil
}
