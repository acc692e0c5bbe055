// Package cameratest is the harness of the tests that read real camera servers: GStreamer's
// RTSP server (a Python script over gst-rtsp-server, started, killed, paused and resumed by
// the test on a free loopback port) streaming a rendered shapes scene, and the pieces such
// tests compare pictures with.
//
// Where the RTSP server's packages are missing (python3-gi, gir1.2-gst-rtsp-server-1.0,
// gstreamer1.0-plugins-ugly for x264enc) a test that asks for it is skipped, unless the
// environment variable CI is set: then it fails, so that a CI machine without them cannot
// pass by skipping.
package cameratest

import (
	"bufio"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	_ "embed"
	"encoding/pem"
	"fmt"
	"image"
	"image/png"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/edged/edged/internal/mqtttest"
	"github.com/edged/edged/internal/shapes"
)

//go:embed testdata/rtsp_server.py
var serverScript []byte

// python is Debian's interpreter, which has python3-gi (a python3 earlier in PATH, such as
// pyenv's, may not).
const python = "/usr/bin/python3"

// Timeout bounds the server's start.
const Timeout = 30 * time.Second

var (
	checkOnce sync.Once
	checkErr  error
)

// requireServer skips the test (fails it under CI) when the RTSP server cannot run here.
func requireServer(t testing.TB) {
	t.Helper()
	checkOnce.Do(func() {
		dir, err := os.MkdirTemp("", "rtsp-check-")
		if err != nil {
			checkErr = err
			return
		}
		defer os.RemoveAll(dir)
		script := filepath.Join(dir, "rtsp_server.py")
		if checkErr = os.WriteFile(script, serverScript, 0o644); checkErr != nil {
			return
		}
		out, err := exec.Command(python, script, "--check", "--port", "0", "--image", "x").CombinedOutput()
		if err != nil {
			checkErr = fmt.Errorf("%v: %s", err, strings.TrimSpace(string(out)))
		}
	})
	if checkErr != nil {
		msg := fmt.Sprintf("the RTSP test server cannot run (install python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly): %v", checkErr)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
}

// RTSPServer is a running rtsp_server.py.
type RTSPServer struct {
	t      testing.TB
	cmd    *exec.Cmd
	exited chan struct{}
	stderr mqtttest.Buffer
	// URL is the stream's address, rtsp://127.0.0.1:PORT/PATH (rtsps:// with TLS).
	URL  string
	Port int
}

// ServerOptions are the server's knobs; zero values take the script's defaults.
type ServerOptions struct {
	Port     int    // default: a free port
	Path     string // the stream's path, default /scene
	FPS      int    // default 10
	KeyInt   int    // frames between key frames, default one a second
	Bitrate  int    // kbit/s, default x264enc's
	Pattern  string // stream this videotestsrc pattern (snow: every block changes) at the picture's size
	User     string // with Password: the stream needs these credentials
	Password string
	Digest   bool   // Digest instead of Basic authentication
	TLSCert  string // with TLSKey: rtsps
	TLSKey   string
}

// StartRTSP serves the picture at png until the test ends (or Kill).
func StartRTSP(t testing.TB, png string, o ServerOptions) *RTSPServer {
	t.Helper()
	requireServer(t)
	if o.Port == 0 {
		o.Port = mqtttest.FreePort(t)
	}
	script := filepath.Join(t.TempDir(), "rtsp_server.py")
	if err := os.WriteFile(script, serverScript, 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{script, "--port", fmt.Sprint(o.Port), "--image", png}
	if o.Path != "" {
		args = append(args, "--path", o.Path)
	}
	if o.FPS > 0 {
		args = append(args, "--fps", fmt.Sprint(o.FPS))
	}
	if o.KeyInt > 0 {
		args = append(args, "--keyint", fmt.Sprint(o.KeyInt))
	}
	if o.Pattern != "" {
		args = append(args, "--pattern", o.Pattern)
	}
	if o.Bitrate > 0 {
		args = append(args, "--bitrate", fmt.Sprint(o.Bitrate))
	}
	if o.User != "" {
		args = append(args, "--user", o.User, "--password", o.Password)
		if o.Digest {
			args = append(args, "--auth", "digest")
		}
	}
	if o.TLSCert != "" {
		args = append(args, "--tls-cert", o.TLSCert, "--tls-key", o.TLSKey)
	}
	s := &RTSPServer{t: t, Port: o.Port, exited: make(chan struct{})}
	s.cmd = exec.Command(python, args...)
	s.cmd.Stderr = &s.stderr
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start the RTSP server: %v", err)
	}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if url, ok := strings.CutPrefix(sc.Text(), "ready "); ok {
				ready <- url
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() { _ = s.cmd.Wait(); close(s.exited) }()
	t.Cleanup(s.Kill)
	select {
	case s.URL = <-ready:
	case <-s.exited:
		t.Fatalf("the RTSP server exited at start: %s", s.stderr.Tail(20))
	case <-time.After(Timeout):
		s.Kill()
		t.Fatalf("the RTSP server did not start within %v: %s", Timeout, s.stderr.Tail(20))
	}
	return s
}

// Kill ends the server at once (SIGKILL), as a camera that loses power; it returns once the
// process is gone. Calling it again does nothing.
func (s *RTSPServer) Kill() {
	select {
	case <-s.exited:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGCONT) // a stopped process dies only once resumed
	_ = s.cmd.Process.Kill()
	<-s.exited
}

// Pause stops the server without closing its connections (SIGSTOP): clients' reads hang.
func (s *RTSPServer) Pause() {
	s.t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		s.t.Fatalf("SIGSTOP the RTSP server: %v", err)
	}
}

// Resume lets a paused server go on (SIGCONT).
func (s *RTSPServer) Resume() {
	s.t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		s.t.Fatalf("SIGCONT the RTSP server: %v", err)
	}
}

