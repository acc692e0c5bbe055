#!/bin/bash
# usage: EDGED=path/to/edged measure.sh VQA_BUNDLE IDLE_UNLOAD (run from the repository)
# A daemon with CLIP (shapes, labelling every frame) and a BLIP VQA bundle used only by ask;
# prints the resident memory (VmRSS, RssAnon) at each step.
. "$(git rev-parse --show-toplevel)/bench/daemon-memory.sh"
daemon_start 18931 18932 1 "  clip: $root/models/shapes/clip
  blip_vqa: $1
  idle_unload: $2"
mem "ready (VQA loaded, not run)"
ask() { mosquitto_pub -h 127.0.0.1 -p 18932 -t edged/m/demo/ask -m '{"question":"what color is the background?","request_id":"'$1'","reply_to":"edged/m/reply/'$1'"}'; }
mosquitto_sub -h 127.0.0.1 -p 18932 -t edged/m/reply/a1 -C 1 -W 120 > a1.txt & s=$!; sleep 0.5; ask a1; wait $s
mem "after an ask"
if [ "$2" != "0" ]; then
  until grep -q 'model unloaded' err.log; do sleep 1; done
  mem "after idle_unload"
  mosquitto_sub -h 127.0.0.1 -p 18932 -t edged/m/reply/a2 -C 1 -W 120 > a2.txt & s=$!; sleep 0.5; ask a2; wait $s
  mem "after the next ask (reloaded)"
  grep -o '"reload_seconds": [0-9.]*' <(curl -s 127.0.0.1:18931/healthz)
fi
grep VmHWM /proc/$pid/status
kill -TERM $pid; wait $pid || true
