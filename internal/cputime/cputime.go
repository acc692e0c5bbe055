// Package cputime reads the CPU time of the calling OS thread, for benchmarks that must not
// count the time other processes held the core.
package cputime

import (
	"syscall"
	"time"
	"unsafe"
)

// Thread returns the CPU time of the calling OS thread (CLOCK_THREAD_CPUTIME_ID). With one
// interpreter thread TFLite and XNNPACK run on the caller, so the difference across Invoke is
// the work itself, not the time other processes on a shared machine held the core.
func Thread() time.Duration {
	var ts syscall.Timespec
	const clockThreadCPUTimeID = 3
	syscall.RawSyscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTimeID, uintptr(unsafe.Pointer(&ts)), 0)
	return time.Duration(ts.Nano())
}