// Pid is the server's process id, for measuring it.
func (s *RTSPServer) Pid() int { return s.cmd.Process.Pid }

// Stderr is what the server printed on stderr.
func (s *RTSPServer) Stderr() string { return s.stderr.String() }

// WritePNG renders scene at w×h into dir/name and returns the file's path and the picture.
func WritePNG(t testing.TB, dir, name string, scene shapes.Scene, w, h int) (string, *image.RGBA) {
	t.Helper()
	img, err := shapes.Render(scene, w, h, shapes.Options{})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path, img
}

// One returns a scene of a single object of the given colour and shape on bg, centred and
// large, so that a lossy stream keeps it recognisable.
func One(color, shape, bg string) shapes.Scene {
	return shapes.Scene{Background: bg, Objects: []shapes.Object{{Color: color, Shape: shape, X: 0.5, Y: 0.5, Size: 0.25}}}
}

// MeanDiff is the mean absolute difference of two pictures of the same size, over the R, G
// and B channels, in 8-bit levels; -1 when their sizes differ.
func MeanDiff(a, b *image.RGBA) float64 {
	if a.Rect.Size() != b.Rect.Size() {
		return -1
	}
	w, h := a.Rect.Dx(), a.Rect.Dy()
	var sum int64
	for y := 0; y < h; y++ {
		ra := a.Pix[y*a.Stride : y*a.Stride+4*w]
		rb := b.Pix[y*b.Stride : y*b.Stride+4*w]
		for i := 0; i < len(ra); i += 4 {
			for c := 0; c < 3; c++ {
				d := int64(ra[i+c]) - int64(rb[i+c])
				if d < 0 {
					d = -d
				}
				sum += d
			}
		}
	}
	return float64(sum) / float64(3*w*h)
}

// SelfSignedCert writes a self-signed certificate for 127.0.0.1 and its RSA key as PEM files
// into dir, for an rtsps server, and returns their paths.
func SelfSignedCert(t testing.TB, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "edged test camera"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	write := func(path, kind string, b []byte) {
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(certFile, "CERTIFICATE", der)
	write(keyFile, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(key))
	return certFile, keyFile
}
