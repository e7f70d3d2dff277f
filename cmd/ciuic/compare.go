package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"

	"github.com/ciuic/ciuic/exec"
	"github.com/ciuic/ciuic/ops"
)

// runCompare runs two versions of a model on the same inputs and prints, per output
// matched by name, how far B is from A: the check that makes an approximation (int8,
// windowed attention) honest.
//
//	ciuic compare model.onnx model.onnx -b-quantize int8-dynamic -random-inputs
func runCompare(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ciuic compare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f sessionFlags
	f.register(fs)
	bQuant := fs.String("b-quantize", "", "compile MODEL_B with this -quantize mode instead of -quantize (e.g. int8-dynamic)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: ciuic compare MODEL_A MODEL_B [flags]\n\nBoth models run on the same inputs; outputs are matched by name.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	var models []string
	rest := args
	for {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return 0
			}
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		models, rest = append(models, fs.Arg(0)), fs.Args()[1:]
	}
	if len(models) != 2 {
		fs.Usage()
		return 2
	}
	sa, inputs, err := f.open(models[0], exec.Options{})
	if err != nil {
		fmt.Fprintf(stderr, "ciuic compare: %v\n", err)
		return 1
	}
	fb := f
	if *bQuant != "" {
		fb.compile.Quant.Mode = *bQuant
	}
	fb.random = true // B's inputs come from A's; this only avoids a missing-input error
	sb, _, err := fb.open(models[1], exec.Options{})
	if err != nil {
		fmt.Fprintf(stderr, "ciuic compare: %v\n", err)
		return 1
	}
	ctx := context.Background()
	outA, err := sa.Run(ctx, inputs)
	if err != nil {
		fmt.Fprintf(stderr, "ciuic compare: %s: %v\n", models[0], err)
		return 1
	}
	outB, err := sb.Run(ctx, inputs)
	if err != nil {
		fmt.Fprintf(stderr, "ciuic compare: %s: %v\n", models[1], err)
		return 1
	}
	fmt.Fprintf(stdout, "%-24s %-18s %11s %11s %10s %s\n", "tensor", "type", "max abs", "rel RMS", "cosine", "top-1")
	matched := 0
	for _, v := range sa.Outputs() {
		b, ok := outB[v.Name]
		if !ok {
			fmt.Fprintf(stdout, "%-24s only in %s\n", v.Name, models[0])
			continue
		}
		matched++
		fmt.Fprintf(stdout, "%-24s %s\n", v.Name, agreement(outA[v.Name], b))
	}
	for _, v := range sb.Outputs() {
		if _, ok := outA[v.Name]; !ok {
			fmt.Fprintf(stdout, "%-24s only in %s\n", v.Name, models[1])
		}
	}
	if matched == 0 {
		fmt.Fprintln(stderr, "ciuic compare: the models share no output names")
		return 1
	}
	return 0
}

// agreement formats the error of b against a: max abs, relative RMS, cosine, and for
// outputs whose last dim is a class axis, the share of rows whose argmax agrees.
func agreement(a, b *ops.Tensor) string {
	typ := fmt.Sprintf("%s%v", a.DType, a.Shape)
	if fmt.Sprint(a.Shape) != fmt.Sprint(b.Shape) {
		return fmt.Sprintf("%-18s shapes differ: B is %s%v", typ, b.DType, b.Shape)
	}
	x, errA := a.Floats()
	y, errB := b.Floats()
	if errA != nil || errB != nil {
		if ops.Equal(a, b) {
			return fmt.Sprintf("%-18s equal", typ)
		}
		return fmt.Sprintf("%-18s differ", typ)
	}
	var maxAbs, e2, r2, dot, b2 float64
	for i := range x {
		d := x[i] - y[i]
		maxAbs = math.Max(maxAbs, math.Abs(d))
		e2 += d * d
		r2 += x[i] * x[i]
		b2 += y[i] * y[i]
		dot += x[i] * y[i]
	}
	rel := math.Sqrt(e2)
	if r2 > 0 {
		rel = math.Sqrt(e2 / r2)
	}
	cos := 1.0
	if r2 > 0 && b2 > 0 {
		cos = dot / math.Sqrt(r2*b2)
	}
	top := "-"
	if n := a.Shape[len(a.Shape)-1:]; len(a.Shape) > 0 && n[0] > 1 && a.Len() > 0 {
		agree, rows := 0, 0
		for r := 0; r+n[0] <= len(x); r += n[0] {
			if argmax64(x[r:r+n[0]]) == argmax64(y[r:r+n[0]]) {
				agree++
			}
			rows++
		}
		top = fmt.Sprintf("%d/%d", agree, rows)
	}
	return fmt.Sprintf("%-18s %11.4g %11.4g %10.6f %s", typ, maxAbs, rel, cos, top)
}

func argmax64(v []float64) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}
