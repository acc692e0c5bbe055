// Package exitcode keeps edged's exit statuses meaningful: 0 a clean stop, 1 a failure at run
// time, 2 a bad command line or config. The service manager restarts edged on every failure
// but 2, which restarting cannot fix; a Go program that panics, though, exits with 2 too.
// Main makes a panic exit with 1 on the main goroutine, and abort (SIGABRT) on any other, so
// that a crash is never taken for a bad config.
package exitcode

import (
	"fmt"
	"os"
	"runtime/debug"
)

// The exit statuses.
const (
	OK      = 0
	Failure = 1 // something failed while running, or could not start
	Usage   = 2 // a bad command line or config: nothing was started
)

// Main runs run and exits with the status it returns.
func Main(run func() int) {
	// An unrecovered panic or fatal error on any goroutine then ends the process with SIGABRT
	// (after the usual traceback) instead of exit status 2.
	debug.SetTraceback("crash")
	os.Exit(call(run))
}

// call runs run, turning a panic into Failure.
func call(run func() int) (status int) {
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(os.Stderr, "edged: internal error: %v\n%s", r, debug.Stack())
			status = Failure
		}
	}()
	return run()
}
