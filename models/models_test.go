package models

import (
	"strings"
	"testing"
)

func TestDefaultCacheDir(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", "/somewhere/cache")
	if d, err := DefaultCacheDir(); err != nil || d != "/somewhere/cache/edged" {
		t.Errorf("DefaultCacheDir = %q, %v", d, err)
	}
}

// Every checkpoint class edged's README promises is in the one list, and nothing else.
func TestArchitectures(t *testing.T) {
	want := "BlipForConditionalGeneration BlipForImageTextRetrieval BlipForQuestionAnswering CLIPModel"
	if got := strings.Join(Architectures.Names(), " "); got != want {
		t.Errorf("Architectures = %s, want %s", got, want)
	}
	if _, err := Architectures.Lookup("GPT2LMHeadModel"); err == nil || !strings.Contains(err.Error(), `unsupported architecture "GPT2LMHeadModel"`) {
		t.Errorf("Lookup(GPT2LMHeadModel) = %v", err)
	}
}
