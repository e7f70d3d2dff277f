package ir

import "fmt"

// Ops for decoder-only language models (docs/ops.md): rotary position embedding and
// attention against a key/value cache that a session keeps from step to step.
//
// The cache is state: a graph input [max_seq, kv_width] that ciuic.KVCacheUpdate
// writes in place and returns (its output aliases input 0), so that a decode step
// neither copies nor reallocates it. Consumers read the update's output, which orders
// them after the write.

func init() {
	MustRegister(&Schema{Domain: CiuicDomain, Op: "RoPE", MinInputs: 2, MaxInputs: 2, MinOutputs: 1, MaxOutputs: 1,
		Attrs: map[string]AttrSpec{"head_size": {Kind: AttrInt, Required: true}, "theta": {Kind: AttrFloat}},
		Infer: inferRoPE, Doc: "rotates pairs (2i, 2i+1) of each head of row s of X[S, H·D] by (pos+s)·theta^(-2i/D) (llama2.c's RoPE; theta 10000)"})
	MustRegister(&Schema{Domain: CiuicDomain, Op: "KVCacheUpdate", MinInputs: 3, MaxInputs: 3, MinOutputs: 1, MaxOutputs: 1,
		Infer: inferKVCacheUpdate, Doc: "writes New[S, W] into rows pos..pos+S-1 of Cache[T, W] in place and returns Cache (the output aliases input 0)"})
	MustRegister(&Schema{Domain: CiuicDomain, Op: "CachedAttention", MinInputs: 4, MaxInputs: 4, MinOutputs: 1, MaxOutputs: 1,
		Attrs: map[string]AttrSpec{"num_heads": {Kind: AttrInt, Required: true}, "kv_num_heads": {Kind: AttrInt}, "scale": {Kind: AttrFloat}, "window": {Kind: AttrInt}},
		Infer: inferCachedAttention, Doc: "softmax(Q·Kᵀ·scale)·V per head with query s (at position pos+s) seeing cache rows 0..pos+s (only the last `window` of them when window > 0); Q [S, H·D], K/V caches [T, Hkv·D], GQA"})
}

// posInput checks that input i is an integer position: a scalar or a 1-element tensor.
func posInput(n *Node, i int) error {
	if err := requireInt(n, i); err != nil {
		return err
	}
	s := inType(n, i).Shape
	if n := s.NumElements(); len(s) > 1 || (s.IsStatic() && n != 1) {
		return fmt.Errorf("pos (input %d) must be a scalar or [1], got %s", i, s)
	}
	return nil
}

func inferRoPE(n *Node) ([]Type, error) {
	if err := requireFloat(n, 0); err != nil {
		return nil, err
	}
	if err := posInput(n, 1); err != nil {
		return nil, err
	}
	x := inType(n, 0).Shape
	d := n.Attrs.Int("head_size", 0)
	if d <= 0 || d%2 != 0 {
		return nil, fmt.Errorf("head_size %d must be positive and even", d)
	}
	if len(x) != 2 {
		return nil, fmt.Errorf("X must be 2-D [S, heads·head_size], got %s", x)
	}
	if w := x[1]; w.IsStatic() && w.Size%d != 0 {
		return nil, fmt.Errorf("X width %d is not a multiple of head_size %d", w.Size, d)
	}
	return one(Type{DType: inType(n, 0).DType, Shape: x.Clone()}), nil
}

func inferKVCacheUpdate(n *Node) ([]Type, error) {
	dt, err := sameDType(n, 0, 1)
	if err != nil {
		return nil, err
	}
	if err := posInput(n, 2); err != nil {
		return nil, err
	}
	c, x := inType(n, 0).Shape, inType(n, 1).Shape
	if len(c) != 2 || len(x) != 2 {
		return nil, fmt.Errorf("Cache and New must be 2-D [positions, width], got %s and %s", c, x)
	}
	if !dimEqual(c[1], x[1]) {
		return nil, fmt.Errorf("New width %s differs from Cache width %s", x[1], c[1])
	}
	if c[0].IsStatic() && x[0].IsStatic() && x[0].Size > c[0].Size {
		return nil, fmt.Errorf("New has %d rows, more than the cache's %d", x[0].Size, c[0].Size)
	}
	return one(Type{DType: dt, Shape: c.Clone()}), nil
}

func inferCachedAttention(n *Node) ([]Type, error) {
	dt, err := sameDType(n, 0, 1, 2)
	if err != nil {
		return nil, err
	}
	if err := requireFloat(n, 0); err != nil {
		return nil, err
	}
	if err := posInput(n, 3); err != nil {
		return nil, err
	}
	q, k, v := inType(n, 0).Shape, inType(n, 1).Shape, inType(n, 2).Shape
	if len(q) != 2 || len(k) != 2 || len(v) != 2 {
		return nil, fmt.Errorf("Q, K, V must be 2-D, got %s, %s, %s", q, k, v)
	}
	h := n.Attrs.Int("num_heads", 0)
	hkv := n.Attrs.Int("kv_num_heads", h)
	if h <= 0 || hkv <= 0 || h%hkv != 0 {
		return nil, fmt.Errorf("num_heads %d must be positive and a multiple of kv_num_heads %d", h, hkv)
	}
	if !dimEqual(k[0], v[0]) {
		return nil, fmt.Errorf("K %s and V %s caches have different lengths", k, v)
	}
	if q[1].IsStatic() && k[1].IsStatic() {
		if q[1].Size%h != 0 || k[1].Size*h != q[1].Size*hkv {
			return nil, fmt.Errorf("Q width %d and K width %d do not split into %d and %d heads of one size", q[1].Size, k[1].Size, h, hkv)
		}
	}
	out := Dim(Unknown())
	if v[1].IsStatic() {
		if v[1].Size%hkv != 0 {
			return nil, fmt.Errorf("V width %d is not a multiple of kv_num_heads %d", v[1].Size, hkv)
		}
		out = Static(v[1].Size / hkv * h)
	}
	return one(Type{DType: dt, Shape: Shape{q[0], out}}), nil
}
