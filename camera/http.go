package camera

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// httpReader fetches a camera's HTTP URL (an MJPEG stream, a snapshot) with its
// credentials, answering a Basic or Digest challenge. It remembers the last challenge, so
// that polling a snapshot URL does not cost two requests each time.
type httpReader struct {
	spec    Spec
	display string
	client  *http.Client

	mu   sync.Mutex
	chal *challenge
}

func newHTTPReader(spec Spec) *httpReader {
	dialer := &net.Dialer{Timeout: 2 * spec.ReadTimeout, KeepAlive: 30 * time.Second}
	return &httpReader{
		spec:    spec,
		display: spec.describe(),
		client: &http.Client{Transport: &http.Transport{
			Proxy:                 nil, // cameras are on the local network; a proxy would only be in the way
			DialContext:           dialer.DialContext,
			TLSHandshakeTimeout:   2 * spec.ReadTimeout,
			ResponseHeaderTimeout: 2 * spec.ReadTimeout,
			MaxIdleConns:          2,
			IdleConnTimeout:       time.Minute,
		}},
	}
}

// get requests the URL; the response's status is 2xx, or get returns an error saying what the
// server answered. Cancelling ctx aborts the request and a read of its body.
func (h *httpReader) get(ctx context.Context) (*http.Response, error) {
	u, creds, err := h.spec.target()
	if err != nil {
		return nil, err
	}
	resp, sent, err := h.do(ctx, u, creds)
	if err == nil && resp.StatusCode == http.StatusUnauthorized && creds != nil {
		// No answer yet, or the one sent came from an older challenge (a Digest nonce the
		// server has let expire): answer the new challenge once.
		if c := pickChallenge(resp.Header.Values("WWW-Authenticate")); c != nil {
			drain(resp)
			h.mu.Lock()
			h.chal = c
			h.mu.Unlock()
			resp, sent, err = h.do(ctx, u, creds)
		}
	}
	if err != nil {
		return nil, describeNetError(err, h.spec.ReadTimeout)
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	drain(resp)
	return nil, statusError("HTTP", resp.StatusCode, http.StatusText(resp.StatusCode), creds != nil, sent)
}

// do sends one GET, with an answer to the remembered challenge when there is one; sent says
// whether credentials went with it.
func (h *httpReader) do(ctx context.Context, u *url.URL, creds *credentials) (resp *http.Response, sent bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, false, err
	}
	req.Header.Set("User-Agent", "edged")
	if creds != nil {
		h.mu.Lock()
		c := h.chal
		var auth string
		if c != nil {
			auth, err = c.authorization(creds, http.MethodGet, req.URL.RequestURI())
		}
		h.mu.Unlock()
		if err != nil {
			return nil, false, err
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
			sent = true
		}
	}
	resp, err = h.client.Do(req)
	return resp, sent, err
}

// drain reads a little of a body that is not wanted, so the connection can be reused, and
// closes it.
func drain(resp *http.Response) {
	_, _ = io.CopyN(io.Discard, resp.Body, 4<<10)
	resp.Body.Close()
}

// statusError explains a refusal by an HTTP or RTSP server in words a user can act on.
func statusError(proto string, code int, text string, haveCreds, sentCreds bool) error {
	what := fmt.Sprintf("%s %d %s", proto, code, text)
	switch {
	case code == 401 && sentCreds:
		return fmt.Errorf("the camera refused the credentials (%s)", what)
	case code == 401 && haveCreds:
		return fmt.Errorf("the camera asks for a login edged cannot answer (%s)", what)
	case code == 401:
		return fmt.Errorf("the camera needs credentials: give them in the URL or as username and password_file (%s)", what)
	case code == 403:
		return fmt.Errorf("the camera forbids this user to watch (%s)", what)
	case code == 404:
		return fmt.Errorf("no stream at this path: check the URL's path (%s)", what)
	case code == 503 || code == 453:
		return fmt.Errorf("the camera is busy or has too many viewers (%s)", what)
	}
	return fmt.Errorf("the camera answered %s", what)
}

// describeNetError shortens a failed connection's error to its cause.
func describeNetError(err error, timeout time.Duration) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout():
		return &stallError{fmt.Sprintf("no answer within %v (read_timeout %v)", 2*timeout, timeout)}
	}
	return err
}
