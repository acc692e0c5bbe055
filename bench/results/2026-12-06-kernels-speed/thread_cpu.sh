#!/bin/bash
# alternate base/new test binaries: thread CPU per Invoke (1 thread) on MODEL
model=$1; th=$2; n=$3; rounds=$4
cd /work/wt/speed/runtime/kernels
for r in $(seq $rounds); do
 for v in base new; do
  echo "$v ${K:-auto} t$th load=[$(cut -d' ' -f1-3 /proc/loadavg)] $(EDGED_BENCH_KERNELS=${K:-auto} EDGED_BENCH_THREADS=$th EDGED_BENCH_MODEL=$model /tmp/speedres/${v}_kernels.test -test.run '^$' -test.bench ZZCPU -test.benchtime ${n}x 2>&1 | grep Benchmark | tr -s ' \t' ' ')"
 done
done
