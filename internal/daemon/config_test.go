package daemon

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/edged/edged/internal/userfile"
)

// The shipped default config must load as it is.
func TestShippedConfig(t *testing.T) {
	c, err := LoadConfig("../../configs/edged.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.MQTT.Broker != "embedded" || len(c.Cameras) != 1 || c.Cameras[0].Source.Kind != "synthetic" {
		t.Fatalf("unexpected default config: %+v", c)
	}
	if c.Cameras[0].Caption.Every != 5*time.Second || c.Cameras[0].Labels.Every != time.Second {
		t.Fatalf("schedules: %+v", c.Cameras[0])
	}
	if got := c.Resolve(c.Models.CLIP); got != filepath.Join("..", "..", "models", "shapes", "clip") {
		t.Fatalf("resolved clip path %q", got)
	}
	if cs := c.Cameras[0].Caption; cs.Candidates != 5 || cs.Rank != "itm" || !c.usesITM() {
		t.Fatalf("the demo's captions should be ranked by the shapes ITM model: %+v", cs)
	}
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	labels := filepath.Join(dir, "l.yaml")
	if err := os.WriteFile(labels, []byte("name: l\nlabels: [a]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	base := "device: d\nmodels:\n  clip: " + dir + "\ncameras:\n  - name: c\n    source: {kind: synthetic}\n"
	withCaption := "device: d\nmodels:\n  clip: " + dir + "\n  blip_caption: " + dir + "\ncameras:\n  - name: c\n    source: {kind: synthetic}\n"
	cases := []struct{ name, src, want string }{
		{"unknown top key", "devise: d\n", "x.yaml:1: devise: unknown key (the keys here are device, http, cache_dir, log_level, mqtt, runtime, models, cameras, search)"},
		{"unknown nested key", base + "    captoin: {every: 5s}\n", "x.yaml:7: cameras[0].captoin: unknown key (the keys here are name, source, labels, caption, questions, snapshot, motion)"},
		{"wrong type", "device: d\nruntime: {threads: many}\n", `x.yaml:2: runtime.threads: "many" is not a whole number`},
		{"duration in words", base + "    labels:\n      sets: [" + labels + "]\n      every: 1 second\n", `x.yaml:9: cameras[0].labels.every: "1 second" is not a duration (a number and a unit: 500ms, 1s, 2m30s, 1h)`},
		{"duration without unit", base + "    caption: {every: 5}\n", `x.yaml:7: cameras[0].caption.every: "5" is not a duration`},
		{"list for a mapping", base + "    caption: [a]\n", "x.yaml:7: cameras[0].caption: a list is not a mapping of every, beams, max_tokens, prompt, candidates, samples, rank, runners_up"},
		{"bad yaml", "device: d\ncameras: [\n", "x.yaml:2: did not find expected node content"},
		{"bad delegate", base + "runtime:\n  delegate: tpu\n", `x.yaml:8: runtime.delegate: "tpu" is not one of`},
		{"bad precision", base + "runtime:\n  precision: int4\n", `x.yaml:8: runtime.precision: "int4"`},
		{"bad kernels", base + "runtime:\n  kernels: avx1024\n", `x.yaml:8: runtime.kernels: kernels: unknown kernel "avx1024" (want auto, off or one of`},
		{"external needs library", base + "runtime:\n  delegate: external\n", "runtime.delegate_library: the external delegate needs"},
		{"no cameras", "device: d\n", "cameras: at least one camera"},
		{"bad camera name", "device: d\ncameras:\n  - name: a/b\n    source: {kind: synthetic}\n", `x.yaml:3: cameras[0].name: "a/b"`},
		{"bad source kind", "device: d\ncameras:\n  - name: a\n    source: {kind: webcam}\n", `x.yaml:4: cameras[0].source.kind: "webcam"`},
		{"missing folder", "device: d\ncameras:\n  - name: a\n    source: {kind: folder, path: /nope}\n", "cameras[0].source.path: stat /nope"},
		{"bad transport", "device: d\ncameras:\n  - name: a\n    source: {kind: stream, url: 'rtsp://h/s', transport: quic}\n", `x.yaml:4: cameras[0].source.transport: "quic" is not tcp or udp`},
		{"mjpeg over rtsp", "device: d\ncameras:\n  - name: a\n    source: {kind: mjpeg, url: 'rtsp://h/s'}\n", `cameras[0].source.url: "rtsp://h/s" is not an http:// or https:// URL`},
		{"credentials twice", "device: d\ncameras:\n  - name: a\n    source: {kind: stream, url: 'rtsp://u:p@h/s', username: u}\n", "cameras[0].source.username: the URL holds credentials already"},
		{"missing password file", "device: d\ncameras:\n  - name: a\n    source: {kind: snapshot, url: 'http://h/s.jpg', username: u, password_file: /nope}\n", "cameras[0].source.password_file: stat /nope"},
		{"pipeline without appsink", "device: d\ncameras:\n  - name: a\n    source: {kind: gstreamer, pipeline: videotestsrc ! autovideosink}\n", "cameras[0].source.pipeline: \"videotestsrc ! autovideosink\" does not end in an appsink"},
		{"bad device format", "device: d\ncameras:\n  - name: a\n    source: {kind: device, device: '0', format: h264}\n", `cameras[0].source.format: "h264" is not one of mjpeg, yuyv, any`},
		{"labels without every", base + "    labels: {sets: [" + labels + "]}\n", "cameras[0].labels.every: give how often"},
		{"caption without model", base + "    caption: {every: 5s}\n", "x.yaml:7: cameras[0].caption.every: captions need models.blip_caption"},
		{"bad duration", base + "    caption: {every: often}\n", `x.yaml:7: cameras[0].caption.every: "often" is not a duration`},
		{"bad broker", base + "mqtt: {broker: 'localhost'}\n", `mqtt.broker: "localhost" names no scheme: write it as mqtt://localhost`},
		{"broker port missing", base + "mqtt: {broker: 'mqtt://192.168.1.5:'}\n", `mqtt.broker: "mqtt://192.168.1.5:": the port after ':' is missing`},
		{"bad qos", base + "mqtt: {qos: 3}\n", "x.yaml:7: mqtt.qos: 3 is not 0, 1 or 2"},
		{"missing model", "device: d\nmodels: {clip: /no/model}\ncameras:\n  - name: a\n    source: {kind: synthetic}\n", "x.yaml:2: models.clip: no folder /no/model"},
		{"empty question", strings.Replace(base, "  clip:", "  blip_vqa: "+dir+"\n  clip:", 1) + "    questions: {every: 5s, ask: ['']}\n", "x.yaml:8: cameras[0].questions.ask[0]: empty question"},
		{"duplicate key", base + "models: {}\n", `x.yaml:7: mapping key "models" already defined at line 2`},
		{"empty", "", "x.yaml: empty file"},
		{"negative search bound", base + "search: {max_frames: 10, max_bytes: -1}\n", "x.yaml:7: search.max_bytes: is negative"},
		{"bad thumbnail quality", base + "search: {thumb_quality: 101}\n", "search.thumb_quality: 101 is outside [1, 100]"},
		{"rerank without ITM", base + "search: {rerank: true}\n", "x.yaml:7: search.rerank: re-ranking needs models.blip_itm"},
		{"confirm without ITM", base + "    labels: {sets: [" + labels + "], every: 1s, confirm: {labels: [a]}}\n", "cameras[0].labels.confirm.labels: ITM-checked events need models.blip_itm"},
		{"confirm threshold", strings.Replace(base, "  clip:", "  blip_itm: "+dir+"\n  clip:", 1) + "    labels: {sets: [" + labels + "], every: 1s, confirm: {labels: [a], threshold: 1.5}}\n", "cameras[0].labels.confirm.threshold: 1.5 is outside (0, 1)"},
		{"ranked captions without ITM", withCaption + "    caption: {every: 5s, candidates: 3}\n", `x.yaml:8: cameras[0].caption.rank: "itm" needs models.blip_itm`},
		{"ranked captions without CLIP", strings.Replace(withCaption, "  clip: "+dir+"\n", "", 1) + "    caption: {every: 5s, candidates: 3, rank: clip}\n", `cameras[0].caption.rank: "clip" needs models.clip`},
		{"unknown rank", withCaption + "    caption: {every: 5s, candidates: 3, rank: votes}\n", `cameras[0].caption.rank: "votes" is not one of itm, clip, both`},
		{"too many candidates", withCaption + "    caption: {every: 5s, candidates: 17, rank: clip}\n", "cameras[0].caption.candidates: 17 is outside [1, 16]"},
		{"more samples than candidates", withCaption + "    caption: {every: 5s, candidates: 3, samples: 4, rank: clip}\n", "cameras[0].caption.samples: 4 is outside [0, candidates 3]"},
		{"beams and candidates", withCaption + "    caption: {every: 5s, beams: 3, candidates: 3, rank: clip}\n", "cameras[0].caption.beams: 3 beams and 3 candidates"},
		{"too many runners-up", withCaption + "    caption: {every: 5s, candidates: 3, runners_up: 3, rank: clip}\n", "cameras[0].caption.runners_up: 3 is outside [0, candidates - 1 = 2]"},
	}
	cases = append(cases, securityConfigErrors(t, base)...)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(c.src), "x.yaml")
			var ce *ConfigError
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want a ConfigError containing %q", err, c.want)
			}
		})
	}
}

