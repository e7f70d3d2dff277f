package ir

import "fmt"

func init() {
	for _, op := range []string{"RNN", "GRU", "LSTM"} {
		attrs := map[string]AttrSpec{"activation_alpha": {Kind: AttrFloats}, "activation_beta": {Kind: AttrFloats},
			"activations": {Kind: AttrStrings}, "clip": {Kind: AttrFloat}, "direction": {Kind: AttrString},
			"hidden_size": {Kind: AttrInt}, "layout": {Kind: AttrInt}}
		maxIn, maxOut := 6, 2
		switch op {
		case "GRU":
			attrs["linear_before_reset"] = AttrSpec{Kind: AttrInt}
		case "LSTM":
			attrs["input_forget"] = AttrSpec{Kind: AttrInt}
			maxIn, maxOut = 8, 3
		}
		MustRegister(&Schema{Op: op, MinInputs: 3, MaxInputs: maxIn, MinOutputs: 0, MaxOutputs: maxOut,
			Attrs: attrs, Infer: inferRNN, Doc: op + " over a sequence: Y [seq, dirs, batch, hidden], Y_h (and Y_c)"})
	}
}

func inferRNN(n *Node) ([]Type, error) {
	x, w := inType(n, 0), inType(n, 1).Shape
	if len(x.Shape) != 3 || len(w) != 3 {
		return nil, fmt.Errorf("X %s and W %s must be 3-D", x.Shape, w)
	}
	hid := Unknown()
	if n.Attrs.Has("hidden_size") {
		hid = Static(n.Attrs.Int("hidden_size", 0))
	}
	dirs := w[0]
	seq, batch := x.Shape[0], x.Shape[1]
	layout := n.Attrs.Int("layout", 0)
	if layout != 0 {
		seq, batch = batch, seq
	}
	y := Shape{seq, dirs, batch, hid}
	h := Shape{dirs, batch, hid}
	if layout != 0 {
		y = Shape{batch, seq, dirs, hid}
		h = Shape{batch, dirs, hid}
	}
	return []Type{{DType: x.DType, Shape: y}, {DType: x.DType, Shape: h}, {DType: x.DType, Shape: h.Clone()}}, nil
}
