package daemon

import (
	"fmt"
	"time"
)

// Upper bounds of the config's sizes and rates (README, "Configuration"). Each is far above
// what a Pi or a Jetson can use, and catches the value that would take the machine down:
// a hundred thousand interpreters, a schedule that never sleeps, a queue that only the
// memory bounds.
const (
	MaxWorkers    = 64 // runtime.workers: each holds its own interpreters
	MaxThreads    = 64 // runtime.threads: per interpreter
	MinEvery      = 10 * time.Millisecond
	MaxEvery      = 24 * time.Hour // labels, caption and questions schedules
	MaxQueueSize  = 100000         // mqtt.queue_size: results waiting for the broker
	MaxAskBytes   = 64 << 10       // mqtt.max_ask_bytes
	MaxReadWait   = time.Hour      // a camera's read_timeout
	MaxMotionSkip = 24 * time.Hour // motion.max_skip
)

// validateBounds checks the upper bounds above (the lower ones, and what each value means,
// are checked where the value is).
func (c *Config) validateBounds(v *validator) {
	r := c.Runtime
	if r.Threads > MaxThreads {
		v.fail("runtime.threads", "%d is more than %d", r.Threads, MaxThreads)
	}
	if r.Workers > MaxWorkers {
		v.fail("runtime.workers", "%d is more than %d", r.Workers, MaxWorkers)
	}
	if q := c.MQTT.QueueSize; q > MaxQueueSize {
		v.fail("mqtt.queue_size", "%d is more than %d (each waiting result holds its payload)", q, MaxQueueSize)
	}
	if b := c.MQTT.MaxAskBytes; b < 0 || b > MaxAskBytes {
		v.fail("mqtt.max_ask_bytes", "%d is outside [0, %d] (0: the default)", b, MaxAskBytes)
	}
	for i, cam := range c.Cameras {
		at := fmt.Sprintf("cameras[%d]", i)
		for field, every := range map[string]time.Duration{
			".labels.every": cam.Labels.Every, ".caption.every": cam.Caption.Every, ".questions.every": cam.Questions.Every,
		} {
			if every > 0 && (every < MinEvery || every > MaxEvery) {
				v.fail(at+field, "%v is outside [%v, %v]", every, MinEvery, MaxEvery)
			}
		}
		if t := cam.Source.ReadTimeout; t > MaxReadWait {
			v.fail(at+".source.read_timeout", "%v is more than %v", t, MaxReadWait)
		}
		if s := cam.Motion.MaxSkip; s < 0 || s > MaxMotionSkip {
			v.fail(at+".motion.max_skip", "%v is outside [0, %v]", s, MaxMotionSkip)
		}
	}
}
