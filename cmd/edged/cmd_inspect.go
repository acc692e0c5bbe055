package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/edged/edged/internal/graph/tfl"
)

func init() {
	register("inspect", "describe a .tflite model: inputs, outputs, operators, tensors, quantization, sizes", runInspect)
}

func runInspect(args []string) int {
	fs := flag.NewFlagSet("inspect", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: edged inspect [-ops] [-tensors] FILE.tflite...\n\n"+
			"Prints a model's signatures, inputs and outputs, operator kinds (with kernel versions\n"+
			"and counts), constant data by type and quantization parameters.\n\n")
		fs.PrintDefaults()
	}
	ops := fs.Bool("ops", false, "list every operator with its input and output tensors")
	tensors := fs.Bool("tensors", false, "list every tensor")
	if err := fs.Parse(args); err != nil {
		return flagStatus(err)
	}
	if fs.NArg() == 0 {
		return missingArgs(fs, "no model: give one or more .tflite files")
	}
	status := 0
	for i, path := range fs.Args() {
		if fs.NArg() > 1 {
			if i > 0 {
				fmt.Println()
			}
			fmt.Printf("== %s\n", path)
		}
		if err := inspectFile(path, tfl.InspectOptions{Operators: *ops, Tensors: *tensors}); err != nil {
			fmt.Fprintf(os.Stderr, "edged inspect: %v\n", err)
			status = 1
		}
	}
	return status
}

func inspectFile(path string, opts tfl.InspectOptions) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	m, err := tfl.Unmarshal(data)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return tfl.Inspect(os.Stdout, m, len(data), opts)
}
