package exec

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/ciuic/ciuic/ir"
	"github.com/ciuic/ciuic/ops"
)

// RandomInputs makes a value for every graph input of s from a seeded generator, so
// the same seed gives the same tensors: floats are normal(0, 1), integers are in
// [0, 3) (valid as small indices and counts), bools are fair coin flips. Symbolic dims
// take their size from dims, 1 if absent; unknown dims ("?") are 1.
func (s *Session) RandomInputs(seed uint64, dims map[string]int) (map[string]*ops.Tensor, error) {
	rng := rand.New(rand.NewPCG(seed, 0x63697569)) // "ciui"
	out := map[string]*ops.Tensor{}
	for _, v := range s.graph.Inputs {
		shape := make([]int, len(v.Type.Shape))
		for i, d := range v.Type.Shape {
			switch {
			case d.IsStatic():
				shape[i] = int(d.Size)
			case d.Name != "" && dims[d.Name] > 0:
				shape[i] = dims[d.Name]
			default:
				shape[i] = 1
			}
		}
		t, err := randomTensor(rng, v.Type.DType, shape)
		if err != nil {
			return nil, fmt.Errorf("input %q: %v", v.Name, err)
		}
		out[v.Name] = t
	}
	return out, nil
}

func randomTensor(rng *rand.Rand, dt ir.DType, shape []int) (*ops.Tensor, error) {
	if dt == ir.String || dt.Size() == 0 {
		return nil, fmt.Errorf("cannot make random %s data", dt)
	}
	t := ops.New(dt, shape...)
	switch d := t.Data.(type) {
	case []float32:
		for i := range d {
			d[i] = float32(rng.NormFloat64())
		}
	case []float64:
		for i := range d {
			d[i] = rng.NormFloat64()
		}
	case []uint16:
		for i := range d {
			f := float32(rng.NormFloat64())
			switch dt {
			case ir.F16:
				d[i] = ir.F32ToF16(f)
			case ir.BF16:
				d[i] = uint16(math.Float32bits(f) >> 16)
			default:
				d[i] = uint16(rng.IntN(3))
			}
		}
	case []bool:
		for i := range d {
			d[i] = rng.IntN(2) == 1
		}
	default:
		// Integer types: fill through an i64 tensor and cast.
		src := make([]int64, t.Len())
		for i := range src {
			src[i] = int64(rng.IntN(3))
		}
		c, err := ops.Cast(ops.MustFromSlice(shape, src), dt)
		if err != nil {
			return nil, err
		}
		return c, nil
	}
	return t, nil
}
