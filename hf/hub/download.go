package hub

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// etagPattern is what a blob name must look like: a git blob id or a sha256, in hex.
var etagPattern = regexp.MustCompile(`^([0-9a-f]{40}|[0-9a-f]{64})$`)

// fetch makes commit's file f present in the snapshot: its blob downloaded unless the cache
// has it (from any commit, or from huggingface_hub), and the snapshot's link to it.
func (p *puller) fetch(ctx context.Context, commit string, f remoteFile) error {
	etag := f.etag()
	if !etagPattern.MatchString(etag) || (f.LFS != nil) != (len(etag) == 64) {
		return fmt.Errorf("hub: %s: the file list gives %s no usable hash (blobId %q, lfs %v)", p.repo, f.Name, f.BlobID, f.LFS)
	}
	blob := p.cache.blob(etag)
	if _, err := os.Stat(blob); err != nil {
		release, err := p.cache.lockBlob(ctx, etag, func() {
			p.opts.Logger.Info("hub: waiting for another download of the same file", "repo", p.repo, "file", f.Name, "lock", p.cache.lock(etag))
		})
		if err != nil {
			return fmt.Errorf("hub: %s: %s: %w", p.repo, f.Name, err)
		}
		defer release()
		if _, err := os.Stat(blob); err != nil { // not fetched meanwhile by the lock's holder
			if err := p.download(ctx, commit, f, blob); err != nil {
				return err
			}
		}
	}
	if err := p.cache.link(commit, f.Name, etag); err != nil {
		return fmt.Errorf("hub: %s: %s: %w", p.repo, f.Name, err)
	}
	return nil
}

// verifier computes what the file list promises about a file's bytes: the sha256 of an LFS
// file, the git blob id (sha1 of "blob <size>\0" and the bytes) of another.
func verifier(f remoteFile) (hash.Hash, string) {
	if f.LFS != nil {
		return sha256.New(), "sha256"
	}
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", f.size())
	return h, "git blob id"
}

