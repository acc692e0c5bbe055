package main

import (
	"fmt"
	goruntime "runtime"

	"github.com/edged/edged/runtime"
)

func init() {
	register("version", "print the edged and TensorFlow Lite versions and the usable delegates", func(args []string) int {
		fmt.Printf("edged %s (commit %s, %s, %s/%s)\n", version, commit, goruntime.Version(), goruntime.GOOS, goruntime.GOARCH)
		fmt.Printf("TensorFlow Lite %s (%s)\n", runtime.Version(), runtime.LibraryPath())
		fmt.Println("delegates:")
		for _, d := range runtime.ProbeDelegates() {
			state := "available"
			if !d.Available {
				state = "unavailable"
			}
			line := fmt.Sprintf("  %-9s %s", d.Kind, state)
			if d.Library != "" && d.Kind != runtime.DelegateNone && d.Kind != runtime.DelegateXNNPack {
				line += " (" + d.Library + ")"
			}
			if d.Detail != "" {
				line += ": " + d.Detail
			}
			fmt.Println(line)
		}
		return 0
	})
}
