package web

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edged/edged/internal/request"
)

//go:embed static
var static embed.FS

// Defaults of Options.
const (
	DefaultStatusEvery      = 2 * time.Second
	DefaultHeartbeat        = 15 * time.Second
	DefaultMaxClients       = 32
	DefaultMaxQueryBytes    = 300  // CLIP reads 77 tokens; more text is a mistake
	DefaultMaxQuestionBytes = 1024 // as MQTT ask requests
	DefaultK                = 8
	DefaultMaxK             = 50
	DefaultAskTimeout       = 60 * time.Second
	DefaultSearchTimeout    = 20 * time.Second
	DefaultWriteTimeout     = 10 * time.Second
	maxAskBody              = 8 << 10
)

// Options tune the handler; zero fields take the defaults.
type Options struct {
	// StatusEvery is how often an event stream gets the whole Status (health changes
	// continuously and a page that missed an update catches up).
	StatusEvery time.Duration
	// Heartbeat is how often an idle event stream gets a comment, so proxies keep it open.
	Heartbeat time.Duration
	// MaxClients bounds the event streams open at once; more get 503.
	MaxClients int
	// MaxQueryBytes bounds a search text, MaxQuestionBytes a question.
	MaxQueryBytes    int
	MaxQuestionBytes int
	// DefaultK is the number of search hits when the request names none; MaxK the most.
	DefaultK, MaxK int
	// AskTimeout and SearchTimeout bound one call to the Backend.
	AskTimeout, SearchTimeout time.Duration
	// WriteTimeout bounds writing one response or one event to a client.
	WriteTimeout time.Duration
	// Logger receives failures; nil is slog.Default().
	Logger *slog.Logger
}

func (o Options) withDefaults() Options {
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	defInt := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.StatusEvery, DefaultStatusEvery)
	def(&o.Heartbeat, DefaultHeartbeat)
	def(&o.AskTimeout, DefaultAskTimeout)
	def(&o.SearchTimeout, DefaultSearchTimeout)
	def(&o.WriteTimeout, DefaultWriteTimeout)
	defInt(&o.MaxClients, DefaultMaxClients)
	defInt(&o.MaxQueryBytes, DefaultMaxQueryBytes)
	defInt(&o.MaxQuestionBytes, DefaultMaxQuestionBytes)
	defInt(&o.MaxK, DefaultMaxK)
	defInt(&o.DefaultK, min(DefaultK, o.MaxK))
	o.DefaultK = min(o.DefaultK, o.MaxK)
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Server is the live page and its JSON API, an http.Handler to mount at "/":
//
//	GET  /                      the page (HTML, CSS and JavaScript embedded in the binary),
//	                            with the status and each camera's newest frame inside
//	GET  /api/cameras           Status as JSON
//	GET  /api/events            server-sent events: status, frame, labels, caption, answer
//	GET  /api/frame?camera=     the camera's newest frame, JPEG
//	POST /api/ask               {"camera", "question"} → Answer
//	GET  /api/search?q=&camera=&k=   → {"query", "camera", "k", "hits": [...]}
//	GET  /api/thumb?camera=&frame=   a search hit's thumbnail, JPEG
//
// Bad input gets a 4xx with {"error": "..."} saying what is wrong.
type Server struct {
	b       Backend
	opts    Options
	mux     *http.ServeMux
	clients atomic.Int32

	closeOnce sync.Once
	closed    chan struct{} // closed by Close: event streams end
}

// Handler returns the page and API for b with default options.
func Handler(b Backend) *Server { return New(b, Options{}) }

// New returns the page and API for b.
func New(b Backend, opts Options) *Server {
	s := &Server{b: b, opts: opts.withDefaults(), mux: http.NewServeMux(), closed: make(chan struct{})}
	page, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	files := http.FileServerFS(page)
	s.mux.HandleFunc("GET /{$}", s.handlePage)
	s.mux.Handle("GET /static/", http.StripPrefix("/static", files))
	api := []struct {
		method, path string
		h            http.HandlerFunc
	}{
		{"GET", "/api/cameras", s.handleCameras},
		{"GET", "/api/events", s.handleEvents},
		{"GET", "/api/frame", s.handleFrame},
		{"POST", "/api/ask", s.handleAsk},
		{"GET", "/api/search", s.handleSearch},
		{"GET", "/api/thumb", s.handleThumb},
	}
	methods := map[string]string{}
	for _, e := range api {
		s.mux.HandleFunc(e.method+" "+e.path, e.h)
		methods[e.path] = e.method
	}
	// Everything else under /api/ gets a JSON error: 405 for a known path, else 404.
	s.mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		if m, ok := methods[r.URL.Path]; ok {
			w.Header().Set("Allow", m)
			s.fail(w, r, fmt.Errorf("%w: %s takes %s, not %s", errMethod, r.URL.Path, m, r.Method))
			return
		}
		s.fail(w, r, fmt.Errorf("%w: no API endpoint %s", ErrNotFound, r.URL.Path))
	})
	return s
}

