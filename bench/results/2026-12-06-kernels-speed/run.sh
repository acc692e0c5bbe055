#!/bin/bash
# Main (ca2ddf8) and this branch's bin/edged, alternately, in the same minutes: CLIP B/32 image
# int8 on each kernel at 1 and 2 threads. BASE and NEW are the two binaries; OUT the folder.
set -u
cd "$(dirname "$0")/../../.."
OUT=${OUT:-bench/results/2026-12-06-kernels-speed}
for round in 1 2; do
  for th in 2 1; do
    ks=auto,avx-vnni,avx2
    [ $th = 1 ] && ks=off,auto,avx-vnni,avx2
    for v in base new; do
      bin=$BASE; [ $v = new ] && bin=$NEW
      f=$OUT/clip_${v}_t${th}_r${round}
      echo "# $bin bench --random-init bench/configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels $ks --threads $th --runs 40 --stages clip.image_embed --json" > $f.cmd
      echo "# load before: $(cut -d' ' -f1-3 /proc/loadavg)" >> $f.cmd
      $bin bench --random-init bench/configs/clip-vit-base-patch32.json --precision int8 --delegate xnnpack --kernels $ks --threads $th --runs 40 --stages clip.image_embed --json > $f.jsonl 2> $f.log
      echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)" >> $f.cmd
    done
  done
done
