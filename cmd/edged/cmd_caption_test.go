package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/edged/edged/blip/bliptest"
)

// Tests of the BLIP commands (caption, ask, match) on the shipped shapes models and the
// random-weight retrieval model of package blip's test data.

const scenes = "../../internal/shapes/testdata/scenes/"

// runCmd runs one of the commands and returns its exit status, stdout and stderr.
func runCmd(cmd func(args []string, stdout, stderr *bytes.Buffer) int, args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := cmd(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func captionCmd(a []string, o, e *bytes.Buffer) int { return caption(a, o, e) }
func askCmd(a []string, o, e *bytes.Buffer) int     { return ask(a, o, e) }
func matchCmd(a []string, o, e *bytes.Buffer) int   { return match(a, o, e) }

// jsonLines decodes one JSON object per line.
func jsonLines[T any](t *testing.T, out string) []T {
	t.Helper()
	var res []T
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var v T
		dec := json.NewDecoder(strings.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		res = append(res, v)
	}
	return res
}

func TestCaptionCommand(t *testing.T) {
	cache := t.TempDir()
	code, out, errOut := runCmd(captionCmd, "--model", "../../models/shapes/blip_caption", "--cache", cache, "--precision", "fp32",
		"--json", scenes+"scene_00.png", "--beams", "3", scenes+"scene_01.png")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	got := jsonLines[captionResult](t, out)
	want := []captionResult{
		{Image: scenes + "scene_00.png", Caption: "a yellow circle on a black background"},
		{Image: scenes + "scene_01.png", Caption: "a green triangle and a red triangle on a black background"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("captions %+v, want %+v (transformers' 3-beam captions)", got, want)
	}

	// A prompt, the token limit and the plain-text form.
	code, out, errOut = runCmd(captionCmd, "--model", "../../models/shapes/blip_caption", "--cache", cache, "--precision", "fp32",
		"--prompt", "a yellow", "--max-tokens", "2", scenes+"scene_00.png")
	if code != 0 || out != scenes+"scene_00.png: a yellow circle on\n" {
		t.Errorf("prompted caption: exit %d, %q (stderr %s)", code, out, errOut)
	}
}

func TestCaptionCommandKeepsGoingAfterABadImage(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "not-an-image.png")
	if err := os.WriteFile(bad, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCmd(captionCmd, "--model", "../../models/shapes/blip_caption", "--cache", t.TempDir(),
		"--json", bad, scenes+"scene_03.png", filepath.Join(t.TempDir(), "missing.png"))
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if !strings.Contains(errOut, "not-an-image.png: not an image file edged reads (PNG, JPEG, GIF (its first frame) and BMP)") || !strings.Contains(errOut, "missing.png: no such file") {
		t.Errorf("stderr %q should name both bad images and why", errOut)
	}
	if res := jsonLines[captionResult](t, out); len(res) != 1 || res[0].Image != scenes+"scene_03.png" {
		t.Errorf("stdout %q: want the one good image's caption", out)
	}
}

func TestAskCommand(t *testing.T) {
	cache := t.TempDir()
	code, out, errOut := runCmd(askCmd, "--model", "../../models/shapes/blip_vqa", "--cache", cache, "--json",
		"--question", "what color is the background?", scenes+"scene_00.png", scenes+"scene_02.png")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	got := jsonLines[askResult](t, out)
	want := []askResult{
		{scenes + "scene_00.png", "what color is the background?", "black"},
		{scenes + "scene_02.png", "what color is the background?", "white"},
	}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("answers %+v, want %+v", got, want)
	}

	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"empty question", []string{"--question", " ", scenes + "scene_00.png"}, 2, "empty question"},
		{"long question", []string{"--question", strings.Repeat("is there a red circle and ", 12), scenes + "scene_00.png"}, 1, "longer than the model's context of 35 tokens"},
		{"caption model", []string{"--model", "../../models/shapes/blip_caption", "--question", "why?", scenes + "scene_00.png"}, 1, "is a BlipForConditionalGeneration model; ask needs a BlipForQuestionAnswering"},
		{"not a model", []string{"--model", t.TempDir(), "--question", "why?", scenes + "scene_00.png"}, 1, "neither a bundle nor a Hugging Face checkpoint"},
	} {
		args := append([]string{"--model", "../../models/shapes/blip_vqa", "--cache", cache}, tc.args...)
		code, _, errOut := runCmd(askCmd, args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("%s: exit %d, stderr %q; want exit %d and %q", tc.name, code, errOut, tc.code, tc.want)
		}
	}
}

