package onnx

import (
	"fmt"
	"sort"

	"google.golang.org/protobuf/proto"

	"github.com/ciuic/ciuic/frontend/onnx/onnxpb"
	"github.com/ciuic/ciuic/ir"
)

// ExportOpset is the ONNX opset version Write declares for the default domain: the IR
// follows the latest opsets, and this is the newest one ONNX Runtime and Netron both read.
const ExportOpset = 21

// exportIRVersion is the ONNX IR version Write declares (the one that goes with opset 21).
const exportIRVersion = 10

// Write exports g as an ONNX model. Constants become initializers with raw_data; ops of
// other domains (ciuic, com.microsoft, ...) keep their domain and get an opset import of
// version 1, so Netron shows them and ONNX Runtime can run what it knows. Value types
// known to the IR are written as value_info. Node.Group and Graph.WeightsFile travel in
// metadata_props, so Read(Write(g)) gives back g.
func Write(g *ir.Graph) ([]byte, error) {
	w := &writer{domains: map[string]bool{}}
	gp, err := w.graph(g)
	if err != nil {
		return nil, fmt.Errorf("onnx export of %s: %v", g.Name, err)
	}
	m := &onnxpb.ModelProto{
		IrVersion:    exportIRVersion,
		ProducerName: "ciuic",
		Graph:        gp,
		OpsetImport:  []*onnxpb.OperatorSetIdProto{{Domain: "", Version: ExportOpset}},
	}
	var domains []string
	for d := range w.domains {
		domains = append(domains, d)
	}
	sort.Strings(domains)
	for _, d := range domains {
		m.OpsetImport = append(m.OpsetImport, &onnxpb.OperatorSetIdProto{Domain: d, Version: 1})
	}
	if g.WeightsFile != "" {
		m.MetadataProps = append(m.MetadataProps, &onnxpb.StringStringEntryProto{Key: metaWeightsFile, Value: g.WeightsFile})
	}
	return proto.MarshalOptions{Deterministic: true}.Marshal(m)
}

type writer struct {
	domains map[string]bool // non-default domains used
}

func (w *writer) graph(g *ir.Graph) (*onnxpb.GraphProto, error) {
	gp := &onnxpb.GraphProto{Name: g.Name}
	info := func(v *ir.Value) (*onnxpb.ValueInfoProto, error) {
		if !v.Type.IsValid() {
			return &onnxpb.ValueInfoProto{Name: v.Name}, nil
		}
		t, err := exportType(v.Type)
		if err != nil {
			return nil, fmt.Errorf("value %s: %v", v, err)
		}
		return &onnxpb.ValueInfoProto{Name: v.Name, Type: t}, nil
	}
	for _, v := range g.Inputs {
		vi, err := info(v)
		if err != nil {
			return nil, err
		}
		gp.Input = append(gp.Input, vi)
	}
	for _, c := range g.Consts {
		t, err := exportTensor(c.Name, c.Const)
		if err != nil {
			return nil, err
		}
		gp.Initializer = append(gp.Initializer, t)
	}
	isOutput := map[*ir.Value]bool{}
	for _, v := range g.Outputs {
		isOutput[v] = true
		vi, err := info(v)
		if err != nil {
			return nil, err
		}
		gp.Output = append(gp.Output, vi)
	}
	for _, n := range g.Nodes {
		np := &onnxpb.NodeProto{Name: n.Name, OpType: n.Op, Domain: n.Domain}
		if n.Domain != "" {
			w.domains[n.Domain] = true
		}
		for _, in := range n.Inputs {
			if in == nil {
				np.Input = append(np.Input, "")
			} else {
				np.Input = append(np.Input, in.Name)
			}
		}
		for _, o := range n.Outputs {
			if o == nil {
				np.Output = append(np.Output, "")
				continue
			}
			np.Output = append(np.Output, o.Name)
			if o.Type.IsValid() && !isOutput[o] {
				vi, err := info(o)
				if err != nil {
					return nil, err
				}
				gp.ValueInfo = append(gp.ValueInfo, vi)
			}
		}
		for _, name := range n.Attrs.Names() {
			a, err := exportAttr(name, n.Attrs[name], w.graph)
			if err != nil {
				return nil, fmt.Errorf("node %s: %v", n.Ref(), err)
			}
			np.Attribute = append(np.Attribute, a)
		}
		if n.Group != "" {
			np.MetadataProps = append(np.MetadataProps, &onnxpb.StringStringEntryProto{Key: metaGroup, Value: n.Group})
		}
		gp.Node = append(gp.Node, np)
	}
	return gp, nil
}
