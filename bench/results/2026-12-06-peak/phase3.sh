#!/bin/bash
# After phase2: this branch at 2 threads, sampled, alternating glibc's default arenas and
# MALLOC_ARENA_MAX=2, twice: is the 2-thread spread of the peak glibc's arenas?
set -u
cd "$(dirname "$0")/../../.."
OUT=${OUT:-bench/results/2026-12-06-peak}
for round in 2 3; do
  echo "# $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg): sampled_branch_t2_r$round"
  EDGED=$NEW timeout 600 $OUT/sampled.sh $OUT/sampled_branch_t2_r$round $B/clip $B/caption $B/vqa 30s 2
  echo "# $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg): MALLOC_ARENA_MAX=2 sampled_branch_t2_arena2_r$round"
  MALLOC_ARENA_MAX=2 EDGED=$NEW timeout 600 $OUT/sampled.sh $OUT/sampled_branch_t2_arena2_r$round $B/clip $B/caption $B/vqa 30s 2
done
