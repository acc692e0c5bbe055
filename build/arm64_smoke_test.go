//go:build arm64smoke

package build

// The arm64 release under qemu-aarch64-static (make test-arm64; not part of make test). It
// unpacks the archive named by EDGED_ARM64_RELEASE and runs its bin/edged with the arm64 sysroot
// (.cache/arm64-sysroot, or EDGED_ARM64_SYSROOT) as qemu's -L prefix, once per emulated core:
// Cortex-A72 (Raspberry Pi 4: no int8 dot product) and Cortex-A76 (Raspberry Pi 5: dot product),
// so XNNPACK's two families of arm64 int8 kernels both run. Test binaries in EDGED_ARM64_TESTS
// (runtime/tflite's, from build/arm64/build.sh --tests) run the same way.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edged/edged/internal/testbin"
)

var arm64CPUs = []struct{ name, qemu, board string }{
	{"cortex-a72", "cortex-a72", "Raspberry Pi 4"},
	{"cortex-a76", "cortex-a76", "Raspberry Pi 5"},
}

type qemuRunner struct {
	qemu, sysroot, cpu string
	env                []string
}

// run executes an aarch64 program under qemu in dir and returns stdout, stderr and wall time.
// Without qemu it runs a program of this machine.
func (q qemuRunner) run(t *testing.T, dir string, prog string, args ...string) (string, string, time.Duration, error) {
	t.Helper()
	cmd := exec.Command(prog, args...)
	if q.qemu != "" {
		cmd = exec.Command(q.qemu, append([]string{"-cpu", q.cpu, "-L", q.sysroot, prog}, args...)...)
	}
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), q.env...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	return stdout.String(), stderr.String(), time.Since(start), err
}

type reference struct {
	Cases []struct {
		Image         string `json:"image"`
		ClipTop1      string `json:"clip_top1"`
		CaptionGreedy string `json:"caption_greedy"`
	} `json:"cases"`
}

