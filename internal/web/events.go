package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// handleEvents streams server-sent events: the whole Status at once and every StatusEvery,
// and each Update from the backend as it comes. Event names are the UpdateKinds and
// "status"; the data is JSON, with the camera added to per-camera events.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	select {
	case <-s.closed:
		s.fail(w, r, fmt.Errorf("%w: the server is shutting down", ErrUnavailable))
		return
	default:
	}
	if n := s.clients.Add(1); int(n) > s.opts.MaxClients {
		s.clients.Add(-1)
		s.fail(w, r, fmt.Errorf("%w: %d pages are already following events, the most allowed", ErrUnavailable, s.opts.MaxClients))
		return
	}
	defer s.clients.Add(-1)

	rc := http.NewResponseController(w)
	// A stream outlives the server's read timeout, which would otherwise end it: the request
	// has been read, and the client sends nothing more.
	_ = rc.SetReadDeadline(time.Time{})
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	updates := s.b.Subscribe(ctx)

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx and friends: do not buffer the stream
	w.WriteHeader(http.StatusOK)

	var buf bytes.Buffer
	send := func(event string, data any) error {
		buf.Reset()
		payload, err := json.Marshal(data)
		if err != nil {
			return fmt.Errorf("encode %s event: %w", event, err)
		}
		// Browsers reconnect after 2 s when the stream breaks.
		fmt.Fprintf(&buf, "event: %s\ndata: %s\n\n", event, payload)
		return s.write(rc, w, buf.Bytes())
	}
	if err := send(string(updateStatus), s.status()); err != nil {
		return
	}
	status := time.NewTicker(s.opts.StatusEvery)
	defer status.Stop()
	heartbeat := time.NewTicker(s.opts.Heartbeat)
	defer heartbeat.Stop()
	for {
		var err error
		select {
		case <-ctx.Done():
			return
		case <-s.closed:
			return
		case u, ok := <-updates:
			if !ok {
				return
			}
			err = send(string(u.Kind), eventData(u))
		case <-status.C:
			err = send(string(updateStatus), s.status())
		case <-heartbeat.C:
			err = s.write(rc, w, []byte(": keep-alive\n\n"))
		}
		if err != nil {
			s.opts.Logger.Debug("web: event stream ended", "remote", r.RemoteAddr, "err", err)
			return
		}
	}
}

// write sends one event with a deadline, so a client that stopped reading cannot hold the
// stream (and its goroutine) forever.
func (s *Server) write(rc *http.ResponseController, w http.ResponseWriter, p []byte) error {
	if err := rc.SetWriteDeadline(time.Now().Add(s.opts.WriteTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	if _, err := w.Write(p); err != nil {
		return err
	}
	return rc.Flush()
}

// eventData is an update's payload with its camera, as the page reads it.
func eventData(u Update) any {
	return struct {
		Camera string `json:"camera"`
		Data   any    `json:"data"`
	}{u.Camera, u.Data}
}
