package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"regexp"

	"github.com/ciuic/ciuic/exec/conformance"
)

// runConformance runs ONNX backend node tests and prints one line per test, then
// "N passed, M failed, K skipped". The exit status is 0 only if no test failed;
// unsupported tests count as skipped.
func runConformance(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ciuic conformance", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: ciuic conformance [-run REGEXP] [-v] [-j N] DIR...\n\nEach DIR is a node test folder (model.onnx + test_data_set_*) or a folder of them.")
		fs.PrintDefaults()
	}
	runRE := fs.String("run", "", "run only tests whose folder name matches `REGEXP`")
	verbose := fs.Bool("v", false, "print each test's time and folder")
	jobs := fs.Int("j", 0, "tests to run at once (0: one per CPU)")
	threads := fs.Int("threads", 0, "executor workers per test (0: 1 when tests run side by side)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	var re *regexp.Regexp
	if *runRE != "" {
		var err error
		if re, err = regexp.Compile(*runRE); err != nil {
			fmt.Fprintf(stderr, "ciuic conformance: -run: %v\n", err)
			return 2
		}
	}
	all, err := conformance.Find(fs.Args()...)
	if err != nil {
		fmt.Fprintf(stderr, "ciuic conformance: %v\n", err)
		return 1
	}
	var dirs []string
	for _, d := range all {
		if re == nil || re.MatchString(filepath.Base(d)) {
			dirs = append(dirs, d)
		}
	}
	var sum conformance.Summary
	conformance.RunAll(dirs, conformance.Options{Workers: *threads}, *jobs, func(r conformance.Timed) {
		sum.Add(r.Result)
		if *verbose {
			fmt.Fprintf(stdout, "%s (%.3fs, %s)\n", r.Result, r.Duration.Seconds(), r.Dir)
		} else {
			fmt.Fprintln(stdout, r.Result)
		}
	})
	fmt.Fprintf(stdout, "%d passed, %d failed, %d skipped\n", sum.Passed, sum.Failed, sum.Skipped)
	if sum.Failed > 0 {
		return 1
	}
	return 0
}
