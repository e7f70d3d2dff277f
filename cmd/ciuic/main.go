// Command ciuic runs models compiled or loaded by ciuic. Its subcommands are listed by
// `ciuic -h`; each takes -h for its own flags.
package main

import (
	"fmt"
	"io"
	"os"

	_ "github.com/ciuic/ciuic/ops/sparse" // ciuic.SparseAttention, registered on import like a custom operator
)

// command is one subcommand: its name, a one-line synopsis and its entry point.
type command struct {
	name     string
	synopsis string
	run      func(args []string, stdout, stderr io.Writer) int
}

// commands is the table of subcommands, in the order `ciuic -h` lists them.
var commands = []command{
	{"demo", "compile, draw and run the embedded llama2.c model (-block: the transformer-block example)", runDemo},
	{"run", "run a model once on inputs from .npy files or seeded random values", runRun},
	{"bench", "time a model over repeated runs (median, p10, p90, min; -json)", runBench},
	{"generate", "generate text with a llama2.c checkpoint, as llama2.c's run does (KV cache, prefill)", runGenerate},
	{"compare", "run two versions of a model on the same inputs: per-output max/RMS error, cosine, top-1", runCompare},
	{"conformance", "run ONNX backend node tests (model.onnx + test_data_set_*)", runConformance},
}

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help" {
		w := stdout
		code := 0
		if len(args) == 0 {
			w, code = stderr, 2
		}
		printUsage(w)
		return code
	}
	for _, c := range commands {
		if c.name == args[0] {
			return c.run(args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "ciuic: unknown command %q\n", args[0])
	printUsage(stderr)
	return 2
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: ciuic COMMAND [flags] [args]\n\nCommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-12s %s\n", c.name, c.synopsis)
	}
	fmt.Fprintln(w, "\nRun 'ciuic COMMAND -h' for a command's flags. Models are compiled with ciuicc (see 'ciuicc -h').")
}
