#!/bin/bash
# (bench/results/2026-12-06-mem2/measure3.sh on ports 18961/18962; KEEP_LOG=FILE keeps the daemon's log)
# usage: EDGED=path/to/edged measure3.sh CLIP_BUNDLE CAPTION_BUNDLE VQA_BUNDLE IDLE_UNLOAD [THREADS]
# (run from the repository). A daemon with all three models: CLIP labelling every frame (shapes
# labels), BLIP captioning on the camera's schedule, BLIP VQA answering asks, shadow checks off
# (so that CLIP's text tower may be unloaded). Prints the resident memory (VmRSS, RssAnon,
# RssFile) with everything loaded after an ask and a search, once models.idle_unload has
# closed the VQA model and CLIP's text tower (the steady state), and after an ask loads VQA
# again; then the peak (VmHWM).
. "$(git rev-parse --show-toplevel)/bench/daemon-memory.sh"
daemon_start 18961 18962 ${5:-1} "  clip: $1
  blip_caption: $2
  blip_vqa: $3
  idle_unload: $4
  calibration: {shadow: false, camera: false}" "    caption: {every: 5s}"
trap 'kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null; [ -n "${KEEP_LOG:-}" ] && cp err.log "$KEEP_LOG"' EXIT
wait_log() { until grep -q "$1" err.log; do grep -q "model failed" err.log && { tail -3 err.log; exit 1; }; sleep 1; done; }
# wait_more PATTERN N: until the log has more than N lines matching PATTERN
wait_more() { until [ $(grep -c "$1" err.log) -gt $2 ]; do sleep 1; done; }
ask() {
  mosquitto_sub -h 127.0.0.1 -p 18962 -t edged/m/reply/$1 -C 1 -W 300 > $1.txt & s=$!; sleep 0.5
  mosquitto_pub -h 127.0.0.1 -p 18962 -t edged/m/demo/ask -m "{\"question\":\"what color is the background?\",\"request_id\":\"$1\",\"reply_to\":\"edged/m/reply/$1\"}"; wait $s
  echo "ask $1: $(cut -c1-160 $1.txt)"
}
wait_log 'label pairs embedded'
until [ $(grep -c 'model ready' err.log) -ge 3 ]; do sleep 1; done
sleep 12 # captions (every 5s) have run
nv=$(grep -c 'model unloaded.*model=blip_vqa' err.log || true)
ask a1
nt=$(grep -c 'model unloaded.*model=clip_text' err.log || true)
mosquitto_sub -h 127.0.0.1 -p 18962 -t edged/m/search/result -C 1 -W 120 > s1.txt & s=$!; sleep 0.5
mosquitto_pub -h 127.0.0.1 -p 18962 -t edged/m/search -m '{"query":"a red circle","request_id":"s1"}'; wait $s
sleep 2
mem "all three loaded, after an ask and a search"
wait_more 'model unloaded.*model=blip_vqa' $nv
wait_more 'model unloaded.*model=clip_text' $nt
sleep 5
mem "steady: VQA and CLIP's text tower unloaded (labels and captions go on)"
grep VmHWM /proc/$pid/status
ask a2
sleep 1
mem "after an ask loaded VQA again"
grep -E 'model unloaded|model loaded again' err.log | cut -c1-200
grep VmHWM /proc/$pid/status
