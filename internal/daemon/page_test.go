package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edged/edged/clip"
)

// The live page's API over a running daemon (model doubles): the camera's latest labels and
// health, its newest frame, an ask answered on the BLIP lane, and search off without a CLIP
// text tower.
func TestPageBackend(t *testing.T) {
	td := newTestDir(t)
	td.write("set.yaml", "name: s\nlabels: [x, y]\n")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cfg := td.write("config.yaml", fmt.Sprintf(`device: test
http: %s
mqtt: {broker: embedded, listen: '127.0.0.1:0'}
models: {clip: models/clip, blip_vqa: models/blip_vqa}
cameras:
  - name: cam
    source: {kind: synthetic, fps: 20, width: 64, height: 48}
    labels: {sets: [set.yaml], every: 20ms}
`, addr))
	labeler := newTestLabeler()
	labeler.setScore("x", 0.9)
	labeler.setScore("y", 0.1)
	r := startDaemon(t, cfg, &Models{Labeler: labeler, Answerer: newTestAnswerer()}, Options{})
	base := "http://" + addr
	client := &http.Client{Timeout: 10 * time.Second}
	get := func(path string) (int, string, string) {
		t.Helper()
		resp, err := client.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
	}

	var st struct {
		Device  string `json:"device"`
		Cameras []struct {
			Name   string `json:"name"`
			Labels []struct {
				LabelSet string `json:"label_set"`
				Labels   []struct {
					Label string  `json:"label"`
					Score float64 `json:"score"`
				} `json:"labels"`
			} `json:"labels"`
			Health struct {
				State    string `json:"state"`
				Captured uint64 `json:"captured"`
			} `json:"health"`
		} `json:"cameras"`
		Models []struct {
			Model string `json:"model"`
			Count uint64 `json:"count"`
		} `json:"models"`
		MQTT struct {
			Connected bool `json:"connected"`
		} `json:"mqtt"`
		Search struct {
			Enabled bool `json:"enabled"`
		} `json:"search"`
	}
	eventually(t, "labels and health on /api/cameras", func() bool {
		code, _, body := get("/api/cameras")
		if code != 200 || json.Unmarshal([]byte(body), &st) != nil || len(st.Cameras) != 1 {
			return false
		}
		c := st.Cameras[0]
		return len(c.Labels) == 1 && len(c.Labels[0].Labels) > 0 && c.Health.Captured > 0 && st.MQTT.Connected && len(st.Models) > 0
	})
	c := st.Cameras[0]
	if st.Device != "test" || c.Name != "cam" || c.Labels[0].LabelSet != "s" || c.Labels[0].Labels[0].Label != "x" || c.Labels[0].Labels[0].Score != 0.9 ||
		c.Health.State != "streaming" || st.Models[0].Model != modelCLIPImage || st.Models[0].Count == 0 || st.Search.Enabled {
		t.Errorf("status %+v", st)
	}

	if code, ctype, body := get("/api/frame?camera=cam"); code != 200 || ctype != "image/jpeg" || !strings.HasPrefix(body, "\xff\xd8") {
		t.Errorf("GET /api/frame = %d %s", code, ctype)
	}
	if code, _, _ := get("/api/frame?camera=nope"); code != 404 {
		t.Errorf("GET /api/frame of an unknown camera = %d, want 404", code)
	}

	resp, err := client.Post(base+"/api/ask", "application/json", strings.NewReader(`{"camera": "cam", "question": "what is it?"}`))
	if err != nil {
		t.Fatal(err)
	}
	var ans struct {
		Question string `json:"question"`
		Answer   string `json:"answer"`
		Asked    bool   `json:"asked"`
		Frame    struct {
			Seq uint64 `json:"seq"`
		} `json:"frame"`
	}
	err = json.NewDecoder(resp.Body).Decode(&ans)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || ans.Answer != "answer to what is it?" || !ans.Asked || ans.Frame.Seq == 0 {
		t.Errorf("POST /api/ask = %d %+v (%v)", resp.StatusCode, ans, err)
	}
	if got := r.rec.of(KindAnswer); len(got) != 1 || !got[0].Asked {
		t.Errorf("answers %+v: want the asked one, as a result", got)
	}

	// The doubles have no text tower: search is off, and says so.
	if code, _, body := get("/api/search?q=x&camera=cam"); code != 503 || !strings.Contains(body, "search") {
		t.Errorf("GET /api/search without a CLIP text tower = %d %s; want 503", code, body)
	}
}

