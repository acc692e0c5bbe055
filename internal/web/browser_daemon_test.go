package web

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/edged/edged/internal/mqtttest"
	"github.com/edged/edged/internal/recall"
	"github.com/edged/edged/internal/shapes"
	"github.com/edged/edged/internal/testbin"
	"github.com/edged/edged/internal/userfile"
)

// The live page served by a running edged (the real binary, its embedded broker, the shapes
// models and the synthetic camera), in headless chromium, behind basic auth (http.users_file):
// the browser asks for the password once, as a person would answer its dialog. The truth of every frame comes from
// edged's own result lines, which end with what the synthetic camera drew:
//
//	12:00:01 demo labels   red circle 0.97, ... (shapes; frame 57, truth: red circle)
func TestBrowserDaemon(t *testing.T) {
	if testing.Short() {
		t.Skip("runs edged with its models in a browser")
	}
	chromiumPath(t)
	bin := testbin.Edged(t)
	dir := t.TempDir()
	port := mqtttest.FreePort(t)
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	users := filepath.Join(dir, "users")
	if err := userfile.SetPassword(users, "viewer", "page-pw"); err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "edged.yaml")
	writeTestFile(t, config, fmt.Sprintf(`device: pagetest
http:
  listen: 127.0.0.1:%d
  users_file: users
cache_dir: %s
log_level: info
mqtt:
  broker: embedded
  listen: 127.0.0.1:0
models:
  clip: %[3]s/models/shapes/clip
  blip_caption: %[3]s/models/shapes/blip_caption
  blip_vqa: %[3]s/models/shapes/blip_vqa
cameras:
  - name: demo
    source: {kind: synthetic, fps: 10, scene_every: 250ms, seed: 11}
    labels: {sets: [%[3]s/configs/labels/shapes.yaml], every: 100ms, top_k: 3}
    caption: {every: 1s}
`, port, filepath.Join(dir, "cache"), root))
	ed := startProcess(t, bin, "run", "-c", config)
	base := fmt.Sprintf("http://127.0.0.1:%d/", port)

	// The HTTP server, and with it the page, is up before the models load; it wants the
	// password.
	var status int
	mqtttest.Eventually(t, "edged's HTTP server", 60*time.Second, func() bool {
		if ed.exited() {
			t.Fatalf("edged exited:\n%s", ed.stderr.Tail(30))
		}
		resp, err := http.Get(base)
		if err != nil {
			return false
		}
		resp.Body.Close()
		status = resp.StatusCode
		return true
	})
	if status != http.StatusUnauthorized {
		t.Fatalf("GET / without the password = %d, want 401", status)
	}
	req, _ := http.NewRequest("GET", base, nil)
	req.SetBasicAuth("viewer", "page-pw")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET / with the password: %v %v; the daemon mounts the live page at \"/\" of its HTTP address", resp, err)
	} else {
		resp.Body.Close()
	}

	br := newBrowser(t, 5*time.Minute)
	challenges := br.basicAuth("viewer", "page-pw")
	br.run("open the page", chromedp.Navigate(base))
	br.waitFor("the camera's frame", fmt.Sprintf(`(() => {
		const img = document.querySelector(%s);
		return !!img && img.complete && img.naturalWidth === 320;
	})()`, js(cameraSel("demo", "img.frame"))))

	// Labels on the page name what the camera drew, on ten scenes of single objects, one frame
	// each (a scene's frames are one picture: CLIP reads them all alike).
	readLabels := fmt.Sprintf(`(() => {
		const ol = document.querySelector(%s);
		const li = ol && ol.querySelector('li');
		return {frame: ol ? ol.dataset.frame : '', top: li ? li.dataset.label : ''};
	})()`, js(cameraSel("demo", ".labels ol")))
	seen, scenes := map[string]bool{}, map[string]bool{}
	right, sampled := 0, 0
	for sampled < 10 {
		var s struct {
			Frame string `json:"frame"`
			Top   string `json:"top"`
		}
		br.eval("read the labels", readLabels, &s)
		if s.Frame == "" || seen[s.Frame] {
			br.waitFor("labels of a new frame", fmt.Sprintf(`(() => { const ol = document.querySelector(%s); return !!ol && ol.dataset.frame !== %s; })()`,
				js(cameraSel("demo", ".labels ol")), js(s.Frame)))
			continue
		}
		seen[s.Frame] = true
		truth, ok := ed.truth(s.Frame)
		if !ok {
			t.Fatalf("the page shows labels of frame %s, which edged never printed", s.Frame)
		}
		if len(truth) != 1 || scenes[truth[0]] {
			continue
		}
		scenes[truth[0]] = true
		sampled++
		if truth[0] == s.Top {
			right++
		} else {
			t.Logf("frame %s shows a %s; the page's top label is %q", s.Frame, truth[0], s.Top)
		}
	}
	if right < 9 {
		t.Errorf("the top label named the object on %d of %d scenes", right, sampled)
	}

	// The caption is one edged made.
	captionSel := js(cameraSel("demo", ".caption"))
	br.waitFor("a caption", fmt.Sprintf(`(() => { const c = document.querySelector(%s).textContent; return c !== '' && c !== 'no caption yet'; })()`, captionSel))
	var caption string
	br.eval("read the caption", fmt.Sprintf(`document.querySelector(%s).textContent`, captionSel), &caption)
	if !strings.Contains(ed.stdout.String(), fmt.Sprintf(" demo caption  %q", caption)) {
		t.Errorf("the page shows the caption %q, which edged never printed", caption)
	}

	// A typed question is answered by BLIP about the newest frame.
	const question = "how many shapes are there?"
	var answer struct{ Frame, Answer string }
	answer.Frame, answer.Answer = br.ask("demo", question)
	truth, _ := ed.truth(answer.Frame)
	t.Logf("%s → %q about frame %s, which shows %v", question, answer.Answer, answer.Frame, truth)
	if answer.Answer != "one" && answer.Answer != "two" {
		t.Errorf("answer %q to %q", answer.Answer, question)
	}

	// Search, once about a hundred scenes were labelled (and so remembered).
	mqtttest.Eventually(t, "100 scenes labelled", 3*time.Minute, func() bool { return ed.scenesLabelled() >= 100 })
	search := func(query string, k int) []string {
		t.Helper()
		return br.search(query, k)
	}
	shows := func(frame, label string) bool {
		truth, ok := ed.truth(frame)
		if !ok {
			t.Fatalf("search returned frame %s, which edged never printed", frame)
		}
		for _, l := range truth {
			if l == label {
				return true
			}
		}
		return false
	}
	present, alone := ed.labelsSeen()
	if !present["red circle"] {
		t.Fatal("no red circle among the labelled scenes; choose another seed")
	}
	found := 0
	for i, f := range search("a red circle", 8) {
		if shows(f, "red circle") {
			found++
		} else if i == 0 {
			t.Errorf("a red circle: the best result, frame %s, shows %v", f, mustTruth(ed, f))
		}
	}
	t.Logf("a red circle: %d of the 8 results show one", found)
	var misses []string
	for _, label := range shapes.Labels() {
		top := search("a "+label, 1)[0]
		switch ok := shows(top, label); {
		case alone[label] && !ok:
			misses = append(misses, fmt.Sprintf("%s (best: frame %s, %v)", label, top, mustTruth(ed, top)))
		case present[label] && !alone[label]:
			t.Logf("%s, only beside other objects: found %v (best: %v)", label, ok, mustTruth(ed, top))
		}
	}
	if len(misses) > 0 {
		t.Errorf("the best result does not show the object for %v", misses)
	}
	if errs := br.pageErrors(); len(errs) > 0 {
		t.Fatalf("the page had JavaScript errors: %q", errs)
	}
	t.Logf("the browser was asked for the password %d times", challenges.Load())
	if challenges.Load() < 1 {
		t.Error("the browser was never asked for the password")
	}
}

