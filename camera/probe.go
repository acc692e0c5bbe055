package camera

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// probeRTSP asks an RTSP server to DESCRIBE the stream at u, answering an authentication
// challenge with creds, to explain why OpenCV could not open it: nil when the server
// describes the stream (so the trouble is elsewhere), else what went wrong, in words a
// user can act on. OpenCV itself only says that the open failed.
func probeRTSP(ctx context.Context, u *url.URL, creds *credentials, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	host := u.Host
	if u.Port() == "" {
		port := "554"
		if u.Scheme == "rtsps" {
			port = "322"
		}
		host = net.JoinHostPort(u.Hostname(), port)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return describeNetError(err, timeout/2)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if u.Scheme == "rtsps" {
		// Only to see what the server answers: FFmpeg, which reads the stream, does not
		// verify the camera's certificate either (cameras' are self-signed).
		tc := tls.Client(conn, &tls.Config{ServerName: u.Hostname(), InsecureSkipVerify: true})
		if err := tc.HandshakeContext(ctx); err != nil {
			return fmt.Errorf("TLS handshake: %w", err)
		}
		conn = tc
	}
	r := textproto.NewReader(bufio.NewReader(conn))
	target := u.String()
	var chal *challenge
	for seq := 1; seq <= 2; seq++ {
		req := fmt.Sprintf("DESCRIBE %s RTSP/1.0\r\nCSeq: %d\r\nAccept: application/sdp\r\nUser-Agent: edged\r\n", target, seq)
		if chal != nil {
			auth, err := chal.authorization(creds, "DESCRIBE", target)
			if err != nil {
				return err
			}
			req += "Authorization: " + auth + "\r\n"
		}
		if _, err := conn.Write([]byte(req + "\r\n")); err != nil {
			return describeNetError(err, timeout/2)
		}
		code, text, hdr, err := readRTSPResponse(r)
		if err != nil {
			if errors.Is(err, errNotRTSP) {
				return err
			}
			return describeNetError(err, timeout/2)
		}
		if code == 401 && chal == nil && creds != nil {
			if chal = pickChallenge(hdr.Values("WWW-Authenticate")); chal != nil {
				continue
			}
		}
		if code/100 == 2 {
			return nil
		}
		return statusError("RTSP", code, text, creds != nil, chal != nil)
	}
	return errors.New("unreachable")
}

var errNotRTSP = errors.New("the server does not speak RTSP")

// readRTSPResponse reads a status line and headers, and skips the body.
func readRTSPResponse(r *textproto.Reader) (code int, text string, hdr textproto.MIMEHeader, err error) {
	line, err := r.ReadLine()
	if err != nil {
		return 0, "", nil, err
	}
	proto, status, _ := strings.Cut(line, " ")
	codeStr, text, _ := strings.Cut(status, " ")
	code, cerr := strconv.Atoi(codeStr)
	if !strings.HasPrefix(proto, "RTSP/") || cerr != nil {
		return 0, "", nil, fmt.Errorf("%w (it answered %q)", errNotRTSP, truncate(line, 60))
	}
	hdr, err = r.ReadMIMEHeader()
	if err != nil {
		return 0, "", nil, err
	}
	if n, _ := strconv.Atoi(hdr.Get("Content-Length")); n > 0 {
		if _, err := r.R.Discard(n); err != nil {
			return 0, "", nil, err
		}
	}
	return code, text, hdr, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
