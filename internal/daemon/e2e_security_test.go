package daemon_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/edged/edged/internal/mqtttest"
)

// These tests run the real edged binary with its embedded broker secured, and talk to it with
// Debian's mosquitto clients (mosquitto_pub, mosquitto_sub), as a user on the network would.

// mosquittoClient finds mosquitto_pub or mosquitto_sub (package mosquitto-clients); a missing
// one skips the test, or fails it under CI.
func mosquittoClient(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s not found and CI is set: install the Debian package mosquitto-clients", name)
		}
		t.Skipf("%s not found: install the Debian package mosquitto-clients", name)
	}
	return p
}

// mosq runs a mosquitto client to completion (bounded by e2eTimeout) and returns its exit
// status and output.
func mosq(t *testing.T, stdin []byte, name string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), e2eTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, mosquittoClient(t, name), args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("%s %v did not finish within %v: %s", name, args, e2eTimeout, out)
	}
	if err != nil && cmd.ProcessState == nil {
		t.Fatalf("%s: %v", name, err)
	}
	return cmd.ProcessState.ExitCode(), string(out)
}

// mosqSub is a running mosquitto_sub -v: each line it prints is "topic payload".
type mosqSub struct {
	out  mqtttest.Buffer
	args []string
}

func startMosqSub(t *testing.T, args ...string) *mosqSub {
	t.Helper()
	s := &mosqSub{args: args}
	cmd := exec.Command(mosquittoClient(t, "mosquitto_sub"), append([]string{"-v"}, args...)...)
	cmd.Stdout, cmd.Stderr = &s.out, &s.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("mosquitto_sub %v (tail):\n%s", args, s.out.Tail(20))
		}
	})
	return s
}

// lines are the messages received so far on topic.
func (s *mosqSub) lines(topic string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s.out.String()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if payload, ok := strings.CutPrefix(sc.Text(), topic+" "); ok {
			out = append(out, payload)
		}
	}
	return out
}

func (s *mosqSub) waitFor(t *testing.T, topic, what string, match func(payload string) bool) string {
	t.Helper()
	var found string
	deadlineWait(t, what+" on "+topic, func() bool {
		for _, p := range s.lines(topic) {
			if match == nil || match(p) {
				found = p
				return true
			}
		}
		return false
	})
	return found
}

// rssBytes is a process's resident memory.
func rssBytes(t *testing.T, pid int) int64 {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`VmRSS:\s+(\d+) kB`).FindSubmatch(data)
	if m == nil {
		t.Fatalf("no VmRSS in /proc/%d/status", pid)
	}
	kb, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return kb << 10
}

