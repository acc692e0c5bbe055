package daemon

import (
	"context"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/edged/edged/camera"
	"github.com/edged/edged/camera/cameratest"
)

// readmeCameraExamples are the YAML blocks of the README's Cameras section.
func readmeCameraExamples(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	start := strings.Index(text, "\n## Cameras\n")
	if start < 0 {
		t.Fatal("README.md has no Cameras section")
	}
	section := text[start+1:]
	if end := strings.Index(section, "\n## "); end >= 0 {
		section = section[:end]
	}
	var blocks []string
	for _, m := range regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(section, -1) {
		blocks = append(blocks, m[1])
	}
	return blocks
}

// The README's example of every kind of source is a valid config, and each one that needs no
// hardware delivers a frame: the RTSP example from GStreamer's RTSP server (at the example's
// path, with its user name and password file), the MJPEG and snapshot ones from HTTP cameras
// on loopback, and the file, folder and synthetic ones as they are.
func TestREADMECameraExamples(t *testing.T) {
	td := newTestDir(t)
	dir := td.dir
	pngPath, pic := cameratest.WritePNG(t, dir, "scene.png", cameratest.One("red", "circle", "black"), 320, 240)
	const password = "readme-secret"
	for _, f := range []string{"driveway.password", "porch.password"} {
		td.write(f, password+"\n")
	}
	if err := os.Mkdir(filepath.Join(dir, "pictures"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(pngPath, filepath.Join(dir, "pictures", "a.png")); err != nil {
		t.Fatal(err)
	}
	writeClip(t, filepath.Join(dir, "clips", "driveway.avi"))

	kinds := map[string]bool{}
	for i, block := range readmeCameraExamples(t) {
		path := td.write(fmt.Sprintf("example%d.yaml", i), "device: readme\n"+block)
		cfg, err := LoadConfig(path)
		if err != nil {
			t.Fatalf("README example %d:\n%s\n%v", i+1, block, err)
		}
		for _, cam := range cfg.Cameras {
			kinds[cam.Source.Kind] = true
			t.Run(cam.Name, func(t *testing.T) { runExample(t, cfg, cam, pngPath, pic, password) })
		}
	}
	for _, k := range camera.Kinds {
		if !kinds[k] {
			t.Errorf("the README's Cameras section has no example of kind %q", k)
		}
	}
}

// runExample points a README camera at a local server of its kind and waits for a frame.
func runExample(t *testing.T, cfg *Config, cam Camera, pngPath string, pic *image.RGBA, password string) {
	spec := cameraSpec(cfg, cam)
	switch spec.Kind {
	case camera.KindDevice, camera.KindGStreamer:
		t.Skipf("%s needs the hardware the example names", spec.Kind)
	case camera.KindStream:
		u := mustParse(t, spec.URL)
		srv := cameratest.StartRTSP(t, pngPath, cameratest.ServerOptions{Path: u.Path, User: spec.Username, Password: password})
		u.Host = mustParse(t, srv.URL).Host
		spec.URL = u.String()
	case camera.KindMJPEG:
		spec.URL = onLoopback(t, spec.URL, mjpegHandler(t, pic))
	case camera.KindSnapshot:
		spec.URL = onLoopback(t, spec.URL, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if u, p, ok := r.BasicAuth(); !ok || u != spec.Username || p != password {
				w.Header().Set("WWW-Authenticate", `Basic realm="cam"`)
				http.Error(w, "", http.StatusUnauthorized)
				return
			}
			w.Header().Set("Content-Type", "image/png")
			_ = png.Encode(w, pic)
		}))
	}
	src, err := camera.New(spec, camera.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx) }()
	defer func() { cancel(); <-done }()
	select {
	case f, ok := <-src.Frames():
		if !ok {
			t.Fatalf("the source ended: %+v", src.Stats())
		}
		f.Release()
	case <-time.After(30 * time.Second):
		t.Fatalf("no frame within 30s: %+v", src.Stats())
	}
}

// onLoopback serves h on 127.0.0.1 and returns raw with its host replaced by the server's.
func onLoopback(t *testing.T, raw string, h http.Handler) string {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	u := mustParse(t, raw)
	u.Host = mustParse(t, srv.URL).Host
	return u.String()
}

// mjpegHandler streams pic as multipart MJPEG, 20 parts a second, until the client leaves.
func mjpegHandler(t *testing.T, pic *image.RGBA) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "multipart/x-mixed-replace; boundary=b")
		for {
			fmt.Fprint(w, "--b\r\nContent-Type: image/jpeg\r\n\r\n")
			if err := jpeg.Encode(w, pic, nil); err != nil {
				return
			}
			fmt.Fprint(w, "\r\n")
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(50 * time.Millisecond): // the stream's frame rate
			}
		}
	})
}

// writeClip writes a short MJPG video of flat frames.
func writeClip(t *testing.T, path string) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	vw, err := gocv.VideoWriterFile(path, "MJPG", 10, 64, 48, true)
	if err != nil || !vw.IsOpened() {
		t.Fatalf("video writer: %v", err)
	}
	for i := range 5 {
		m := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(float64(40*i), 100, 200, 0), 48, 64, gocv.MatTypeCV8UC3)
		err := vw.Write(m)
		m.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := vw.Close(); err != nil {
		t.Fatal(err)
	}
}

func mustParse(t *testing.T, raw string) *url.URL {
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
