package build

import (
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/edged/edged/internal/daemon"
	"github.com/edged/edged/internal/testbin"
)

// These tests install a release into throw-away roots (install.sh --prefix) and check the
// systemd unit with systemd-analyze. They need bash, patchelf (build/dist.sh), useradd and
// systemd-analyze (Debian's passwd and systemd packages); they change nothing outside t.TempDir.

func need(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed by this test (Debian: apt-get install patchelf systemd passwd): %v", tool, err)
		}
	}
}

var release struct {
	once sync.Once
	dir  string
	err  error
}

// stagedRelease lays out a release tree of edged (testbin's binary) with build/dist.sh, once
// per test binary.
func stagedRelease(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("stages a release of the edged binary")
	}
	need(t, "bash", "patchelf", "readelf")
	bin := testbin.Edged(t)
	release.once.Do(func() {
		tmp, err := os.MkdirTemp("", "edged-release-")
		if err != nil {
			release.err = err
			return
		}
		release.dir = filepath.Join(tmp, "release")
		cmd := exec.Command("bash", "build/dist.sh", hostArch(), bin, "--stage-only", release.dir)
		cmd.Dir = ".."
		cmd.Env = append(os.Environ(), "VERSION=v0.0.0-test")
		if out, err := cmd.CombinedOutput(); err != nil {
			release.err = fmt.Errorf("dist.sh: %v\n%s", err, out)
		}
	})
	if release.err != nil {
		t.Fatal(release.err)
	}
	return release.dir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if release.dir != "" {
		os.RemoveAll(filepath.Dir(release.dir))
	}
	testbin.Cleanup()
	os.Exit(code)
}

func hostArch() string {
	out, _ := exec.Command("uname", "-m").Output()
	if strings.TrimSpace(string(out)) == "aarch64" {
		return "arm64"
	}
	return "amd64"
}

// newRoot makes a throw-away root that looks like a Debian system to install.sh and
// systemd-analyze: accounts with a video group, systemd's own units, /bin/kill.
func newRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	files := map[string]string{
		"etc/passwd":  "root:x:0:0:root:/root:/bin/bash\n",
		"etc/group":   "root:x:0:\nvideo:x:44:\n",
		"etc/shadow":  "root:*:19000:0:99999:7:::\n",
		"etc/gshadow": "root:*::\nvideo:*::\n",
	}
	for name, text := range files {
		write(t, filepath.Join(root, name), text)
	}
	units := "/usr/lib/systemd/system"
	if _, err := os.Stat(units); err == nil {
		mustMkdir(t, filepath.Join(root, "usr/lib/systemd"))
		if out, err := exec.Command("cp", "-a", units, filepath.Join(root, "usr/lib/systemd/")).CombinedOutput(); err != nil {
			t.Fatalf("copy %s: %v\n%s", units, err, out)
		}
	}
	mustMkdir(t, filepath.Join(root, "bin"))
	if out, err := exec.Command("cp", "/bin/kill", filepath.Join(root, "bin/kill")).CombinedOutput(); err != nil {
		t.Fatalf("copy /bin/kill: %v\n%s", err, out)
	}
	return root
}

