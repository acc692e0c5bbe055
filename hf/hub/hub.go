package hub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/edged/edged/internal/progress"
)

// DefaultEndpoint is the hub's address when HF_ENDPOINT is not set.
const DefaultEndpoint = "https://huggingface.co"

// Options choose where a pull goes and how it reports. Zero fields take the hub's
// environment variables and defaults (see withDefaults).
type Options struct {
	// Endpoint is the hub's URL; "" means $HF_ENDPOINT, else DefaultEndpoint.
	Endpoint string
	// Token is sent as "Authorization: Bearer" to the endpoint's host; "" means $HF_TOKEN,
	// else the file $HF_TOKEN_PATH, else $HF_HOME/token (what huggingface-cli login writes).
	Token string
	// CacheDir is the hub cache; "" means CacheDir().
	CacheDir string
	// Offline uses the cache only; it is also on when $HF_HUB_OFFLINE is 1 (or true, yes, on).
	Offline bool
	// Progress receives, per file, the bytes fetched (step name: the file's name); nil
	// reports nothing.
	Progress progress.Reporter
	// Logger gets warnings and decisions (never the token); nil means slog.Default().
	Logger *slog.Logger
	// Client makes the requests; nil means one with connection and header timeouts. Its
	// CheckRedirect is not used: redirects are followed here, to keep the token on its host.
	Client *http.Client
	// Retries is how many times a file resumes after a broken connection; 0 means 5.
	Retries int
	// Backoff is the wait before the first retry, doubled for each next one (at most 30 s);
	// 0 means 1 s.
	Backoff time.Duration
	// StallTimeout aborts (and retries) a transfer that receives nothing for this long; 0
	// means 60 s.
	StallTimeout time.Duration
	// UserAgent is sent with every request; "" means "edged".
	UserAgent string
}

// withDefaults fills in the defaults, in one place.
func (o Options) withDefaults() Options {
	if o.Endpoint == "" {
		o.Endpoint = os.Getenv("HF_ENDPOINT")
	}
	if o.Endpoint == "" {
		o.Endpoint = DefaultEndpoint
	}
	o.Endpoint = strings.TrimRight(o.Endpoint, "/")
	if o.Token == "" {
		o.Token = envToken()
	}
	if o.CacheDir == "" {
		o.CacheDir = CacheDir()
	}
	if !o.Offline {
		switch strings.ToLower(os.Getenv("HF_HUB_OFFLINE")) {
		case "1", "true", "yes", "on":
			o.Offline = true
		}
	}
	if o.Progress == nil {
		o.Progress = progress.Nop{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Client == nil {
		o.Client = defaultClient
	}
	if o.Retries <= 0 {
		o.Retries = 5
	}
	if o.Backoff <= 0 {
		o.Backoff = time.Second
	}
	if o.StallTimeout <= 0 {
		o.StallTimeout = time.Minute
	}
	if o.UserAgent == "" {
		o.UserAgent = "edged"
	}
	return o
}

// defaultClient bounds connecting and waiting for headers; a body may take as long as it
// keeps flowing (StallTimeout watches that).
var defaultClient = &http.Client{Transport: &http.Transport{
	Proxy:                 http.ProxyFromEnvironment,
	TLSHandshakeTimeout:   15 * time.Second,
	ResponseHeaderTimeout: 30 * time.Second,
	IdleConnTimeout:       90 * time.Second,
}}

// envToken is $HF_TOKEN, else the token file huggingface-cli login writes.
func envToken() string {
	if t := strings.TrimSpace(os.Getenv("HF_TOKEN")); t != "" {
		return t
	}
	path := os.Getenv("HF_TOKEN_PATH")
	if path == "" {
		path = filepath.Join(hfHome(), "token")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(data))
}

// hfHome is $HF_HOME, else $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface.
func hfHome() string {
	if h := os.Getenv("HF_HOME"); h != "" {
		return h
	}
	if x := os.Getenv("XDG_CACHE_HOME"); x != "" {
		return filepath.Join(x, "huggingface")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "huggingface")
	}
	return filepath.Join(home, ".cache", "huggingface")
}

// CacheDir is the hub cache huggingface_hub uses: $HF_HUB_CACHE, else $HF_HOME/hub, else
// ~/.cache/huggingface/hub.
func CacheDir() string {
	if c := os.Getenv("HF_HUB_CACHE"); c != "" {
		return c
	}
	return filepath.Join(hfHome(), "hub")
}

// repoPart is what the hub allows in an owner or a repository name.
var repoPart = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$`)

// ParseRef splits "owner/name[@revision]" into the repository and the revision ("main" when
// none is given), checking both.
func ParseRef(ref string) (repo, revision string, err error) {
	repo, revision, found := strings.Cut(ref, "@")
	if !found {
		revision = "main"
	}
	if err := checkRepo(repo); err != nil {
		return "", "", err
	}
	if revision == "" || strings.ContainsAny(revision, "\x00\n\r") || strings.Contains(revision, "..") {
		return "", "", fmt.Errorf("hub: %q: bad revision %q", ref, revision)
	}
	return repo, revision, nil
}

func checkRepo(repo string) error {
	owner, name, ok := strings.Cut(repo, "/")
	if !ok || !repoPart.MatchString(owner) || !repoPart.MatchString(name) || strings.Contains(repo, "..") {
		return fmt.Errorf("hub: %q is not a repository id (owner/name, letters, digits, '-', '_', '.')", repo)
	}
	return nil
}

// Pull makes the files a conversion needs of repo ("owner/name") at revision (a branch, a
// tag or a commit) present in the hub cache, fetching what is missing, and returns the
// snapshot folder (CacheDir/models--owner--name/snapshots/<commit>), a checkpoint folder
// package hf opens.
func Pull(ctx context.Context, repo, revision string, opts Options) (string, error) {
	if err := checkRepo(repo); err != nil {
		return "", err
	}
	if revision == "" {
		revision = "main"
	}
	opts = opts.withDefaults()
	c := &cache{root: opts.CacheDir, repo: repo}
	if opts.Offline {
		dir, err := c.cachedSnapshot(revision)
		if err != nil {
			return "", fmt.Errorf("hub: offline (HF_HUB_OFFLINE): %w", err)
		}
		return dir, nil
	}
	if _, err := url.Parse(opts.Endpoint); err != nil {
		return "", fmt.Errorf("hub: endpoint %q: %w", opts.Endpoint, err)
	}
	cached, cerr := c.cachedSnapshot(revision)
	p := &puller{opts: opts, repo: repo, cache: c, haveCached: cerr == nil}
	dir, err := p.pull(ctx, revision)
	var down *unreachableError
	if errors.As(err, &down) && p.haveCached {
		opts.Logger.Warn("hub: cannot reach the hub; using the cached snapshot", "repo", repo, "revision", revision, "snapshot", cached, "error", err)
		return cached, nil
	}
	return dir, err
}
