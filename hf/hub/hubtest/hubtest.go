// Package hubtest is a Hugging Face hub for tests: two loopback HTTP servers that speak the
// endpoints a client pulls through, serving repositories built from folders or files.
//
// The hub server answers
//
//	GET /api/models/{owner}/{name}/revision/{revision}[?blobs=true]   the file list
//	GET|HEAD /{owner}/{name}/resolve/{revision}/{file}                 a file
//
// as huggingface.co does: the revision is a branch, a tag or a commit and the list has the
// commit ("sha"); with blobs=true every file has its size and git blob id, and LFS files
// their sha256. A regular file is served with its git blob id as ETag; an LFS file (weights:
// .safetensors, .bin, .h5, .msgpack, .onnx, .ot, .pt, .pth) is a 302 redirect to the second
// server, the "CDN", with X-Linked-Etag (its sha256), X-Linked-Size and X-Repo-Commit. Both
// honour "Range: bytes=N-". A gated repository answers its files with 401 (no token) or 403
// (another token) and X-Error-Code: GatedRepo; unknown repositories, revisions and files get
// 404 with X-Error-Code RepoNotFound, RevisionNotFound or EntryNotFound.
//
// Faults are injected per file (a connection cut after N bytes, wrong bytes) or for the whole
// hub (down: every connection closed without an answer). Every request is recorded, with
// the server that got it and its Range and Authorization headers, so tests can count what a
// client fetched and check where its token went.
package hubtest

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Server is a hub and its CDN on 127.0.0.1.
type Server struct {
	// URL is the hub's endpoint, what HF_ENDPOINT names.
	URL string
	// CDN is the address LFS files are redirected to (another port: another host).
	CDN string

	hub, cdn *httptest.Server
	mu       sync.Mutex
	repos    map[string]*repo
	faults   map[string]*Fault
	down     bool
	requests []Request
}

// Request is one request a server got.
type Request struct {
	Server        string // "hub" or "cdn"
	Method, Path  string // the path as sent (escaped), with its query
	Range         string
	Authorization string
}

// Fault is what goes wrong when a file is served (by the CDN for an LFS file, by the hub for
// a regular one).
type Fault struct {
	// Cut closes the connection after this many bytes of the response body (a broken
	// connection); 0 means no cut.
	Cut int64
	// Stall, with Cut, keeps the connection open after those bytes and sends nothing more
	// until the client gives up (a connection that hangs).
	Stall bool
	// Corrupt serves bytes that differ from the file's (same length) while the file list
	// keeps the true size and hashes.
	Corrupt bool
	// Times is how many responses the fault spoils; 0 means every one.
	Times int
}

// RepoOptions describe a repository beyond its files.
type RepoOptions struct {
	// Token, when set, gates the repository: its files are served only to
	// "Authorization: Bearer <Token>".
	Token string
	// Tags name the new commit too, beside the branch main.
	Tags []string
}

type repo struct {
	id       string
	token    string
	refs     map[string]string            // branch or tag -> commit
	commits  map[string]map[string][]byte // commit -> file -> content
	fileList map[string][]string          // commit -> sorted file names
}

// New starts a hub and its CDN on 127.0.0.1; they stop when the test ends.
func New(t testing.TB) *Server {
	s := Start()
	t.Cleanup(s.Close)
	return s
}

// Start starts a hub and its CDN on 127.0.0.1; Close stops them.
func Start() *Server {
	s := &Server{repos: map[string]*repo{}, faults: map[string]*Fault{}}
	s.hub = httptest.NewServer(http.HandlerFunc(s.serveHub))
	s.cdn = httptest.NewServer(http.HandlerFunc(s.serveCDN))
	s.URL, s.CDN = s.hub.URL, s.cdn.URL
	return s
}

// Close stops both servers.
func (s *Server) Close() {
	s.hub.Close()
	s.cdn.Close()
}

// AddFolder commits the regular files of dir (not its subfolders) to the branch main of the
// repository id ("owner/name"), creating it, and returns the commit. Files already served
// stay served under their earlier commits.
func (s *Server) AddFolder(t testing.TB, id, dir string, opts RepoOptions) string {
	t.Helper()
	return s.AddFiles(id, ReadFolder(t, dir), opts)
}

// ReadFolder reads the regular files of dir (not its subfolders), by name.
func ReadFolder(t testing.TB, dir string) map[string][]byte {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files[e.Name()] = data
	}
	return files
}