// textLabeler is a testLabeler with a text side: every text gets a distinct embedding, and
// LabelEmbeddings counts the label sets it embeds by name.
type textLabeler struct {
	*testLabeler
	mu     sync.Mutex
	embeds map[string]int
}

func (l *textLabeler) EmbedText(_ context.Context, text string) ([]float32, error) {
	h := fnv.New32a()
	h.Write([]byte(text))
	return []float32{float32(h.Sum32()%1000) + 1, 1}, nil
}

func (l *textLabeler) LabelEmbeddings(ctx context.Context, set *clip.LabelSet) ([][]float32, error) {
	l.mu.Lock()
	l.embeds[set.Name]++
	l.mu.Unlock()
	out := make([][]float32, len(set.Labels))
	for i, lab := range set.Labels {
		out[i], _ = l.EmbedText(ctx, lab.Prompts[0])
	}
	return out, nil
}

func (l *textLabeler) LogitScale() float64 { return 100 }

func (l *textLabeler) count(set string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.embeds[set]
}

// Search contrasts a query with every label set's labels and pairs, the pairs' indexes
// counting across sets; a set's pairs are embedded once, and forgotten when a reload drops
// the set.
func TestSearchContrastWithPairs(t *testing.T) {
	td := newTestDir(t)
	td.write("a.yaml", "name: a\npairs: '{} and a {}'\nlabels: [x, y, z]\n")
	td.write("b.yaml", "name: b\nlabels: [u, v]\n")
	cfg := td.config(`  - name: cam
    source: {kind: synthetic, fps: 20, width: 64, height: 48}
    labels: {sets: [b.yaml, a.yaml], every: 20ms}
`)
	te := &textLabeler{testLabeler: newTestLabeler(), embeds: map[string]int{}}
	r := startDaemon(t, cfg, &Models{Labeler: te, Answerer: newTestAnswerer()}, Options{ReloadPoll: time.Hour})
	eventually(t, "labels", func() bool { return r.rec.count(KindLabels) > 0 })

	labels, pairs := r.d.page.contrast(te, "cam")
	if len(labels) != 5 || len(pairs) != 6 {
		t.Fatalf("%d labels and %d pairs; want 5 (u v x y z) and 6 (x, y, z in order)", len(labels), len(pairs))
	}
	want := map[[2]int]string{{2, 3}: "x and a y", {4, 2}: "z and a x"}
	for _, p := range pairs {
		if p.A < 2 || p.B < 2 || p.A == p.B {
			t.Errorf("pair %d-%d: set a's labels are 2, 3, 4 after set b's two", p.A, p.B)
		}
		if text, ok := want[[2]int{p.A, p.B}]; ok {
			if e, _ := te.EmbedText(context.Background(), "a photo of a "+text); !slices.Equal(p.Embedding, e) {
				t.Errorf("pair %d-%d is not %q", p.A, p.B, text)
			}
		}
	}
	// A query that names a label is searched as the label.
	x, _ := te.EmbedText(context.Background(), "a photo of a x")
	for _, q := range []string{"x", "A  X.", "the x?"} {
		if got, err := r.d.page.search.Load().EmbedText(context.Background(), q); err != nil || !slices.Equal(got, x) {
			t.Errorf("query %q embedded as %v (%v); want label x's %v", q, got, err, x)
		}
	}
	if got, _ := r.d.page.search.Load().EmbedText(context.Background(), "a photo of x"); slices.Equal(got, x) {
		t.Errorf("query %q taken for label x", "a photo of x")
	}
	r.d.page.contrast(te, "")
	if n := te.count("a pairs"); n != 1 {
		t.Errorf("set a's pairs embedded %d times; want once", n)
	}

	td.write("a.yaml", "name: a\npairs: '{} and a {}'\nlabels: [x, y]\n")
	r.d.Reload()
	eventually(t, "the reloaded label set", func() bool {
		_, pairs := r.d.page.contrast(te, "cam")
		return len(pairs) == 2
	})
	r.d.page.pairsMu.Lock()
	held := len(r.d.page.pairs)
	r.d.page.pairsMu.Unlock()
	if held != 2 {
		t.Errorf("the page holds the pairs of %d label sets; want 2 (b and the new a)", held)
	}
}