// metric reads one value from edged's /metrics (with the page's credentials).
func metric(t *testing.T, port int, name string) float64 {
	t.Helper()
	code, body := httpDo(t, fmt.Sprintf("http://127.0.0.1:%d/metrics", port), "", "ha", "ha-pw")
	if code != 200 {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` ([0-9.e+]+)$`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no %s in /metrics", name)
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// The embedded broker and the page with users: anonymous and wrong-password clients are
// refused, permissions hold, edged's own session and topics stay its own, a 64 MB publish is
// refused without edged's memory growing, reply_to stays in its space, and a burst of asks
// gets every request id a reply without evicting results.
func TestE2ESecuredEmbeddedBroker(t *testing.T) {
	mosquittoClient(t, "mosquitto_pub")
	dir := t.TempDir()
	root := repoRoot(t)
	users := filepath.Join(dir, "users")
	for user, pw := range map[string]string{"ha": "ha-pw", "viewer": "viewer-pw"} {
		cmd := exec.Command(edged(t), "passwd", users, user)
		cmd.Stdin = strings.NewReader(pw + "\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("edged passwd: %v\n%s", err, out)
		}
	}
	brokerPort, httpPort := mqtttest.FreePort(t), mqtttest.FreePort(t)
	writeFile(t, dir, "labels/shapes.yaml", readRepoFile(t, "configs/labels/shapes.yaml"))
	cfg := writeFile(t, dir, "edged.yaml", fmt.Sprintf(`device: e2e
cache_dir: %s
http:
  listen: 127.0.0.1:%d
  users_file: users
models:
  clip: %s
  blip_vqa: %s
mqtt:
  broker: embedded
  listen: 127.0.0.1:%d
  qos: 1
  server:
    users_file: users
    users:
      viewer: {read: ['edged/+/demo/labels'], requests: false}
cameras:
  - name: demo
    source: {kind: synthetic, fps: 10, scene_every: 600ms, seed: 7}
    labels: {sets: [labels/shapes.yaml], every: 200ms, top_k: 3}
`, filepath.Join(dir, "cache"), httpPort, filepath.Join(root, "models/shapes/clip"), filepath.Join(root, "models/shapes/blip_vqa"), brokerPort))
	p := startEdged(t, dir, cfg)
	p.waitStderr("embedded broker listening", 1) // mosquitto_sub does not retry a refused connection
	broker := []string{"-h", "127.0.0.1", "-p", strconv.Itoa(brokerPort)}
	as := func(user, pw string, args ...string) []string {
		return append(append(append([]string{}, broker...), "-u", user, "-P", pw), args...)
	}

	ha := startMosqSub(t, as("ha", "ha-pw", "-t", "edged/#", "-q", "1")...)
	ha.waitFor(t, "edged/e2e/available", "online", func(p string) bool { return p == "online" })
	ha.waitFor(t, "edged/e2e/demo/labels", "labels", nil)

	// Refused: anonymous, a wrong password, and edged's own client id (a takeover).
	for _, c := range []struct {
		name string
		args []string
	}{
		{"anonymous", append(append([]string{}, broker...), "-t", "#", "-C", "1", "-W", "10")},
		{"wrong password", as("ha", "wrong", "-t", "#", "-C", "1", "-W", "10")},
		{"edged's client id", as("ha", "ha-pw", "-i", "edged-e2e", "-t", "#", "-C", "1", "-W", "10")},
	} {
		code, out := mosq(t, nil, "mosquitto_sub", c.args...)
		if code == 0 || !strings.Contains(strings.ToLower(out), "not authori") && !strings.Contains(strings.ToLower(out), "bad user name or password") {
			t.Errorf("%s: mosquitto_sub exit %d: %q; want a refused connection", c.name, code, out)
		}
	}
	if n := metric(t, httpPort, "edged_mqtt_connects_total"); n != 1 {
		t.Errorf("edged connected %v times; its session was taken over", n)
	}

	// Permissions: no one else writes edged's topics (QoS 1: the broker refuses it and
	// disconnects the client), the viewer reads only labels and may not ask.
	if code, out := mosq(t, nil, "mosquitto_pub", as("ha", "ha-pw", "-t", "edged/e2e/available", "-m", "offline", "-r", "-q", "1")...); code == 0 {
		t.Errorf("a retained offline from ha was accepted: %q", out)
	}
	if code, out := mosq(t, nil, "mosquitto_sub", as("ha", "ha-pw", "-t", "edged/e2e/available", "-C", "1", "-W", "10")...); code != 0 || strings.TrimSpace(out) != "online" {
		t.Errorf("edged/e2e/available after the forged offline: %q (exit %d), want online", out, code)
	}
	viewer := startMosqSub(t, as("viewer", "viewer-pw", "-t", "edged/#")...)
	if code, out := mosq(t, nil, "mosquitto_pub", as("viewer", "viewer-pw", "-t", "edged/e2e/demo/ask", "-m", `{"question":"q","request_id":"viewer-1"}`)...); code != 0 {
		t.Errorf("viewer's QoS 0 publish: exit %d %q (it should be dropped silently)", code, out)
	}

	// reply_to outside <prefix>/<device>/reply/ is refused, with an error on the answer topic.
	mosq(t, nil, "mosquitto_pub", as("ha", "ha-pw", "-q", "1", "-t", "edged/e2e/demo/ask", "-m",
		`{"question":"how many shapes are there?","request_id":"out-1","reply_to":"edged/e2e/available"}`)...)
	refused := ha.waitFor(t, "edged/e2e/demo/answer", "the error for out-1", func(p string) bool { return strings.Contains(p, `"request_id":"out-1"`) })
	if !strings.Contains(refused, "outside the reply topics") {
		t.Errorf("reply_to outside the space: %s", refused)
	}
	mosq(t, nil, "mosquitto_pub", as("ha", "ha-pw", "-q", "1", "-t", "edged/e2e/demo/ask", "-m",
		`{"question":"how many shapes are there?","request_id":"in-1","reply_to":"edged/e2e/reply/ha"}`)...)
	if got := ha.waitFor(t, "edged/e2e/reply/ha", "the answer to in-1", nil); !strings.Contains(got, `"answer"`) {
		t.Errorf("reply_to in the reply space got %s", got)
	}
	if got := ha.lines("edged/e2e/available"); got[len(got)-1] != "online" {
		t.Errorf("availability became %q", got[len(got)-1])
	}

	// A 64 MB publish is refused at its header: edged's memory does not take it in.
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, bytes.Repeat([]byte("x"), 64<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	before := rssBytes(t, p.cmd.Process.Pid)
	code, out := mosq(t, nil, "mosquitto_pub", as("ha", "ha-pw", "-q", "1", "-t", "big/x", "-f", big)...)
	after := rssBytes(t, p.cmd.Process.Pid)
	os.Remove(big)
	t.Logf("64 MB publish: mosquitto_pub exit %d %q; edged RSS %d → %d MiB", code, strings.TrimSpace(out), before>>20, after>>20)
	if code == 0 {
		t.Error("the 64 MB publish was accepted")
	}
	// Tolerance: the models' own churn moves RSS by a few MiB; taking the message in would
	// add at least its 64 MiB.
	if after-before > 24<<20 {
		t.Errorf("edged's RSS grew by %d MiB during a refused 64 MB publish", (after-before)>>20)
	}

	// A burst of asks: every request id gets a reply (an answer, or "busy"), and no result
	// is evicted from the results' queue for them. The broker keeps at most maxInflight
	// unacknowledged messages for one subscriber: on a fast machine the replies outrun
	// mosquitto_sub's acknowledgements, and the broker drops (and counts) the rest for it.
	labelsBefore := len(ha.lines("edged/e2e/demo/labels"))
	const burst = 2000
	var lines bytes.Buffer
	for i := range burst {
		fmt.Fprintf(&lines, `{"question":"how many shapes are there?","request_id":"b-%d"}`+"\n", i)
	}
	if code, out := mosq(t, lines.Bytes(), "mosquitto_pub", as("ha", "ha-pw", "-q", "1", "-t", "edged/e2e/demo/ask", "-l")...); code != 0 {
		t.Fatalf("mosquitto_pub -l: exit %d %s", code, out)
	}
	replied := map[string]bool{}
	re := regexp.MustCompile(`"request_id":"(b-\d+)"`)
	deadline := time.Now().Add(e2eTimeout)
	brokerDropped := 0.0
	for len(replied)+int(brokerDropped) < burst {
		for _, l := range ha.lines("edged/e2e/demo/answer") {
			if m := re.FindStringSubmatch(l); m != nil {
				replied[m[1]] = true
			}
		}
		brokerDropped = metric(t, httpPort, "edged_broker_dropped_total")
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d asks got a reply, the broker dropped %v for slow subscribers; edged_mqtt_replies_dropped_total %v, edged_mqtt_ask_errors_total %v",
				len(replied), burst, brokerDropped, metric(t, httpPort, "edged_mqtt_replies_dropped_total"), metric(t, httpPort, "edged_mqtt_ask_errors_total"))
		}
		time.Sleep(50 * time.Millisecond) // poll interval
	}
	t.Logf("ask burst: the broker dropped %v messages for mosquitto_sub", brokerDropped)
	busy := 0
	for _, l := range ha.lines("edged/e2e/demo/answer") {
		if strings.Contains(l, `"request_id":"b-`) && strings.Contains(l, "busy") {
			busy++
		}
	}
	t.Logf("ask burst: %d replies, %d of them busy", len(replied), busy)
	ha.waitFor(t, "edged/e2e/demo/labels", "labels after the burst", func(string) bool {
		return len(ha.lines("edged/e2e/demo/labels")) > labelsBefore+5
	})
	for _, name := range []string{"edged_mqtt_dropped_total", "edged_mqtt_replies_dropped_total"} {
		if v := metric(t, httpPort, name); v != 0 {
			t.Errorf("%s = %v after the ask burst, want 0", name, v)
		}
	}

	// The viewer saw labels only, and its ask was not answered.
	viewer.waitFor(t, "edged/e2e/demo/labels", "labels for the viewer", nil)
	for _, l := range strings.Split(strings.TrimSpace(viewer.out.String()), "\n") {
		if !strings.HasPrefix(l, "edged/e2e/demo/labels ") {
			t.Errorf("viewer received %.80q, outside its read permission", l)
			break
		}
	}
	if strings.Contains(ha.out.String(), "viewer-1") {
		t.Error("the viewer's ask was answered")
	}

	// The page: credentials required, a rebinding Host refused.
	page := fmt.Sprintf("http://127.0.0.1:%d/api/cameras", httpPort)
	if code, _ := httpDo(t, page, "", "", ""); code != 401 {
		t.Errorf("the page without credentials: %d, want 401", code)
	}
	if code, _ := httpDo(t, page, "", "ha", "wrong"); code != 401 {
		t.Errorf("the page with a wrong password: %d, want 401", code)
	}
	if code, body := httpDo(t, page, "", "ha", "ha-pw"); code != 200 || !strings.Contains(body, `"demo"`) {
		t.Errorf("the page with credentials: %d %s", code, body)
	}
	if code, _ := httpDo(t, page, "rebind.attacker.example", "ha", "ha-pw"); code != 421 {
		t.Errorf("a request for another host: %d, want 421", code)
	}

	p.signal(syscall.SIGTERM)
	if code := p.exitCode(); code != 0 {
		t.Fatalf("exit status %d", code)
	}
}

// Beyond loopback without passwords the broker or the page is a config error (exit 2) that
// says what to do; nothing listens.
func TestE2EExposedWithoutAuthExits2(t *testing.T) {
	for _, c := range []struct{ name, extra, want string }{
		{"broker", "mqtt:\n  listen: 0.0.0.0:0\n", "mqtt.listen: 0.0.0.0:0 is beyond loopback and no users file is set"},
		{"page", "http: 0.0.0.0:0\n", "http: 0.0.0.0:0 is beyond loopback and neither users_file nor token_file is set"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFile(t, dir, "edged.yaml", "device: d\n"+c.extra+"cameras:\n  - name: c\n    source: {kind: synthetic}\n")
			p := startEdged(t, dir, "edged.yaml")
			if code := p.exitCode(); code != 2 {
				t.Fatalf("exit status %d, want 2", code)
			}
			if !strings.Contains(p.stderr.String(), c.want) {
				t.Errorf("stderr %q, want %q", p.stderr.String(), c.want)
			}
		})
	}
}
