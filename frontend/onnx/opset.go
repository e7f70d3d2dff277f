package onnx

import (
	"fmt"
	"math"

	"github.com/ciuic/ciuic/ir"
)

// renamed maps deprecated ONNX ops to the op the IR holds them as.
var renamed = map[string]string{
	"Upsample": "Resize",          // removed in opset 10; Resize with asymmetric coordinates
	"Scatter":  "ScatterElements", // deprecated in opset 11, same semantics
}

// attrToInput lists, per op, the opset at which attributes became inputs, and which.
// Nodes from older opsets get constant inputs built from their attributes.
var attrToInput = map[string]struct {
	since int64
	attrs []string // attribute names, in the order of the inputs they become, from input 1
}{
	"Squeeze":         {13, []string{"axes"}},
	"Unsqueeze":       {13, []string{"axes"}},
	"ReduceSum":       {13, []string{"axes"}},
	"ReduceMean":      {18, []string{"axes"}},
	"ReduceMax":       {18, []string{"axes"}},
	"ReduceMin":       {18, []string{"axes"}},
	"ReduceProd":      {18, []string{"axes"}},
	"ReduceL1":        {18, []string{"axes"}},
	"ReduceL2":        {18, []string{"axes"}},
	"ReduceLogSum":    {18, []string{"axes"}},
	"ReduceLogSumExp": {18, []string{"axes"}},
	"ReduceSumSquare": {18, []string{"axes"}},
	"Split":           {13, []string{"split"}},
	"Slice":           {10, []string{"starts", "ends", "axes"}},
	"TopK":            {10, []string{"k"}},
	"Reshape":         {5, []string{"shape"}},
}

