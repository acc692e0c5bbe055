package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/edged/edged/hf"
	"github.com/edged/edged/internal/progress"
)

// checkpointFiles are the files besides the weights that reading a checkpoint may need: the
// configs package hf reads, the tokenizer files package tokenizer reads, and the contrast set a
// CLIP checkpoint made for edged may carry (bundle.ContrastFile). A repository has some of
// them; each one it has is pulled.
var checkpointFiles = []string{
	"config.json", "preprocessor_config.json", "generation_config.json",
	"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json",
	"vocab.json", "merges.txt", "vocab.txt", "edged_contrast.json",
}

// remoteFile is one file of the hub's list (with ?blobs=true).
type remoteFile struct {
	Name   string `json:"rfilename"`
	BlobID string `json:"blobId"`
	Size   int64  `json:"size"`
	LFS    *struct {
		SHA256 string `json:"sha256"`
		Size   int64  `json:"size"`
	} `json:"lfs"`
}

// etag is the name of the file's blob in the cache: the sha256 of an LFS file, the git blob
// id of another (what the hub sends as X-Linked-Etag or ETag).
func (f remoteFile) etag() string {
	if f.LFS != nil {
		return f.LFS.SHA256
	}
	return f.BlobID
}

func (f remoteFile) size() int64 {
	if f.LFS != nil {
		return f.LFS.Size
	}
	return f.Size
}

// repoInfo is the part of GET /api/models/{repo}/revision/{revision} a pull reads.
type repoInfo struct {
	SHA      string       `json:"sha"`
	Siblings []remoteFile `json:"siblings"`
}

type puller struct {
	opts  Options
	repo  string
	cache *cache
	// haveCached says the cache holds a complete snapshot for the revision: an unreachable hub
	// is then not waited for (Pull uses the snapshot), as huggingface_hub does.
	haveCached bool
}

// unreachableError is a hub that did not answer (as opposed to one that said no).
type unreachableError struct{ err error }

func (e *unreachableError) Error() string { return e.err.Error() }
func (e *unreachableError) Unwrap() error { return e.err }

// IsUnreachable reports whether err is the hub not answering (no connection, no answer in
// time, a 5xx or 429 after the retries): trying again later may succeed, as it would not
// for a refusal (unknown repository, no access) or a file that failed its hash.
func IsUnreachable(err error) bool {
	var down *unreachableError
	return errors.As(err, &down)
}

// statusError is an HTTP answer other than success, with the hub's X-Error-Code.
type statusError struct {
	status int
	code   string
	url    string
}

func (e *statusError) Error() string {
	msg := fmt.Sprintf("%s: %s", e.url, http.StatusText(e.status))
	if e.code != "" {
		msg += " (" + e.code + ")"
	}
	return msg
}

func (p *puller) pull(ctx context.Context, revision string) (string, error) {
	info, err := p.info(ctx, revision)
	if err != nil {
		return "", err
	}
	commit := info.SHA
	files := map[string]remoteFile{}
	for _, f := range info.Siblings {
		files[f.Name] = f
	}
	if _, ok := files["config.json"]; !ok {
		return "", fmt.Errorf("hub: %s@%s has no config.json: not a transformers checkpoint", p.repo, revision)
	}
	weights := hf.PickWeights(func(name string) bool { _, ok := files[name]; return ok })
	if weights == "" {
		return "", fmt.Errorf("hub: %s@%s has no weights edged reads (model.safetensors or pytorch_model.bin, or their sharded .index.json); it has %s", p.repo, revision, fileNames(info.Siblings))
	}
	// The configs (and an index) first: they are small, and an index names the shards.
	var small, large []remoteFile
	for _, name := range checkpointFiles {
		if f, ok := files[name]; ok {
			small = append(small, f)
		}
	}
	if strings.HasSuffix(weights, ".index.json") {
		small = append(small, files[weights])
	} else {
		large = append(large, files[weights])
	}
	for _, f := range small {
		if err := p.fetch(ctx, commit, f); err != nil {
			return "", err
		}
	}
	if strings.HasSuffix(weights, ".index.json") {
		shards, err := hf.IndexShards(filepath.Join(p.cache.snapshot(commit), weights))
		if err != nil {
			return "", fmt.Errorf("hub: %s: %w", p.repo, err)
		}
		for _, s := range shards {
			f, ok := files[s]
			if !ok {
				return "", fmt.Errorf("hub: %s@%s: %s names the shard %s, which the repository does not have", p.repo, revision, weights, s)
			}
			large = append(large, f)
		}
	}
	if err := p.checkSpace(large); err != nil {
		return "", err
	}
	for _, f := range large {
		if err := p.fetch(ctx, commit, f); err != nil {
			return "", err
		}
	}
	if err := p.cache.writeRef(revision, commit); err != nil {
		return "", fmt.Errorf("hub: %s: %w", p.repo, err)
	}
	dir := p.cache.snapshot(commit)
	if missing := missingFiles(dir); len(missing) > 0 { // every link resolves to its blob
		return "", fmt.Errorf("hub: %s@%s: snapshot %s lacks %s after the pull", p.repo, revision, dir, strings.Join(missing, ", "))
	}
	return dir, nil
}