// TestMatchCommand runs the random-weight retrieval model with the shapes vocabulary (the same
// 202 tokens): the numbers mean nothing, the contract does.
func TestMatchCommand(t *testing.T) {
	dir := bliptest.TinyITMCheckpoint(t)
	code, out, errOut := runCmd(matchCmd, "--model", dir, "--cache", t.TempDir(), "--json", "--text", "a red circle", scenes+"scene_00.png")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	got := jsonLines[matchResult](t, out)
	if len(got) != 1 || got[0].Image != scenes+"scene_00.png" || got[0].Text != "a red circle" ||
		got[0].ITM < 0 || got[0].ITM > 1 || got[0].ITC < -1 || got[0].ITC > 1 {
		t.Errorf("match %+v: want the image, the text, a probability and a cosine", got)
	}
	code, _, errOut = runCmd(matchCmd, "--model", dir, "--text", "", scenes+"scene_00.png")
	if code != 2 || !strings.Contains(errOut, "empty text") {
		t.Errorf("empty text: exit %d, %q", code, errOut)
	}
}

// Only the commands that generate text take --beams and --max-tokens.
func TestBlipCommandFlags(t *testing.T) {
	for _, tc := range []struct {
		name      string
		cmd       func(a []string, o, e *bytes.Buffer) int
		generates bool
	}{{"caption", captionCmd, true}, {"ask", askCmd, true}, {"match", matchCmd, false}} {
		_, _, usage := runCmd(tc.cmd, "-h")
		for _, flag := range []string{"-beams", "-max-tokens"} {
			if strings.Contains(usage, flag) != tc.generates {
				t.Errorf("%s -h lists %s: %v, want %v\n%s", tc.name, flag, !tc.generates, tc.generates, usage)
			}
		}
		if !strings.Contains(usage, "-model") || !strings.Contains(usage, "-json") {
			t.Errorf("%s -h lacks the shared flags:\n%s", tc.name, usage)
		}
	}
}

