#!/bin/sh
# The daemon's CLIP calibration child at real size (random-weight B/32), its peak RSS
# against the float model (converted in the child) and against the safe int8-dynamic bundle.
set -e
cd /tmp/budget-m
L=/work/wt/budget/configs/labels/home.yaml
[ -d safe ] || ./edged convert --random-init --seed 1 --from ckpt --precision int8-dynamic --out safe --threads 1 >/dev/null
for run in 1 2; do
 for ref in float safe; do
  rm -rf out-$ref
  extra=""; [ $ref = safe ] && extra="--check-reference safe"
  echo "== run $run, gate against $ref: $(uptime)"
  nice -n 10 /usr/bin/time -v ./edged convert --random-init --seed 1 --from ckpt --out out-$ref --precision int8 --calibration cal --calibration-images 48 --check check --threads 1 --labels $L $extra > log-$ref-$run.txt 2> time-$ref-$run.txt || echo "exit $?"
  grep -E "Maximum resident|Elapsed" time-$ref-$run.txt
 done
done
