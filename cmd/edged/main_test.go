package main

import (
	"bytes"
	"errors"
	"image"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"gocv.io/x/gocv"

	"github.com/edged/edged/imageproc"
	"github.com/edged/edged/internal/shapes"
	"github.com/edged/edged/models"
)

// The test binary is edged itself when asEdged is set: the command line tests run it as
// edged's main, and see its real exit status, stdout and stderr.
const asEdged = "EDGED_TEST_AS_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(asEdged) == "1" {
		os.Args = append([]string{"edged"}, os.Args[1:]...)
		main() // exits
	}
	os.Exit(m.Run())
}

// edged runs edged's main with args and returns its exit status, stdout and stderr.
func edged(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), asEdged+"=1")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatalf("edged %v: %v", args, err)
	}
	return code, out.String(), errOut.String()
}

// -h and --help print the command's own usage on stderr and exit 0, for every command, and
// do nothing else (edged version -h prints no version); `edged help CMD` says the same.
func TestHelpOfEveryCommand(t *testing.T) {
	names := make([]string, 0, len(commands))
	for name := range commands {
		names = append(names, name)
	}
	sort.Strings(names)
	want := []string{"ask", "bench", "caption", "classify", "convert", "inspect", "match", "models", "passwd", "pull", "run", "version"}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("commands %v; this test knows %v", names, want)
	}
	for _, name := range names {
		for _, args := range [][]string{{name, "-h"}, {name, "--help"}, {"help", name}} {
			code, stdout, stderr := edged(t, args...)
			if code != 0 || stdout != "" || !strings.HasPrefix(stderr, "usage: edged "+name) {
				t.Errorf("edged %s: exit %d, stdout %q, stderr %q; want exit 0 and only the usage of %s on stderr",
					strings.Join(args, " "), code, stdout, firstLine(stderr), name)
			}
		}
	}
	if code, _, stderr := edged(t, "-h"); code != 0 || !strings.Contains(stderr, "commands:") {
		t.Errorf("edged -h: exit %d, stderr %q", code, stderr)
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// A command line that lacks something says what, before the usage, with exit status 2.
func TestMissingArgumentsAreNamed(t *testing.T) {
	img := filepath.Join(scenes, "scene_00.png")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"classify", "--label", "cat", img}, "edged classify: no model: give a CLIP bundle, checkpoint folder or repository id with --model"},
		{[]string{"classify", "--model", shapesCLIP, "--label", "cat"}, "edged classify: no image: give one or more image files (PNG, JPEG, GIF (its first frame) and BMP)"},
		{[]string{"caption", img}, "edged caption: no model: give a BLIP bundle"},
		{[]string{"ask", "--model", "../../models/shapes/blip_vqa", "--question", "what?"}, "edged ask: no image:"},
		{[]string{"convert", "--out", t.TempDir()}, "edged convert: no checkpoint: give one with --from"},
		{[]string{"convert", "--from", shapesCLIP}, "edged convert: no bundle folder to write: give one with --out"},
		{[]string{"inspect"}, "edged inspect: no model: give one or more .tflite files"},
		{[]string{"pull"}, "edged pull: no repository"},
		{[]string{"models", "rm"}, "edged models: rm: name the entries to remove"},
		{[]string{"passwd", "users"}, "edged passwd: give the users file and the user's name (1 arguments given, 2 wanted)"},
		{[]string{"run", "edged.yaml"}, `edged run: unexpected argument "edged.yaml" (the config is given as -c FILE)`},
		{[]string{"version", "now"}, `edged version: unexpected argument "now"`},
		{[]string{"classify", "--modle", shapesCLIP}, "flag provided but not defined: -modle"},
	} {
		code, stdout, stderr := edged(t, c.args...)
		if code != 2 || stdout != "" || !strings.HasPrefix(stderr, c.want) || !strings.Contains(stderr, "usage: edged "+c.args[0]) {
			t.Errorf("edged %s: exit %d, stdout %q, stderr %q; want exit 2 and %q, then the usage", strings.Join(c.args, " "), code, stdout, stderr, c.want)
		}
	}
}

