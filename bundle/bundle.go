// Package bundle is edged's model format: a folder holding the .tflite models of one
// checkpoint at one precision, the tokenizer and preprocessing files they need, and a
// manifest.json that says what each file is (its role, precision, inputs and outputs, size and
// SHA-256) and which checkpoint and converter made it.
//
// Inference (packages clip and blip) reads bundles through this package alone; writing them
// is package convert's job.
package bundle

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Bundle is a converted model folder with its manifest.
type Bundle struct {
	Dir      string
	Manifest *Manifest
}

// Read opens the bundle in dir: it reads the manifest and checks that every file it
// lists is there with the recorded size (Verify also checks the contents).
func Read(dir string) (*Bundle, error) {
	m, err := ReadManifest(dir)
	if err != nil {
		return nil, err
	}
	for _, f := range m.Files {
		fi, err := os.Stat(filepath.Join(dir, f.Path))
		if err != nil {
			return nil, fmt.Errorf("bundle %s: %s file: %w", dir, f.Role, err)
		}
		if fi.Size() != f.Size {
			return nil, fmt.Errorf("bundle %s: %s is %d bytes, the manifest says %d (truncated or replaced)", dir, f.Path, fi.Size(), f.Size)
		}
	}
	return &Bundle{Dir: dir, Manifest: m}, nil
}

// Path returns the path of the file with the given role.
func (b *Bundle) Path(role string) (string, error) {
	f, ok := b.Manifest.File(role)
	if !ok {
		return "", fmt.Errorf("bundle %s has no %s file", b.Dir, role)
	}
	return filepath.Join(b.Dir, f.Path), nil
}

// HasFile reports whether the bundle has a file with the given role.
func (b *Bundle) HasFile(role string) bool {
	_, ok := b.Manifest.File(role)
	return ok
}

// Verify checks every file's SHA-256 against the manifest.
func (b *Bundle) Verify() error {
	for _, f := range b.Manifest.Files {
		sum, err := FileSHA256(filepath.Join(b.Dir, f.Path))
		if err != nil {
			return fmt.Errorf("bundle %s: %w", b.Dir, err)
		}
		if sum != f.SHA256 {
			return fmt.Errorf("bundle %s: %s does not match its checksum in the manifest", b.Dir, f.Path)
		}
	}
	return nil
}

// FileSHA256 is the hex SHA-256 of a file's content.
func FileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// WriteFileSync writes and flushes a file, so that a rename after it publishes complete data
// even if the machine loses power.
func WriteFileSync(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
