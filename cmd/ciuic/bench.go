package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"runtime"
	"time"

	"github.com/ciuic/ciuic/exec"
)

// benchResult is the JSON object `ciuic bench -json` prints; scripts rely on its fields,
// so fields are only ever added.
type benchResult struct {
	Model     string  `json:"model"`
	Level     int     `json:"opt_level"`
	Threads   int     `json:"threads"`
	Warmup    int     `json:"warmup"`
	Runs      int     `json:"runs"`
	MedianMs  float64 `json:"median_ms"`
	P10Ms     float64 `json:"p10_ms"`
	P90Ms     float64 `json:"p90_ms"`
	MinMs     float64 `json:"min_ms"`
	MeanMs    float64 `json:"mean_ms"`
	PeakBytes int64   `json:"peak_intermediate_bytes"`
	Nodes     int     `json:"nodes"`
	GoMaxProc int     `json:"gomaxprocs"`
}

func runBench(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ciuic bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var f sessionFlags
	f.register(fs)
	f.random = true // bench needs no real data; -input still overrides
	warmup := fs.Int("warmup", 3, "untimed runs before measuring")
	runs := fs.Int("runs", 20, "timed runs (at least; see -min-time)")
	minTime := fs.Duration("min-time", time.Second, "keep timing runs until they add up to at least this")
	asJSON := fs.Bool("json", false, "print one JSON object")
	model, code := parseFlags(fs, args, "ciuic bench MODEL [flags]")
	if code >= 0 {
		return code
	}
	if *runs < 1 || *warmup < 0 {
		fmt.Fprintln(stderr, "ciuic bench: -runs must be >= 1 and -warmup >= 0")
		return 2
	}
	s, inputs, err := f.open(model, exec.Options{})
	if err != nil {
		fmt.Fprintf(stderr, "ciuic bench: %v\n", err)
		return 1
	}
	ctx := context.Background()
	// Short models are timed for at least -min-time, as onnxruntime's benchmark does
	// (>= 2 s): a median of a few milliseconds' worth of runs measures whatever else
	// started on the machine in those milliseconds (the shell pipeline reading the
	// JSON, a vCPU waking) more than the model.
	times := make([]time.Duration, 0, *runs)
	var peak int64
	var timed time.Duration
	for i := 0; i < *warmup+*runs || timed < *minTime; i++ {
		start := time.Now()
		res, err := s.Execute(ctx, inputs)
		d := time.Since(start)
		if err != nil {
			fmt.Fprintf(stderr, "ciuic bench: %s: %v\n", model, err)
			return 1
		}
		if i >= *warmup {
			timed += d
			times = append(times, d)
			peak = max(peak, res.Stats.PeakBytes)
		}
	}
	var sum time.Duration
	for _, d := range times {
		sum += d
	}
	sortDurations(times)
	r := benchResult{Model: model, Level: f.compile.Level, Threads: s.Workers(), Warmup: *warmup, Runs: len(times),
		MedianMs: ms(percentile(times, 50)), P10Ms: ms(percentile(times, 10)), P90Ms: ms(percentile(times, 90)),
		MinMs: ms(times[0]), MeanMs: ms(sum) / float64(len(times)), PeakBytes: peak,
		Nodes: len(s.Graph().Nodes), GoMaxProc: runtime.GOMAXPROCS(0)}
	if *asJSON {
		b, _ := json.Marshal(r)
		fmt.Fprintln(stdout, string(b))
		return 0
	}
	fmt.Fprintf(stdout, "%s: -O%d, %d threads, %d runs: median %.3f ms, p10 %.3f, p90 %.3f, min %.3f\n",
		model, r.Level, r.Threads, r.Runs, r.MedianMs, r.P10Ms, r.P90Ms, r.MinMs)
	return 0
}