// AddFiles commits files (name -> content) to the branch main of the repository id, creating
// it, and returns the commit: a hash of the files, so the same files give the same commit.
func (s *Server) AddFiles(id string, files map[string][]byte, opts RepoOptions) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repos[id]
	if r == nil {
		r = &repo{id: id, refs: map[string]string{}, commits: map[string]map[string][]byte{}, fileList: map[string][]string{}}
		s.repos[id] = r
	}
	r.token = opts.Token
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	h := sha1.New()
	fmt.Fprintf(h, "commit of %s\n", id)
	copied := map[string][]byte{}
	for _, name := range names {
		fmt.Fprintf(h, "%s %s\n", name, blobID(files[name]))
		copied[name] = append([]byte(nil), files[name]...)
	}
	commit := hex.EncodeToString(h.Sum(nil))
	r.commits[commit], r.fileList[commit] = copied, names
	r.refs["main"] = commit
	for _, tag := range opts.Tags {
		r.refs[tag] = commit
	}
	return commit
}

// Inject makes every later response for file (by name, in any repository) fail as f says.
func (s *Server) Inject(file string, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[file] = &f
}

// Heal removes every injected fault and brings the hub up.
func (s *Server) Heal() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults, s.down = map[string]*Fault{}, false
}

// SetDown makes both servers close every connection without an answer (down) or answer again.
func (s *Server) SetDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

// Requests returns the requests the servers got, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// ResetRequests forgets the recorded requests.
func (s *Server) ResetRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = nil
}

// IsLFS reports whether the hub stores a file in LFS: the weight formats, as the hub's default
// .gitattributes does.
func IsLFS(name string) bool {
	switch filepath.Ext(name) {
	case ".safetensors", ".bin", ".h5", ".msgpack", ".onnx", ".ot", ".pt", ".pth":
		return true
	}
	return false
}

// blobID is git's object id of content: sha1("blob <size>\0" + content).
func blobID(content []byte) string {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(content))
	h.Write(content)
	return hex.EncodeToString(h.Sum(nil))
}

func sha256Hex(content []byte) string {
	sum := sha256.Sum256(content)
	return hex.EncodeToString(sum[:])
}

// lfsPointer is the text git stores for an LFS file: its blob id is what the hub lists.
func lfsPointer(content []byte) []byte {
	return []byte(fmt.Sprintf("version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize %d\n", sha256Hex(content), len(content)))
}

// record notes a request and reports whether the server is down (the caller then aborts).
func (s *Server) record(server string, r *http.Request) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, Request{Server: server, Method: r.Method, Path: r.URL.RequestURI(),
		Range: r.Header.Get("Range"), Authorization: r.Header.Get("Authorization")})
	return s.down
}

func hubError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("X-Error-Code", code)
	w.Header().Set("X-Error-Message", msg)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// lookup finds a repository and resolves a revision to its commit.
func (s *Server) lookup(w http.ResponseWriter, id, revision string) (*repo, string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repos[id]
	if r == nil {
		hubError(w, http.StatusNotFound, "RepoNotFound", "Repository not found")
		return nil, "", false
	}
	commit, ok := r.refs[revision]
	if !ok {
		if _, isCommit := r.commits[revision]; isCommit {
			commit, ok = revision, true
		}
	}
	if !ok {
		hubError(w, http.StatusNotFound, "RevisionNotFound", "Invalid rev id: "+revision)
		return nil, "", false
	}
	return r, commit, true
}

// splitPath splits an escaped path into unescaped segments.
func splitPath(escaped string) ([]string, bool) {
	parts := strings.Split(strings.Trim(escaped, "/"), "/")
	for i, p := range parts {
		u, err := url.PathUnescape(p)
		if err != nil {
			return nil, false
		}
		parts[i] = u
	}
	return parts, true
}

func (s *Server) serveHub(w http.ResponseWriter, r *http.Request) {
	if s.record("hub", r) {
		panic(http.ErrAbortHandler)
	}
	parts, ok := splitPath(r.URL.EscapedPath())
	switch {
	case ok && len(parts) == 6 && parts[0] == "api" && parts[1] == "models" && parts[4] == "revision":
		s.serveInfo(w, r, parts[2]+"/"+parts[3], parts[5])
	case ok && len(parts) >= 5 && parts[2] == "resolve":
		s.serveResolve(w, r, parts[0]+"/"+parts[1], parts[3], strings.Join(parts[4:], "/"))
	default:
		http.NotFound(w, r)
	}
}

// sibling is one file of the file list, as the hub writes it.
type sibling struct {
	RFilename string `json:"rfilename"`
	BlobID    string `json:"blobId,omitempty"`
	Size      *int   `json:"size,omitempty"`
	LFS       *struct {
		SHA256      string `json:"sha256"`
		Size        int    `json:"size"`
		PointerSize int    `json:"pointerSize"`
	} `json:"lfs,omitempty"`
}