// What an image argument can be: a BMP (as OpenCV writes it) is read, and gives the same
// scores as the same picture in PNG (both are lossless); a folder or a file of another kind is
// an error that says so, and the other images are still classified.
func TestClassifyImageFormats(t *testing.T) {
	dir := t.TempDir()
	scene := shapes.Scene{Background: "gray", Objects: []shapes.Object{{Color: "red", Shape: "circle", X: 0.5, Y: 0.5, Size: 0.3}}}
	png := renderScene(t, dir, "scene.png", scene)
	bmp := filepath.Join(dir, "scene.bmp")
	writeBMPWithOpenCV(t, png, bmp)
	text := filepath.Join(dir, "notes.png")
	os.WriteFile(text, []byte("not an image"), 0o644)
	code, stdout, stderr := runClassifyCmd("--cache", filepath.Join(dir, "cache"), "--threads", "1", "--model", shapesCLIP,
		"--label", "red circle", "--label", "blue square", "--json", png, bmp, dir, text)
	if code != 1 {
		t.Errorf("exit %d, want 1 (two arguments are no images)", code)
	}
	for _, want := range []string{dir + " is a folder, not an image file", text + ": not an image file edged reads (PNG, JPEG, GIF (its first frame) and BMP)"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr %q lacks %q", stderr, want)
		}
	}
	res := jsonLines[classifyResult](t, stdout)
	if len(res) != 2 || res[0].Image != png || res[1].Image != bmp {
		t.Fatalf("results %+v, want the PNG's and the BMP's", res)
	}
	if !reflect.DeepEqual(res[0].Labels, res[1].Labels) || res[1].Labels[0].Label != "red circle" {
		t.Errorf("BMP scores %+v, PNG scores %+v: want the same, red circle first", res[1].Labels, res[0].Labels)
	}
}

// writeBMPWithOpenCV writes the PNG file src again as the BMP file dst with OpenCV, as a
// camera tool would, after checking that OpenCV reads back the PNG's pixels from it.
func writeBMPWithOpenCV(t *testing.T, src, dst string) {
	t.Helper()
	m := gocv.IMRead(src, gocv.IMReadColor)
	defer m.Close()
	if m.Empty() || !gocv.IMWrite(dst, m) {
		t.Fatalf("OpenCV could not write %s from %s", dst, src)
	}
	back := gocv.IMRead(dst, gocv.IMReadColor)
	defer back.Close()
	if !bytes.Equal(back.ToBytes(), m.ToBytes()) {
		t.Fatal("OpenCV's BMP does not hold the PNG's pixels")
	}
	want, err := imageproc.DecodeFile(src)
	if err != nil {
		t.Fatal(err)
	}
	got, err := imageproc.DecodeFile(dst)
	if err != nil {
		t.Fatalf("OpenCV's BMP: %v", err)
	}
	b := want.Bounds()
	if got.Bounds() != b {
		t.Fatalf("BMP of %v, PNG of %v", got.Bounds(), b)
	}
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r1, g1, b1, _ := want.At(x, y).RGBA()
			r2, g2, b2, _ := got.At(x, y).RGBA()
			if r1 != r2 || g1 != g2 || b1 != b2 {
				t.Fatalf("pixel %v: BMP %v, PNG %v", image.Pt(x, y), got.At(x, y), want.At(x, y))
			}
		}
	}
}

// classify refuses a BLIP checkpoint from its config, before converting anything.
func TestClassifyRefusesOtherArchitectureFirst(t *testing.T) {
	cache := filepath.Join(t.TempDir(), "cache")
	img := filepath.Join(scenes, "scene_00.png")
	code, _, stderr := runClassifyCmd("--cache", cache, "--model", "../../models/shapes/blip_caption", "--label", "cat", img)
	want := "edged classify: ../../models/shapes/blip_caption is a BlipForConditionalGeneration model; classify needs a CLIPModel\n"
	if code != 1 || stderr != want {
		t.Errorf("exit %d, stderr %q; want exit 1 and %q alone", code, stderr, want)
	}
	if entries, err := os.ReadDir(models.BundlesDir(cache)); err == nil && len(entries) > 0 {
		t.Errorf("%d bundles converted into the cache before refusing", len(entries))
	}
}
