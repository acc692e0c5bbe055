#!/bin/bash
# This branch at 2 threads (then 1 thread, smaps_branch_t1), sampled, with /proc/PID/smaps at the plateau: where the extra of a
# high run sits (glibc's arenas are 64 MiB-aligned mappings of their own).
set -u
cd "$(dirname "$0")/../../.."
OUT=${OUT:-bench/results/2026-12-06-peak}
for round in 1 2 3; do
  echo "# $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg): smaps_branch_t2_r$round"
  EDGED=$NEW timeout 600 $OUT/sampled.sh $OUT/smaps_branch_t2_r$round $B/clip $B/caption $B/vqa 30s 2
done
echo "# $(date -u +%T) load $(cut -d" " -f1-3 /proc/loadavg): smaps_branch_t1"
EDGED=$NEW timeout 600 $OUT/sampled.sh $OUT/smaps_branch_t1 $B/clip $B/caption $B/vqa 30s 1