func TestArm64Release(t *testing.T) {
	archive := os.Getenv("EDGED_ARM64_RELEASE")
	if archive == "" {
		t.Fatal("EDGED_ARM64_RELEASE names the arm64 release archive (make test-arm64 sets it)")
	}
	sysroot := os.Getenv("EDGED_ARM64_SYSROOT")
	if sysroot == "" {
		sysroot, _ = filepath.Abs("../.cache/arm64-sysroot")
	}
	if _, err := os.Stat(filepath.Join(sysroot, "lib/ld-linux-aarch64.so.1")); err != nil {
		t.Fatalf("no arm64 sysroot (build/arm64/sysroot.sh): %v", err)
	}
	qemu, err := exec.LookPath("qemu-aarch64-static")
	if err != nil {
		t.Fatalf("qemu-aarch64-static (Debian qemu-user-static; build/arm64/setup.sh): %v", err)
	}

	// Unpack the archive: the binary must find its lib/ from wherever it is unpacked.
	tmp := t.TempDir()
	if out, err := exec.Command("tar", "-xzf", archive, "-C", tmp).CombinedOutput(); err != nil {
		t.Fatalf("unpack %s: %v\n%s", archive, err, out)
	}
	rels, _ := filepath.Glob(filepath.Join(tmp, "edged-*-linux-arm64"))
	if len(rels) != 1 {
		t.Fatalf("%s does not hold one edged-*-linux-arm64 folder", archive)
	}
	rel := rels[0]
	edged := filepath.Join(rel, "bin/edged")

	var ref reference
	b, err := os.ReadFile("../internal/shapes/testdata/reference.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	var scenes []string
	for _, c := range ref.Cases {
		p, _ := filepath.Abs(filepath.Join("../internal/shapes/testdata", c.Image))
		scenes = append(scenes, p)
	}

	for _, cpu := range arm64CPUs {
		t.Run(cpu.name, func(t *testing.T) {
			q := qemuRunner{qemu: qemu, sysroot: sysroot, cpu: cpu.qemu,
				env: []string{"XDG_CACHE_HOME=" + filepath.Join(tmp, "cache-"+cpu.name)}}

			t.Run("version", func(t *testing.T) {
				out, errOut, took, err := q.run(t, tmp, edged, "version")
				if err != nil {
					t.Fatalf("edged version: %v\n%s%s", err, out, errOut)
				}
				t.Logf("edged version (%s, %v):\n%s", cpu.board, took.Round(time.Millisecond), out)
				v, _ := os.ReadFile(filepath.Join(rel, "VERSION"))
				for _, want := range []string{"edged " + strings.TrimSpace(string(v)) + " (commit ", "linux/arm64)", "\nTensorFlow Lite 2.9", "(" + filepath.Join(rel, "lib/libtensorflowlite_c.so") + ")\n",
					"\nOpenCV 4.6", "\ncpu: ", " asimd", "\n  xnnpack   available"} {
					if !strings.Contains(out, want) {
						t.Errorf("edged version lacks %q", want)
					}
				}
				// The emulated core's features are what edged reports: dot product on the A76 only.
				if dot := strings.Contains(out, "asimddp"); dot != (cpu.name == "cortex-a76") {
					t.Errorf("asimddp reported %v on %s", dot, cpu.name)
				}
			})

			commands := func() string { _, usage, _, _ := q.run(t, tmp, edged, "help"); return usage }()

			t.Run("classify", func(t *testing.T) {
				if !strings.Contains(commands, "\n  classify ") {
					t.Skip("edged has no classify command yet")
				}
				got, took := classifyTop1(t, q, tmp, edged, filepath.Join(rel, "models/shapes/clip"), filepath.Join(rel, "configs/labels/shapes.yaml"), scenes)
				agree := 0
				for i, c := range ref.Cases {
					if got[scenes[i]] == c.ClipTop1 {
						agree++
					} else {
						t.Logf("%s: top-1 %q, transformers %q", c.Image, got[scenes[i]], c.ClipTop1)
					}
				}
				t.Logf("classify on %s: top-1 equal to transformers' on %d/%d scenes; %v for %d images (first use converts the checkpoint)",
					cpu.board, agree, len(ref.Cases), took.Round(time.Millisecond), len(scenes))
				if agree < len(ref.Cases)-1 { // int8 agrees on all but one scene, as clip's TestShapesZeroShot asks on amd64
					t.Errorf("top-1 agrees with transformers on %d/%d scenes, want >= %d", agree, len(ref.Cases), len(ref.Cases)-1)
				}
			})

			// Bundles are portable: one converted on amd64 (a PC) runs here as it is, with the
			// labels amd64 gives, and nothing is converted again.
			t.Run("amd64-bundle", func(t *testing.T) {
				bundleDir, amd64Top1 := amd64Bundle(t, tmp, rel, scenes)
				got, took := classifyTop1(t, q, tmp, edged, bundleDir, filepath.Join(rel, "configs/labels/shapes.yaml"), scenes)
				same := 0
				for _, sc := range scenes {
					if got[sc] == amd64Top1[sc] {
						same++
					} else {
						t.Logf("%s: top-1 %q on %s, %q on amd64", filepath.Base(sc), got[sc], cpu.board, amd64Top1[sc])
					}
				}
				t.Logf("the amd64-written int8 bundle on %s: top-1 equal to amd64's on %d/%d scenes (%v)", cpu.board, same, len(scenes), took.Round(time.Millisecond))
				if same < len(scenes)-1 {
					t.Errorf("top-1 equal to amd64's on %d/%d scenes, want >= %d", same, len(scenes), len(scenes)-1)
				}
				if converted, _ := filepath.Glob(filepath.Join(tmp, "cache-"+cpu.name, "edged", "models", "*", "manifest.json")); len(converted) > 0 {
					for _, m := range converted {
						if data, _ := os.ReadFile(m); strings.Contains(string(data), bundleDir) {
							t.Errorf("the bundle was converted again on arm64: %s", m)
						}
					}
				}
			})

			t.Run("caption", func(t *testing.T) {
				if !strings.Contains(commands, "\n  caption ") {
					t.Skip("edged has no caption command yet")
				}
				args := []string{"caption", "--model", filepath.Join(rel, "models/shapes/blip_caption"), "--json"}
				out, errOut, took, err := q.run(t, tmp, edged, append(args, scenes...)...)
				if err != nil {
					t.Fatalf("edged caption: %v\n%s%s", err, out, errOut)
				}
				got := map[string]string{}
				s := bufio.NewScanner(strings.NewReader(out))
				for s.Scan() {
					var r struct{ Image, Caption string }
					if err := json.Unmarshal(s.Bytes(), &r); err != nil {
						t.Fatalf("edged caption --json printed %q: %v", s.Text(), err)
					}
					got[r.Image] = r.Caption
				}
				same := 0
				for i, c := range ref.Cases {
					switch g := got[scenes[i]]; {
					case g == "":
						t.Errorf("%s: no caption", c.Image)
					case g == c.CaptionGreedy:
						same++
					default:
						t.Logf("%s: %q, transformers %q", c.Image, g, c.CaptionGreedy)
					}
				}
				t.Logf("caption on %s: identical to transformers' greedy caption on %d/%d scenes; %v for %d images (first use converts the checkpoint)",
					cpu.board, same, len(ref.Cases), took.Round(time.Millisecond), len(scenes))
				if same < len(ref.Cases)-2 { // all but two captions identical at int8, as blip's shapesBar asks on amd64
					t.Errorf("captions identical on %d/%d scenes, want >= %d", same, len(ref.Cases), len(ref.Cases)-2)
				}
			})

			// Package tests cross-compiled by build/arm64/build.sh --tests, run in their folders.
			t.Run("package-tests", func(t *testing.T) {
				dir := os.Getenv("EDGED_ARM64_TESTS")
				bins, _ := filepath.Glob(filepath.Join(dir, "*.test"))
				if dir == "" || len(bins) == 0 {
					t.Skip("no cross-compiled test binaries (EDGED_ARM64_TESTS)")
				}
				for _, bin := range bins {
					pkg := strings.ReplaceAll(strings.TrimSuffix(filepath.Base(bin), ".test"), "__", "/") // build.sh: runtime/tflite -> runtime__tflite.test
					// The plugin tests build a C library for the machine they run on: the cross compiler.
					q := q
					q.env = append(q.env, "CC=aarch64-linux-gnu-gcc")
					out, errOut, took, err := q.run(t, filepath.Join("..", pkg), bin, "-test.short", "-test.count=1")
					if err != nil {
						t.Errorf("%s tests on %s: %v\n%s\n%s", pkg, cpu.board, err, tail(out, 40), tail(errOut, 20))
						continue
					}
					t.Logf("%s tests on %s: %s (%v)", pkg, cpu.board, strings.TrimSpace(tail(out, 1)), took.Round(time.Millisecond))
				}
			})
		})
	}
}

// classifyTop1 runs edged classify --json with model on the scenes under q and returns each
// image's top label, and how long it took.
func classifyTop1(t *testing.T, q qemuRunner, dir, edged, model, labels string, scenes []string) (map[string]string, time.Duration) {
	t.Helper()
	args := []string{"classify", "--model", model, "--labels", labels, "--json"}
	out, errOut, took, err := q.run(t, dir, edged, append(args, scenes...)...)
	if err != nil {
		t.Fatalf("edged classify: %v\n%s%s", err, out, errOut)
	}
	got := map[string]string{}
	s := bufio.NewScanner(strings.NewReader(out))
	for s.Scan() {
		var r struct {
			Image  string `json:"image"`
			Labels []struct {
				Label string `json:"label"`
			} `json:"labels"`
		}
		if err := json.Unmarshal(s.Bytes(), &r); err != nil {
			t.Fatalf("edged classify --json printed %q: %v", s.Text(), err)
		}
		if len(r.Labels) > 0 {
			got[r.Image] = r.Labels[0].Label
		}
	}
	return got, took
}

// amd64Bundle converts the release's shapes CLIP on this (amd64) machine with edged built for
// it, at the default precision, once, into dir; it returns the bundle and amd64's top label of
// each scene with it.
func amd64Bundle(t *testing.T, dir, rel string, scenes []string) (string, map[string]string) {
	t.Helper()
	amd64.once.Do(func() {
		host := testbin.Edged(t)
		amd64.dir = filepath.Join(dir, "clip-amd64")
		if out, err := exec.Command(host, "convert", "--from", filepath.Join(rel, "models/shapes/clip"), "--out", amd64.dir).CombinedOutput(); err != nil {
			amd64.err = fmt.Errorf("edged convert on amd64: %v\n%s", err, out)
			return
		}
		amd64.top1, _ = classifyTop1(t, qemuRunner{env: []string{"XDG_CACHE_HOME=" + filepath.Join(dir, "cache-amd64")}}, dir, host, amd64.dir, filepath.Join(rel, "configs/labels/shapes.yaml"), scenes)
	})
	if amd64.err != nil {
		t.Fatal(amd64.err)
	}
	return amd64.dir, amd64.top1
}

var amd64 struct {
	once sync.Once
	dir  string
	top1 map[string]string
	err  error
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