func fileNames(files []remoteFile) string {
	var names []string
	for _, f := range files {
		names = append(names, f.Name)
	}
	sort.Strings(names)
	if len(names) == 0 {
		return "no files"
	}
	return strings.Join(names, ", ")
}

// info gets the commit revision resolves to and the files there, with their sizes and hashes.
func (p *puller) info(ctx context.Context, revision string) (*repoInfo, error) {
	u := fmt.Sprintf("%s/api/models/%s/revision/%s?blobs=true", p.opts.Endpoint, p.repo, url.PathEscape(revision))
	var body []byte
	retries := p.opts.Retries
	if p.haveCached {
		retries = 0
	}
	err := p.retry(ctx, "file list", retries, func() error {
		resp, _, err := p.get(ctx, u, "")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return p.explain(resp, revision, "")
		}
		body, err = io.ReadAll(io.LimitReader(resp.Body, 64<<20))
		if err != nil {
			return &unreachableError{fmt.Errorf("read %s: %w", u, err)}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var info repoInfo
	if err := json.Unmarshal(body, &info); err != nil {
		return nil, fmt.Errorf("hub: %s: the file list is not the hub's JSON: %w", u, err)
	}
	if !commitHash.MatchString(info.SHA) {
		return nil, fmt.Errorf("hub: %s: the file list names commit %q, not a 40-digit hash", u, info.SHA)
	}
	for _, f := range info.Siblings {
		if f.Name == "" || path.IsAbs(f.Name) || path.Clean(f.Name) != f.Name || strings.HasPrefix(f.Name, "..") {
			return nil, fmt.Errorf("hub: %s: the file list has a bad file name %q", u, f.Name)
		}
	}
	return &info, nil
}

// explain turns a refusal into an error that says what to do.
func (p *puller) explain(resp *http.Response, revision, file string) error {
	e := &statusError{status: resp.StatusCode, code: resp.Header.Get("X-Error-Code"), url: resp.Request.URL.Redacted()}
	what := p.repo
	if file != "" {
		what += ": " + file
	}
	switch {
	case e.code == "GatedRepo" && p.opts.Token == "":
		return fmt.Errorf("hub: %s is gated: accept its terms at %s/%s and set HF_TOKEN to an access token of that account: %w", p.repo, p.opts.Endpoint, p.repo, e)
	case e.code == "GatedRepo" || resp.StatusCode == http.StatusForbidden:
		return fmt.Errorf("hub: %s: the token in HF_TOKEN has no access (is it the account that accepted the terms at %s/%s?): %w", p.repo, p.opts.Endpoint, p.repo, e)
	case e.code == "RevisionNotFound":
		return fmt.Errorf("hub: %s has no revision %q (a branch, a tag or a commit): %w", p.repo, revision, e)
	case e.code == "EntryNotFound":
		return fmt.Errorf("hub: %s@%s has no file %s: %w", p.repo, revision, file, e)
	case e.code == "RepoNotFound" || resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusUnauthorized:
		hint := "is the id right?"
		if p.opts.Token == "" {
			hint += " A private repository needs HF_TOKEN."
		}
		return fmt.Errorf("hub: %s: repository not found at %s (%s): %w", what, p.opts.Endpoint, hint, e)
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return &unreachableError{fmt.Errorf("hub: %s: the hub answered %w", what, e)}
	}
	return fmt.Errorf("hub: %s: %w", what, e)
}

// get sends a GET (with a Range header when rng is not ""), following redirects itself so
// that the token goes only to the endpoint's host. It also returns the headers of the first
// answer, the hub's own (for an LFS file, the redirect that carries X-Linked-Etag). A failure
// to connect or to read an answer's headers is an unreachableError.
func (p *puller) get(ctx context.Context, u, rng string) (*http.Response, http.Header, error) {
	endpoint, _ := url.Parse(p.opts.Endpoint)
	client := *p.opts.Client
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	var first http.Header
	for hops := 0; hops < 10; hops++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, nil, fmt.Errorf("hub: %w", err)
		}
		req.Header.Set("User-Agent", p.opts.UserAgent)
		req.Header.Set("Accept-Encoding", "identity") // sizes and hashes are of the bytes as stored
		if rng != "" {
			req.Header.Set("Range", rng)
		}
		if p.opts.Token != "" && req.URL.Scheme == endpoint.Scheme && req.URL.Host == endpoint.Host {
			req.Header.Set("Authorization", "Bearer "+p.opts.Token)
		}
		resp, err := client.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return nil, nil, ctx.Err()
			}
			return nil, nil, &unreachableError{fmt.Errorf("hub: cannot reach %s: %w", req.URL.Redacted(), errors.Unwrap(err))}
		}
		if first == nil {
			first = resp.Header
		}
		switch resp.StatusCode {
		case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
			loc, err := resp.Location()
			resp.Body.Close()
			if err != nil {
				return nil, nil, fmt.Errorf("hub: %s: redirect without a usable Location: %w", req.URL.Redacted(), err)
			}
			u = loc.String()
			continue
		}
		return resp, first, nil
	}
	return nil, nil, fmt.Errorf("hub: %s: more than 10 redirects", u)
}

