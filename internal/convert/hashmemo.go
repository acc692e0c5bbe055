package convert

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"

	"github.com/edged/edged/hf"
)

// fileStamp is what a checkpoint file looked like when its folder was hashed.
type fileStamp struct {
	Name    string `json:"name"`
	Size    int64  `json:"size"`
	ModTime int64  `json:"mod_time_ns"`
}

type hashMemo struct {
	Dir   string      `json:"dir"`
	Files []fileStamp `json:"files"`
	Hash  string      `json:"hash"`
}

// memoHash is hf.Hash(dir), remembered in memoDir so that opening a large checkpoint again
// (edged classify --model CHECKPOINT, once per run) does not read every weight byte again.
// The memo holds the name, size and modification time of every file in the folder; any
// change hashes again. memoDir "" always hashes. A memo that cannot be written only costs
// time.
func memoHash(dir, memoDir string) (string, error) {
	if memoDir == "" {
		return hf.Hash(dir)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return hf.Hash(dir)
	}
	stamps, err := stampFiles(abs)
	if err != nil {
		return hf.Hash(dir)
	}
	key := sha256.Sum256([]byte(abs))
	path := filepath.Join(memoDir, "checkpoint-hashes", hex.EncodeToString(key[:16])+".json")
	if data, err := os.ReadFile(path); err == nil {
		var m hashMemo
		if json.Unmarshal(data, &m) == nil && m.Dir == abs && m.Hash != "" && slices.Equal(m.Files, stamps) {
			return m.Hash, nil
		}
	}
	h, err := hf.Hash(dir)
	if err != nil {
		return "", err
	}
	if data, err := json.Marshal(hashMemo{Dir: abs, Files: stamps, Hash: h}); err == nil {
		if os.MkdirAll(filepath.Dir(path), 0o755) == nil {
			tmp := path + ".tmp"
			if os.WriteFile(tmp, data, 0o644) == nil {
				os.Rename(tmp, path)
			}
		}
	}
	return h, nil
}

// stampFiles lists the regular files of dir (and the files its symbolic links point to) with sizes and modification times, by name.
func stampFiles(dir string) ([]fileStamp, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []fileStamp
	for _, e := range entries {
		// A symbolic link (a Hugging Face cache snapshot is made of them) is stamped as the
		// file it points to.
		fi, err := os.Stat(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		if !fi.Mode().IsRegular() {
			continue
		}
		out = append(out, fileStamp{Name: e.Name(), Size: fi.Size(), ModTime: fi.ModTime().UnixNano()})
	}
	return out, nil // os.ReadDir sorts by name
}
