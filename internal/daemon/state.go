package daemon

import (
	"fmt"
	"os"
	"reflect"
	"slices"
	"time"

	"github.com/edged/edged/clip"
)

// state is everything the schedule reads that a reload may change: the config and the label
// sets its cameras name, loaded and checked. A state is immutable once built; a reload builds
// a new one and swaps it in behind an atomic.Pointer, so a job sees one consistent version
// from start to end and no lock is held while models run.
type state struct {
	cfg  *Config
	sets map[string][]*clip.LabelSet // by camera name, in the config's order
	// files are the config and label set files as they were read, for the reload watcher.
	files map[string]fileStamp
}

// fileStamp is what the watcher compares to see that a file changed.
type fileStamp struct {
	modTime time.Time
	size    int64
	missing bool
}

func stampOf(path string) fileStamp {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{missing: true}
	}
	return fileStamp{modTime: fi.ModTime(), size: fi.Size()}
}

// loadState reads the config file and the label sets it names. Every problem is a
// *ConfigError naming the config file, line and field; a label set's own message names its
// file and line too. On error the state is still returned, holding only the stamps of the
// files it read (for the reload watcher).
func loadState(path string) (*state, error) {
	st := &state{sets: map[string][]*clip.LabelSet{}, files: map[string]fileStamp{}}
	// Stamp before reading, so a write that lands during the read is seen as a change later.
	st.files[path] = stampOf(path)
	cfg, err := LoadConfig(path)
	if err != nil {
		return st, err
	}
	st.cfg = cfg
	if err := st.loadLabelSets(); err != nil {
		return st, err
	}
	return st, nil
}

// loadLabelSets loads every camera's label sets; a file named by two cameras is read once.
func (st *state) loadLabelSets() error {
	cfg := st.cfg
	loaded := map[string]*clip.LabelSet{}
	total := 0
	for i, cam := range cfg.Cameras {
		names := map[string]bool{}
		for j, p := range cam.Labels.Sets {
			field := fmt.Sprintf("cameras[%d].labels.sets[%d]", i, j)
			file := cfg.Resolve(p)
			set, ok := loaded[file]
			if !ok {
				st.files[file] = stampOf(file) // before reading, as above
				var err error
				if set, err = clip.LoadLabelSet(file); err != nil {
					return configErrorAt(cfg, field, "%v", err)
				}
				loaded[file] = set
			}
			if names[set.Name] {
				return configErrorAt(cfg, field, "camera %q already has a label set named %q (names must differ: they go into every labels message)", cam.Name, set.Name)
			}
			if total += len(set.Labels); total > MaxTotalLabels {
				return configErrorAt(cfg, field, "%s brings the cameras' label sets to %d labels, more than %d in all", file, total, MaxTotalLabels)
			}
			names[set.Name] = true
			st.sets[cam.Name] = append(st.sets[cam.Name], set)
		}
		for j, want := range cam.Labels.Confirm.Labels {
			if want != "*" && !setsHaveLabel(st.sets[cam.Name], want) {
				return configErrorAt(cfg, fmt.Sprintf("cameras[%d].labels.confirm.labels[%d]", i, j),
					"camera %q has no label %q in its label sets (\"*\" checks every label)", cam.Name, want)
			}
		}
	}
	return nil
}

// MaxTotalLabels bounds the labels of every camera's label sets together (a set named by two
// cameras counts twice): each is scored on every labelled frame and is an entity of its camera
// in Home Assistant (README, "Label sets"; one set holds at most clip.MaxLabels).
const MaxTotalLabels = 4000

func setsHaveLabel(sets []*clip.LabelSet, name string) bool {
	for _, set := range sets {
		for _, l := range set.Labels {
			if l.Name == name {
				return true
			}
		}
	}
	return false
}

// configErrorAt makes a ConfigError for a field of cfg, finding the field's line in the file.
func configErrorAt(cfg *Config, field, format string, args ...any) error {
	v := validator{file: cfg.Path, root: cfg.root}
	v.fail(field, format, args...)
	return v.err
}

