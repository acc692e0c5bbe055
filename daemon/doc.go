// Package daemon is edged's long-lived service: its configuration, the schedule of work per
// camera, the worker pool, backpressure, hot reload, metrics and health.
package daemon
