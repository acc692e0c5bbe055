// Package camera turns cameras, video files, image folders and the synthetic shapes world into
// a stream of RGBA frames for the daemon.
//
// Every source runs on its own goroutine (Source.Run) and hands frames over through a
// one-frame slot (Source.Frames): capture never waits for inference, a new frame replaces one
// that was not read yet, and the replaced frame is counted as dropped. A source that cannot
// open, fails to read or whose stream ends is reopened with capped exponential backoff; the
// failure is logged with log/slog and counted in Stats, and other sources are unaffected.
//
// Frames come from a small per-source pool of buffers. A frame is never written to while a
// consumer holds it; calling Frame.Release when done lets the source reuse its memory.
//
// MotionGate is an optional helper that says whether a frame differs enough from the last one
// inference looked at to be worth looking at again.
package camera