func (s *Server) serveInfo(w http.ResponseWriter, r *http.Request, id, revision string) {
	rp, commit, ok := s.lookup(w, id, revision)
	if !ok {
		return
	}
	s.mu.Lock()
	files, names := rp.commits[commit], rp.fileList[commit]
	gated := rp.token != ""
	s.mu.Unlock()
	blobs := r.URL.Query().Get("blobs") == "true"
	var siblings []sibling
	for _, name := range names {
		sb := sibling{RFilename: name}
		if blobs {
			content := files[name]
			size := len(content)
			sb.Size = &size
			sb.BlobID = blobID(content)
			if IsLFS(name) {
				ptr := lfsPointer(content)
				sb.BlobID = blobID(ptr)
				sb.LFS = &struct {
					SHA256      string `json:"sha256"`
					Size        int    `json:"size"`
					PointerSize int    `json:"pointerSize"`
				}{sha256Hex(content), size, len(ptr)}
			}
		}
		siblings = append(siblings, sb)
	}
	var gatedField any = false
	if gated {
		gatedField = "manual"
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"_id": "test-" + commit[:8], "id": id, "modelId": id, "sha": commit,
		"private": false, "gated": gatedField, "siblings": siblings,
	})
}

func (s *Server) serveResolve(w http.ResponseWriter, r *http.Request, id, revision, file string) {
	rp, commit, ok := s.lookup(w, id, revision)
	if !ok {
		return
	}
	s.mu.Lock()
	content, exists := rp.commits[commit][file]
	token := rp.token
	s.mu.Unlock()
	if token != "" {
		switch r.Header.Get("Authorization") {
		case "Bearer " + token:
		case "":
			hubError(w, http.StatusUnauthorized, "GatedRepo", "Access to model "+id+" is restricted. You must have access to it and be authenticated to access it. Please log in.")
			return
		default:
			hubError(w, http.StatusForbidden, "GatedRepo", "Access to model "+id+" is restricted and you are not in the authorized list.")
			return
		}
	}
	if !exists {
		hubError(w, http.StatusNotFound, "EntryNotFound", "Entry not found")
		return
	}
	w.Header().Set("X-Repo-Commit", commit)
	if IsLFS(file) {
		ptr := lfsPointer(content)
		sum := sha256Hex(content)
		w.Header().Set("ETag", `"`+blobID(ptr)+`"`)
		w.Header().Set("X-Linked-Etag", `"`+sum+`"`)
		w.Header().Set("X-Linked-Size", strconv.Itoa(len(content)))
		w.Header().Set("Location", s.CDN+"/lfs/"+sum+"?file="+url.QueryEscape(file))
		w.WriteHeader(http.StatusFound)
		return
	}
	w.Header().Set("ETag", `"`+blobID(content)+`"`)
	s.serveBytes(w, r, file, content)
}

// serveCDN serves LFS objects by sha256, from any repository.
func (s *Server) serveCDN(w http.ResponseWriter, r *http.Request) {
	if s.record("cdn", r) {
		panic(http.ErrAbortHandler)
	}
	sum, ok := strings.CutPrefix(r.URL.Path, "/lfs/")
	file := r.URL.Query().Get("file")
	if !ok {
		http.NotFound(w, r)
		return
	}
	s.mu.Lock()
	var content []byte
	found := false
	for _, rp := range s.repos {
		for _, files := range rp.commits {
			if c, ok := files[file]; ok && sha256Hex(c) == sum {
				content, found = c, true
			}
		}
	}
	s.mu.Unlock()
	if !found {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("ETag", `"`+sum+`"`)
	s.serveBytes(w, r, file, content)
}

// serveBytes writes content, or its tail for "Range: bytes=N-", with the file's fault.
func (s *Server) serveBytes(w http.ResponseWriter, r *http.Request, file string, content []byte) {
	s.mu.Lock()
	var fault Fault
	if f := s.faults[file]; f != nil {
		fault = *f
		if f.Times > 0 {
			if f.Times--; f.Times == 0 {
				delete(s.faults, file)
			}
		}
	}
	s.mu.Unlock()
	if fault.Corrupt {
		content = append([]byte(nil), content...)
		for i := range content {
			content[i] ^= 0x5a
		}
	}
	start := 0
	status := http.StatusOK
	if rg := r.Header.Get("Range"); rg != "" {
		from, ok := strings.CutPrefix(rg, "bytes=")
		from, ok2 := strings.CutSuffix(from, "-")
		n, err := strconv.Atoi(from)
		if !ok || !ok2 || err != nil || n < 0 {
			http.Error(w, "only bytes=N- ranges", http.StatusBadRequest)
			return
		}
		if n >= len(content) {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", len(content)))
			w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
			return
		}
		start, status = n, http.StatusPartialContent
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", n, len(content)-1, len(content)))
	}
	w.Header().Set("Accept-Ranges", "bytes")
	w.Header().Set("Content-Length", strconv.Itoa(len(content)-start))
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return
	}
	body := content[start:]
	if fault.Cut > 0 && fault.Cut < int64(len(body)) {
		w.Write(body[:fault.Cut])
		w.(http.Flusher).Flush()
		if fault.Stall {
			<-r.Context().Done() // the client hung up
		}
		panic(http.ErrAbortHandler) // the connection closes mid-body
	}
	w.Write(body)
}
