package web

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// The page's HTML carries what it shows first, so a browser paints each camera's newest frame
// with the page itself instead of "waiting for a frame" until the event stream and a frame
// request have gone round: the status and every camera's newest frame (as a data: URL) sit in
// a JSON block the script reads before anything else. The load event then waits for those
// frames, as it waits for any image of the page.

// initialMarker is where index.html takes the initial state.
const initialMarker = "<!--initial-->"

// initialState is the JSON block: the Status and, by camera, the newest frame.
type initialState struct {
	Status Status                  `json:"status"`
	Frames map[string]initialFrame `json:"frames"`
}

type initialFrame struct {
	FrameInfo
	URL string `json:"url"` // data:image/jpeg;base64,...
}

// handlePage serves index.html with the initial state in place of its marker.
func (s *Server) handlePage(w http.ResponseWriter, r *http.Request) {
	html, err := static.ReadFile("static/index.html")
	if err != nil {
		s.fail(w, r, err) // the embedded tree is fixed at build time: never happens
		return
	}
	st := initialState{Status: s.status(), Frames: map[string]initialFrame{}}
	for _, c := range st.Status.Cameras {
		f, err := s.b.Frame(c.Name)
		if err != nil {
			continue // no frame yet: the page waits for one as before
		}
		st.Frames[c.Name] = initialFrame{FrameInfo: f.FrameInfo, URL: "data:image/jpeg;base64," + base64.StdEncoding.EncodeToString(f.JPEG)}
	}
	// json.Marshal escapes <, > and &, so no text in the state can end the script element.
	data, err := json.Marshal(st)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	block := append([]byte(`<script type="application/json" id="initial">`), data...)
	block = append(block, "</script>"...)
	page := bytes.Replace(html, []byte(initialMarker), block, 1)
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(page)))
	h.Set("Cache-Control", "no-store") // it holds the state of the moment
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(s.opts.WriteTimeout))
	_, _ = w.Write(page)
}