// retry runs try until it succeeds, fails for good, or the hub stayed unreachable for
// retries more attempts, waiting opts.Backoff, then twice that, ... (at most 30 s).
func (p *puller) retry(ctx context.Context, what string, retries int, try func() error) error {
	wait := p.opts.Backoff
	for attempt := 0; ; attempt++ {
		err := try()
		var down *unreachableError
		if err == nil || !errors.As(err, &down) || attempt >= retries {
			return err
		}
		p.opts.Logger.Warn("hub: retrying", "repo", p.repo, "what", what, "attempt", attempt+1, "of", retries, "wait", wait.String(), "error", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, maxBackoff)
	}
}

// maxBackoff caps the wait between retries.
const maxBackoff = 30 * time.Second

// checkSpace fails when the blobs still to fetch do not fit the cache's file system.
func (p *puller) checkSpace(files []remoteFile) error {
	var need int64
	for _, f := range files {
		if _, err := os.Stat(p.cache.blob(f.etag())); err == nil {
			continue
		}
		need += f.size()
		if fi, err := os.Stat(p.cache.blob(f.etag()) + ".incomplete"); err == nil {
			need -= min(fi.Size(), f.size())
		}
	}
	if need == 0 {
		return nil
	}
	if err := os.MkdirAll(p.cache.dir(), 0o755); err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	free, ok := freeSpace(p.cache.dir())
	if ok && free < need+spaceMargin {
		return fmt.Errorf("hub: %s needs %s more in %s, which has %s free (with %s to spare): free some space or set HF_HUB_CACHE",
			p.repo, progress.Bytes(int(need)), p.opts.CacheDir, progress.Bytes(int(free)), progress.Bytes(spaceMargin))
	}
	return nil
}

// spaceMargin is kept free beyond the download, for the conversion's own files and the system.
const spaceMargin = 256 << 20
