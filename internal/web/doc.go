// Package web is edged's live page and its JSON API, an http.Handler the daemon mounts at
// "/" of its HTTP server: per camera the newest frame (inside the page as it is served, then
// refreshed through server-sent events, not page reloads), the latest labels, caption and
// answers (each saying which frame it is about), an ask box that stays in place, text search
// over recent frames with thumbnails, one per scene, and health (frames/s, drops, model
// latencies, MQTT).
//
// The page is plain HTML, CSS and a little JavaScript embedded in the binary: no build step,
// no external assets. Everything it shows comes from a Backend, which the daemon implements
// with the helpers here: Live keeps the cameras' latest results and fans updates out to the
// open pages, FrameEncoder encodes each camera's newest frame once, and RecallSearch serves
// search from a recall.Store.
package web
