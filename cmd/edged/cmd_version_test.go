package main

import (
	"bytes"
	"encoding/binary"
	"runtime"
	"strings"
	"testing"
)

func auxv(pairs ...uint64) []byte {
	b := make([]byte, 8*len(pairs))
	for i, v := range pairs {
		binary.LittleEndian.PutUint64(b[8*i:], v)
	}
	return b
}

func TestArm64Features(t *testing.T) {
	cases := []struct {
		name string
		auxv []byte
		want string
	}{
		// Cortex-A72 (Raspberry Pi 4): fp, asimd, evtstrm, crc32, cpuid.
		{"pi4", auxv(6, 4096, 16, 0x887, 26, 0, 0, 0), "asimd"},
		// Cortex-A76 (Raspberry Pi 5): adds fphp, asimdhp, asimddp and more.
		{"pi5", auxv(16, 0x1<<1|0x1<<9|0x1<<10|0x1<<20|0x1<<0, 0, 0), "asimd fphp asimdhp asimddp"},
		// HWCAP2 bits: i8mm and sve2 (Neoverse-V2 class), after an unrelated entry.
		{"hwcap2", auxv(33, 7, 16, 0x2, 26, 1<<13|1<<1), "asimd i8mm sve2"},
		{"nothing", auxv(0, 0), "none of asimd fphp asimdhp asimddp i8mm bf16 sve sve2"},
		{"truncated", []byte{16, 0, 0}, "none of"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := strings.Join(arm64Features(c.auxv), " ")
			if !strings.HasPrefix(got, c.want) || (c.want != "none of" && got != c.want) {
				t.Fatalf("got %q, want %q", got, c.want)
			}
		})
	}
}

// wantKernels is the start of the kernels line: the kernel auto should use by the CPU
// features the operating system reports (/proc/cpuinfo, the auxiliary vector), which
// runtime/kernels reads by itself (cpuid, getauxval).
func wantKernels(t *testing.T) string {
	feats, err := cpuFeatures()
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, f := range feats {
		have[f] = true
	}
	for _, c := range []struct{ feature, kernel string }{
		{"avx512_vnni", "avx512-vnni"}, {"avx_vnni", "avx-vnni"}, {"avx2", "avx2"}, {"asimddp", "neon-dot"}, {"asimd", "neon"},
	} {
		if have[c.feature] {
			return c.kernel + " (auto; this CPU runs "
		}
	}
	return "none (auto: "
}

// The version report names every component, from the libraries really loaded.
func TestWriteVersion(t *testing.T) {
	var b bytes.Buffer
	writeVersion(&b)
	out := b.String()
	for _, want := range []string{
		"edged " + version + " (commit " + commit,
		runtime.GOOS + "/" + runtime.GOARCH,
		"\nTensorFlow Lite 2.9",
		"libtensorflowlite_c.so)\n",
		"\nOpenCV 4.",
		"\ncpu: ",
		"\nint8 kernels: " + wantKernels(t),
		"\ndelegates:\n  none ",
		"\n  xnnpack   available",
		"\n  gpu ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "features unknown") {
		t.Errorf("CPU features not read:\n%s", out)
	}
}
