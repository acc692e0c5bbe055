package daemon

import (
	"context"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/edged/edged/camera"
	"github.com/edged/edged/clip"
)

// watch reloads the config when Reload is called (SIGHUP) and when the config file or a
// label set file changes (their modification times and sizes are polled), until ctx ends.
// A reload that fails keeps the running config and is not retried until a file changes
// again.
func (d *Daemon) watch(ctx context.Context) {
	t := time.NewTicker(d.opts.ReloadPoll)
	defer t.Stop()
	var failed map[string]fileStamp // the files as they were when a reload last failed
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.reload:
			failed = d.reloadNow(ctx, "SIGHUP")
		case <-t.C:
			watched := d.st.Load().files
			if failed != nil {
				watched = failed // after a failure: wait for a change to what that attempt read
			}
			if changed := changedSince(watched); len(changed) > 0 {
				failed = d.reloadNow(ctx, "changed: "+strings.Join(changed, ", "))
			}
		}
	}
}

// changedSince lists the files whose stamp differs from the one given, sorted.
func changedSince(files map[string]fileStamp) []string {
	var changed []string
	for p, s := range files {
		if stampOf(p) != s {
			changed = append(changed, p)
		}
	}
	slices.Sort(changed)
	return changed
}

func currentStamps(files map[string]fileStamp) map[string]fileStamp {
	now := make(map[string]fileStamp, len(files))
	for p := range files {
		now[p] = stampOf(p)
	}
	return now
}

// reloadNow builds a new state from the files and swaps it in. Only the cameras' schedules
// (label sets, caption, standing questions, snapshots) and the log level change without a
// restart; the MQTT connection stays up. On failure it returns the stamps of the files the
// attempt read (the watcher waits for one of them to change), and nil on success.
func (d *Daemon) reloadNow(ctx context.Context, why string) map[string]fileStamp {
	old := d.st.Load()
	next, err := loadState(d.path)
	if err != nil {
		return d.reloadFailed(why, err, next, old)
	}
	merged, ignored := applyReload(old.cfg, next.cfg)
	nst := &state{cfg: merged, sets: map[string][]*clip.LabelSet{}, files: next.files}
	for _, cam := range merged.Cameras {
		if len(cam.Labels.Sets) > 0 {
			nst.sets[cam.Name] = next.sets[cam.Name]
		}
	}
	if err := prepareSets(ctx, d.sched.models(), nst, d.metrics); err != nil {
		return d.reloadFailed(why, err, next, old)
	}
	d.st.Store(nst)
	if d.logLevel != nil {
		d.logLevel.Set(parseLevel(merged.LogLevel))
	}
	camera.SetNativeLogging(merged.LogLevel == "debug")
	for _, r := range d.runners {
		r.notifyReload()
	}
	if before, after := discoveryCameras(old), discoveryCameras(nst); !reflect.DeepEqual(before, after) {
		if err := d.pub.SetCameras(after); err != nil {
			d.log.Warn("cannot update Home Assistant discovery", "err", err)
		}
	}
	d.metrics.reloads.WithLabelValues("ok").Inc()
	d.log.Info("config reloaded", "why", why)
	if len(ignored) > 0 {
		d.log.Warn("config changes that need a restart were not applied", "fields", strings.Join(ignored, ", "))
	}
	return nil
}

func (d *Daemon) reloadFailed(why string, err error, attempt, old *state) map[string]fileStamp {
	d.metrics.reloads.WithLabelValues("error").Inc()
	d.log.Error("config reload failed; the running config stays", "why", why, "err", err)
	files := maps.Clone(old.files)
	if attempt != nil {
		maps.Copy(files, attempt.files)
	}
	return currentStamps(files)
}
