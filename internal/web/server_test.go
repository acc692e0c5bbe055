package web

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image/jpeg"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// get requests path from h and returns the response with its body read.
func do(t *testing.T, h http.Handler, method, path, contentType, body string) (*http.Response, []byte) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	resp := rec.Result()
	data, _ := io.ReadAll(resp.Body)
	return resp, data
}

func errorText(t *testing.T, data []byte) string {
	t.Helper()
	var e struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(data, &e); err != nil || e.Error == "" {
		t.Fatalf("error body %q is not {\"error\": ...}", data)
	}
	return e.Error
}

func TestPageAndAssets(t *testing.T) {
	h := Handler(newRefBackend(t))
	tests := []struct {
		path, wantType, wantBody string
		wantCode                 int
	}{
		{"/", "text/html", `<script src="/static/app.js" defer></script>`, 200},
		{"/static/app.js", "text/javascript", "new EventSource('/api/events')", 200},
		{"/static/style.css", "text/css", ".camera", 200},
		{"/static/missing.js", "text/plain", "404 page not found", 404},
		{"/elsewhere", "text/plain", "404 page not found", 404},
	}
	for _, tt := range tests {
		resp, body := do(t, h, "GET", tt.path, "", "")
		if resp.StatusCode != tt.wantCode || !strings.HasPrefix(resp.Header.Get("Content-Type"), tt.wantType) || !bytes.Contains(body, []byte(tt.wantBody)) {
			t.Errorf("GET %s: %d %s, body %.80q; want %d %s containing %q", tt.path, resp.StatusCode, resp.Header.Get("Content-Type"), body, tt.wantCode, tt.wantType, tt.wantBody)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
			t.Errorf("GET %s: CSP %q", tt.path, csp)
		}
	}
	// No external assets: nothing on the page refers to another host.
	for _, p := range []string{"/", "/static/app.js", "/static/style.css"} {
		_, body := do(t, h, "GET", p, "", "")
		if bytes.Contains(body, []byte("http://")) || bytes.Contains(body, []byte("https://")) || bytes.Contains(body, []byte("//cdn")) {
			t.Errorf("%s refers to an external URL", p)
		}
	}
}

func TestCamerasStatus(t *testing.T) {
	b := newRefBackend(t)
	h := Handler(b)
	c := b.advance(t)
	resp, body := do(t, h, "GET", "/api/cameras", "", "")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("%d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var st Status
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatal(err)
	}
	if st.Device != "test-device" || len(st.Cameras) != 2 || st.Cameras[0].Name != "shapes" || st.Cameras[1].Name != "synthetic" {
		t.Fatalf("status %s", body)
	}
	shapes := st.Cameras[0]
	if shapes.Frame == nil || shapes.Frame.Seq != 1 || len(shapes.Labels) != 1 || shapes.Labels[0].Labels[0].Label != c.CLIPTop1 ||
		shapes.Caption == nil || shapes.Caption.Caption != c.Caption || !st.Search.Enabled || st.Search.Frames != 1 {
		t.Fatalf("shapes camera %+v, search %+v; want frame 1 labelled %q captioned %q", shapes, st.Search, c.CLIPTop1, c.Caption)
	}
	// Lists are never null, so the page can iterate them.
	for _, key := range []string{`"answers":[]`, `"labels":[]`} {
		if !bytes.Contains(body, []byte(key)) {
			t.Errorf("status lacks %s: %s", key, body)
		}
	}
}

func TestFrame(t *testing.T) {
	b := newRefBackend(t)
	h := Handler(b)
	for _, tt := range []struct {
		query, want string
		code        int
	}{
		{"", "camera is missing", 400},
		{"?camera=attic", `unknown camera "attic" (cameras: "shapes", "synthetic")`, 404},
		{"?camera=shapes", "no frame yet", 503},
	} {
		resp, body := do(t, h, "GET", "/api/frame"+tt.query, "", "")
		if resp.StatusCode != tt.code || !strings.Contains(errorText(t, body), tt.want) {
			t.Errorf("frame%s: %d %s; want %d %q", tt.query, resp.StatusCode, body, tt.code, tt.want)
		}
	}
	b.advance(t)
	c := b.advance(t)
	resp, body := do(t, h, "GET", "/api/frame?camera=shapes", "", "")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/jpeg" || resp.Header.Get("X-Frame-Seq") != "2" || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("%d %v", resp.StatusCode, resp.Header)
	}
	img, err := jpeg.Decode(bytes.NewReader(body))
	if err != nil || img.Bounds() != c.Image.Bounds() {
		t.Fatalf("frame decodes to %v (%v); the scene is %v", img.Bounds(), err, c.Image.Bounds())
	}
	// The real synthetic camera: poll until its first frame is there, then see it advance.
	first := pollFrameSeq(t, h, "synthetic", 0)
	pollFrameSeq(t, h, "synthetic", first)
}