// ServeHTTP serves the page and the API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	// Everything the page needs comes from here; nothing may frame it.
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' blob: data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-cache")
	s.mux.ServeHTTP(w, r)
}

// Close ends the open event streams (an http.Server's Shutdown waits for them otherwise;
// register it with RegisterOnShutdown). New streams are refused afterwards.
func (s *Server) Close() { s.closeOnce.Do(func() { close(s.closed) }) }

func (s *Server) handleCameras(w http.ResponseWriter, r *http.Request) {
	s.writeJSON(w, r, http.StatusOK, s.status())
}

// status is the backend's Status with nil lists made empty, so the page never sees null.
func (s *Server) status() Status {
	st := s.b.Status()
	if st.Cameras == nil {
		st.Cameras = []CameraStatus{}
	}
	if st.Models == nil {
		st.Models = []ModelHealth{}
	}
	if st.Preparing == nil {
		st.Preparing = []ModelPrep{}
	}
	for i := range st.Cameras {
		if st.Cameras[i].Labels == nil {
			st.Cameras[i].Labels = []Labels{}
		}
		if st.Cameras[i].Answers == nil {
			st.Cameras[i].Answers = []Answer{}
		}
	}
	return st
}

func (s *Server) handleFrame(w http.ResponseWriter, r *http.Request) {
	camera, err := s.camera(r, true)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	f, err := s.b.Frame(camera)
	if err != nil {
		s.fail(w, r, fmt.Errorf("camera %q: frame: %w", camera, err))
		return
	}
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Seq", strconv.FormatUint(f.Seq, 10))
	h.Set("X-Frame-Time", f.Time.UTC().Format(time.RFC3339Nano))
	writeJPEG(w, f.JPEG)
}

func (s *Server) handleThumb(w http.ResponseWriter, r *http.Request) {
	camera, err := s.camera(r, true)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	frame, err := strconv.ParseUint(r.URL.Query().Get("frame"), 10, 64)
	if err != nil {
		s.fail(w, r, fmt.Errorf("%w: frame must be a frame number, got %q", errBadRequest, r.URL.Query().Get("frame")))
		return
	}
	data, err := s.b.Thumbnail(camera, frame)
	if err != nil {
		s.fail(w, r, fmt.Errorf("camera %q frame %d: thumbnail: %w", camera, frame, err))
		return
	}
	// A frame's thumbnail never changes.
	w.Header().Set("Cache-Control", "private, max-age=3600, immutable")
	writeJPEG(w, data)
}

func writeJPEG(w http.ResponseWriter, data []byte) {
	w.Header().Set("Content-Type", "image/jpeg")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	_, _ = w.Write(data)
}

// askRequest is the body of POST /api/ask.
type askRequest struct {
	Camera   string `json:"camera"`
	Question string `json:"question"`
}

// parseAskBody reads the body of POST /api/ask as MQTT's asks are read (package request):
// strict JSON in valid UTF-8 with nothing after it, and a question within maxQuestion bytes,
// returned trimmed. Errors wrap errBadRequest or errTooLarge.
func parseAskBody(body []byte, maxQuestion int) (askRequest, error) {
	var req askRequest
	if err := request.DecodeJSON(body, &req); err != nil {
		return req, fmt.Errorf("%w: the body must be {\"camera\": ..., \"question\": ...}: %v", errBadRequest, err)
	}
	q, err := request.Text("question", req.Question, maxQuestion)
	if err != nil {
		kind := errBadRequest
		if errors.Is(err, request.ErrTooLarge) {
			kind = errTooLarge
		}
		return req, fmt.Errorf("%w: %v", kind, err)
	}
	req.Question = q
	return req, nil
}

func (s *Server) handleAsk(w http.ResponseWriter, r *http.Request) {
	// A JSON content type cannot be sent by a plain cross-site form, so another site cannot
	// make a visitor's browser ask questions.
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		s.fail(w, r, fmt.Errorf("%w: send the question as application/json, not %q", errUnsupportedMedia, r.Header.Get("Content-Type")))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAskBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			err = fmt.Errorf("%w: the request is over %d bytes", errTooLarge, maxAskBody)
		}
		s.fail(w, r, err)
		return
	}
	req, err := parseAskBody(body, s.opts.MaxQuestionBytes)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.knownCamera(req.Camera, true); err != nil {
		s.fail(w, r, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.AskTimeout)
	defer cancel()
	a, err := s.b.Ask(ctx, req.Camera, req.Question)
	if err != nil {
		s.fail(w, r, fmt.Errorf("camera %q: ask: %w", req.Camera, err))
		return
	}
	s.writeJSON(w, r, http.StatusOK, a)
}

