package camera

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"mime"
	"mime/multipart"
	"strings"
	"time"
)

// mjpegCapturer reads a multipart MJPEG stream over HTTP (multipart/x-mixed-replace, one
// JPEG per part), as ESP32-CAMs and most IP cameras serve it. Parts between deliveries are
// read past without being decoded.
type mjpegCapturer struct {
	http  *httpReader
	every time.Duration
}

func newMJPEGCapturer(spec Spec) *mjpegCapturer {
	return &mjpegCapturer{http: newHTTPReader(spec), every: interval(spec.FPS)}
}

// maxPictureBytes bounds one JPEG or PNG read from the network: generous for the largest
// picture the size limit allows.
func maxPictureBytes(o Options) int64 { return 3*int64(o.MaxPixels) + 64<<10 }

func (c *mjpegCapturer) session(ctx context.Context, out *feed) error {
	display := c.http.display
	resp, err := c.http.get(ctx)
	if err != nil {
		return fmt.Errorf("open %s: %w", display, err)
	}
	defer resp.Body.Close()
	ct := resp.Header.Get("Content-Type")
	mediaType, params, err := mime.ParseMediaType(ct)
	if err != nil || !strings.HasPrefix(mediaType, "multipart/") || params["boundary"] == "" {
		return fmt.Errorf("open %s: not an MJPEG stream: Content-Type %q (a URL that answers with one picture is a snapshot source)", display, ct)
	}
	parts := multipart.NewReader(resp.Body, params["boundary"])
	limit := maxPictureBytes(out.opts)
	var nextDeliver time.Time
	for {
		part, err := parts.NextRawPart()
		if err != nil {
			return c.readError(ctx, err)
		}
		due := c.every == 0 || !time.Now().Before(nextDeliver)
		if !due {
			// Read past it: the bytes must come off the connection, but need no decoding.
			if _, err := io.Copy(io.Discard, io.LimitReader(part, limit)); err != nil {
				return c.readError(ctx, err)
			}
			out.markAlive()
			continue
		}
		data, err := io.ReadAll(io.LimitReader(part, limit+1))
		if err != nil {
			return c.readError(ctx, err)
		}
		at := time.Now()
		out.markAlive()
		if int64(len(data)) > limit {
			return fmt.Errorf("read %s: a part is over %d bytes, more than any picture within the size limit", display, limit)
		}
		img, err := decodePicture(out.source, bytes.NewReader(data))
		if err != nil {
			var size *FrameSizeError
			if errors.As(err, &size) {
				return fmt.Errorf("read %s: %w", display, err)
			}
			// One damaged picture does not end the stream; it is counted and logged.
			out.skipped(fmt.Errorf("read %s: picture %s: %w", display, part.Header.Get("Content-Type"), err))
			continue
		}
		nextDeliver = later(nextDeliver, c.every)
		out.deliver(&Frame{Time: at, Image: img, Index: -1}, true)
	}
}

// readError says why reading the stream stopped; a cancelled read (the watchdog's, or
// shutdown) is ctx's error.
func (c *mjpegCapturer) readError(ctx context.Context, err error) error {
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("read %s: the camera closed the stream", c.http.display)
	}
	return fmt.Errorf("read %s: %w", c.http.display, describeNetError(err, c.http.spec.ReadTimeout))
}

// snapshotCapturer fetches a picture from an HTTP URL at the camera's rate.
type snapshotCapturer struct {
	http  *httpReader
	every time.Duration
}

func newSnapshotCapturer(spec Spec) *snapshotCapturer {
	return &snapshotCapturer{http: newHTTPReader(spec), every: interval(spec.FPS)}
}

func (c *snapshotCapturer) session(ctx context.Context, out *feed) error {
	var next time.Time
	for {
		out.markAlive() // a fetch starts: the watchdog gives it ReadTimeout from now
		img, at, err := c.fetch(ctx, out)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		out.deliver(&Frame{Time: at, Image: img, Index: -1}, true)
		next = later(next, c.every)
		out.quietUntil(next)
		if !sleep(ctx, time.Until(next)) {
			return ctx.Err()
		}
	}
}

// fetch gets and decodes one picture, within ReadTimeout.
func (c *snapshotCapturer) fetch(ctx context.Context, out *feed) (img *image.RGBA, at time.Time, err error) {
	timeout := c.http.spec.ReadTimeout
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	display := c.http.display
	resp, err := c.http.get(rctx)
	if err != nil {
		return nil, at, fmt.Errorf("fetch %s: %w", display, c.timeoutOr(rctx, err))
	}
	defer resp.Body.Close()
	limit := maxPictureBytes(out.opts)
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, at, fmt.Errorf("fetch %s: %w", display, c.timeoutOr(rctx, describeNetError(err, timeout)))
	}
	at = time.Now()
	if int64(len(data)) > limit {
		return nil, at, fmt.Errorf("fetch %s: the answer is over %d bytes, more than any picture within the size limit", display, limit)
	}
	pic, err := decodePicture(out.source, bytes.NewReader(data))
	if err != nil {
		return nil, at, fmt.Errorf("fetch %s: %s picture: %w", display, resp.Header.Get("Content-Type"), err)
	}
	return pic, at, nil
}

// timeoutOr turns a fetch cut short by its own deadline into a stall.
func (c *snapshotCapturer) timeoutOr(rctx context.Context, err error) error {
	if errors.Is(rctx.Err(), context.DeadlineExceeded) {
		return &stallError{fmt.Sprintf("stalled: no answer within %v (read_timeout)", c.http.spec.ReadTimeout)}
	}
	return err
}
