package camera

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/edged/edged/camera/cameratest"
)

// loopbackDevice finds a v4l2loopback device ("" when there is none).
func loopbackDevice() string {
	names, _ := filepath.Glob("/sys/class/video4linux/video*/name")
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err == nil && (strings.Contains(string(b), "Dummy") || strings.Contains(strings.ToLower(string(b)), "loopback")) {
			return "/dev/" + filepath.Base(filepath.Dir(n))
		}
	}
	return ""
}

// A V4L2 device: a v4l2loopback device fed with a scene by GStreamer's v4l2sink, read as a
// USB camera is. Skipped where the kernel has no v4l2loopback device (it is a kernel module:
// modprobe v4l2loopback exclusive_caps=1, where the machine allows loading one).
func TestV4L2Loopback(t *testing.T) {
	dev := loopbackDevice()
	if dev == "" {
		t.Skipf("no v4l2loopback device on this machine (kernel %s, %s): load the module with `modprobe v4l2loopback exclusive_caps=1` where the kernel allows it", kernelRelease(), runtime.GOARCH)
	}
	gst, err := exec.LookPath("gst-launch-1.0")
	if err != nil {
		t.Skip("gst-launch-1.0 (gstreamer1.0-tools) is needed to feed the loopback device")
	}
	dir := t.TempDir()
	png, scene := cameratest.WritePNG(t, dir, "a.png", cameratest.One("green", "circle", "black"), 320, 240)
	writer := exec.Command(gst, "-q", "filesrc", "location="+png, "!", "pngdec", "!", "imagefreeze", "is-live=true", "!", "videoconvert", "!",
		"video/x-raw,format=YUY2,width=320,height=240,framerate=10/1", "!", "v4l2sink", "device="+dev)
	if err := writer.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = writer.Process.Kill(); _ = writer.Wait() })
	src := start(t, mustNew(t, Spec{Name: "usb", Kind: KindDevice, Device: dev, Format: FormatAny, FPS: 5}, Options{}))
	nextShowing(t, src, scene, time.Time{}, 30*time.Second).Release()
}

func kernelRelease() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(b))
}
