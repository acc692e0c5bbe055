#!/bin/sh
# The daemon's BLIP calibration child with and without models.calibration.text (--calibrate-text):
# peak RSS (GNU time) of `edged convert` on BLIP base captioning with random weights, gated
# against the safe bundle as the daemon's child is. W: a folder with ckpt/ (the bench config as
# config.json, the golden BERT vocab.txt), cal/ (8 frames), check/ (4 frames); EDGED: the binary.
set -e
cd "$W"
[ -d safe ] || $EDGED convert --random-init --seed 1 --from ckpt --precision int8-dynamic --out safe --threads 1 >/dev/null
for run in ${RUNS:-1}; do
 for text in off on; do
  rm -rf out-$text
  extra=""; [ $text = on ] && extra="--calibrate-text"
  echo "== run $run, text calibration $text: $(uptime)"
  nice -n 10 /usr/bin/time -v $EDGED convert --random-init --seed 1 --from ckpt --out out-$text --precision int8 --calibration cal --check check --check-texts 4 --threads 1 --check-reference safe $extra > log-$text-$run.txt 2> time-$text-$run.txt || echo "exit $?"
  grep -E "Maximum resident|Elapsed" time-$text-$run.txt
 done
done
