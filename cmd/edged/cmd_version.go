package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"

	"gocv.io/x/gocv"

	"github.com/edged/edged/runtime/kernels"
	"github.com/edged/edged/runtime/tflite"
)

func init() {
	register("version", "print the versions (edged, TensorFlow Lite, OpenCV), the machine's CPU features, int8 kernels and usable delegates", runVersion)
}

func runVersion(args []string) int {
	fs := newFlagSet("version", os.Stderr, "usage: edged version\n\n"+
		"Prints the versions of edged, TensorFlow Lite and OpenCV, the machine's CPU features, the\n"+
		"int8 kernels edged would use and the delegates that can be loaded here.\n")
	if err := fs.Parse(args); err != nil {
		return flagStatus(err)
	}
	if fs.NArg() > 0 {
		return missingArgs(fs, "unexpected argument %q", fs.Arg(0))
	}
	writeVersion(os.Stdout)
	return 0
}

func writeVersion(w io.Writer) {
	fmt.Fprintf(w, "edged %s (commit %s, %s, %s/%s)\n", version, commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(w, "TensorFlow Lite %s (%s)\n", tflite.Version(), tflite.LibraryPath())
	fmt.Fprintf(w, "OpenCV %s (gocv %s)\n", gocv.OpenCVVersion(), gocv.Version())
	if m := machineModel(); m != "" {
		fmt.Fprintf(w, "machine: %s\n", m)
	}
	feats, err := cpuFeatures()
	if err != nil {
		fmt.Fprintf(w, "cpu: %d cores, features unknown (%v)\n", runtime.NumCPU(), err)
	} else {
		fmt.Fprintf(w, "cpu: %d cores, %s\n", runtime.NumCPU(), strings.Join(feats, " "))
	}
	fmt.Fprintf(w, "int8 kernels: %s\n", kernelsLine())
	fmt.Fprintln(w, "delegates:")
	for _, d := range tflite.ProbeDelegates() {
		state := "available"
		if !d.Available {
			state = "unavailable"
		}
		line := fmt.Sprintf("  %-9s %s", d.Kind, state)
		if d.Library != "" && d.Kind != tflite.DelegateNone && d.Kind != tflite.DelegateXNNPack {
			line += " (" + d.Library + ")"
		}
		if d.Detail != "" {
			line += ": " + d.Detail
		}
		fmt.Fprintln(w, line)
	}
}

// kernelsLine says which of edged's int8 kernels runtime.kernels: auto would use here, and
// which this CPU runs.
func kernelsLine() string {
	avail := strings.Join(kernels.Available(), ", ")
	if best := kernels.Best(); best != "" {
		return fmt.Sprintf("%s (auto; this CPU runs %s)", best, avail)
	}
	return fmt.Sprintf("none (auto: no kernel here beats XNNPACK's; this CPU runs %s)", avail)
}

// machineModel names the board (Raspberry Pi, Jetson) from the device tree, or the x86 CPU.
func machineModel() string {
	if b, err := os.ReadFile("/proc/device-tree/model"); err == nil {
		return strings.TrimSpace(strings.TrimRight(string(b), "\x00"))
	}
	if runtime.GOARCH == "amd64" {
		if v, err := cpuinfoField("model name"); err == nil {
			return v
		}
	}
	return ""
}

// The CPU features XNNPACK's kernels choose by (int8 dot products, fp16 arithmetic, wide
// vectors). On arm64 they come from the kernel's hardware capabilities (/proc/self/auxv, which
// qemu-user also emulates); on amd64 from /proc/cpuinfo.
var (
	arm64Hwcap = []struct {
		word int // 0: AT_HWCAP, 1: AT_HWCAP2
		bit  uint
		name string
	}{
		{0, 1, "asimd"}, {0, 9, "fphp"}, {0, 10, "asimdhp"}, {0, 20, "asimddp"}, {1, 13, "i8mm"},
		{1, 14, "bf16"}, {0, 22, "sve"}, {1, 1, "sve2"},
	}
	amd64Flags = []string{"sse4_1", "sse4_2", "avx", "fma", "f16c", "avx2", "avx512f", "avx512bw",
		"avx512vl", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8"}
)

func cpuFeatures() ([]string, error) {
	switch runtime.GOARCH {
	case "arm64":
		b, err := os.ReadFile("/proc/self/auxv")
		if err != nil {
			return nil, err
		}
		return arm64Features(b), nil
	case "amd64":
		flags, err := cpuinfoField("flags")
		if err != nil {
			return nil, err
		}
		have := map[string]bool{}
		for _, f := range strings.Fields(flags) {
			have[f] = true
		}
		var out []string
		for _, f := range amd64Flags {
			if have[f] {
				out = append(out, f)
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("not read on %s", runtime.GOARCH)
}

// arm64Features decodes AT_HWCAP and AT_HWCAP2 from a 64-bit little-endian auxiliary vector.
func arm64Features(auxv []byte) []string {
	const atHwcap, atHwcap2 = 16, 26
	var words [2]uint64
	for i := 0; i+16 <= len(auxv); i += 16 {
		switch binary.LittleEndian.Uint64(auxv[i:]) {
		case atHwcap:
			words[0] = binary.LittleEndian.Uint64(auxv[i+8:])
		case atHwcap2:
			words[1] = binary.LittleEndian.Uint64(auxv[i+8:])
		}
	}
	var out []string
	for _, f := range arm64Hwcap {
		if words[f.word]&(1<<f.bit) != 0 {
			out = append(out, f.name)
		}
	}
	if len(out) == 0 {
		out = append(out, "none of "+arm64FeatureNames())
	}
	return out
}

func arm64FeatureNames() string {
	names := make([]string, len(arm64Hwcap))
	for i, f := range arm64Hwcap {
		names[i] = f.name
	}
	return strings.Join(names, " ")
}

// cpuinfoField returns the value of the first "key : value" line of /proc/cpuinfo.
func cpuinfoField(key string) (string, error) {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "", err
	}
	s := bufio.NewScanner(bytes.NewReader(b))
	s.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for s.Scan() {
		k, v, ok := strings.Cut(s.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v), nil
		}
	}
	return "", fmt.Errorf("/proc/cpuinfo has no %q line", key)
}
