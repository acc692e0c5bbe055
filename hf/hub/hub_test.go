package hub

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/edged/edged/hf"
	"github.com/edged/edged/hf/hub/hubtest"
)

// The repositories the tests serve are built from the shapes checkpoints (models/shapes) and
// hf's PyTorch fixtures; see hubtest for what the server speaks.
const (
	shapesCLIP    = "../../models/shapes/clip"
	shapesPyTorch = "../../clip/testdata/shapes_pytorch/pytorch_model.bin" // shapes CLIP re-saved by torch.save
	shardedBin    = "../testdata/pytorch/sharded"
)

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// shapesRepo is the shapes CLIP as a hub repository has it: safetensors, and the copies a
// conversion must not fetch (a PyTorch file, TF and Flax weights, a README).
func shapesRepo(t *testing.T) map[string][]byte {
	files := hubtest.ReadFolder(t, shapesCLIP)
	files["pytorch_model.bin"] = readFile(t, shapesPyTorch)
	files["tf_model.h5"] = []byte("not for edged")
	files["flax_model.msgpack"] = []byte("not for edged")
	files["README.md"] = []byte("# shapes CLIP\n")
	return files
}

// pytorchRepo is the shapes CLIP with only pytorch_model.bin for weights.
func pytorchRepo(t *testing.T) map[string][]byte {
	files := hubtest.ReadFolder(t, shapesCLIP)
	delete(files, "model.safetensors")
	files["pytorch_model.bin"] = readFile(t, shapesPyTorch)
	return files
}

// setup starts a test hub and isolates the test from the machine's hub settings; the options
// pull from it into a fresh cache, with short waits and the logs kept in logs.
func setup(t *testing.T) (*hubtest.Server, Options, *bytes.Buffer) {
	t.Helper()
	srv := hubtest.New(t)
	for _, k := range []string{"HF_ENDPOINT", "HF_TOKEN", "HF_TOKEN_PATH", "HF_HUB_OFFLINE", "HF_HUB_CACHE"} {
		t.Setenv(k, "")
	}
	t.Setenv("HF_HOME", t.TempDir()) // no token file
	logs := &bytes.Buffer{}
	return srv, Options{
		Endpoint: srv.URL, CacheDir: filepath.Join(t.TempDir(), "hub"),
		Backoff: time.Millisecond, Logger: slog.New(slog.NewTextHandler(logs, nil)),
	}, logs
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func gitBlobID(b []byte) string {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(b))
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}

