package camera

import (
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeImage saves a flat w×h picture of c as PNG or JPEG (by the name's ending).
func writeImage(t *testing.T, path string, w, h int, c color.Color) {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, c)
		}
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if strings.HasSuffix(strings.ToLower(path), ".png") {
		err = png.Encode(f, img)
	} else {
		err = jpeg.Encode(f, img, &jpeg.Options{Quality: 95})
	}
	if err != nil {
		t.Fatalf("encode %s: %v", path, err)
	}
}

func TestFolderShowsImagesInNameOrder(t *testing.T) {
	dir := t.TempDir()
	// Written out of order, in both formats, with files that are not images beside them.
	writeImage(t, filepath.Join(dir, "c.png"), 20, 10, palette[2])
	writeImage(t, filepath.Join(dir, "a.PNG"), 20, 10, palette[0])
	writeImage(t, filepath.Join(dir, "b.jpg"), 16, 16, palette[1])
	writeImage(t, filepath.Join(dir, "d.png"), 8, 8, color.NRGBA{255, 0, 0, 0}) // fully transparent
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not an image"), 0o644)
	os.Mkdir(filepath.Join(dir, "e.png"), 0o755) // a folder with an image's name

	src := start(t, mustNew(t, Spec{Name: "album", Kind: KindFolder, Path: dir, FPS: 200}, Options{}))
	want := []struct {
		name string
		w, h int
		c    color.RGBA
		tol  int
	}{
		{"a.PNG", 20, 10, palette[0], 0},
		{"b.jpg", 16, 16, palette[1], 3},
		{"c.png", 20, 10, palette[2], 0},
		{"d.png", 8, 8, color.RGBA{0, 0, 0, 255}, 0}, // transparency is shown over black
	}
	var got []*Frame
	for f := range src.Frames() {
		got = append(got, f)
	}
	st := src.Stats()
	if st.State != StateEnded || st.Captured != 4 || st.Errors != 0 || uint64(len(got))+st.Dropped != 4 {
		t.Fatalf("stats = %+v after %d frames received: want ended, 4 captured, no errors", st, len(got))
	}
	for i, f := range got {
		w := want[f.Index]
		if f.Path != filepath.Join(dir, w.name) || (i > 0 && f.Index <= got[i-1].Index) {
			t.Fatalf("frame %d: index %d path %s, want %s in order", i, f.Index, f.Path, w.name)
		}
		if f.Image.Rect != image.Rect(0, 0, w.w, w.h) {
			t.Fatalf("%s: picture %v, want %dx%d", w.name, f.Image.Rect, w.w, w.h)
		}
		checkFlat(t, w.name, f.Image, w.c, w.tol)
	}
}

func TestFolderSkipsBadImagesAndLoops(t *testing.T) {
	dir := t.TempDir()
	writeImage(t, filepath.Join(dir, "1.png"), 8, 8, palette[0])
	os.WriteFile(filepath.Join(dir, "2.png"), []byte("\x89PNG but broken"), 0o644)
	writeImage(t, filepath.Join(dir, "3.png"), 300, 300, palette[1]) // over the size limit
	writeImage(t, filepath.Join(dir, "4.png"), 8, 8, palette[2])

	src := start(t, mustNew(t, Spec{Name: "album", Kind: KindFolder, Path: dir, FPS: 500, Loop: true}, Options{MaxPixels: 10000}))
	seen := map[int]bool{}
	var prev *Frame
	for wrapped := false; !wrapped; {
		f := next(t, src, 5*time.Second)
		seen[f.Index] = true
		if f.Index != 0 && f.Index != 3 {
			t.Fatalf("frame from %s (index %d): bad images must be skipped", f.Path, f.Index)
		}
		wrapped = prev != nil && f.Index < prev.Index
		prev = f
	}
	st := src.Stats()
	if st.Rejected < 1 || st.Errors < 2 || st.Reconnects != 0 {
		t.Fatalf("stats = %+v: want the big image rejected, both bad ones counted, no reconnects", st)
	}
	if err := src.stop(t); err != nil {
		t.Fatal(err)
	}
	msg := st.LastError.Error()
	if !strings.Contains(msg, `camera "album": image `+dir) {
		t.Fatalf("last error %q does not name the camera and image", msg)
	}
}

func TestFolderOfOnlyBadImagesIsRetried(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "x.jpg"), []byte("nope"), 0o644)
	src := start(t, mustNew(t, Spec{Name: "junk", Kind: KindFolder, Path: dir, FPS: 100}, Options{Backoff: fastRetry}))
	waitFor(t, 10*time.Second, "two reconnects", func() bool { return src.Stats().Reconnects >= 2 })
	// Each retry skips the picture again (its own error) before failing the
	// folder, so the last error alternates: wait for the folder's.
	want := `camera "junk": folder ` + dir + `: none of its 1 images could be read (last: image ` + filepath.Join(dir, "x.jpg")
	waitFor(t, 10*time.Second, "the folder's error", func() bool {
		err := src.Stats().LastError
		return err != nil && strings.HasPrefix(err.Error(), want)
	})
}