// searchResponse is the body of GET /api/search.
type searchResponse struct {
	Query  string      `json:"query"`
	Camera string      `json:"camera"`
	K      int         `json:"k"`
	Hits   []searchHit `json:"hits"`
}

type searchHit struct {
	Hit
	Thumb string `json:"thumb"` // URL of the thumbnail
}

func (s *Server) handleSearch(w http.ResponseWriter, r *http.Request) {
	v := r.URL.Query()
	q, err := request.Text("q", v.Get("q"), s.opts.MaxQueryBytes)
	if errors.Is(err, request.ErrEmpty) {
		err = errors.New("q (the text to search for) is missing")
	}
	if err != nil {
		s.fail(w, r, fmt.Errorf("%w: %v", errBadRequest, err))
		return
	}
	camera, err := s.camera(r, false)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	k := s.opts.DefaultK
	if ks := v.Get("k"); ks != "" {
		k, err = strconv.Atoi(ks)
		if err != nil || k < 1 || k > s.opts.MaxK {
			s.fail(w, r, fmt.Errorf("%w: k must be a whole number from 1 to %d, got %q", errBadRequest, s.opts.MaxK, ks))
			return
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.SearchTimeout)
	defer cancel()
	hits, err := s.b.Search(ctx, q, camera, k)
	if err != nil {
		s.fail(w, r, fmt.Errorf("search %q: %w", q, err))
		return
	}
	resp := searchResponse{Query: q, Camera: camera, K: k, Hits: make([]searchHit, 0, len(hits))}
	for _, h := range hits[:min(k, len(hits))] {
		thumb := "/api/thumb?" + url.Values{"camera": {h.Camera}, "frame": {strconv.FormatUint(h.Frame.Seq, 10)}}.Encode()
		resp.Hits = append(resp.Hits, searchHit{Hit: h, Thumb: thumb})
	}
	s.writeJSON(w, r, http.StatusOK, resp)
}

// camera reads the camera parameter and checks that the camera exists; without required,
// an absent camera means every camera ("").
func (s *Server) camera(r *http.Request, required bool) (string, error) {
	name := r.URL.Query().Get("camera")
	return name, s.knownCamera(name, required)
}

func (s *Server) knownCamera(name string, required bool) error {
	if name == "" {
		if required {
			return fmt.Errorf("%w: camera is missing", errBadRequest)
		}
		return nil
	}
	var names []string
	for _, c := range s.b.Status().Cameras {
		if c.Name == name {
			return nil
		}
		names = append(names, strconv.Quote(c.Name))
	}
	return fmt.Errorf("%w %q (cameras: %s)", ErrUnknownCamera, name, strings.Join(names, ", "))
}

var (
	errUnsupportedMedia = errors.New("unsupported media type")
	errMethod           = errors.New("method not allowed")
)

// fail answers with the status the error calls for and {"error": message}.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, errBadRequest):
		code = http.StatusBadRequest
	case errors.Is(err, errTooLarge):
		code = http.StatusRequestEntityTooLarge
	case errors.Is(err, errUnsupportedMedia):
		code = http.StatusUnsupportedMediaType
	case errors.Is(err, errMethod):
		code = http.StatusMethodNotAllowed
	case errors.Is(err, ErrUnknownCamera), errors.Is(err, ErrNotFound):
		code = http.StatusNotFound
	case errors.Is(err, ErrUnavailable):
		code = http.StatusServiceUnavailable
	case errors.Is(err, context.DeadlineExceeded):
		code = http.StatusGatewayTimeout
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		return // the client went away
	}
	msg := err.Error()
	for _, sentinel := range []error{errBadRequest, errTooLarge, errUnsupportedMedia, errMethod} {
		msg = strings.ReplaceAll(msg, sentinel.Error()+": ", "")
	}
	if code == http.StatusInternalServerError {
		s.opts.Logger.Error("web: request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	s.writeJSON(w, r, code, map[string]string{"error": msg})
}

func (s *Server) writeJSON(w http.ResponseWriter, r *http.Request, code int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		s.opts.Logger.Error("web: cannot encode a response", "path", r.URL.Path, "err", err)
		code, data = http.StatusInternalServerError, []byte(`{"error":"internal error: cannot encode the response"}`)
	}
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(s.opts.WriteTimeout))
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(append(data, '\n'))
}
