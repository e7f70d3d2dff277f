package ops

import (
	"fmt"
	"math"

	"github.com/ciuic/ciuic/ir"
)

// Unary elementwise ops. Float math is computed in float64 and rounded once to the
// tensor's dtype, which makes the reference as exact as the dtype allows.

// floatUnary builds the function of a float unary op from its attributes.
type floatUnary func(attrs ir.Attrs) (func(float64) float64, error)

func simple(f func(float64) float64) floatUnary {
	return func(ir.Attrs) (func(float64) float64, error) { return f, nil }
}

func attrF(attrs ir.Attrs, name string, def float32) float64 {
	return float64(attrs.Float(name, def))
}

var floatUnaries = map[string]floatUnary{
	"Exp":        simple(math.Exp),
	"Log":        simple(math.Log),
	"Sqrt":       simple(math.Sqrt),
	"Erf":        simple(math.Erf),
	"Tanh":       simple(math.Tanh),
	"Sin":        simple(math.Sin),
	"Cos":        simple(math.Cos),
	"Tan":        simple(math.Tan),
	"Asin":       simple(math.Asin),
	"Acos":       simple(math.Acos),
	"Atan":       simple(math.Atan),
	"Sinh":       simple(math.Sinh),
	"Cosh":       simple(math.Cosh),
	"Asinh":      simple(math.Asinh),
	"Acosh":      simple(math.Acosh),
	"Atanh":      simple(math.Atanh),
	"Floor":      simple(math.Floor),
	"Ceil":       simple(math.Ceil),
	"Round":      simple(math.RoundToEven), // ONNX rounds halves to even
	"Reciprocal": simple(func(x float64) float64 { return 1 / x }),
	"Sigmoid":    simple(sigmoid),
	"Softsign":   simple(func(x float64) float64 { return x / (1 + math.Abs(x)) }),
	// softplus(x) = log(1+e^x), written to neither overflow nor lose small values.
	"Softplus": simple(func(x float64) float64 { return math.Max(x, 0) + math.Log1p(math.Exp(-math.Abs(x))) }),
	"Mish": simple(func(x float64) float64 {
		return x * math.Tanh(math.Max(x, 0)+math.Log1p(math.Exp(-math.Abs(x))))
	}),
	"HardSwish": simple(func(x float64) float64 { return x * math.Max(0, math.Min(1, x/6+0.5)) }),
	"LeakyRelu": func(a ir.Attrs) (func(float64) float64, error) {
		alpha := attrF(a, "alpha", 0.01)
		return func(x float64) float64 {
			if x < 0 {
				return alpha * x
			}
			return x
		}, nil
	},
	"Elu": func(a ir.Attrs) (func(float64) float64, error) {
		alpha := attrF(a, "alpha", 1)
		return func(x float64) float64 {
			if x < 0 {
				return alpha * math.Expm1(x)
			}
			return x
		}, nil
	},
	"Celu": func(a ir.Attrs) (func(float64) float64, error) {
		alpha := attrF(a, "alpha", 1)
		return func(x float64) float64 { return math.Max(0, x) + math.Min(0, alpha*math.Expm1(x/alpha)) }, nil
	},
	"Selu": func(a ir.Attrs) (func(float64) float64, error) {
		alpha := attrF(a, "alpha", 1.67326319217681884765625)
		gamma := attrF(a, "gamma", 1.05070102214813232421875)
		return func(x float64) float64 {
			if x > 0 {
				return gamma * x
			}
			return gamma * alpha * math.Expm1(x)
		}, nil
	},
	"ThresholdedRelu": func(a ir.Attrs) (func(float64) float64, error) {
		alpha := attrF(a, "alpha", 1)
		return func(x float64) float64 {
			if x > alpha {
				return x
			}
			return 0
		}, nil
	},
	"HardSigmoid": func(a ir.Attrs) (func(float64) float64, error) {
		alpha, beta := attrF(a, "alpha", 0.2), attrF(a, "beta", 0.5)
		return func(x float64) float64 { return math.Max(0, math.Min(1, alpha*x+beta)) }, nil
	},
	"Shrink": func(a ir.Attrs) (func(float64) float64, error) {
		bias, lambd := attrF(a, "bias", 0), attrF(a, "lambd", 0.5)
		return func(x float64) float64 {
			switch {
			case x < -lambd:
				return x + bias
			case x > lambd:
				return x - bias
			}
			return 0
		}, nil
	},
	"Gelu": func(a ir.Attrs) (func(float64) float64, error) {
		switch approx := a.String("approximate", "none"); approx {
		case "none":
			return func(x float64) float64 { return 0.5 * x * (1 + math.Erf(x/math.Sqrt2)) }, nil
		case "tanh":
			c := math.Sqrt(2 / math.Pi)
			return func(x float64) float64 { return 0.5 * x * (1 + math.Tanh(c*(x+0.044715*x*x*x))) }, nil
		default:
			return nil, fmt.Errorf("Gelu: approximate must be \"none\" or \"tanh\", got %q", approx)
		}
	},
}