func mustTruth(ed *process, frame string) []string {
	truth, _ := ed.truth(frame)
	return truth
}

func writeTestFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// process is a running program with its output.
type process struct {
	cmd            *exec.Cmd
	stdout, stderr *mqtttest.Buffer
	done           chan struct{}
}

func startProcess(t *testing.T, bin string, args ...string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(bin, args...), stdout: &mqtttest.Buffer{}, stderr: &mqtttest.Buffer{}, done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(20 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
			t.Errorf("%s did not stop within 20s of SIGTERM", bin)
		}
		if t.Failed() {
			t.Logf("%s stderr:\n%s", filepath.Base(bin), p.stderr.Tail(40))
		}
	})
	return p
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// labelsLine is one of edged's labels lines for camera demo.
var labelsLine = regexp.MustCompile(`(?m)^\S+ demo labels .*\(\S+; frame (\d+), truth: (.+)\)$`)

// truth returns the labels of the objects edged says a frame showed.
func (p *process) truth(frame string) ([]string, bool) {
	for _, m := range labelsLine.FindAllStringSubmatch(p.stdout.String(), -1) {
		if m[1] == frame {
			return strings.Split(m[2], " and "), true
		}
	}
	return nil, false
}

// labelsSeen are the labels of the objects in the frames search remembers (the last
// recall.DefaultMaxFrames labelled), and of those seen alone.
func (p *process) labelsSeen() (present, alone map[string]bool) {
	present, alone = map[string]bool{}, map[string]bool{}
	lines := labelsLine.FindAllStringSubmatch(p.stdout.String(), -1)
	for _, m := range lines[max(0, len(lines)-recall.DefaultMaxFrames):] {
		objs := strings.Split(m[2], " and ")
		for _, o := range objs {
			present[o] = true
			alone[o] = alone[o] || len(objs) == 1
		}
	}
	return present, alone
}

// scenesLabelled counts the changes of scene among the labelled frames.
func (p *process) scenesLabelled() int {
	n, last := 0, ""
	for _, m := range labelsLine.FindAllStringSubmatch(p.stdout.String(), -1) {
		if m[2] != last {
			n++
			last = m[2]
		}
	}
	return n
}