// pollFrameSeq fetches a camera's frame until its number is above after, and returns it.
func pollFrameSeq(t *testing.T, h http.Handler, camera string, after uint64) uint64 {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, body := do(t, h, "GET", "/api/frame?camera="+camera, "", "")
		if resp.StatusCode == 200 {
			seq, _ := strconv.ParseUint(resp.Header.Get("X-Frame-Seq"), 10, 64)
			if _, err := jpeg.Decode(bytes.NewReader(body)); err != nil {
				t.Fatalf("frame %d is no JPEG: %v", seq, err)
			}
			if seq > after {
				return seq
			}
		} else if resp.StatusCode != 503 {
			t.Fatalf("frame: %d %s", resp.StatusCode, body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("camera %s delivered no frame after %d within 10s", camera, after)
		}
		time.Sleep(20 * time.Millisecond) // poll interval, not a wait for an outcome
	}
}

func TestAsk(t *testing.T) {
	b := newRefBackend(t)
	h := Handler(b)
	const js = "application/json"
	long := strings.Repeat("why ", 300)
	tests := []struct {
		name, method, ctype, body string
		code                      int
		want                      string
	}{
		{"GET", "GET", "", "", 405, "/api/ask takes POST, not GET"},
		{"form post", "POST", "application/x-www-form-urlencoded", "question=hi", 415, "send the question as application/json"},
		{"no content type", "POST", "", `{"camera":"shapes","question":"hi"}`, 415, "application/json"},
		{"broken JSON", "POST", js, `{"camera":`, 400, "the body must be"},
		{"unknown field", "POST", js, `{"camera":"shapes","q":"hi"}`, 400, `unknown field "q"`},
		{"wrong type", "POST", js, `{"camera":"shapes","question":7}`, 400, "the body must be"},
		{"empty question", "POST", js, `{"camera":"shapes","question":"  "}`, 400, "question is empty"},
		{"invalid UTF-8", "POST", js, "{\"camera\":\"shapes\",\"question\":\"hi \xff\"}", 400, "request is not valid UTF-8"},
		{"trailing object", "POST", js, `{"camera":"shapes","question":"hi"} {"question":"more"}`, 400, "data after the JSON object"},
		{"trailing brace", "POST", js, `{"camera":"shapes","question":"hi"}}`, 400, "data after the JSON object"},
		{"long question", "POST", js, `{"camera":"shapes","question":"` + long + `"}`, 413, "question is 1199 bytes, over the 1024-byte limit"},
		{"huge body", "POST", js, `{"camera":"shapes","question":"` + strings.Repeat("a", 9000) + `"}`, 413, "over 8192 bytes"},
		{"no camera", "POST", js, `{"question":"hi"}`, 400, "camera is missing"},
		{"unknown camera", "POST", js, `{"camera":"attic","question":"hi"}`, 404, `unknown camera "attic"`},
		{"no frame yet", "POST", js, `{"camera":"shapes","question":"how many shapes are there?"}`, 503, "no frame yet"},
		{"no VQA model", "POST", js, `{"camera":"synthetic","question":"hi"}`, 503, "no VQA model"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := do(t, h, tt.method, "/api/ask", tt.ctype, tt.body)
			if resp.StatusCode != tt.code || !strings.Contains(errorText(t, body), tt.want) {
				t.Fatalf("%d %s; want %d %q", resp.StatusCode, body, tt.code, tt.want)
			}
		})
	}
	c := b.advance(t)
	for _, qa := range c.QA {
		body, _ := json.Marshal(askRequest{Camera: "shapes", Question: qa.Question})
		resp, data := do(t, h, "POST", "/api/ask", "application/json; charset=utf-8", string(body))
		var a Answer
		if resp.StatusCode != 200 || json.Unmarshal(data, &a) != nil || a.Answer != qa.Answer || a.Question != qa.Question || a.Frame.Seq != 1 {
			t.Fatalf("ask %q: %d %s; want transformers' answer %q about frame 1", qa.Question, resp.StatusCode, data, qa.Answer)
		}
	}
	// The answers reach the camera's state, newest first, at most five.
	st := b.Status().Cameras[0]
	if len(st.Answers) != min(5, len(c.QA)) || st.Answers[0].Question != c.QA[len(c.QA)-1].Question {
		t.Fatalf("answers %+v", st.Answers)
	}
}

