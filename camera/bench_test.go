package camera

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/edged/edged/camera/cameratest"
)

// processCPU is the CPU time this process has used, user and system, on every thread
// (FFmpeg decodes on threads of its own).
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRTSP1080p measures what one camera costs edged: a 1080p H.264 RTSP stream at 25
// frames a second (4 Mbit/s, a key frame every 2 s, as a camera's main stream) of a still
// scene (most blocks skipped: a quiet camera) and of random noise (every block coded: the
// most a 4 Mbit/s stream can cost), read for 20 s, with frames delivered at 1 a second (what
// labels every second need), at 5, and every frame. It reports the CPU used by this process
// (the server is another process) as a percentage of one core. Run it with
//
//	go test -run '^$' -bench RTSP1080p -benchtime 1x ./camera
func BenchmarkRTSP1080p(b *testing.B) {
	png, _ := cameratest.WritePNG(b, b.TempDir(), "scene.png", cameratest.One("red", "circle", "black"), 1920, 1080)
	const window = 20 * time.Second
	for _, content := range []string{"still", "noise"} {
		o := cameratest.ServerOptions{FPS: 25, KeyInt: 50, Bitrate: 4000}
		if content == "noise" {
			o.Pattern = "snow"
		}
		srv := cameratest.StartRTSP(b, png, o)
		for _, fps := range []float64{1, 5, 0} {
			name := fmt.Sprintf("%s/deliver=%gfps", content, fps)
			if fps == 0 {
				name = content + "/deliver=every-frame"
			}
			b.Run(name, func(b *testing.B) { benchStream(b, srv.URL, fps, window) })
		}
		srv.Kill()
	}
}

// benchStream reads url for window, delivering fps frames a second (0: all), once per b.N.
func benchStream(b *testing.B, url string, fps float64, window time.Duration) {
	for range b.N {
		src := mustNew(b, Spec{Name: "bench", Kind: KindStream, URL: url, FPS: fps}, Options{})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- src.Run(ctx) }()
		go func() { // a consumer that takes every frame, as the daemon's runner does
			for f := range src.Frames() {
				f.Release()
			}
		}()
		waitFor(b, 60*time.Second, "streaming", func() bool { return src.Stats().State == StateStreaming })
		cpu0, wall0, n0 := processCPU(b), time.Now(), src.Stats().Captured
		time.Sleep(window) // the measurement window, not a wait for an event
		cpu, wall, n := processCPU(b)-cpu0, time.Since(wall0), src.Stats().Captured-n0
		cancel()
		<-done
		b.ReportMetric(100*cpu.Seconds()/wall.Seconds(), "cpu%")
		b.ReportMetric(float64(n)/wall.Seconds(), "frames/s")
	}
}