// camera returns the named camera's config (nil when there is none).
func (st *state) camera(name string) *Camera {
	for i := range st.cfg.Cameras {
		if st.cfg.Cameras[i].Name == name {
			return &st.cfg.Cameras[i]
		}
	}
	return nil
}

// applyReload makes the config a reload may apply: the old config with every camera's
// schedule (labels, caption, questions, snapshot) and the log level taken from the new one.
// Everything else (MQTT, models, runtime, HTTP, cameras and their sources, motion gates)
// needs a restart; what the new file changes there is listed in ignored, and not applied.
func applyReload(old, updated *Config) (merged *Config, ignored []string) {
	m := *old
	m.Cameras = slices.Clone(old.Cameras)
	m.LogLevel = updated.LogLevel
	m.root = updated.root
	for field, differs := range map[string]bool{
		"device":    old.Device != updated.Device,
		"http":      !reflect.DeepEqual(old.HTTP, updated.HTTP),
		"cache_dir": old.CacheDir != updated.CacheDir,
		"mqtt":      !reflect.DeepEqual(old.MQTT, updated.MQTT),
		"runtime":   !reflect.DeepEqual(old.Runtime, updated.Runtime),
		"models":    old.Models != updated.Models,
		"search":    old.Search != updated.Search,
	} {
		if differs {
			ignored = append(ignored, field)
		}
	}
	byName := map[string]*Camera{}
	for i := range updated.Cameras {
		byName[updated.Cameras[i].Name] = &updated.Cameras[i]
	}
	for i := range m.Cameras {
		cam := &m.Cameras[i]
		u, ok := byName[cam.Name]
		if !ok {
			ignored = append(ignored, fmt.Sprintf("cameras (%q removed)", cam.Name))
			continue
		}
		if !reflect.DeepEqual(cam.Source, u.Source) {
			ignored = append(ignored, fmt.Sprintf("cameras[%d].source", i))
		}
		if cam.Motion != u.Motion {
			ignored = append(ignored, fmt.Sprintf("cameras[%d].motion", i))
		}
		cam.Labels, cam.Caption, cam.Questions, cam.Snapshot = u.Labels, u.Caption, u.Questions, u.Snapshot
		delete(byName, cam.Name)
	}
	for name := range byName {
		ignored = append(ignored, fmt.Sprintf("cameras (%q added)", name))
	}
	// Work whose model was not loaded at start cannot be switched on by a reload.
	for i := range m.Cameras {
		cam := &m.Cameras[i]
		if len(cam.Labels.Sets) > 0 && old.Models.CLIP == "" {
			cam.Labels.Sets = nil
			ignored = append(ignored, fmt.Sprintf("cameras[%d].labels (models.clip)", i))
		}
		if cam.Caption.Every > 0 && old.Models.BLIPCaption == "" {
			cam.Caption.Every = 0
			ignored = append(ignored, fmt.Sprintf("cameras[%d].caption (models.blip_caption)", i))
		}
		if len(cam.Questions.Ask) > 0 && old.Models.BLIPVQA == "" {
			cam.Questions.Ask = nil
			ignored = append(ignored, fmt.Sprintf("cameras[%d].questions (models.blip_vqa)", i))
		}
		// models.blip_itm is loaded only when the config at start used it.
		if len(cam.Labels.Confirm.Labels) > 0 && !old.usesITM() {
			cam.Labels.Confirm.Labels = nil
			ignored = append(ignored, fmt.Sprintf("cameras[%d].labels.confirm (models.blip_itm, not loaded at start)", i))
		}
		if itm, clip := cam.Caption.ranks(); (itm && !old.usesITM()) || (clip && old.Models.CLIP == "") {
			cam.Caption.Candidates = 1
			ignored = append(ignored, fmt.Sprintf("cameras[%d].caption.rank (its model was not loaded at start)", i))
		}
	}
	slices.Sort(ignored)
	return &m, ignored
}

// usesLabelSet says whether a camera uses set.
func (st *state) usesLabelSet(set *clip.LabelSet) bool {
	for _, sets := range st.sets {
		if slices.Contains(sets, set) {
			return true
		}
	}
	return false
}
