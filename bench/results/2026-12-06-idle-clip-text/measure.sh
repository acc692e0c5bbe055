#!/bin/bash
# usage: EDGED=path/to/edged [CACHE=DIR] measure.sh CLIP_BUNDLE IDLE_UNLOAD (run from the repository)
# A daemon with a CLIP bundle labelling every frame (shapes labels) and answering searches;
# prints the resident memory (VmRSS, RssAnon) before and after models.idle_unload closes the
# text tower, and after a search loads it again. With CACHE, the daemon's cache folder: a
# bundle in CACHE/models whose checkpoint folder is still there runs under shadow checks, as
# the cache's conversion of a checkpoint does (the calibration state is printed).
. "$(git rev-parse --show-toplevel)/bench/daemon-memory.sh"
daemon_start 18941 18942 1 "  clip: $1
  idle_unload: $2"
until grep -q 'label pairs embedded' err.log; do sleep 1; done
sleep 3
mem "labelling, text tower loaded"
until grep -q 'model unloaded.*model=clip_text' err.log; do sleep 1; done
sleep 3
mem "labelling, text tower unloaded"
mosquitto_sub -h 127.0.0.1 -p 18942 -t edged/m/search/result -C 1 -W 120 > s1.txt & s=$!; sleep 0.5
mosquitto_pub -h 127.0.0.1 -p 18942 -t edged/m/search -m '{"query":"a red circle","request_id":"s1"}'; wait $s
sleep 1
mem "after a search (text tower loaded again)"
grep -o '"text_tower": {[^}]*}' <(curl -s 127.0.0.1:18941/healthz | tr -d '\n')
grep -o '"calibration": {[^,]*' <(curl -s 127.0.0.1:18941/healthz | tr -d '\n') || echo "no calibration (no shadow checks)"
grep 'clip_text' err.log | cut -c1-200
grep VmHWM /proc/$pid/status
kill -TERM $pid; wait $pid || true
