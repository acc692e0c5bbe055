#!/bin/bash
# usage: EDGED=path/to/edged sampled.sh OUT CLIP CAPTION VQA IDLE_UNLOAD THREADS (from the
# repository): measure3.sh's run, with the daemon's VmRSS and VmHWM sampled every 0.2 s into
# OUT.rss (seconds since the epoch, KiB, KiB) and its log kept as OUT.log, to see when the peak
# is reached; /proc/PID/smaps with all three loaded in OUT.smaps.
set -u
out=$(realpath -m "$1"); shift
dir=$(cd "$(dirname "$0")" && pwd)
KEEP_LOG=$out.log "$dir/measure3.sh" "$@" > $out.txt 2>&1 &
script=$!
name=$(basename "$EDGED" | cut -c1-15)
until epid=$(pgrep -P $script -x "$name"); do sleep 0.1; done
while [ -e /proc/$epid/status ]; do
  # /proc/PID/smaps once, at the plateau (measure3's first figure)
  [ -e $out.smaps ] || ! grep -q 'all three loaded' $out.txt || cp /proc/$epid/smaps $out.smaps
  echo "$(date +%s.%N) $(awk '/VmRSS|VmHWM/{printf "%s %d ", $1, $2}' /proc/$epid/status 2>/dev/null)"
  sleep 0.2
done > $out.rss
wait $script
