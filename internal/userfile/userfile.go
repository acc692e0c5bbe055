// Package userfile reads and writes the users files of edged's embedded broker and web page:
// one user a line, `name:bcrypt-hash`, as `edged passwd FILE NAME` writes it; blank lines
// and lines starting with '#' are skipped. Hashes are bcrypt's, so the file reveals no
// password and each check costs tens of milliseconds, which makes guessing slow.
package userfile

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"
)

// maxUserBytes bounds a user name; maxPasswordBytes is bcrypt's own limit.
const (
	maxUserBytes     = 128
	maxPasswordBytes = 72
)

// BcryptCost is the cost of the hashes edged writes: about 50 ms a check on a Raspberry Pi 4.
const BcryptCost = 10

// Users are the accounts of a users file: name to bcrypt hash.
type Users map[string][]byte

// CheckName accepts a name that fits the file's format and MQTT's strings.
func CheckName(name string) error {
	switch {
	case name == "":
		return errors.New("user name is empty")
	case len(name) > maxUserBytes:
		return fmt.Errorf("user name is %d bytes, over %d", len(name), maxUserBytes)
	case !utf8.ValidString(name):
		return errors.New("user name is not valid UTF-8")
	case strings.ContainsRune(name, ':'):
		return fmt.Errorf("user name %q contains ':'", name)
	case strings.IndexFunc(name, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
		return fmt.Errorf("user name %q contains a space or control character", name)
	case strings.HasPrefix(name, "#"):
		return fmt.Errorf("user name %q starts with '#', which marks a comment", name)
	}
	return nil
}

// Read reads a users file; an error names the file and line.
func Read(path string) (Users, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	users := Users{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		name, hash, ok := strings.Cut(text, ":")
		if !ok {
			return nil, fmt.Errorf("%s:%d: not name:hash", path, line)
		}
		if err := CheckName(name); err != nil {
			return nil, fmt.Errorf("%s:%d: %v", path, line, err)
		}
		if _, err := bcrypt.Cost([]byte(hash)); err != nil {
			return nil, fmt.Errorf("%s:%d: user %q: not a bcrypt hash (write it with `edged passwd`): %v", path, line, name, err)
		}
		if _, dup := users[name]; dup {
			return nil, fmt.Errorf("%s:%d: user %q is named twice", path, line, name)
		}
		users[name] = []byte(hash)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return users, nil
}

// Check says whether password is user's. An unknown user costs a hash check too, so the
// time taken does not tell which names exist.
func (u Users) Check(user, password string) bool {
	hash, ok := u[user]
	if !ok {
		hash = unknownUserHash
	}
	return bcrypt.CompareHashAndPassword(hash, []byte(password)) == nil && ok
}

// unknownUserHash is compared against for names not in the file.
var unknownUserHash, _ = bcrypt.GenerateFromPassword([]byte("no such user"), BcryptCost)

// SetPassword adds user to the users file at path, or replaces their password; the file is
// created (mode 0600) when missing, keeps its mode, owner and group otherwise, and rewritten whole through a temporary file, so a crash
// leaves either the old file or the new one. Other lines, comments included, are kept.
func SetPassword(path, user, password string) error {
	if err := CheckName(user); err != nil {
		return err
	}
	switch {
	case password == "":
		return errors.New("the password is empty")
	case len(password) > maxPasswordBytes:
		return fmt.Errorf("the password is %d bytes; bcrypt uses at most %d", len(password), maxPasswordBytes)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), BcryptCost)
	if err != nil {
		return err
	}
	mode := os.FileMode(0o600)
	var owner *syscall.Stat_t // the old file's owner and group, kept when we may
	old, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return err
	default:
		if _, err := Read(path); err != nil {
			return fmt.Errorf("not changing a users file with errors: %w", err)
		}
		if fi, err := os.Stat(path); err == nil {
			mode = fi.Mode().Perm()
			owner, _ = fi.Sys().(*syscall.Stat_t)
		}
	}
	var out bytes.Buffer
	replaced := false
	sc := bufio.NewScanner(bytes.NewReader(old))
	for sc.Scan() {
		line := sc.Text()
		if name, _, ok := strings.Cut(strings.TrimSpace(line), ":"); ok && name == user {
			line, replaced = user+":"+string(hash), true
		}
		out.WriteString(line + "\n")
	}
	if !replaced {
		out.WriteString(user + ":" + string(hash) + "\n")
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	if _, err := tmp.Write(out.Bytes()); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if owner != nil {
		_ = tmp.Chown(int(owner.Uid), int(owner.Gid)) // only root may give a file away; others keep their own
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