// The search section's keys reach the store; labels.confirm names labels of the camera's sets.
func TestSearchAndConfirmConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("l.yaml", "name: l\nlabels: [a, b]\n")
	if err := os.MkdirAll(filepath.Join(dir, "itm"), 0o755); err != nil {
		t.Fatal(err)
	}
	conf := func(confirm string) string {
		return write("c.yaml", "device: d\nmodels: {clip: "+dir+", blip_itm: itm}\n"+
			"search: {max_frames: 50, max_age: 10m, max_bytes: 1000000, thumb_width: 96, thumb_quality: 60, rerank: true, rerank_depth: 12}\n"+
			"cameras:\n  - name: c\n    source: {kind: synthetic}\n    labels: {sets: [l.yaml], every: 1s, confirm: "+confirm+"}\n")
	}
	st, err := loadState(conf("{labels: [b]}"))
	if err != nil {
		t.Fatal(err)
	}
	o := st.cfg.Search.recallOptions()
	if o.MaxFrames != 50 || o.MaxAge != 10*time.Minute || o.MaxBytes != 1000000 || o.ThumbWidth != 96 || o.ThumbQuality != 60 || o.RerankDepth != 12 || !st.cfg.Search.Rerank {
		t.Errorf("recall options %+v from %+v", o, st.cfg.Search)
	}
	c := st.cfg.Cameras[0].Labels.Confirm
	if !c.checks("b") || c.checks("a") || c.Threshold != 0.5 {
		t.Errorf("confirm %+v: want b checked at the default threshold 0.5, a not", c)
	}
	if st, err := loadState(conf("{labels: ['*'], threshold: 0.7}")); err != nil || !st.cfg.Cameras[0].Labels.Confirm.checks("a") {
		t.Errorf("'*' should check every label: %v", err)
	}
	_, err = loadState(conf("{labels: [a, cat]}"))
	if err == nil || !strings.Contains(err.Error(), `c.yaml:7: cameras[0].labels.confirm.labels[1]: camera "c" has no label "cat" in its label sets`) {
		t.Errorf("unknown label to confirm: %v", err)
	}
}

