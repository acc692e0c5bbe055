#!/bin/bash
# After run.sh: each BLIP bundle alone (memory.models_rss, 1 thread, main and branch alternated,
# 2 rounds), then one sampled daemon run (sampled.sh) per binary and thread count.
set -u
cd "$(dirname "$0")/../../.."
OUT=${OUT:-bench/results/2026-12-06-peak}
for round in 1 2; do
  for m in caption vqa; do
    for v in main branch; do
      bin=$BASE; [ $v = branch ] && bin=$NEW
      f=$OUT/alone_${m}_${v}_r${round}
      echo "# $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg): $bin bench --model $B/$m --kernels auto --threads 1 --stages memory.models_rss --json" > $f.txt
      $bin bench --model $B/$m --kernels auto --threads 1 --stages memory.models_rss --json >> $f.txt 2> $f.log
    done
  done
done
for th in 1 2; do
  for v in main branch; do
    bin=$BASE; [ $v = branch ] && bin=$NEW
    echo "# $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg): EDGED=$bin sampled.sh $OUT/sampled_${v}_t${th} ... 30s $th"
    EDGED=$bin timeout 600 $OUT/sampled.sh $OUT/sampled_${v}_t${th} $B/clip $B/caption $B/vqa 30s $th
  done
done
