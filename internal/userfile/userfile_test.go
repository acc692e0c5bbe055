package userfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func usersFile(t *testing.T, users map[string]string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "users")
	for name, password := range users {
		if err := SetPassword(path, name, password); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

func TestUsersFile(t *testing.T) {
	path := usersFile(t, map[string]string{"ha": "secret-1", "bob": "pw"})
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("users file mode: %v %v", fi, err)
	}
	if err := SetPassword(path, "bob", "new password"); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if n := strings.Count(string(data), "bob:"); n != 1 || strings.Contains(string(data), "new password") {
		t.Fatalf("after replacing bob's password the file holds %d bob lines:\n%s", n, data)
	}
	users, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		user, password string
		want           bool
	}{{"ha", "secret-1", true}, {"bob", "new password", true}, {"bob", "pw", false}, {"ha", "", false}, {"eve", "secret-1", false}} {
		if got := users.Check(c.user, c.password); got != c.want {
			t.Errorf("Check(%q, %q) = %v, want %v", c.user, c.password, got, c.want)
		}
	}

	for _, c := range []struct{ content, want string }{
		{"# comment\n\nha\n", ":3: not name:hash"},
		{"ha:plain-text\n", `:1: user "ha": not a bcrypt hash`},
		{"a b:$2a$10$" + strings.Repeat("x", 53) + "\n", "contains a space"},
		{string(data) + string(data), "is named twice"},
	} {
		bad := filepath.Join(t.TempDir(), "users")
		if err := os.WriteFile(bad, []byte(c.content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Read(bad); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Read(%q) = %v, want an error containing %q", c.content, err, c.want)
		}
		if err := SetPassword(bad, "x", "y"); err == nil {
			t.Errorf("SetPassword changed a users file with errors (%q)", c.content)
		}
	}
	for _, c := range []struct{ user, password, want string }{
		{"", "pw", "user name is empty"}, {"a:b", "pw", "contains ':'"}, {"ok", "", "password is empty"},
		{"ok", strings.Repeat("p", 73), "bcrypt uses at most 72"},
	} {
		if err := SetPassword(path, c.user, c.password); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("SetPassword(%q, %q) = %v, want %q", c.user, c.password, err, c.want)
		}
	}
}

// BenchmarkCheck is the cost of one password check (bcrypt at BcryptCost): what a connecting
// broker client or a new page login costs, and what bounds password guessing.
func BenchmarkCheck(b *testing.B) {
	path := filepath.Join(b.TempDir(), "users")
	if err := SetPassword(path, "ha", "a password"); err != nil {
		b.Fatal(err)
	}
	users, err := Read(path)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if !users.Check("ha", "a password") {
			b.Fatal("check failed")
		}
	}
}