// normalize rewrites n, an ONNX node of the opset its domain imports, into the form
// of the latest opset that the IR follows.
func (l *lowerer) normalize(s *scope, n *ir.Node) error {
	if n.Domain != "" {
		return nil
	}
	v := l.opsets[""]
	if to, ok := renamed[n.Op]; ok {
		if n.Op == "Upsample" {
			if err := l.upsample(s, n, v); err != nil {
				return err
			}
		}
		n.Op = to
	}
	if v < 6 {
		delete(n.Attrs, "consumed_inputs") // legacy memory-planning hint
	}
	if v < 7 {
		delete(n.Attrs, "is_test")
		if n.Attrs.Has("broadcast") {
			if n.Attrs.Has("axis") && n.Op != "Gemm" {
				return fmt.Errorf("legacy broadcasting along an axis (opset %d) is not supported", v)
			}
			delete(n.Attrs, "broadcast")
		}
	}
	if spec, ok := attrToInput[n.Op]; ok && v < spec.since {
		if n.Op == "Slice" && !n.Attrs.Has("axes") {
			spec.attrs = spec.attrs[:2]
		}
		for i, name := range spec.attrs {
			a, has := n.Attrs[name]
			if !has {
				continue
			}
			var t *ir.Tensor
			switch a.Kind {
			case ir.AttrInts:
				t = ir.NewTensorI64([]int64{int64(len(a.Ints))}, a.Ints)
			case ir.AttrInt:
				t = ir.NewTensorI64([]int64{1}, []int64{a.Int})
			default:
				return fmt.Errorf("attribute %q must be ints, got %s", name, a.Kind)
			}
			l.setInput(s, n, i+1, name, t)
			delete(n.Attrs, name)
		}
	}
	switch n.Op {
	case "DFT":
		if v < 20 {
			// DFT-17 has the axis as an attribute (default 1); since 20 it is input 2.
			for len(n.Inputs) < 2 {
				n.Inputs = append(n.Inputs, nil)
			}
			l.setInput(s, n, 2, "axis", ir.NewTensorI64([]int64{}, []int64{n.Attrs.Int("axis", 1)}))
			delete(n.Attrs, "axis")
		}
	case "Scan":
		if body := n.Attrs["body"].Graph; body != nil && v >= 9 {
			n.Inputs = append(n.Inputs, ir.Captures(body)...)
		}
	case "If":
		// The branches' reads of enclosing values become explicit inputs (see ir.If).
		then, els := n.Attrs["then_branch"].Graph, n.Attrs["else_branch"].Graph
		if then != nil && els != nil {
			n.Inputs = append(n.Inputs[:1], ir.Captures(then, els)...)
		}
	case "Split":
		// Before opset 18, a Split with no sizes splits evenly into as many outputs as
		// it has; since 18 that count is the num_outputs attribute.
		if v < 18 && (len(n.Inputs) < 2 || n.Inputs[1] == nil) && !n.Attrs.Has("num_outputs") {
			n.Attrs["num_outputs"] = ir.IntAttr(int64(len(n.Outputs)))
		}
	case "Pad":
		if v < 11 {
			pads, ok := n.Attrs.Ints("pads")
			if !ok {
				pads, ok = n.Attrs.Ints("paddings") // Pad-1
			}
			if !ok {
				return fmt.Errorf("Pad (opset %d) needs attribute pads", v)
			}
			l.setInput(s, n, 1, "pads", ir.NewTensorI64([]int64{int64(len(pads))}, pads))
			if val := n.Attrs.Float("value", 0); val != 0 {
				// Old Pad only takes float tensors; f32 is what ONNX itself stored.
				l.setInput(s, n, 2, "value", ir.NewTensorF32([]int64{}, []float32{val}))
			}
			delete(n.Attrs, "pads")
			delete(n.Attrs, "paddings")
			delete(n.Attrs, "value")
		}
	case "Clip":
		if v < 11 {
			if n.Attrs.Has("min") {
				l.setInput(s, n, 1, "min", ir.NewTensorF32([]int64{}, []float32{n.Attrs.Float("min", -math.MaxFloat32)}))
			}
			if n.Attrs.Has("max") {
				l.setInput(s, n, 2, "max", ir.NewTensorF32([]int64{}, []float32{n.Attrs.Float("max", math.MaxFloat32)}))
			}
			delete(n.Attrs, "min")
			delete(n.Attrs, "max")
		}
	case "Dropout":
		if v < 12 {
			if n.Attrs.Has("ratio") {
				l.setInput(s, n, 1, "ratio", ir.NewTensorF32([]int64{}, []float32{n.Attrs.Float("ratio", 0.5)}))
				delete(n.Attrs, "ratio")
			}
		}
	case "BatchNormalization":
		if v < 9 {
			if n.Attrs.Int("spatial", 1) != 1 {
				return fmt.Errorf("BatchNormalization with spatial=0 (opset %d) is not supported", v)
			}
			delete(n.Attrs, "spatial")
		}
	case "Concat":
		if v < 4 && !n.Attrs.Has("axis") {
			n.Attrs["axis"] = ir.IntAttr(1)
		}
	case "Resize":
		if v < 11 && !n.Attrs.Has("coordinate_transformation_mode") {
			// Resize-10: inputs (X, scales), asymmetric coordinates, nearest rounds down.
			if len(n.Inputs) == 2 {
				n.Inputs = []*ir.Value{n.Inputs[0], nil, n.Inputs[1]}
			}
			oldResizeAttrs(n)
		}
		// Opset 11 and 12 required scales even with sizes (as an empty tensor); now only
		// one of them may be given.
		for i := 1; i <= 2 && i < len(n.Inputs); i++ {
			if in := n.Inputs[i]; in != nil && in.Const != nil && in.Const.NumElements() == 0 {
				n.Inputs[i] = nil
			}
		}
		for len(n.Inputs) > 0 && n.Inputs[len(n.Inputs)-1] == nil {
			n.Inputs = n.Inputs[:len(n.Inputs)-1]
		}
	case "Softmax", "LogSoftmax", "Hardmax":
		if v < 13 {
			// Before opset 13 these flatten the input to 2-D at axis (default 1); the
			// axis is resolved once the input's rank is known (resolveSoftmax).
			axis := n.Attrs.Int("axis", 1)
			n.Attrs["axis"] = ir.IntAttr(axis)
			l.softmax = append(l.softmax, pendingSoftmax{g: s.g, n: n, axis: axis})
		}
	}
	return nil
}

// upsample turns Upsample (opsets 7 and 9) into Resize inputs and attributes.
func (l *lowerer) upsample(s *scope, n *ir.Node, v int64) error {
	if scales, ok := n.Attrs.Floats("scales"); ok {
		n.Inputs = n.Inputs[:1]
		l.setInput(s, n, 2, "scales", ir.NewTensorF32([]int64{int64(len(scales))}, scales))
		delete(n.Attrs, "scales")
	} else if len(n.Inputs) == 2 {
		n.Inputs = []*ir.Value{n.Inputs[0], nil, n.Inputs[1]}
	} else {
		return fmt.Errorf("Upsample (opset %d) needs scales", v)
	}
	delete(n.Attrs, "height_scale") // Upsample-1
	delete(n.Attrs, "width_scale")
	if n.Attrs.String("mode", "nearest") == "bilinear" {
		n.Attrs["mode"] = ir.StringAttr("linear")
	}
	oldResizeAttrs(n)
	return nil
}