func TestSearch(t *testing.T) {
	b := newRefBackend(t)
	h := Handler(b)
	tests := []struct {
		query string
		code  int
		want  string
	}{
		{"", 400, "q (the text to search for) is missing"},
		{"?q=++", 400, "q (the text to search for) is missing"},
		{"?q=" + strings.Repeat("x", 301), 400, "q is 301 bytes, over the 300-byte limit"},
		{"?q=%ff", 400, "not valid UTF-8"},
		{"?q=red+circle&k=0", 400, `k must be a whole number from 1 to 50, got "0"`},
		{"?q=red+circle&k=51", 400, "got \"51\""},
		{"?q=red+circle&k=two", 400, "got \"two\""},
		{"?q=red+circle&camera=attic", 404, `unknown camera "attic"`},
		{"?q=a+dog", 503, "no CLIP text model here"},
	}
	for _, tt := range tests {
		resp, body := do(t, h, "GET", "/api/search"+tt.query, "", "")
		if resp.StatusCode != tt.code || !strings.Contains(errorText(t, body), tt.want) {
			t.Errorf("search%s: %d %s; want %d %q", tt.query, resp.StatusCode, body, tt.code, tt.want)
		}
	}
	// Nothing remembered yet: no hits, no error.
	if resp, body := do(t, h, "GET", "/api/search?q=red+square", "", ""); resp.StatusCode != 200 || !bytes.Contains(body, []byte(`"hits":[]`)) {
		t.Fatalf("empty ring: %d %s", resp.StatusCode, body)
	}
	for range b.ref.Cases {
		b.advance(t)
	}
	// Every label present in the ring is found: the best hit's truth shows the object, and
	// its thumbnail is served.
	present := b.labelsPresent()
	for _, label := range present {
		resp, body := do(t, h, "GET", "/api/search?"+url.Values{"q": {"a " + label}, "camera": {"shapes"}, "k": {"3"}}.Encode(), "", "")
		var res searchResponse
		if resp.StatusCode != 200 || json.Unmarshal(body, &res) != nil || len(res.Hits) != 3 || res.K != 3 || res.Camera != "shapes" {
			t.Fatalf("search %q: %d %s", label, resp.StatusCode, body)
		}
		top := res.Hits[0]
		shown := b.caseOf(top.Frame.Seq)
		if !shown.Has(label) {
			t.Errorf("search %q: best hit frame %d shows %+v", label, top.Frame.Seq, shown.Scene.Objects)
		}
		if got := top.Annotations["case"]; got != strconv.Itoa(shown.Index) {
			t.Errorf("search %q: best hit frame %d carries the annotations of case %q, want %d", label, top.Frame.Seq, got, shown.Index)
		}
		for i := 1; i < len(res.Hits); i++ {
			if res.Hits[i].Score > res.Hits[i-1].Score {
				t.Errorf("search %q: hits out of order: %+v", label, res.Hits)
			}
		}
		tr, thumb := do(t, h, "GET", top.Thumb, "", "")
		if _, err := jpeg.Decode(bytes.NewReader(thumb)); tr.StatusCode != 200 || err != nil {
			t.Errorf("thumbnail %s: %d %v", top.Thumb, tr.StatusCode, err)
		}
	}
	if len(present) < 12 {
		t.Fatalf("only %d labels in the ring", len(present))
	}
	// Default k, and every camera.
	resp, body := do(t, h, "GET", "/api/search?q=blue+triangle", "", "")
	var res searchResponse
	if resp.StatusCode != 200 || json.Unmarshal(body, &res) != nil || len(res.Hits) != DefaultK || res.Camera != "" {
		t.Fatalf("default k: %d %s", resp.StatusCode, body)
	}
	for _, tt := range []struct {
		query string
		code  int
		want  string
	}{
		{"?camera=shapes&frame=999", 404, "frame 999 is no longer remembered"},
		{"?camera=shapes&frame=-1", 400, `frame must be a frame number, got "-1"`},
		{"?frame=1", 400, "camera is missing"},
	} {
		resp, body := do(t, h, "GET", "/api/thumb"+tt.query, "", "")
		if resp.StatusCode != tt.code || !strings.Contains(errorText(t, body), tt.want) {
			t.Errorf("thumb%s: %d %s; want %d %q", tt.query, resp.StatusCode, body, tt.code, tt.want)
		}
	}
}

