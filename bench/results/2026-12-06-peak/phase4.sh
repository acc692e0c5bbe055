#!/bin/bash
# The branch with the heap arena cap (edged run's LimitHeapArenas(2)), sampled, 2 threads three
# times and 1 thread twice, alternated.
set -u
cd "$(dirname "$0")/../../.."
OUT=${OUT:-bench/results/2026-12-06-peak}
for round in 1 2 3; do
  for th in 2 1; do
    [ $th = 1 ] && [ $round = 3 ] && continue
    echo "# $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg): sampled_arena_t${th}_r$round"
    EDGED=$NEW timeout 600 $OUT/sampled.sh $OUT/sampled_arena_t${th}_r$round $B/clip $B/caption $B/vqa 30s $th
  done
done
