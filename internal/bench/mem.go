package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// PeakRSS returns the process's peak resident set size (VmHWM in /proc/self/status) in bytes.
// Native memory (TFLite's tensors, XNNPACK's packed weights, mapped model files that were
// touched) counts, which the Go runtime's statistics do not see.
func PeakRSS() (int64, error) { return statusBytes("VmHWM") }

// RSS returns the current resident set size (VmRSS) in bytes.
func RSS() (int64, error) { return statusBytes("VmRSS") }

// RSSSplit returns the current resident memory split as Linux counts it (RssAnon, RssFile and
// RssShmem in /proc/self/status): anonymous pages (heaps, TFLite's tensors, XNNPACK's packed
// weights) can only go to swap; file pages (the mapped model files, the libraries) are clean
// and the kernel takes them back under memory pressure.
func RSSSplit() (anon, file, shmem int64, err error) {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, 0, 0, fmt.Errorf("bench: read status: %w", err)
	}
	if anon, err = parseStatus(data, "RssAnon"); err != nil {
		return 0, 0, 0, err
	}
	if file, err = parseStatus(data, "RssFile"); err != nil {
		return 0, 0, 0, err
	}
	if shmem, err = parseStatus(data, "RssShmem"); err != nil {
		return 0, 0, 0, err
	}
	return anon, file, shmem, nil
}

// ResetPeakRSS sets the peak to the current resident size (writes 5 to /proc/self/clear_refs,
// Linux 4.0 and later), so that the next PeakRSS covers only what ran since.
func ResetPeakRSS() error {
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		return fmt.Errorf("bench: reset peak RSS: %w", err)
	}
	return nil
}

func statusBytes(key string) (int64, error) {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, fmt.Errorf("bench: read %s: %w", key, err)
	}
	return parseStatus(data, key)
}

// parseStatus finds "key:   1234 kB" in the text of /proc/PID/status.
func parseStatus(data []byte, key string) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		name, rest, ok := strings.Cut(line, ":")
		if !ok || name != key {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) != 2 || fields[1] != "kB" {
			return 0, fmt.Errorf("bench: unexpected %s line %q", key, line)
		}
		kb, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("bench: %s: %w", key, err)
		}
		return kb * 1024, nil
	}
	return 0, fmt.Errorf("bench: no %s in /proc/self/status", key)
}

// FileSize is the size of one model file.
type FileSize struct {
	Path  string // relative to the folder given to ModelSizes
	Bytes int64
}

// ModelSizes lists the .tflite files under dir (recursively) with their sizes, sorted by path.
func ModelSizes(dir string) ([]FileSize, error) {
	var out []FileSize
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(d.Name(), ".tflite") {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		out = append(out, FileSize{Path: rel, Bytes: info.Size()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("bench: model sizes in %s: %w", dir, err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}