func TestUnknownAPIPath(t *testing.T) {
	h := Handler(newRefBackend(t))
	resp, body := do(t, h, "GET", "/api/nothing", "", "")
	if resp.StatusCode != 404 || !strings.Contains(errorText(t, body), "no API endpoint /api/nothing") {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	resp, body = do(t, h, "DELETE", "/api/cameras", "", "")
	if resp.StatusCode != 405 || resp.Header.Get("Allow") != "GET" || !strings.Contains(errorText(t, body), "takes GET, not DELETE") {
		t.Fatalf("%d %v %s", resp.StatusCode, resp.Header, body)
	}
}

// sseEvent is one server-sent event.
type sseEvent struct {
	name string
	data string
}

// readEvents reads server-sent events from r into a channel until r ends.
func readEvents(r io.Reader) <-chan sseEvent {
	ch := make(chan sseEvent, 256)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.name != "" {
					ch <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "event: "):
				ev.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				ev.data = strings.TrimPrefix(line, "data: ")
			case strings.HasPrefix(line, ":"):
				ch <- sseEvent{name: "comment", data: line}
			}
		}
	}()
	return ch
}

// next returns the next event for which keep is true, failing the test after 10 s.
func next(t *testing.T, events <-chan sseEvent, keep func(sseEvent) bool) sseEvent {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("the event stream ended")
			}
			if keep(ev) {
				return ev
			}
		case <-timeout:
			t.Fatal("no matching event within 10s")
		}
	}
}

func named(names ...string) func(sseEvent) bool {
	return func(ev sseEvent) bool {
		for _, n := range names {
			if ev.name == n && !strings.Contains(ev.data, `"camera":"synthetic"`) {
				return true
			}
		}
		return false
	}
}

func TestEvents(t *testing.T) {
	b := newRefBackend(t)
	page := New(b, Options{StatusEvery: 200 * time.Millisecond, Heartbeat: 50 * time.Millisecond, MaxClients: 1})
	srv := httptest.NewServer(page)
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/api/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("%d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	events := readEvents(resp.Body)
	first := <-events
	var st Status
	if first.name != "status" || json.Unmarshal([]byte(first.data), &st) != nil || len(st.Cameras) != 2 {
		t.Fatalf("first event %+v; want the status", first)
	}

	// A second page is over MaxClients.
	if r2, err := http.Get(srv.URL + "/api/events"); err != nil || r2.StatusCode != 503 {
		t.Fatalf("second stream: %v %v; want 503", err, r2.StatusCode)
	} else {
		r2.Body.Close()
	}

	// A replayed scene arrives as frame, labels and caption events, in that order.
	c := b.advance(t)
	ev := next(t, events, named("frame", "labels", "caption"))
	var frame struct {
		Camera string    `json:"camera"`
		Data   FrameInfo `json:"data"`
	}
	if ev.name != "frame" || json.Unmarshal([]byte(ev.data), &frame) != nil || frame.Camera != "shapes" || frame.Data.Seq != 1 {
		t.Fatalf("event %+v; want frame 1 of shapes", ev)
	}
	ev = next(t, events, named("frame", "labels", "caption"))
	var labels struct {
		Camera string `json:"camera"`
		Data   Labels `json:"data"`
	}
	if ev.name != "labels" || json.Unmarshal([]byte(ev.data), &labels) != nil || labels.Data.Labels[0].Label != c.CLIPTop1 {
		t.Fatalf("event %+v; want labels topped by %q", ev, c.CLIPTop1)
	}
	ev = next(t, events, named("frame", "labels", "caption"))
	if ev.name != "caption" || !strings.Contains(ev.data, fmt.Sprintf("%q", c.Caption)) {
		t.Fatalf("event %+v; want caption %q", ev, c.Caption)
	}
	// An answer to an ask goes to every page.
	body, _ := json.Marshal(askRequest{Camera: "shapes", Question: c.QA[0].Question})
	ar, err := http.Post(srv.URL+"/api/ask", "application/json", bytes.NewReader(body))
	if err != nil || ar.StatusCode != 200 {
		t.Fatalf("ask: %v %v", err, ar.StatusCode)
	}
	ar.Body.Close()
	ev = next(t, events, named("answer"))
	if !strings.Contains(ev.data, fmt.Sprintf(`"answer":%q`, c.QA[0].Answer)) || !strings.Contains(ev.data, `"asked":true`) {
		t.Fatalf("answer event %s", ev.data)
	}
	// The real synthetic camera's frames arrive as frame events with rising numbers.
	var last uint64
	for range 3 {
		ev = next(t, events, func(e sseEvent) bool { return e.name == "frame" && strings.Contains(e.data, `"camera":"synthetic"`) })
		if json.Unmarshal([]byte(ev.data), &frame) != nil || frame.Data.Seq <= last {
			t.Fatalf("synthetic frame event %s after frame %d", ev.data, last)
		}
		last = frame.Data.Seq
	}
	// Periodic status and heartbeats keep coming.
	next(t, events, named("status"))
	next(t, events, named("comment"))

	// Close ends the stream; new streams are refused.
	page.Close()
	for range events {
	}
	if r3, err := http.Get(srv.URL + "/api/events"); err != nil || r3.StatusCode != 503 {
		t.Fatalf("after Close: %v %v", err, r3.StatusCode)
	} else {
		r3.Body.Close()
	}
}

// A page that stops reading does not hold up the others, nor the results feeding Live.
func TestEventsSlowPage(t *testing.T) {
	b := newRefBackend(t)
	srv := httptest.NewUnstartedServer(New(b, Options{WriteTimeout: 200 * time.Millisecond}))
	// Small socket buffers, so a page that stops reading blocks the server's writes soon.
	srv.Listener = smallBuffers{srv.Listener}
	srv.Start()
	defer srv.Close()
	stalledClient := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err == nil {
			err = c.(*net.TCPConn).SetReadBuffer(4096)
		}
		return c, err
	}}}
	stalled, err := stalledClient.Get(srv.URL + "/api/events")
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Body.Close() // never read
	fresh, err := http.Get(srv.URL + "/api/events")
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Body.Close()
	events := readEvents(fresh.Body)
	next(t, events, named("status"))
	// Feed far more than a socket buffer and a subscriber's queue hold.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 500 {
			b.advance(t)
		}
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("feeding results blocked behind a stalled page")
	}
	// The reading page still gets events.
	next(t, events, named("caption"))
	// The stalled stream is dropped: once its socket is full, a write times out and its
	// subscription ends.
	deadline := time.Now().Add(10 * time.Second)
	for b.live.Subscribers() > 1 {
		if time.Now().After(deadline) {
			t.Fatalf("%d subscribers; the stalled page still holds one", b.live.Subscribers())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if b.live.Missed() == 0 {
		t.Error("no missed updates counted for the stalled page")
	}
}

// smallBuffers gives accepted connections a small send buffer.
type smallBuffers struct{ net.Listener }

func (l smallBuffers) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		err = c.(*net.TCPConn).SetWriteBuffer(4096)
	}
	return c, err
}

