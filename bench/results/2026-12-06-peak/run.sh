#!/bin/bash
# Main (db92019, built in /tmp/peak-main) and this branch's bin/edged, alternated in the same
# minutes: memory.models_rss of the three models in one process, then the three-model daemon
# (measure3.sh, idle_unload 30s), at 1 and 2 threads, ROUNDS rounds. BASE and NEW are the
# binaries, B the folder with the bundles clip, caption, vqa (bench's --random-init int8
# bundles with the golden CLIP and BERT tokenizers added), OUT the results folder.
set -u
cd "$(dirname "$0")/../../.."
OUT=${OUT:-bench/results/2026-12-06-peak}
for round in $(seq 1 ${ROUNDS:-2}); do
  for th in 1 2; do
    for v in main branch; do
      bin=$BASE; [ $v = branch ] && bin=$NEW
      f=$OUT/models_rss_${v}_t${th}_r${round}
      echo "# $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg): $bin bench --model $B/clip,$B/caption,$B/vqa --kernels auto --threads $th --stages memory.models_rss --json" > $f.txt
      $bin bench --model $B/clip,$B/caption,$B/vqa --kernels auto --threads $th --stages memory.models_rss --json >> $f.txt 2> $f.log
      f=$OUT/daemon_${v}_t${th}_r${round}
      echo "# $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg): EDGED=$bin measure3.sh $B/clip $B/caption $B/vqa 30s $th" > $f.txt
      EDGED=$bin timeout 600 $OUT/measure3.sh $B/clip $B/caption $B/vqa 30s $th >> $f.txt 2>&1
      echo "# end $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)" >> $f.txt
    done
  done
done
