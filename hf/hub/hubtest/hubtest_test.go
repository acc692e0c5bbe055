package hubtest

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

func get(t *testing.T, method, url string, header ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// The parts of the hub's protocol the client tests do not reach: the list without blobs, a
// revision with slashes, HEAD, an LFS redirect's headers, and a range past the end. The
// expected ids are what `git hash-object` and sha256sum print for the two files.
func TestProtocol(t *testing.T) {
	s := New(t)
	commit := s.AddFiles("o/r", map[string][]byte{"config.json": []byte("{}"), "model.safetensors": []byte("0123456789")}, RepoOptions{Tags: []string{"refs/pr/1"}})

	_, body := get(t, "GET", s.URL+"/api/models/o/r/revision/refs%2Fpr%2F1")
	var info struct {
		SHA      string           `json:"sha"`
		Siblings []map[string]any `json:"siblings"`
	}
	if err := json.Unmarshal([]byte(body), &info); err != nil || info.SHA != commit || len(info.Siblings) != 2 {
		t.Fatalf("file list %s (%v)", body, err)
	}
	for _, sb := range info.Siblings {
		if len(sb) != 1 {
			t.Errorf("without blobs=true a file has %v, want its name only", sb)
		}
	}

	resp, body := get(t, "HEAD", s.URL+"/o/r/resolve/main/config.json")
	if resp.StatusCode != 200 || body != "" || resp.Header.Get("ETag") != `"9e26dfeeb6e641a33dae4961196235bdb965b21b"` || resp.Header.Get("X-Repo-Commit") != commit {
		t.Errorf("HEAD config.json: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	resp, _ = get(t, "GET", s.URL+"/o/r/resolve/"+commit+"/model.safetensors")
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, s.CDN+"/lfs/84d89877f0d4041efb6bf91a16f0248f2fd573e6af05c19f96bedb9f882f7882") ||
		resp.Header.Get("X-Linked-Size") != "10" || resp.Header.Get("X-Linked-Etag") != `"84d89877f0d4041efb6bf91a16f0248f2fd573e6af05c19f96bedb9f882f7882"` {
		t.Errorf("LFS redirect: %d %v", resp.StatusCode, resp.Header)
	}
	resp, body = get(t, "GET", loc, "Range", "bytes=4-")
	if resp.StatusCode != http.StatusPartialContent || body != "456789" || resp.Header.Get("Content-Range") != "bytes 4-9/10" {
		t.Errorf("range: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	if resp, _ = get(t, "GET", loc, "Range", "bytes=10-"); resp.StatusCode != http.StatusRequestedRangeNotSatisfiable {
		t.Errorf("range past the end: %d", resp.StatusCode)
	}
	if resp, _ = get(t, "GET", s.URL+"/o/r/resolve/main/missing.json"); resp.StatusCode != 404 || resp.Header.Get("X-Error-Code") != "EntryNotFound" {
		t.Errorf("missing file: %d %v", resp.StatusCode, resp.Header)
	}
}