// securityConfigErrors are the config errors of the broker's and the page's security.
func securityConfigErrors(t *testing.T, base string) []struct{ name, src, want string } {
	dir, users := usersDir(t)
	plain := filepath.Join(dir, "plain")
	if err := os.WriteFile(plain, []byte("ha:pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	short := filepath.Join(dir, "token")
	if err := os.WriteFile(short, []byte("abc\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return []struct{ name, src, want string }{
		{"broker beyond loopback without users", base + "mqtt:\n  listen: 0.0.0.0:1883\n", "x.yaml:8: mqtt.listen: 0.0.0.0:1883 is beyond loopback and no users file is set"},
		{"broker on every interface", base + "mqtt:\n  listen: ':1883'\n", "mqtt.listen: :1883 is beyond loopback"},
		{"broker users file not bcrypt", base + "mqtt:\n  server:\n    users_file: " + plain + "\n", "x.yaml:9: mqtt.server.users_file: " + plain + `:1: user "ha": not a bcrypt hash`},
		{"broker permissions of an unknown user", base + "mqtt:\n  server:\n    users_file: " + users + "\n    users:\n      bob: {read: ['#']}\n", `x.yaml:11: mqtt.server.users.bob: user "bob" is not in`},
		{"broker permissions without users", base + "mqtt:\n  server:\n    users:\n      ha: {read: ['#']}\n", "mqtt.server.users.ha: permissions for a user, but no users_file"},
		{"broker bad filter", base + "mqtt:\n  server:\n    users_file: " + users + "\n    users:\n      ha: {read: ['a/#/b']}\n", "mqtt.server.users.ha.read[0]: \"a/#/b\": '#' must be the whole last level"},
		{"broker tls without key", base + "mqtt:\n  server:\n    tls: {cert: " + users + "}\n", "mqtt.server.tls: cert and key go together"},
		{"broker tls not a certificate", base + "mqtt:\n  server:\n    tls: {cert: " + users + ", key: " + users + "}\n", "mqtt.server.tls: tls: failed to find any PEM data"},
		{"broker packet limit", base + "mqtt:\n  server: {max_packet_bytes: 10}\n", "mqtt.server.max_packet_bytes: 10 is outside"},
		{"server section with another broker", base + "mqtt:\n  broker: tcp://127.0.0.1:1883\n  server: {allow_anonymous: true}\n", "mqtt.server: is the embedded broker's section"},
		{"http beyond loopback without auth", base + "http: 0.0.0.0:8080\n", "x.yaml:7: http: 0.0.0.0:8080 is beyond loopback and neither users_file nor token_file is set"},
		{"http mapping beyond loopback", base + "http:\n  listen: 192.0.2.1:8080\n", "http: 192.0.2.1:8080 is beyond loopback"},
		{"http unknown key", base + "http:\n  listen: 127.0.0.1:8080\n  password: x\n", "x.yaml:9: http.password: unknown key (the keys here are listen, users_file, token_file, allow_anonymous, allowed_hosts)"},
		{"http short token", base + "http:\n  listen: 0.0.0.0:8080\n  token_file: " + short + "\n", "x.yaml:9: http.token_file: " + short + ": the token is 3 bytes; use at least 16"},
		{"http users file not bcrypt", base + "http:\n  listen: 0.0.0.0:8080\n  users_file: " + plain + "\n", "http.users_file: " + plain + ":1:"},
		{"http without listen", base + "http:\n  users_file: " + users + "\n", "http.listen: missing"},
		{"reply prefix over the device", base + "mqtt:\n  reply_prefixes: [edged]\n", `x.yaml:8: mqtt.reply_prefixes[0]: "edged" covers edged's own topics`},
	}
}

// Beyond loopback with credentials, or with allow_anonymous said explicitly, loads.
func TestSecurityConfigAccepted(t *testing.T) {
	dir, _ := usersDir(t)
	token := filepath.Join(dir, "token")
	if err := os.WriteFile(token, []byte("0123456789abcdef0123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := "device: d\ncameras:\n  - name: c\n    source: {kind: synthetic}\n"
	for _, src := range []string{
		"mqtt:\n  listen: 0.0.0.0:1883\n  server:\n    users_file: users\n    users:\n      ha: {read: ['edged/#'], requests: false}\n",
		"mqtt:\n  listen: 0.0.0.0:1883\n  server: {allow_anonymous: true}\n",
		"http:\n  listen: 0.0.0.0:8080\n  users_file: users\n  allowed_hosts: [edged.lan]\n",
		"http:\n  listen: 0.0.0.0:8080\n  token_file: token\n",
		"http:\n  listen: 0.0.0.0:8080\n  allow_anonymous: true\n",
		"http: 127.0.0.1:8080\n",
	} {
		c, err := ParseConfig([]byte(base+src), filepath.Join(dir, "x.yaml"))
		if err != nil {
			t.Errorf("%s: %v", src, err)
			continue
		}
		if bc := c.brokerConfig(); len(bc.Users) > 0 && (!bc.Users["ha"].NoRequests || bc.Users["ha"].Read[0] != "edged/#") {
			t.Errorf("%s: broker permissions %+v", src, bc.Users)
		}
	}
}

// usersDir is a new folder with a users file "users" holding the user ha.
func usersDir(t *testing.T) (dir, users string) {
	t.Helper()
	dir = t.TempDir()
	users = filepath.Join(dir, "users")
	if err := userfile.SetPassword(users, "ha", "pw"); err != nil {
		t.Fatal(err)
	}
	return dir, users
}

// The ITM model is loaded only when something uses it: checked events, re-ranked searches or
// captions ranked by ITM (not by CLIP alone).
func TestUsesITM(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "l.yaml"), []byte("name: l\nlabels: [a]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, camera, search string
		want                 bool
	}{
		{"nothing", "    caption: {every: 1s}\n", "", false},
		{"captions ranked by CLIP", "    caption: {every: 1s, candidates: 3, rank: clip}\n", "", false},
		{"captions ranked by ITM", "    caption: {every: 1s, candidates: 3}\n", "", true},
		{"captions ranked by both", "    caption: {every: 1s, candidates: 3, rank: both}\n", "", true},
		{"one candidate", "    caption: {every: 1s, candidates: 1, rank: itm}\n", "", false},
		{"checked events", "    labels: {sets: [l.yaml], every: 1s, confirm: {labels: [a]}}\n", "", true},
		{"re-ranked search", "", "search: {rerank: true}\n", true},
	} {
		src := "device: d\nmodels: {clip: " + dir + ", blip_caption: " + dir + ", blip_itm: " + dir + "}\n" + tc.search +
			"cameras:\n  - name: c\n    source: {kind: synthetic}\n" + tc.camera
		c, err := ParseConfig([]byte(src), filepath.Join(dir, "c.yaml"))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := c.usesITM(); got != tc.want {
			t.Errorf("%s: usesITM %v, want %v", tc.name, got, tc.want)
		}
	}
}