func write(t *testing.T, path, text string) {
	t.Helper()
	mustMkdir(t, filepath.Dir(path))
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func mustMkdir(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// install runs the release's install.sh with --prefix root and the given flags.
func install(t *testing.T, rel, root string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("bash", append([]string{filepath.Join(rel, "install.sh"), "--prefix", root}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func mustInstall(t *testing.T, rel, root string, args ...string) string {
	t.Helper()
	out, err := install(t, rel, root, args...)
	if err != nil {
		t.Fatalf("install.sh %v: %v\n%s", args, err, out)
	}
	return out
}

// snapshot maps every path under root (but usr/lib/systemd and bin, which the test put there)
// to its type, mode and content hash or link target.
func snapshot(t *testing.T, root string) map[string]string {
	t.Helper()
	snap := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "usr" || rel == "bin" {
			return filepath.SkipDir
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			snap[rel] = "link " + target
		case d.IsDir():
			snap[rel] = fmt.Sprintf("dir %v", info.Mode())
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			snap[rel] = fmt.Sprintf("file %v %x", info.Mode(), sha256.Sum256(b))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

func diffSnapshots(a, b map[string]string) []string {
	var d []string
	for k, v := range a {
		if b[k] != v {
			d = append(d, fmt.Sprintf("%s: %q -> %q", k, v, b[k]))
		}
	}
	for k, v := range b {
		if _, ok := a[k]; !ok {
			d = append(d, fmt.Sprintf("%s: new %q", k, v))
		}
	}
	sort.Strings(d)
	return d
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

func TestInstallInThrowawayRoot(t *testing.T) {
	need(t, "useradd", "usermod", "userdel", "groupdel")
	rel := stagedRelease(t)
	root := newRoot(t)
	out := mustInstall(t, rel, root)
	t.Logf("first install:\n%s", out)

	// Files laid out.
	for _, p := range []string{
		"opt/edged/bin/edged", "opt/edged/lib/libtensorflowlite_c.so", "opt/edged/lib/libexternal_delegate_obj.so",
		"opt/edged/models/shapes/clip/model.safetensors", "opt/edged/models/shapes/blip_caption/model.safetensors",
		"opt/edged/models/shapes/blip_vqa/tokenizer.json", "opt/edged/configs/pi5.yaml", "opt/edged/configs/jetson.yaml",
		"opt/edged/install.sh", "opt/edged/VERSION",
		"etc/edged/edged.yaml", "etc/edged/labels/shapes.yaml", "var/cache/edged", "etc/systemd/system/edged.service",
	} {
		if !exists(filepath.Join(root, p)) {
			t.Errorf("%s was not installed", p)
		}
	}
	for _, p := range []string{"opt/edged.new", "opt/edged.old", "etc/edged/edged.yaml.new", "etc/systemd/system/edged.service.d"} {
		if exists(filepath.Join(root, p)) {
			t.Errorf("%s should not exist after a clean install", p)
		}
	}
	if fi, err := os.Stat(filepath.Join(root, "etc/edged/edged.yaml")); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("etc/edged/edged.yaml: %v, mode %v; want 0640 (it may hold MQTT credentials)", err, fi.Mode())
	}
	if fi, err := os.Stat(filepath.Join(root, "var/cache/edged")); err != nil || fi.Mode().Perm() != 0o750 {
		t.Errorf("var/cache/edged: %v, mode %v; want 0750", err, fi.Mode())
	}

	// Config paths rewritten to the installed locations, and the result valid where it lives.
	cfg := read(t, filepath.Join(root, "etc/edged/edged.yaml"))
	for _, want := range []string{"clip: /opt/edged/models/shapes/clip\n", "blip_vqa: /opt/edged/models/shapes/blip_vqa\n",
		"sets: [/etc/edged/labels/shapes.yaml]", "\ncache_dir: /var/cache/edged "} {
		if !strings.Contains(cfg, want) {
			t.Errorf("installed config lacks %q:\n%s", want, cfg)
		}
	}
	if strings.Contains(cfg, "../models") || strings.Count(cfg, "\ncache_dir:") != 1 {
		t.Errorf("installed config keeps a relative model path or repeats cache_dir:\n%s", cfg)
	}
	for _, name := range []string{"edged.yaml", "pi5.yaml", "pi4.yaml", "jetson.yaml"} {
		text := read(t, filepath.Join(root, "opt/edged/configs", name))
		rooted := strings.NewReplacer("/opt/edged/", root+"/opt/edged/", "/etc/edged/", root+"/etc/edged/").Replace(text)
		if _, err := daemon.ParseConfig([]byte(rooted), filepath.Join(root, "etc/edged", name)); err != nil {
			t.Errorf("installed %s does not validate inside the root: %v", name, err)
		}
	}

	// The binary found its TFLite in the installed lib/ ($ORIGIN/../lib).
	if !strings.Contains(out, "TensorFlow Lite 2.9") || !strings.Contains(out, root+"/opt/edged/lib/libtensorflowlite_c.so") {
		t.Errorf("install.sh did not show edged version loading %s/opt/edged/lib:\n%s", root, out)
	}

	// The account, and the enabled unit.
	if os.Geteuid() == 0 {
		passwd, group := read(t, filepath.Join(root, "etc/passwd")), read(t, filepath.Join(root, "etc/group"))
		if !regexp.MustCompile(`(?m)^edged:x:\d+:\d+:[^:]*:/nonexistent:/usr/sbin/nologin$`).MatchString(passwd) {
			t.Errorf("no system user edged with nologin in etc/passwd:\n%s", passwd)
		}
		if !regexp.MustCompile(`(?m)^video:x:44:edged$`).MatchString(group) {
			t.Errorf("edged is not in group video:\n%s", group)
		}
		m := regexp.MustCompile(`(?m)^edged:x:(\d+):`).FindStringSubmatch(passwd)
		if uid, _ := strconv.Atoi(m[1]); uid >= 1000 {
			t.Errorf("edged has uid %d: not a system user", uid)
		}
	}
	link, err := os.Readlink(filepath.Join(root, "etc/systemd/system/multi-user.target.wants/edged.service"))
	if err != nil || link != "/etc/systemd/system/edged.service" {
		t.Errorf("edged.service not enabled in multi-user.target: %q, %v", link, err)
	}

	// A second run changes nothing.
	before := snapshot(t, root)
	out = mustInstall(t, rel, root)
	if d := diffSnapshots(before, snapshot(t, root)); len(d) > 0 {
		t.Errorf("second install changed the root:\n%s\n%s", strings.Join(d, "\n"), out)
	}
	if strings.Contains(out, "created") || strings.Contains(out, "wrote") {
		t.Errorf("second install claims to create or write:\n%s", out)
	}

	// A config the user changed is kept; the release's goes beside it.
	edited := strings.Replace(cfg, "device: edged-demo", "device: porch", 1)
	write(t, filepath.Join(root, "etc/edged/edged.yaml"), edited)
	out = mustInstall(t, rel, root)
	if got := read(t, filepath.Join(root, "etc/edged/edged.yaml")); got != edited {
		t.Errorf("reinstall overwrote the edited config:\n%s", out)
	}
	if got := read(t, filepath.Join(root, "etc/edged/edged.yaml.new")); got != cfg || !strings.Contains(out, "kept your /etc/edged/edged.yaml") {
		t.Errorf("edged.yaml.new is not the release's config, or not reported:\n%s", out)
	}

	// --uninstall keeps the config and the user; --purge removes them; both can run twice.
	out = mustInstall(t, rel, root, "--uninstall")
	for _, p := range []string{"opt/edged", "var/cache/edged", "etc/systemd/system/edged.service", "etc/systemd/system/multi-user.target.wants/edged.service"} {
		if exists(filepath.Join(root, p)) {
			t.Errorf("--uninstall left %s:\n%s", p, out)
		}
	}
	if !exists(filepath.Join(root, "etc/edged/edged.yaml")) {
		t.Errorf("--uninstall removed the config:\n%s", out)
	}
	mustInstall(t, rel, root, "--uninstall")
	out = mustInstall(t, rel, root, "--uninstall", "--purge")
	if exists(filepath.Join(root, "etc/edged")) {
		t.Errorf("--purge left etc/edged:\n%s", out)
	}
	if os.Geteuid() == 0 {
		if passwd, group := read(t, filepath.Join(root, "etc/passwd")), read(t, filepath.Join(root, "etc/group")); strings.Contains(passwd, "edged") || strings.Contains(group, "edged") {
			t.Errorf("--purge left the account:\n%s\n%s", passwd, group)
		}
	}
	mustInstall(t, rel, root, "--uninstall", "--purge")
}

func TestInstallProfiles(t *testing.T) {
	rel := stagedRelease(t)
	root := newRoot(t)
	mustInstall(t, rel, root, "--profile", "jetson", "--no-start")
	cfg := read(t, filepath.Join(root, "etc/edged/edged.yaml"))
	if !strings.Contains(cfg, "delegate: gpu") || !strings.Contains(cfg, "clip: openai/clip-vit-base-patch16") || !strings.Contains(cfg, "sets: [/etc/edged/labels/home.yaml]") {
		t.Errorf("the jetson profile was not installed as edged.yaml:\n%s", cfg)
	}
	dropIn := read(t, filepath.Join(root, "etc/systemd/system/edged.service.d/jetson.conf"))
	if !strings.Contains(dropIn, "DevicePolicy=auto") {
		t.Errorf("jetson drop-in:\n%s", dropIn)
	}
	verifyUnit(t, root)

	// Switching to the Pi 5 profile removes the Jetson drop-in; the installed config differs from
	// the Pi 5 one, so it stays and the Pi 5 one is offered beside it.
	out := mustInstall(t, rel, root, "--profile", "pi5")
	if exists(filepath.Join(root, "etc/systemd/system/edged.service.d")) {
		t.Errorf("the jetson drop-in survived a pi5 install:\n%s", out)
	}
	if !strings.Contains(read(t, filepath.Join(root, "etc/edged/edged.yaml.new")), "device: pi5") {
		t.Errorf("pi5 profile not offered as edged.yaml.new:\n%s", out)
	}

	for _, bad := range [][]string{{"--profile", "pi3"}, {"--purge"}, {"--frobnicate"}, {"--prefix"}} {
		out, err := install(t, rel, root, bad...)
		if err == nil || !strings.Contains(out, "edged install:") {
			t.Errorf("install.sh %v: want a failure with a message, got %v:\n%s", bad, err, out)
		}
	}
}

// verifyUnit runs systemd-analyze verify on the installed unit (with its drop-ins) inside root:
// it must pass without a single warning.
func verifyUnit(t *testing.T, root string) {
	t.Helper()
	need(t, "systemd-analyze")
	cmd := exec.Command("systemd-analyze", "verify", "--root="+root, "/etc/systemd/system/edged.service")
	out, err := cmd.CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

func TestUnitVerifiesAndIsHardened(t *testing.T) {
	rel := stagedRelease(t)
	root := newRoot(t)
	mustInstall(t, rel, root, "--no-start")
	verifyUnit(t, root)

	unit := read(t, filepath.Join(root, "etc/systemd/system/edged.service"))
	for _, want := range []string{
		"User=edged", "SupplementaryGroups=video", "Restart=on-failure", "NoNewPrivileges=yes",
		"ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes", "CacheDirectory=edged",
		"ReadWritePaths=/var/cache/edged", "DevicePolicy=closed", "DeviceAllow=char-video4linux rw",
		"CapabilityBoundingSet=\n", "ExecStart=/opt/edged/bin/edged run -c /etc/edged/edged.yaml",
		"RestartPreventExitStatus=2\n", "LimitCORE=0",
	} {
		if !strings.Contains(unit, want) {
			t.Errorf("unit lacks %q", want)
		}
	}
	if strings.Contains(unit, "PrivateDevices=yes") {
		t.Error("PrivateDevices=yes would hide /dev/video*")
	}

	// systemd's own exposure score (0 safest, 10 unprotected); written down in README.md.
	out, err := exec.Command("systemd-analyze", "security", "--offline=yes", "--root="+root, "/etc/systemd/system/edged.service").CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Overall exposure level for edged.service: ([0-9.]+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure level in:\n%s", out)
	}
	score, _ := strconv.ParseFloat(string(m[1]), 64)
	t.Logf("systemd-analyze security: exposure %.1f", score)
	if score > 3 {
		t.Errorf("exposure %.1f: the unit lost its hardening (it was 1.9)", score)
	}
}

// The unit shipped in the repository is the one the release carries.
func TestReleaseCarriesUnitAndInstaller(t *testing.T) {
	rel := stagedRelease(t)
	for src, dst := range map[string]string{"package/edged.service": "systemd/edged.service", "package/install.sh": "install.sh"} {
		if read(t, src) != read(t, filepath.Join(rel, dst)) {
			t.Errorf("release %s differs from build/%s", dst, src)
		}
	}
	if fi, err := os.Stat(filepath.Join(rel, "install.sh")); err != nil || fi.Mode()&0o111 == 0 {
		t.Errorf("install.sh is not executable: %v", err)
	}
	out, err := exec.Command("patchelf", "--print-rpath", filepath.Join(rel, "bin/edged")).Output()
	if err != nil || strings.TrimSpace(string(out)) != "$ORIGIN/../lib" {
		t.Errorf("release binary runpath %q (%v), want only $ORIGIN/../lib", out, err)
	}
}