// sigmoid is 1/(1+e^-x), computed from e^-|x| so that it neither overflows nor loses precision.
func sigmoid(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}

// Numeric unaries also defined on integers.
var numUnaries = map[string]func(float64) float64{
	"Abs":  math.Abs,
	"Neg":  func(x float64) float64 { return -x },
	"Sign": sign,
	"Relu": func(x float64) float64 { return math.Max(x, 0) },
}

func sign(x float64) float64 {
	switch {
	case x > 0:
		return 1
	case x < 0:
		return -1
	}
	return x // 0, -0 and NaN stay as they are
}

func init() {
	for name, fu := range floatUnaries {
		Register("", name, floatUnaryKernel(name, fu), floatTypes...)
	}
	for name, f := range numUnaries {
		Register("", name, numUnaryKernel(name, f), numericTypes...)
	}
	Register("", "Clip", clipKernel, numericTypes...)
	Register("", "Identity", identityKernel)
	Register("", "Dropout", dropoutKernel)
	Register("", "IsNaN", isNaNKernel, floatTypes...)
	Register("", "IsInf", isInfKernel, floatTypes...)
}

// mapFloat applies f to every element of a float tensor.
func mapFloat(ctx *KernelContext, x *Tensor, f func(float64) float64) (*Tensor, error) {
	switch x.DType {
	case ir.F32:
		return mapT(ctx, x, func(v float32) float32 { return float32(f(float64(v))) }), nil
	case ir.F64:
		return mapT(ctx, x, f), nil
	case ir.F16, ir.BF16:
		return viaF32(x.DType, func(t ...*Tensor) (*Tensor, error) { return mapFloat(ctx, t[0], f) }, x)
	}
	return nil, fmt.Errorf("unsupported dtype %s (want a float type)", x.DType)
}

func mapT[T, R Elem](ctx *KernelContext, x *Tensor, f func(T) R) *Tensor {
	src := x.Data.([]T)
	dst := make([]R, len(src))
	ctx.ParallelFor(len(src), elemGrain, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			dst[i] = f(src[i])
		}
	})
	return &Tensor{DType: dtypeOfData(dst, x.DType), Shape: append([]int{}, x.Shape...), Data: dst}
}

// dtypeOfData names the dtype of a freshly made slice; []uint16 keeps the 16-bit kind of like.
func dtypeOfData(data any, like ir.DType) ir.DType {
	if _, ok := data.([]uint16); ok {
		return like
	}
	switch data.(type) {
	case []float32:
		return ir.F32
	case []float64:
		return ir.F64
	case []int8:
		return ir.I8
	case []int16:
		return ir.I16
	case []int32:
		return ir.I32
	case []int64:
		return ir.I64
	case []uint8:
		return ir.U8
	case []uint32:
		return ir.U32
	case []uint64:
		return ir.U64
	case []bool:
		return ir.Bool
	case []string:
		return ir.String
	}
	return ir.Invalid
}

func floatUnaryKernel(name string, fu floatUnary) Kernel {
	return func(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
		if err := need(in, 1); err != nil {
			return nil, err
		}
		f, err := fu(attrs)
		if err != nil {
			return nil, err
		}
		out, err := mapFloat(ctx, in[0], f)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", name, err)
		}
		return one(out), nil
	}
}