// download streams f into blob.incomplete while hashing it, resuming with Range after a
// broken connection, and renames it to blob only when it is whole and its hash is the one
// the file list gives. A part left by an earlier run is hashed again and continued.
func (p *puller) download(ctx context.Context, commit string, f remoteFile, blob string) error {
	size := f.size()
	part := blob + ".incomplete"
	if err := os.MkdirAll(filepath.Dir(blob), 0o755); err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	out, err := os.OpenFile(part, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	defer out.Close()
	h, kind := verifier(f)
	have, err := p.resumePart(out, h, size, f)
	if err != nil {
		return err
	}
	if have > 0 {
		p.opts.Logger.Info("hub: resuming a partial download", "repo", p.repo, "file", f.Name, "have", have, "size", size)
	}
	u := fmt.Sprintf("%s/%s/resolve/%s/%s", p.opts.Endpoint, p.repo, commit, escapeFile(f.Name))
	p.opts.Progress.Step(f.Name, int(have), int(size))
	if have < size { // else an earlier run got every byte but stopped before the rename
		err = p.retry(ctx, f.Name, p.opts.Retries, func() error {
			var err error
			have, err = p.transfer(ctx, u, commit, f, out, h, have)
			return err
		})
	}
	if err != nil {
		if have > 0 && have < size {
			err = fmt.Errorf("%w (%d of %d bytes kept in %s: the next pull resumes)", err, have, size, part)
		}
		return err
	}
	if got, want := hex.EncodeToString(h.Sum(nil)), f.etag(); got != want {
		out.Close()
		os.Remove(part)
		return fmt.Errorf("hub: %s: %s: the downloaded bytes have %s %s, the hub lists %s: the download is corrupt and was deleted", p.repo, f.Name, kind, got, want)
	}
	if err := out.Sync(); err != nil {
		return fmt.Errorf("hub: %s: %w", part, err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("hub: %s: %w", part, err)
	}
	if err := os.Rename(part, blob); err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	return nil
}

// resumePart hashes what an earlier run left in the part file and returns its length, or
// empties it when it is longer than the file.
func (p *puller) resumePart(out *os.File, h hash.Hash, size int64, f remoteFile) (int64, error) {
	have, err := out.Seek(0, io.SeekEnd)
	if err != nil {
		return 0, fmt.Errorf("hub: %w", err)
	}
	if have > size {
		return 0, restart(out, h, f)
	}
	if _, err := out.Seek(0, io.SeekStart); err != nil {
		return 0, fmt.Errorf("hub: %w", err)
	}
	if _, err := io.CopyN(h, out, have); err != nil {
		return 0, fmt.Errorf("hub: read %s: %w", out.Name(), err)
	}
	return have, nil
}

// restart empties the part file and the hash, to fetch the file from its first byte.
func restart(out *os.File, h hash.Hash, f remoteFile) error {
	if err := out.Truncate(0); err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	if _, err := out.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	h.Reset()
	if f.LFS == nil {
		fmt.Fprintf(h, "blob %d\x00", f.size())
	}
	return nil
}

// transfer runs one GET of the file from byte have on, appending to out and h; it returns how
// many bytes out holds. A connection that breaks or stalls is an unreachableError (retried).
func (p *puller) transfer(ctx context.Context, u, commit string, f remoteFile, out *os.File, h hash.Hash, have int64) (int64, error) {
	size := f.size()
	reqCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	stall := time.AfterFunc(p.opts.StallTimeout, cancel)
	defer stall.Stop()
	rng := ""
	if have > 0 {
		rng = fmt.Sprintf("bytes=%d-", have)
	}
	resp, first, err := p.get(reqCtx, u, rng)
	if err != nil {
		if ctx.Err() == nil && reqCtx.Err() != nil {
			err = &unreachableError{fmt.Errorf("hub: %s: no answer for %v", u, p.opts.StallTimeout)}
		}
		return have, err
	}
	defer resp.Body.Close()
	if err := p.checkHeaders(first, commit, f); err != nil {
		return have, err
	}
	switch {
	case resp.StatusCode == http.StatusPartialContent && have > 0:
		if start, ok := rangeStart(resp.Header.Get("Content-Range")); !ok || start != have {
			return have, fmt.Errorf("hub: %s: asked for bytes from %d, got Content-Range %q", u, have, resp.Header.Get("Content-Range"))
		}
	case resp.StatusCode == http.StatusOK:
		if have > 0 { // the server ignored Range: start over
			if err := restart(out, h, f); err != nil {
				return have, err
			}
			have = 0
		}
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable:
		if err := restart(out, h, f); err != nil {
			return have, err
		}
		return 0, &unreachableError{fmt.Errorf("hub: %s: range from byte %d refused; starting over", u, have)}
	default:
		return have, p.explain(resp, commit, f.Name)
	}
	buf := make([]byte, 1<<20)
	for {
		n, rerr := resp.Body.Read(buf)
		stall.Reset(p.opts.StallTimeout)
		if int64(n) > size-have {
			return have, fmt.Errorf("hub: %s: %s: more bytes than the %d the file list gives", p.repo, f.Name, size)
		}
		if n > 0 {
			if _, err := out.Write(buf[:n]); err != nil {
				return have, fmt.Errorf("hub: write %s: %w", out.Name(), err)
			}
			h.Write(buf[:n])
			have += int64(n)
			p.opts.Progress.Step(f.Name, int(have), int(size))
		}
		if rerr == io.EOF {
			if have < size {
				return have, &unreachableError{fmt.Errorf("hub: %s: %s: the connection ended after %d of %d bytes", p.repo, f.Name, have, size)}
			}
			return have, nil
		}
		if rerr != nil {
			if ctx.Err() != nil {
				return have, ctx.Err()
			}
			return have, &unreachableError{fmt.Errorf("hub: %s: %s: the connection broke after %d of %d bytes: %v", p.repo, f.Name, have, size, rerr)}
		}
	}
}

// checkHeaders compares what the hub's resolve answer says about the file (when it says it)
// with the file list: both must describe the same commit and bytes.
func (p *puller) checkHeaders(first http.Header, commit string, f remoteFile) error {
	if c := first.Get("X-Repo-Commit"); c != "" && c != commit {
		return fmt.Errorf("hub: %s: %s: served from commit %s, asked for %s", p.repo, f.Name, c, commit)
	}
	etag := first.Get("X-Linked-Etag")
	if etag == "" {
		etag = first.Get("ETag")
	}
	if etag = normalizeEtag(etag); etag != "" && etag != f.etag() {
		return fmt.Errorf("hub: %s: %s: the hub's etag %s differs from its file list's %s", p.repo, f.Name, etag, f.etag())
	}
	if s := first.Get("X-Linked-Size"); s != "" && s != strconv.FormatInt(f.size(), 10) {
		return fmt.Errorf("hub: %s: %s: the hub says %s bytes, its file list %d", p.repo, f.Name, s, f.size())
	}
	return nil
}

// normalizeEtag strips an ETag's weak marker and quotes, as huggingface_hub does.
func normalizeEtag(etag string) string {
	return strings.Trim(strings.TrimPrefix(etag, "W/"), `"`)
}

// rangeStart reads N of "bytes N-M/T".
func rangeStart(contentRange string) (int64, bool) {
	r, ok := strings.CutPrefix(contentRange, "bytes ")
	if !ok {
		return 0, false
	}
	from, _, ok := strings.Cut(r, "-")
	n, err := strconv.ParseInt(from, 10, 64)
	return n, ok && err == nil
}

// escapeFile escapes a repository path for a URL, keeping its slashes.
func escapeFile(name string) string {
	parts := strings.Split(name, "/")
	for i, s := range parts {
		parts[i] = url.PathEscape(s)
	}
	return strings.Join(parts, "/")
}