// TestBlipJSONFieldNames pins the JSON contract of the three commands.
func TestBlipJSONFieldNames(t *testing.T) {
	for _, tc := range []struct {
		v    any
		want string
	}{
		{captionResult{Image: "a.png", Caption: "x"}, `{"image":"a.png","caption":"x"}`},
		{captionResult{Image: "a.png", Caption: "x", Score: ptr(0.75), Candidates: []captionCandidate{
			{Caption: "x", Score: 0.75, Scores: map[string]float64{"itm": 0.75}, From: "beam", Decoder: -0.5}}},
			`{"image":"a.png","caption":"x","score":0.75,"candidates":[{"caption":"x","score":0.75,"scores":{"itm":0.75},"from":"beam","decoder":-0.5}]}`},
		{askResult{"a.png", "q", "a"}, `{"image":"a.png","question":"q","answer":"a"}`},
		{matchResult{"a.png", "t", 0.5, 0.25}, `{"image":"a.png","text":"t","itm":0.5,"itc":0.25}`},
	} {
		b, err := json.Marshal(tc.v)
		if err != nil || string(b) != tc.want {
			t.Errorf("%T marshals to %s (%v), want %s", tc.v, b, err, tc.want)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// CapFilt from the command line: candidates ranked by CLIP (the clip folder beside the
// captioner, as in models/shapes), best first with their scores; the flags are checked.
func TestCaptionCandidatesRankedByCLIP(t *testing.T) {
	cache := t.TempDir()
	code, out, errOut := runCmd(captionCmd, "--model", "../../models/shapes/blip_caption", "--cache", cache, "--precision", "fp32",
		"--candidates", "4", "--samples", "1", "--rank", "clip", "--json", scenes+"scene_01.png")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	res := jsonLines[captionResult](t, out)[0]
	if len(res.Candidates) < 2 || len(res.Candidates) > 4 || res.Score == nil || res.Caption != res.Candidates[0].Caption || *res.Score != res.Candidates[0].Score {
		t.Fatalf("result %+v: want 2 to 4 candidates, the caption the first with its score", res)
	}
	var sum float64
	for i, c := range res.Candidates {
		sum += c.Scores["clip"]
		if c.Score != c.Scores["clip"] || (i > 0 && c.Score > res.Candidates[i-1].Score) {
			t.Errorf("candidate %d %+v: want the CLIP score, best first", i, c)
		}
	}
	// CLIP's probabilities are over the candidates.
	if sum < 0.999 || sum > 1.001 {
		t.Errorf("CLIP probabilities add up to %v", sum)
	}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--candidates", "0"}, 2, "--candidates 0 is outside [1, 16]"},
		{[]string{"--candidates", "3", "--samples", "4"}, 2, "--samples 4 is outside [0, --candidates 3]"},
		{[]string{"--candidates", "3", "--beams", "3"}, 2, "the candidates are the beams"},
		{[]string{"--candidates", "3", "--rank", "votes"}, 2, `--rank "votes"`},
		{[]string{"--candidates", "3", "--rank", "itm", "--itm-model", t.TempDir()}, 1, "--itm-model"},
	} {
		args := append([]string{"--model", "../../models/shapes/blip_caption", "--cache", cache, scenes + "scene_01.png"}, tc.args...)
		code, _, errOut := runCmd(captionCmd, args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", tc.args, code, errOut, tc.code, tc.want)
		}
	}
}

// The default ranking: BLIP ITM, with the blip_itm folder beside the captioner. On the
// reference scenes whose greedy caption names a wrong shape, the ranked caption is the
// scene's (scene_02: a blue square, greedy says circle; scene_07: a purple circle, greedy
// says square).
func TestCaptionCandidatesRankedByITM(t *testing.T) {
	code, out, errOut := runCmd(captionCmd, "--model", "../../models/shapes/blip_caption", "--cache", t.TempDir(),
		"--candidates", "5", "--json", scenes+"scene_02.png", scenes+"scene_07.png")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	got := jsonLines[captionResult](t, out)
	for i, want := range []string{"a blue square on a white background", "a purple circle on a black background"} {
		r := got[i]
		if r.Caption != want || r.Score == nil || *r.Score < 0.5 || r.Candidates[0].Scores["itm"] != *r.Score {
			t.Errorf("%s: %q (score %v), want %q ranked first by ITM", r.Image, r.Caption, r.Score, want)
		}
	}
}

// The README's edged match demo: the shapes ITM model tells scene_06 (a purple square beside
// a yellow triangle) from its swap and from its objects named in the other order.
func TestMatchCommandWithShapesITM(t *testing.T) {
	cache := t.TempDir()
	itm := func(text string) float64 {
		code, out, errOut := runCmd(matchCmd, "--model", bliptest.ShapesITMCheckpoint(t), "--cache", cache, "--json", "--text", text, scenes+"scene_06.png")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		return jsonLines[matchResult](t, out)[0].ITM
	}
	for text, match := range map[string]bool{
		"a purple square and a yellow triangle on a white background": true,
		"a purple triangle and a yellow square on a white background": false,
		"a yellow triangle and a purple square on a white background": false,
		"a photo of a yellow triangle":                                true,
		"a photo of a yellow square":                                  false,
	} {
		if p := itm(text); (p >= 0.5) != match {
			t.Errorf("%q: itm %.4f, want a match %v", text, p, match)
		}
	}
}