func numUnaryKernel(name string, f func(float64) float64) Kernel {
	return func(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
		if err := need(in, 1); err != nil {
			return nil, err
		}
		x := in[0]
		if x.DType.IsFloat() {
			out, err := mapFloat(ctx, x, f)
			if err != nil {
				return nil, fmt.Errorf("%s: %v", name, err)
			}
			return one(out), nil
		}
		if !x.DType.IsInt() {
			return nil, fmt.Errorf("%s: unsupported dtype %s", name, x.DType)
		}
		// Integers go through int64 so that Abs and Neg wrap like two's complement
		// arithmetic in the input's width.
		xi, _ := Cast(x, ir.I64)
		var g func(int64) int64
		switch name {
		case "Abs":
			g = func(v int64) int64 {
				if v < 0 {
					return -v
				}
				return v
			}
		case "Neg":
			g = func(v int64) int64 { return -v }
		case "Sign":
			g = func(v int64) int64 { return int64(sign(float64(v))) }
		case "Relu":
			g = func(v int64) int64 { return max(v, 0) }
		}
		out, err := Cast(mapT(ctx, xi, g), x.DType)
		if err != nil {
			return nil, err
		}
		return one(out), nil
	}
}

// Clip bounds x to [min, max]; the bounds are optional scalar inputs (opset 11+) or
// float attributes (opset 6). NaN stays NaN.
func clipKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	x := in[0]
	lo, hi := input(in, 1), input(in, 2)
	if lo == nil && attrs.Has("min") {
		lo, _ = Cast(Scalar(attrs.Float("min", 0)), x.DType)
	}
	if hi == nil && attrs.Has("max") {
		hi, _ = Cast(Scalar(attrs.Float("max", 0)), x.DType)
	}
	out := x
	var err error
	for _, b := range []struct {
		op string
		t  *Tensor
	}{{"Max", lo}, {"Min", hi}} {
		if b.t == nil {
			continue
		}
		if b.t.Len() != 1 {
			return nil, fmt.Errorf("Clip: %s bound must be a scalar, got shape %v", b.op, b.t.Shape)
		}
		if out, err = arith(ctx, b.op, out, b.t); err != nil {
			return nil, fmt.Errorf("Clip: %v", err)
		}
		out.Shape = append([]int{}, x.Shape...) // a [1]-shaped bound must not add a dim
	}
	if out == x {
		out = x.Clone()
	}
	return one(out), nil
}

// Identity returns its input (shared: tensors are immutable).
func identityKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	return one(in[0]), nil
}

// Dropout at inference is the identity; the optional mask output is all true.
func dropoutKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	if t := input(in, 2); t != nil && t.DType == ir.Bool && t.Len() == 1 && t.Data.([]bool)[0] {
		ratio := 0.5
		if r := input(in, 1); r != nil {
			if f, err := r.Floats(); err == nil && len(f) == 1 {
				ratio = f[0]
			}
		}
		if ratio != 0 {
			return nil, fmt.Errorf("Dropout: training_mode is not supported (inference only)")
		}
	}
	outs := []*Tensor{in[0]}
	if ctx.numOutputs() > 1 {
		mask := New(ir.Bool, in[0].Shape...)
		for i := range mask.Data.([]bool) {
			mask.Data.([]bool)[i] = true
		}
		outs = append(outs, mask)
	}
	return outs, nil
}

func isNaNKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	return floatPredicate(ctx, in[0], math.IsNaN)
}

func isInfKernel(ctx *KernelContext, in []*Tensor, attrs ir.Attrs) ([]*Tensor, error) {
	if err := need(in, 1); err != nil {
		return nil, err
	}
	neg, pos := attrs.Int("detect_negative", 1) != 0, attrs.Int("detect_positive", 1) != 0
	return floatPredicate(ctx, in[0], func(x float64) bool {
		return (neg && math.IsInf(x, -1)) || (pos && math.IsInf(x, 1))
	})
}

func floatPredicate(ctx *KernelContext, x *Tensor, f func(float64) bool) ([]*Tensor, error) {
	xf, err := Cast(x, ir.F64)
	if err != nil || !x.DType.IsFloat() {
		return nil, fmt.Errorf("unsupported dtype %s", x.DType)
	}
	return one(mapT(ctx, xf, f)), nil
}
