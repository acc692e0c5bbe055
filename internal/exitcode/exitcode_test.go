package exitcode

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// TestMain lets the tests run this test binary as a program that exits in a chosen way.
func TestMain(m *testing.M) {
	switch os.Getenv("EXITCODE_TEST_PROGRAM") {
	case "":
		os.Exit(m.Run())
	case "usage":
		Main(func() int { return Usage })
	case "main-panic":
		Main(func() int { panic("bad data") })
	case "goroutine-panic":
		Main(func() int {
			go func() {
				var m map[string]int
				m["x"] = 1 // a nil-map write: a runtime panic, as a bug on data would give
			}()
			// Wait for the panic to end the process. (Waiting on a channel the goroutine closed
			// in a defer let main return 0 before the crash, under load.)
			select {}
		})
	case "plain-go-panic":
		// What edged did before: a panic on another goroutine, without Main.
		go panic("bad data")
		select {}
	}
}

// run runs this test binary as the named program and returns how it ended.
func run(t *testing.T, program string) (status int, signal syscall.Signal, stderr string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "EXITCODE_TEST_PROGRAM="+program, "GOTRACEBACK=")
	var out strings.Builder
	cmd.Stderr = &out
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if ws.Signaled() {
		return -1, ws.Signal(), out.String()
	}
	return ws.ExitStatus(), 0, out.String()
}

func TestExitStatuses(t *testing.T) {
	if status, _, _ := run(t, "plain-go-panic"); status != 2 {
		t.Fatalf("a plain Go panic exits with %d; this test's premise (status 2) no longer holds", status)
	}
	if status, _, _ := run(t, "usage"); status != Usage {
		t.Errorf("usage: exit status %d, want %d", status, Usage)
	}
	status, _, stderr := run(t, "main-panic")
	if status != Failure || !strings.Contains(stderr, "edged: internal error: bad data") {
		t.Errorf("a panic on the main goroutine: exit status %d, stderr %q; want %d with the panic", status, stderr, Failure)
	}
	status, sig, stderr := run(t, "goroutine-panic")
	if status == Usage || sig != syscall.SIGABRT || !strings.Contains(stderr, "assignment to entry in nil map") {
		t.Errorf("a panic on another goroutine: exit status %d, signal %v; want SIGABRT (never status %d), stderr:\n%s", status, sig, Usage, stderr)
	}
}
