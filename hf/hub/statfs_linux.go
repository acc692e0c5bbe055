package hub

import "syscall"

// freeSpace is how many bytes an unprivileged process may still write on dir's file system
// (a variable so that a test can make a disk full).
var freeSpace = func(dir string) (int64, bool) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, false
	}
	return int64(st.Bavail) * int64(st.Bsize), true
}
