#!/bin/bash
# BLIP caption at int8-dynamic (no calibration: the README's first RAM figure), alone, main and
# this branch alternated twice, 1 thread. The bundle is converted first (bench --random-init).
set -u
cd "$(dirname "$0")/../../.."
OUT=${OUT:-bench/results/2026-12-06-peak}
$NEW bench --cache $CACHE --random-init bench/configs/blip-image-captioning-base.json --precision int8-dynamic --threads 1 --stages none > /dev/null 2>&1
b=$(ls -d $CACHE/blip-image-captioning-base-*-int8-dynamic)
for round in 1 2; do
  for v in main branch; do
    bin=$BASE; [ $v = branch ] && bin=$NEW
    f=$OUT/alone_caption_dyn_${v}_r${round}
    echo "# $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg): $bin bench --model $b --kernels auto --threads 1 --stages memory.models_rss --json" > $f.txt
    $bin bench --model $b --kernels auto --threads 1 --stages memory.models_rss --json >> $f.txt 2> $f.log
  done
done
