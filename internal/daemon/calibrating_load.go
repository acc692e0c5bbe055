package daemon

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/edged/edged/bundle"
	"github.com/edged/edged/clip"
	"github.com/edged/edged/internal/convert"
	"github.com/edged/edged/models"
)

// calibrationExecutable is the edged that converts on the cameras' frames: this one.
var calibrationExecutable = os.Executable

// needsCameraCalibration says whether the CLIP bundle b is one the daemon calibrates on its
// cameras: full int8 was asked for (the default), the checkpoint had no calibration data so it
// was written at the safe precision, it is the cache's conversion (which a calibrated one
// replaces), and calibrating on the cameras is not turned off.
func (l *loader) needsCameraCalibration(b *bundle.Bundle) bool {
	cal := b.Manifest.Calibration
	return l.cfg.Models.Calibration.enabled() &&
		(l.cfg.Runtime.Precision == "" || l.cfg.Runtime.Precision == precisionInt8) &&
		b.Manifest.Precision == convert.SafePrecision.String() &&
		cal != nil && cal.Source == convert.CalibrationNone && cal.Fallback != "" &&
		filepath.Dir(filepath.Clean(b.Dir)) == filepath.Clean(models.BundlesDir(l.cache)) &&
		len(l.cfg.Cameras) > 0
}

// calibrating wraps the safe CLIP model of bundle b in a calibratingLabeler: its frames are
// kept in b's folder (deleted with the model), and a model that passes replaces b in the cache.
func (l *loader) calibrating(b *bundle.Bundle, safe *clipLabeler, opts clip.Options) (*calibratingLabeler, error) {
	exe, err := calibrationExecutable()
	if err != nil {
		return nil, fmt.Errorf("calibration: this executable: %w", err)
	}
	checkpoint := b.Manifest.Source.Path
	if _, err := os.Stat(filepath.Join(checkpoint, "config.json")); err != nil {
		return nil, fmt.Errorf("calibration: the checkpoint %q the model was converted from is gone: %w", checkpoint, err)
	}
	co := l.cfg.Models.Calibration.options()
	co.Reservoir.Dir = filepath.Join(b.Dir, frameSubfolder)
	res, err := OpenReservoir(co.Reservoir)
	if err != nil {
		return nil, err
	}
	child := childConversion{exe: exe, checkpoint: checkpoint, safe: b, turn: &l.turn, log: l.log}
	load := func(nb *bundle.Bundle) (swappableCLIP, error) { return newCLIPLabeler(nb, opts, l.labelWorkers) }
	report := func(precision string, s CalibrationStatus) {
		l.prep.update(fieldCLIP, func(m *ModelStatus) { m.Precision, m.Calibration = precision, &s })
	}
	l.log.Info("models.clip runs at the safe precision (int8 weights, float activations) until it is calibrated to full int8 on the cameras' frames",
		"min_frames", co.MinFrames, "min_span", co.MinSpan, "frames_kept", res.State().Calibration+res.State().Check)
	return newCalibratingLabeler(safe, res, child.run, load, child.publishInto, report, co, l.log), nil
}

// fidelityPublish moves the finished bundle dir to out (replacing the bundle there) and reads it.
func fidelityPublish(dir, out string) (*bundle.Bundle, error) {
	if err := convert.Publish(dir, out); err != nil {
		return nil, err
	}
	return bundle.Read(out)
}

// runNiced runs exe with args at the given niceness (through nice(1) when there is one, else
// by setting the child's priority after it started), killed when ctx ends; its stdout.
func runNiced(ctx context.Context, exe string, args []string, nice int) (string, error) {
	name, full := exe, args
	if n, err := exec.LookPath("nice"); err == nil {
		name, full = n, append([]string{"-n", fmt.Sprint(nice), exe}, args...)
	}
	cmd := exec.CommandContext(ctx, name, full...)
	var stdout, stderr boundedBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("calibration: start %s: %w", exe, err)
	}
	if name == exe {
		_ = syscall.Setpriority(syscall.PRIO_PROCESS, cmd.Process.Pid, nice)
	}
	err := cmd.Wait()
	if ctx.Err() != nil {
		return "", ctx.Err()
	}
	if err != nil {
		return "", fmt.Errorf("calibration: edged convert: %v: %s", err, stderr.String())
	}
	return stdout.String(), nil
}

// boundedBuffer keeps the last maxReportBytes written to it.
type boundedBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *boundedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if len(b.buf) > maxReportBytes {
		b.buf = append(b.buf[:0], b.buf[len(b.buf)-maxReportBytes:]...)
	}
	return len(p), nil
}

func (b *boundedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}
