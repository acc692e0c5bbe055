// Package hub downloads Hugging Face model repositories the way the hub's own client
// (huggingface_hub, huggingface-cli) does, into the same cache, so that either one reuses
// what the other fetched.
//
// Pull fetches what converting a checkpoint needs and nothing else: config.json, the
// preprocessor, generation and tokenizer files, and the weights in one format (safetensors
// when the repository has them, else pytorch_model.bin; one file or an index and its
// shards; never the TF, Flax or ONNX copies). It speaks the hub's API:
//
//	GET {endpoint}/api/models/{repo}/revision/{revision}?blobs=true   the commit and the files,
//	                                                                  with sizes and LFS sha256
//	GET {endpoint}/{repo}/resolve/{commit}/{file}                     a file (LFS files redirect
//	                                                                  to a CDN on another host)
//
// and follows its conventions:
//
//   - HF_ENDPOINT names a mirror; HF_TOKEN (else the token file huggingface-cli login writes)
//     opens gated and private repositories. The token goes only to the endpoint's host,
//     never along a redirect to another, and is never logged.
//   - HF_HUB_OFFLINE=1 touches no network: the revision is resolved from the cache, and a
//     snapshot that lacks something fails with an error naming it.
//   - The cache is the hub's ($HF_HUB_CACHE, else $HF_HOME/hub, else
//     ~/.cache/huggingface/hub): models--owner--name/blobs/<etag> holds each file once
//     (etag: the sha256 of an LFS file, the git blob id of another),
//     snapshots/<commit>/<file> are relative symbolic links to the blobs, and
//     refs/<branch or tag> holds the commit it resolved to.
//   - A file streams into blobs/<etag>.incomplete under a lock in .locks/ (the one
//     huggingface_hub takes) while its hash is computed: sha256 for LFS files, the git blob
//     id for the others. It is renamed into place only when whole and matching; a mismatch
//     deletes the part and fails naming the file. A broken connection resumes with Range, a
//     bounded number of times with growing waits.
//   - Free disk space is checked before the weights are fetched.
//   - When the hub cannot be reached, a complete snapshot already cached for the revision is
//     used at once, with a warning; without one, the file list is asked for again with the
//     same waits as a broken download.
//
// Progress goes to an internal/progress reporter: a bar on a terminal, periodic log lines
// otherwise. Package hubtest serves repositories over these endpoints for tests.
//
// Weighed against github.com/gomlx/go-huggingface: that client writes the same cache layout
// but neither verifies hashes nor resumes, and locks beside the blobs rather than in .locks;
// adding those to it would be more code than this package.
package hub
