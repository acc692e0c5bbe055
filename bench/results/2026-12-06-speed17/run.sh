#!/bin/bash
# Issue 17's "nothing slower than before by more than 10%": the per-stage figures of the build
# before the memory work (OLD: 0dfaf4a, main before the 'mem' merge) and of this one
# (NEW), each at its own defaults and with bundles it converted itself (--random-init of the real
# configs, int8), alternated stage group by stage group, ROUNDS rounds, 1 and 2 threads.
# usage: OLD=old/bin/edged NEW=bin/edged [ROUNDS=2] run.sh   (from the repository)
set -u
OUT=${OUT:-bench/results/2026-12-06-speed17}
CFG=bench/configs
CLIP=$CFG/clip-vit-base-patch32.json CAP=$CFG/blip-image-captioning-base.json VQA=$CFG/blip-vqa-base.json
for v in old new; do # convert first (not timed)
  bin=$OLD; [ $v = new ] && bin=$NEW
  $bin bench --cache /tmp/speed17-$v --random-init $CLIP,$CAP,$VQA --precision int8 --threads 1 --stages none > $OUT/convert_$v.log 2>&1
done
for round in $(seq 1 ${ROUNDS:-2}); do
  for group in "$CLIP clip.image_embed,clip.text_embed" "$CAP blip.vision,blip.cross_kv,blip.decode_token,blip.caption" "$VQA blip.vqa_answer"; do
    set -- $group
    for v in old new; do
      bin=$OLD; [ $v = new ] && bin=$NEW
      f=$OUT/${v}_r${round}_$(basename $1 .json)
      echo "# $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg): $bin bench --random-init $1 --precision int8 --threads 1,2 --runs 5 --stages $2 --json" > $f.json
      $bin bench --cache /tmp/speed17-$v --random-init $1 --precision int8 --threads 1,2 --runs 5 --stages $2 --json >> $f.json 2> $f.log
    done
  done
done
