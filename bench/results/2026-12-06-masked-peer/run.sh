#!/usr/bin/env bash
# Issue 19's goal per instruction set, side by side: edged's kernels on each path and the PyTorch
# peer (Debian's python3-torch 1.13.1, oneDNN 2.6.3) with oneDNN masked to the same instructions
# (ONEDNN_MAX_CPU_ISA: unset = AVX-512 VNNI, AVX2_VNNI = the N100's, AVX2 = no VNNI), one process
# per row, edged and the peer alternately, so load that comes and goes falls on both alike.
# Then one int8 linear alone: edged's kernels (BenchmarkFullyConnected) and the peer's --floor.
# Usage: EDGED=/path/edged KTEST=/path/kernels.test run.sh ROUNDS
#   (KTEST: go test -c -o kernels.test ./runtime/kernels)
set -euo pipefail
cd "$(dirname "$0")"
ROUNDS=${1:-2}
EDGED=${EDGED:-../../../bin/edged}
CACHE=${BENCH_CACHE:-$HOME/.cache/edged/bench}
CLIP=../../configs/clip-vit-base-patch32.json
BLIP=../../configs/blip-image-captioning-base.json
PEER=../../../scripts/peer/vit_peer.py
PATHS="avx512-vnni: avx-vnni:AVX2_VNNI avx2:AVX2"
row() { # row NAME CMD...: its JSON lines into NAME.jsonl, the load before and after into NAME.cmd
	local name=$1; shift
	echo "# $(cut -d' ' -f1-3 /proc/loadavg) $*" >>"$name.cmd"
	"$@" 2>>"$name.log" | grep '"stage": *"\(clip.image_embed\|blip.vision\|peer\.[a-z_0-9]*\)"' >>"$name.jsonl" || true
	echo "# after $(cut -d' ' -f1-3 /proc/loadavg)" >>"$name.cmd"
}
peer() { # peer ISA ARGS...
	local isa=$1; shift
	env -u OPENBLAS_CORETYPE ${isa:+ONEDNN_MAX_CPU_ISA=$isa} /usr/bin/python3 $PEER --precision int8-dynamic "$@"
}
for r in $(seq "$ROUNDS"); do
	for t in 2 1; do
		for path in $PATHS; do
			k=${path%%:*} isa=${path#*:}
			row "clip_edged_${k}_t$t" "$EDGED" bench --random-init $CLIP --precision int8 --delegate xnnpack \
				--kernels "$k" --threads "$t" --runs 60 --stages clip.image_embed --cache "$CACHE" --json
			row "clip_peer_${k}_t$t" peer "$isa" --towers clip-b32-vision --threads "$t" --runs 60
		done
	done
	for path in $PATHS; do
		k=${path%%:*} isa=${path#*:}
		row "blip_edged_${k}_t2" "$EDGED" bench --random-init $BLIP --precision int8 --delegate xnnpack \
			--kernels "$k" --threads 2 --runs 5 --stages blip.vision --cache "$CACHE" --json
		row "blip_peer_${k}_t2" peer "$isa" --towers blip-base-vision --threads 2 --runs 5
	done
done
if [ -n "${KTEST:-}" ]; then
	for path in $PATHS; do
		k=${path%%:*} isa=${path#*:}
		echo "# $(cut -d' ' -f1-3 /proc/loadavg)" >>linear.txt
		(cd ../../../runtime/kernels && "$KTEST" -test.run '^$' -test.bench "FullyConnected/(577x768x3072|50x768x3072)/$k/" -test.benchtime 100x) 2>&1 | grep GMAC >>linear.txt
		for t in 1 2; do row "linear_peer_${k}_t$t" peer "$isa" --towers "" --threads "$t" --floor; done
	done
fi
