#!/bin/bash
# usage: EDGED=path/to/edged trim-probe.sh OUT CLIP CAPTION VQA THREADS (from the repository):
# sampled.sh's run; at the plateau (all three loaded and run) the daemon is made to call
# malloc_trim(0) through gdb, and VmRSS and smaps are read before and after: is the 2-thread
# extra free memory that glibc's arenas keep?
set -u
out=$(realpath -m "$1"); shift
dir=$(cd "$(dirname "$0")" && pwd)
"$dir/sampled.sh" "$out" "$1" "$2" "$3" 30s "$4" &
s=$!
until [ -e $out.smaps ]; do sleep 0.5; done
name=$(basename "$EDGED" | cut -c1-15)
epid=$(pgrep -n -x "$name")
{
  echo "before: $(grep -E 'VmRSS|RssAnon' /proc/$epid/status | tr -s ' \t\n' ' ')"
  gdb -p $epid -batch -ex 'set language c' -ex 'call (int) malloc_trim(0)' 2>&1 | tail -3
  echo "after malloc_trim(0): $(grep -E 'VmRSS|RssAnon' /proc/$epid/status | tr -s ' \t\n' ' ')"
} > $out.trim
cp /proc/$epid/smaps $out.after.smaps
wait $s