// GET / carries the status and each camera's newest frame, so the page shows them before its
// event stream opens; text from the cameras cannot end the JSON block early.
func TestPageCarriesInitialState(t *testing.T) {
	b := newRefBackend(t)
	c := b.advance(t)
	b.live.Caption("shapes", Caption{Frame: FrameInfo{Seq: 1}, Caption: `</script><script>alert(1)</script>`})
	resp, body := do(t, Handler(b), "GET", "/", "", "")
	if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("GET / = %d, Cache-Control %q; want 200, no-store", resp.StatusCode, resp.Header.Get("Cache-Control"))
	}
	const open = `<script type="application/json" id="initial">`
	start := bytes.Index(body, []byte(open))
	if start < 0 || bytes.Contains(body, []byte(initialMarker)) {
		t.Fatalf("the page has no initial state in place of its marker:\n%s", body)
	}
	rest := body[start+len(open):]
	end := bytes.Index(rest, []byte("</script>"))
	var st initialState
	if err := json.Unmarshal(rest[:end], &st); err != nil {
		t.Fatalf("initial state: %v", err)
	}
	if len(st.Status.Cameras) != 2 || st.Status.Cameras[0].Caption == nil || st.Status.Cameras[0].Caption.Caption != `</script><script>alert(1)</script>` {
		t.Fatalf("initial status %+v; want both cameras and the shapes caption as written", st.Status)
	}
	f, ok := st.Frames["shapes"]
	const prefix = "data:image/jpeg;base64,"
	if !ok || f.Seq != 1 || !strings.HasPrefix(f.URL, prefix) {
		t.Fatalf("initial frame of shapes: %+v (present %v); want frame 1 as a JPEG data URL", f.FrameInfo, ok)
	}
	data, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(f.URL, prefix))
	if err != nil {
		t.Fatal(err)
	}
	img, err := jpeg.Decode(bytes.NewReader(data))
	if err != nil || img.Bounds().Dx() != c.Image.Bounds().Dx() {
		t.Fatalf("initial frame: %v, %v; want a JPEG as wide as the scene (%d)", img, err, c.Image.Bounds().Dx())
	}
}