// oldResizeAttrs gives a Resize the coordinate mapping of Upsample and Resize-10:
// x_original = x_resized / scale, and nearest rounds down.
func oldResizeAttrs(n *ir.Node) {
	mode := n.Attrs.String("mode", "nearest")
	n.Attrs["mode"] = ir.StringAttr(mode)
	n.Attrs["coordinate_transformation_mode"] = ir.StringAttr("asymmetric")
	if mode == "nearest" {
		n.Attrs["nearest_mode"] = ir.StringAttr("floor")
	}
}

// setInput makes input i of n (not yet in a graph) a new constant holding t, padding
// the inputs with omitted optionals as needed. The constant is named after the node's
// first output and role.
func (l *lowerer) setInput(s *scope, n *ir.Node, i int, role string, t *ir.Tensor) {
	base := n.Name
	if len(n.Outputs) > 0 && n.Outputs[0] != nil {
		base = n.Outputs[0].Name
	}
	c := s.g.AddConst(s.g.UniqueName(base+"_"+role), t)
	for len(n.Inputs) <= i {
		n.Inputs = append(n.Inputs, nil)
	}
	n.Inputs[i] = c
}

// resolveSoftmax gives an old-opset Softmax its opset-13 meaning. Softmax-1..12 computes
// over the input flattened to 2-D at axis; when axis is the last dimension that is the
// same as Softmax-13 along the last axis. Otherwise it becomes
// Reshape(Softmax(Flatten(x, axis), axis=-1), Shape(x)).
func (l *lowerer) resolveSoftmax(p pendingSoftmax) {
	n, g := p.n, p.g
	x := n.Inputs[0]
	if x != nil && x.Type.IsValid() {
		r := int64(len(x.Type.Shape))
		axis := p.axis
		if axis < 0 {
			axis += r
		}
		if axis == r-1 || r == 0 {
			n.Attrs["axis"] = ir.IntAttr(-1)
			return
		}
	}
	out := n.Outputs[0]
	var pre []*ir.Node
	var shapeVal *ir.Value
	if c := reshapeConst(x, p.axis); c != nil {
		shapeVal = g.AddConst(g.UniqueName(out.Name+"_inshape"), c)
	} else {
		shape := &ir.Node{Name: n.Name, Op: "Shape", Inputs: []*ir.Value{x},
			Outputs: []*ir.Value{{Name: g.UniqueName(out.Name + "_inshape")}}}
		pre = append(pre, shape)
		shapeVal = shape.Outputs[0]
	}
	flat := &ir.Node{Name: n.Name, Op: "Flatten", Inputs: []*ir.Value{x}, Attrs: ir.Attrs{"axis": ir.IntAttr(p.axis)},
		Outputs: []*ir.Value{{Name: g.UniqueName(out.Name + "_2d_in")}}}
	soft2d := &ir.Value{Name: g.UniqueName(out.Name + "_2d"), Def: n}
	reshape := &ir.Node{Name: n.Name, Op: "Reshape", Inputs: []*ir.Value{soft2d, shapeVal}, Outputs: []*ir.Value{out}}
	n.Inputs[0] = flat.Outputs[0]
	n.Outputs[0] = soft2d
	n.Attrs["axis"] = ir.IntAttr(-1)
	var nodes []*ir.Node
	for _, m := range g.Nodes {
		if m == n {
			nodes = append(append(nodes, pre...), flat, n, reshape)
		} else {
			nodes = append(nodes, m)
		}
	}
	g.Nodes = nodes
	// Outputs get their Def and uses from the Rebuild that follows (typeCheck).
}

// reshapeConst returns the shape that restores x's shape from its 2-D flattening at
// axis as a constant, when x's type allows: static dims as they are, the first dim as
// 0 (copy) when axis is 1, and at most one other non-static dim as -1. A constant keeps
// symbolic dims through inference, which Shape(x) would lose.
func reshapeConst(x *ir.Value, axis int64) *ir.Tensor {
	if x == nil || !x.Type.IsValid() {
		return nil
	}
	if axis < 0 {
		axis += int64(len(x.Type.Shape))
	}
	dims := make([]int64, len(x.Type.Shape))
	free := 0
	for i, d := range x.Type.Shape {
		switch {
		case d.IsStatic():
			dims[i] = d.Size
		case i == 0 && axis == 1:
			dims[i] = 0
		default:
			dims[i] = -1
			free++
		}
	}
	if free > 1 {
		return nil
	}
	return ir.NewTensorI64([]int64{int64(len(dims))}, dims)
}