// checkSnapshot checks the layout huggingface_hub writes and reads: every wanted file in
// snapshots/<commit> is a relative link to ../../blobs/<etag> (sha256 for LFS files, the git
// blob id otherwise) with the repository's bytes, nothing else is there, and no part is left.
func checkSnapshot(t *testing.T, dir string, files map[string][]byte, want []string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	sort.Strings(want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("snapshot holds %v, want %v", got, want)
	}
	for _, name := range want {
		etag := gitBlobID(files[name])
		if hubtest.IsLFS(name) {
			etag = sha256Hex(files[name])
		}
		target, err := os.Readlink(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if want := "../../blobs/" + etag; target != want {
			t.Errorf("%s -> %s, want %s", name, target, want)
		}
		if data, err := os.ReadFile(filepath.Join(dir, name)); err != nil || !bytes.Equal(data, files[name]) {
			t.Errorf("%s: content differs from the repository's (%v)", name, err)
		}
	}
	parts, _ := filepath.Glob(filepath.Join(dir, "..", "..", "blobs", "*.incomplete"))
	if len(parts) > 0 {
		t.Errorf("parts left: %v", parts)
	}
}

// count counts the recorded requests whose server is server ("" for any) and whose path
// contains part.
func count(reqs []hubtest.Request, server, part string) int {
	n := 0
	for _, r := range reqs {
		if (server == "" || r.Server == server) && strings.Contains(r.Path, part) {
			n++
		}
	}
	return n
}

// A fresh pull fetches the configs, tokenizer files and safetensors weights (not the
// PyTorch, TF or Flax copies, nor the README) into the hub's cache layout, with refs/main;
// a second pull asks for the file list and downloads nothing.
func TestFreshAndSecondPull(t *testing.T) {
	srv, opts, _ := setup(t)
	files := shapesRepo(t)
	commit := srv.AddFiles("shapes/clip", files, hubtest.RepoOptions{})

	dir, err := Pull(context.Background(), "shapes/clip", "main", opts)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(opts.CacheDir, "models--shapes--clip", "snapshots", commit); dir != want {
		t.Fatalf("snapshot %s, want %s", dir, want)
	}
	checkSnapshot(t, dir, files, []string{"config.json", "edged_contrast.json", "model.safetensors", "preprocessor_config.json", "tokenizer.json", "tokenizer_config.json"})
	if ref := readFile(t, filepath.Join(opts.CacheDir, "models--shapes--clip", "refs", "main")); string(ref) != commit {
		t.Errorf("refs/main = %q, want %s", ref, commit)
	}
	reqs := srv.Requests()
	if n := count(reqs, "hub", "/api/models/shapes/clip/revision/main?blobs=true"); n != 1 {
		t.Errorf("%d file list requests, want 1", n)
	}
	if n := count(reqs, "hub", "/resolve/"+commit+"/"); n != 6 {
		t.Errorf("%d files resolved, want 6 (by commit): %v", n, reqs)
	}
	if n := count(reqs, "cdn", "/lfs/"+sha256Hex(files["model.safetensors"])); n != 1 {
		t.Errorf("model.safetensors fetched %d times from the CDN, want 1", n)
	}
	for _, skip := range []string{"pytorch_model.bin", "tf_model.h5", "flax_model.msgpack", "README.md"} {
		if n := count(reqs, "", skip); n != 0 {
			t.Errorf("%s was requested", skip)
		}
	}
	ck, err := hf.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	ck.Close()

	srv.ResetRequests()
	again, err := Pull(context.Background(), "shapes/clip", "main", opts)
	if err != nil || again != dir {
		t.Fatalf("second pull: %s, %v", again, err)
	}
	if reqs := srv.Requests(); len(reqs) != 1 || count(reqs, "hub", "/api/models/") != 1 {
		t.Errorf("the second pull made %d requests, want only the file list: %v", len(reqs), reqs)
	}
}

// A repository with only pytorch_model.bin is pulled with it; a sharded one with its index
// and every shard it names; both open with package hf.
func TestPullPyTorch(t *testing.T) {
	srv, opts, _ := setup(t)
	files := pytorchRepo(t)
	srv.AddFiles("shapes/clip-bin", files, hubtest.RepoOptions{})
	dir, err := Pull(context.Background(), "shapes/clip-bin", "main", opts)
	if err != nil {
		t.Fatal(err)
	}
	checkSnapshot(t, dir, files, []string{"config.json", "edged_contrast.json", "preprocessor_config.json", "pytorch_model.bin", "tokenizer.json", "tokenizer_config.json"})
	ck, err := hf.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	ck.Close()

	sharded := hubtest.ReadFolder(t, shardedBin)
	sharded["config.json"] = files["config.json"]
	sharded["pytorch_model-00003-of-00003.bin"] = []byte("a stale shard the index does not name")
	srv.AddFiles("tests/sharded", sharded, hubtest.RepoOptions{})
	dir, err = Pull(context.Background(), "tests/sharded", "main", opts)
	if err != nil {
		t.Fatal(err)
	}
	delete(sharded, "pytorch_model-00003-of-00003.bin")
	checkSnapshot(t, dir, sharded, []string{"config.json", "pytorch_model.bin.index.json", "pytorch_model-00001-of-00002.bin", "pytorch_model-00002-of-00002.bin"})
	w, err := hf.OpenWeights(dir)
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
}

// A connection cut halfway resumes with Range from the bytes received, and the file is
// whole and verified.
func TestResumeAfterCut(t *testing.T) {
	srv, opts, _ := setup(t)
	files := shapesRepo(t)
	srv.AddFiles("shapes/clip", files, hubtest.RepoOptions{})
	half := int64(len(files["model.safetensors"]) / 2)
	srv.Inject("model.safetensors", hubtest.Fault{Cut: half, Times: 1})
	dir, err := Pull(context.Background(), "shapes/clip", "main", opts)
	if err != nil {
		t.Fatal(err)
	}
	checkSnapshot(t, dir, files, []string{"config.json", "edged_contrast.json", "model.safetensors", "preprocessor_config.json", "tokenizer.json", "tokenizer_config.json"})
	var ranges []string
	for _, r := range srv.Requests() {
		if r.Server == "cdn" {
			ranges = append(ranges, r.Range)
		}
	}
	if want := []string{"", fmt.Sprintf("bytes=%d-", half)}; !reflect.DeepEqual(ranges, want) {
		t.Errorf("CDN requests with Range %q, want %q", ranges, want)
	}
}

// A connection that stops sending without closing is given up after StallTimeout and the
// download resumes on a new one.
func TestResumeAfterStall(t *testing.T) {
	srv, opts, logs := setup(t)
	opts.StallTimeout = 200 * time.Millisecond
	files := shapesRepo(t)
	srv.AddFiles("shapes/clip", files, hubtest.RepoOptions{})
	third := int64(len(files["model.safetensors"]) / 3)
	srv.Inject("model.safetensors", hubtest.Fault{Cut: third, Stall: true, Times: 1})
	dir, err := Pull(context.Background(), "shapes/clip", "main", opts)
	if err != nil {
		t.Fatal(err)
	}
	checkSnapshot(t, dir, files, []string{"config.json", "edged_contrast.json", "model.safetensors", "preprocessor_config.json", "tokenizer.json", "tokenizer_config.json"})
	if reqs := srv.Requests(); reqs[len(reqs)-1].Range != fmt.Sprintf("bytes=%d-", third) {
		t.Errorf("did not resume from byte %d: %v", third, reqs)
	}
	if !strings.Contains(logs.String(), "retrying") {
		t.Errorf("no retry logged:\n%s", logs.String())
	}
}

// When every attempt breaks, the pull fails after its retries and keeps the part; the next
// pull resumes from it.
func TestPartKeptAcrossPulls(t *testing.T) {
	srv, opts, _ := setup(t)
	opts.Retries = 1
	files := shapesRepo(t)
	srv.AddFiles("shapes/clip", files, hubtest.RepoOptions{})
	cut := int64(len(files["model.safetensors"]) / 4)
	srv.Inject("model.safetensors", hubtest.Fault{Cut: cut})
	_, err := Pull(context.Background(), "shapes/clip", "main", opts)
	if err == nil || !strings.Contains(err.Error(), "model.safetensors") || !strings.Contains(err.Error(), "the next pull resumes") {
		t.Fatalf("pull over a connection that always breaks: %v", err)
	}
	part := filepath.Join(opts.CacheDir, "models--shapes--clip", "blobs", sha256Hex(files["model.safetensors"])+".incomplete")
	fi, err := os.Stat(part)
	if err != nil || fi.Size() != 2*cut {
		t.Fatalf("part: %v, %v; want %d bytes (two cut attempts)", fi, err, 2*cut)
	}
	srv.Heal()
	srv.ResetRequests()
	dir, err := Pull(context.Background(), "shapes/clip", "main", opts)
	if err != nil {
		t.Fatal(err)
	}
	checkSnapshot(t, dir, files, []string{"config.json", "edged_contrast.json", "model.safetensors", "preprocessor_config.json", "tokenizer.json", "tokenizer_config.json"})
	if reqs := srv.Requests(); count(reqs, "cdn", "/lfs/") != 1 || reqs[len(reqs)-1].Range != fmt.Sprintf("bytes=%d-", 2*cut) {
		t.Errorf("the next pull did not resume from byte %d: %v", 2*cut, reqs)
	}
}

// Bytes that do not match the listed sha256 are refused, naming the file; nothing is left
// that a later pull or an offline run would trust; a good copy is pulled afterwards.
func TestWrongBytesRefused(t *testing.T) {
	srv, opts, _ := setup(t)
	files := shapesRepo(t)
	commit := srv.AddFiles("shapes/clip", files, hubtest.RepoOptions{})
	srv.Inject("model.safetensors", hubtest.Fault{Corrupt: true})
	_, err := Pull(context.Background(), "shapes/clip", "main", opts)
	if err == nil || !strings.Contains(err.Error(), "model.safetensors") || !strings.Contains(err.Error(), "sha256") || !strings.Contains(err.Error(), "deleted") {
		t.Fatalf("corrupt download: %v", err)
	}
	repo := filepath.Join(opts.CacheDir, "models--shapes--clip")
	blob := filepath.Join(repo, "blobs", sha256Hex(files["model.safetensors"]))
	for _, path := range []string{blob, blob + ".incomplete", filepath.Join(repo, "snapshots", commit, "model.safetensors"), filepath.Join(repo, "refs", "main")} {
		if _, err := os.Lstat(path); err == nil {
			t.Errorf("%s is left after a corrupt download", path)
		}
	}
	offline := opts
	offline.Offline = true
	if _, err := Pull(context.Background(), "shapes/clip", commit, offline); err == nil || !strings.Contains(err.Error(), "weights") {
		t.Errorf("offline after a corrupt download: %v", err)
	}
	// A regular (git) file is checked too, by its blob id.
	srv.Heal()
	srv.Inject("config.json", hubtest.Fault{Corrupt: true})
	fresh := opts
	fresh.CacheDir = t.TempDir()
	if _, err := Pull(context.Background(), "shapes/clip", "main", fresh); err == nil || !strings.Contains(err.Error(), "config.json") || !strings.Contains(err.Error(), "git blob id") {
		t.Errorf("corrupt config.json: %v", err)
	}
	srv.Heal()
	dir, err := Pull(context.Background(), "shapes/clip", "main", opts)
	if err != nil {
		t.Fatal(err)
	}
	checkSnapshot(t, dir, files, []string{"config.json", "edged_contrast.json", "model.safetensors", "preprocessor_config.json", "tokenizer.json", "tokenizer_config.json"})
}

// A gated repository needs HF_TOKEN; the token goes to the hub's host only (never to the CDN
// an LFS file redirects to) and appears in no error and no log.
func TestGatedRepo(t *testing.T) {
	srv, opts, logs := setup(t)
	const token = "hf_secret_test_token_123"
	files := shapesRepo(t)
	srv.AddFiles("shapes/gated", files, hubtest.RepoOptions{Token: token})

	_, err := Pull(context.Background(), "shapes/gated", "main", opts)
	if err == nil || !strings.Contains(err.Error(), "gated") || !strings.Contains(err.Error(), "HF_TOKEN") {
		t.Fatalf("without a token: %v", err)
	}
	t.Setenv("HF_TOKEN", "hf_someone_else")
	_, err = Pull(context.Background(), "shapes/gated", "main", opts)
	if err == nil || !strings.Contains(err.Error(), "no access") || strings.Contains(err.Error(), "hf_someone_else") {
		t.Fatalf("with another token: %v", err)
	}
	// The token file huggingface-cli login writes is used when HF_TOKEN is not set.
	t.Setenv("HF_TOKEN", "")
	os.WriteFile(filepath.Join(os.Getenv("HF_HOME"), "token"), []byte(token+"\n"), 0o600)
	fromFile := opts
	fromFile.CacheDir = t.TempDir()
	if _, err := Pull(context.Background(), "shapes/gated", "main", fromFile); err != nil {
		t.Errorf("with the token file: %v", err)
	}
	t.Setenv("HF_TOKEN", token)
	srv.ResetRequests()
	srv.Inject("model.safetensors", hubtest.Fault{Cut: 1000, Times: 1}) // a retry must not leak it either
	dir, err := Pull(context.Background(), "shapes/gated", "main", opts)
	if err != nil {
		t.Fatal(err)
	}
	checkSnapshot(t, dir, files, []string{"config.json", "edged_contrast.json", "model.safetensors", "preprocessor_config.json", "tokenizer.json", "tokenizer_config.json"})
	for _, r := range srv.Requests() {
		switch {
		case r.Server == "hub" && r.Authorization != "Bearer "+token:
			t.Errorf("hub request %s without the token", r.Path)
		case r.Server == "cdn" && r.Authorization != "":
			t.Errorf("the token went to the CDN: %s", r.Path)
		}
	}
	if strings.Contains(logs.String(), token) || strings.Contains(logs.String(), "hf_someone_else") {
		t.Errorf("a token is in the logs:\n%s", logs.String())
	}
}

// HF_HUB_OFFLINE=1 uses the cache only: without the files it fails naming what is missing,
// with them it returns the snapshot, and it never makes a request.
func TestOffline(t *testing.T) {
	srv, opts, _ := setup(t)
	files := shapesRepo(t)
	commit := srv.AddFiles("shapes/clip", files, hubtest.RepoOptions{})
	t.Setenv("HF_HUB_OFFLINE", "1")
	_, err := Pull(context.Background(), "shapes/clip", "main", opts)
	if err == nil || !strings.Contains(err.Error(), "HF_HUB_OFFLINE") || !strings.Contains(err.Error(), filepath.Join("refs", "main")) {
		t.Errorf("offline, empty cache: %v", err)
	}
	if n := len(srv.Requests()); n != 0 {
		t.Fatalf("offline made %d requests", n)
	}

	t.Setenv("HF_HUB_OFFLINE", "")
	dir, err := Pull(context.Background(), "shapes/clip", "main", opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("HF_HUB_OFFLINE", "1")
	srv.ResetRequests()
	for _, rev := range []string{"main", commit} {
		got, err := Pull(context.Background(), "shapes/clip", rev, opts)
		if err != nil || got != dir {
			t.Errorf("offline @%s: %s, %v", rev, got, err)
		}
	}
	if n := len(srv.Requests()); n != 0 {
		t.Fatalf("offline made %d requests", n)
	}
	os.Remove(filepath.Join(opts.CacheDir, "models--shapes--clip", "blobs", sha256Hex(files["model.safetensors"])))
	os.Remove(filepath.Join(dir, "config.json"))
	_, err = Pull(context.Background(), "shapes/clip", "main", opts)
	if err == nil || !strings.Contains(err.Error(), "config.json") || !strings.Contains(err.Error(), "weights") {
		t.Errorf("offline, blob and link missing: %v", err)
	}
}

// A hub that does not answer: with nothing cached the pull fails after its retries, saying
// so; with the revision cached it goes on at once with the cached snapshot and logs a warning.
func TestHubDown(t *testing.T) {
	srv, opts, logs := setup(t)
	opts.Retries = 2
	srv.AddFiles("shapes/clip", shapesRepo(t), hubtest.RepoOptions{})
	srv.SetDown(true)
	_, err := Pull(context.Background(), "shapes/clip", "main", opts)
	if err == nil || !strings.Contains(err.Error(), "cannot reach") {
		t.Fatalf("hub down, empty cache: %v", err)
	}
	if n := strings.Count(logs.String(), "hub: retrying"); n != 2 {
		t.Errorf("%d retries, want 2:\n%s", n, logs.String())
	}
	srv.SetDown(false)
	dir, err := Pull(context.Background(), "shapes/clip", "main", opts)
	if err != nil {
		t.Fatal(err)
	}
	srv.SetDown(true)
	logs.Reset()
	srv.ResetRequests()
	got, err := Pull(context.Background(), "shapes/clip", "main", opts)
	if err != nil || got != dir {
		t.Fatalf("hub down, cached: %s, %v", got, err)
	}
	if strings.Contains(logs.String(), "retrying") {
		t.Errorf("retried with the revision cached (a hub that is down is not waited for):\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "using the cached snapshot") {
		t.Errorf("no warning logged:\n%s", logs.String())
	}
}

// Revisions: a tag gets its ref, a commit needs none, and an unknown revision or repository
// is an error that says which.
func TestRevisions(t *testing.T) {
	srv, opts, _ := setup(t)
	first := srv.AddFiles("shapes/clip", pytorchRepo(t), hubtest.RepoOptions{Tags: []string{"v1.0"}})
	second := srv.AddFiles("shapes/clip", shapesRepo(t), hubtest.RepoOptions{}) // main moves on
	repo := filepath.Join(opts.CacheDir, "models--shapes--clip")
	for _, c := range []struct{ revision, commit, ref string }{
		{"v1.0", first, "v1.0"},
		{"main", second, "main"},
		{first, first, ""},
	} {
		dir, err := Pull(context.Background(), "shapes/clip", c.revision, opts)
		if err != nil {
			t.Fatal(err)
		}
		if filepath.Base(dir) != c.commit {
			t.Errorf("@%s: snapshot %s, want commit %s", c.revision, dir, c.commit)
		}
		if c.ref != "" {
			if ref, _ := os.ReadFile(filepath.Join(repo, "refs", c.ref)); string(ref) != c.commit {
				t.Errorf("refs/%s = %q, want %s", c.ref, ref, c.commit)
			}
		}
	}
	if refs, _ := os.ReadDir(filepath.Join(repo, "refs")); len(refs) != 2 {
		t.Errorf("%d refs, want main and v1.0 (a commit has none)", len(refs))
	}
	// Both commits share the blobs of the files they have in common.
	blobs, _ := os.ReadDir(filepath.Join(repo, "blobs"))
	if len(blobs) != 7 {
		t.Errorf("%d blobs, want 7 (5 shared files, a .bin and a .safetensors)", len(blobs))
	}
	if _, err := Pull(context.Background(), "shapes/clip", "v9", opts); err == nil || !strings.Contains(err.Error(), `no revision "v9"`) {
		t.Errorf("unknown revision: %v", err)
	}
	if _, err := Pull(context.Background(), "shapes/nothing", "main", opts); err == nil || !strings.Contains(err.Error(), "repository not found") {
		t.Errorf("unknown repository: %v", err)
	}
}

// A blob huggingface_hub already fetched (for another commit, in the same layout) is reused.
func TestReusesCachedBlobs(t *testing.T) {
	srv, opts, _ := setup(t)
	files := shapesRepo(t)
	srv.AddFiles("shapes/clip", files, hubtest.RepoOptions{})
	blob := filepath.Join(opts.CacheDir, "models--shapes--clip", "blobs", sha256Hex(files["model.safetensors"]))
	os.MkdirAll(filepath.Dir(blob), 0o755)
	os.WriteFile(blob, files["model.safetensors"], 0o644)
	dir, err := Pull(context.Background(), "shapes/clip", "main", opts)
	if err != nil {
		t.Fatal(err)
	}
	checkSnapshot(t, dir, files, []string{"config.json", "edged_contrast.json", "model.safetensors", "preprocessor_config.json", "tokenizer.json", "tokenizer_config.json"})
	if n := count(srv.Requests(), "cdn", ""); n != 0 {
		t.Errorf("the cached blob was downloaded again (%d CDN requests)", n)
	}
}

// A pull that does not fit the disk stops before fetching the weights and says how much it needs.
func TestDiskSpace(t *testing.T) {
	srv, opts, _ := setup(t)
	files := shapesRepo(t)
	srv.AddFiles("shapes/clip", files, hubtest.RepoOptions{})
	if _, ok := freeSpace(t.TempDir()); !ok {
		t.Fatal("statfs: the free space of a folder is unknown")
	}
	// The file system is made to report one byte less than the weights need.
	saved := freeSpace
	freeSpace = func(string) (int64, bool) { return int64(len(files["model.safetensors"])) - 1, true }
	defer func() { freeSpace = saved }()
	_, err := Pull(context.Background(), "shapes/clip", "main", opts)
	if err == nil || !strings.Contains(err.Error(), "needs") || !strings.Contains(err.Error(), "free") {
		t.Fatalf("no room: %v", err)
	}
	if n := count(srv.Requests(), "cdn", ""); n != 0 {
		t.Errorf("weights fetched without room for them")
	}
}

func TestParseRef(t *testing.T) {
	for _, c := range []struct{ ref, repo, revision, err string }{
		{"openai/clip-vit-base-patch32", "openai/clip-vit-base-patch32", "main", ""},
		{"Salesforce/blip-vqa-base@v1.0", "Salesforce/blip-vqa-base", "v1.0", ""},
		{"a/b@refs/pr/1", "a/b", "refs/pr/1", ""},
		{"clip", "", "", "not a repository id"},
		{"a/b/c", "", "", "not a repository id"},
		{"../etc", "", "", "not a repository id"},
		{"a/..", "", "", "not a repository id"},
		{"a/b@", "", "", "bad revision"},
		{"a/b@../x", "", "", "bad revision"},
	} {
		repo, rev, err := ParseRef(c.ref)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: %v, want an error with %q", c.ref, err, c.err)
			}
			continue
		}
		if err != nil || repo != c.repo || rev != c.revision {
			t.Errorf("%q: %q %q %v", c.ref, repo, rev, err)
		}
	}
}

// BenchmarkPull pulls a repository with 64 MiB of weights over loopback into a fresh cache:
// the client's own cost (HTTP, the redirect, hashing, writing, the rename and links).
func BenchmarkPull(b *testing.B) {
	srv := hubtest.New(b)
	weights := make([]byte, 64<<20)
	for i := range weights {
		weights[i] = byte(i * 7919 >> 8)
	}
	srv.AddFiles("bench/repo", map[string][]byte{"config.json": []byte("{}"), "model.safetensors": weights}, hubtest.RepoOptions{})
	b.SetBytes(int64(len(weights)))
	for b.Loop() {
		cache := b.TempDir()
		if _, err := Pull(context.Background(), "bench/repo", "main", Options{Endpoint: srv.URL, CacheDir: cache, Token: "unused"}); err != nil {
			b.Fatal(err)
		}
		os.RemoveAll(cache)
	}
}
