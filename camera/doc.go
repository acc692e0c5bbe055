// Package camera turns cameras, video files, image folders and the synthetic shapes world into
// a stream of RGBA frames for the daemon.
//
// Kinds of source: RTSP and other FFmpeg streams (KindStream, RTSP over TCP by default),
// multipart MJPEG over HTTP (KindMJPEG, read in Go), HTTP snapshot URLs polled at the
// camera's rate (KindSnapshot), V4L2 devices (KindDevice), GStreamer pipelines
// (KindGStreamer, the Pi camera's libcamerasrc for one), video files, image folders and the
// synthetic world. Credentials come from the URL or from a user name and a password file,
// answer Basic or Digest challenges, and never reach a log line or an error.
//
// Every source runs on its own goroutine (Source.Run) and hands frames over through a
// one-frame slot (Source.Frames): capture never waits for inference, a new frame replaces one
// that was not read yet, and the replaced frame is counted as dropped. Frames are read at the
// source's own rate, so that no buffer lags, but only those delivered (Spec.FPS) are
// converted to pictures; each carries the time it was captured.
//
// A live source that sends nothing for Spec.ReadTimeout without closing is stalled: a
// watchdog gives the connection up (a read blocked inside OpenCV is left to finish on its
// own, and whatever it returns is never delivered) and the source reconnects. One loop per
// source reopens it with capped exponential backoff and jitter; the source's State
// (connecting, streaming, stalled, failed) is in Stats and announced through
// Options.StateChanged, and the log gets one line per change of state, not one per retry.
// OpenCV's and FFmpeg's own messages are silenced (SetNativeLogging turns OpenCV's on).
//
// Frames come from a small per-source pool of buffers. A frame is never written to while a
// consumer holds it; calling Frame.Release when done lets the source reuse its memory.
//
// MotionGate is an optional helper that says whether a frame differs enough from the last one
// inference looked at to be worth looking at again.
package camera
