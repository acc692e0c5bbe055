// Package daemon is edged's long-lived service (`edged run`): its configuration, the schedule
// of work per camera, the worker pool, backpressure, hot reload, metrics and health.
//
// New reads and checks the config file and everything it names that can be checked without
// opening anything (a problem is a *ConfigError: edged exits with status 2). Run then starts,
// in order, the HTTP server (/metrics, /healthz), the MQTT publisher (with the embedded broker
// when the config says so), the workers, and one capture goroutine and one scheduling
// goroutine per camera; the models are prepared meanwhile in the background (prepare.go:
// pulled from the hub, converted on the first run, loaded), each feature starting as its model
// joins the live set, and /healthz, the live page and the log say where each one stands.
//
// Scheduling (runner.go): on each tick of a camera's labels, caption and questions
// intervals, the camera's newest frame is taken and a job is handed to a lane (lanes.go):
// CLIP work to the label lane, BLIP work (captions, standing questions, asks) to the BLIP
// lane, each with its own workers, so slow BLIP work never starves labels. A camera has at
// most one job of each kind queued or running; a tick that finds one is skipped and counted.
// Labels embed the frame once and score it against every label set of the camera, then feed
// the scores to the sets' EventTrackers.
//
// Results (results.go) go to Sinks: MQTT (mqtt.go), one readable line each on stdout
// (console.go), the live page (page.go), and any sinks the embedding program adds
// (Options.Sinks).
//
// The live page (package web) is mounted at "/" of the HTTP server; page.go is its Backend:
// the cameras' latest results (web.Live, fed as a sink), their newest frames, health, asks
// (on the BLIP lane, as MQTT asks), and text search. Every labelled frame's CLIP embedding
// and a thumbnail go into a recall.Store (config: search), which serves the page's search,
// GET /api/search and MQTT's <prefix>/<device>/search. With models.blip_itm the Matcher
// (BLIP ITM) re-ranks searches (search.rerank) and checks the events of the labels a camera
// lists in labels.confirm (package confirm): the event says whether ITM confirmed it. A
// camera with caption.candidates has its captions chosen among candidates by ITM, CLIP or
// both (blip.Rank, CapFilt); models.blip_itm is loaded only when one of these uses it.
//
// The config and label sets in use are an immutable state behind an atomic.Pointer
// (state.go); a reload (reload.go: file changes, SIGHUP) builds a new one and swaps it in.
//
// The models sit behind small interfaces (models.go: Labeler, Captioner, Answerer, Matcher);
// models_load.go prepares the real ones (models.Open: a folder or a repository id, one cache)
// and adapts the clip and blip packages to them.
package daemon
