package main

import (
	"fmt"
	goruntime "runtime"
)

func init() {
	register("version", "print the edged version", func(args []string) int {
		fmt.Printf("edged %s (commit %s, %s, %s/%s)\n", version, commit, goruntime.Version(), goruntime.GOOS, goruntime.GOARCH)
		return 0
	})
}
