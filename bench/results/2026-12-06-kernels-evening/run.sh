#!/usr/bin/env bash
# The session's speed table for issue 19: main at the session's start (BASE, ec6b727) and at its
# end (NEW) alternately, one `edged bench` process per row, so load that comes and goes falls on
# both alike. Usage: BASE=/path/edged NEW=/path/edged run.sh ROUNDS
set -euo pipefail
cd "$(dirname "$0")"
ROUNDS=${1:-2}
CACHE=${BENCH_CACHE:-$HOME/.cache/edged/bench}
CLIP=../../configs/clip-vit-base-patch32.json
BLIP=../../configs/blip-image-captioning-base.json
LIBDIR=$(mktemp -d)
cp ../../../third_party/tflite/lib/linux_amd64/libtensorflowlite_c.so "$LIBDIR/"
export LD_LIBRARY_PATH=$LIBDIR
trap 'rm -rf "$LIBDIR"' EXIT
row() { # row NAME BIN ARGS...: one JSON line per stage into NAME.jsonl, load before and after
	local name=$1 bin=$2; shift 2
	echo "# $(cut -d' ' -f1-3 /proc/loadavg) $bin $*" >>"$name.cmd"
	"$bin" bench "$@" --cache "$CACHE" --json 2>>"$name.log" | grep '"stage":"\(clip.image_embed\|blip.vision\)"' >>"$name.jsonl" || true
	echo "# after $(cut -d' ' -f1-3 /proc/loadavg)" >>"$name.cmd"
}
for r in $(seq "$ROUNDS"); do
	for threads in 2 1; do
		for k in auto auto+bmm avx-vnni avx2; do
			for which in base new; do
				bin=$BASE; [ $which = new ] && bin=$NEW
				row "clip_${which}_t${threads}" "$bin" --random-init $CLIP --precision int8 --delegate xnnpack --kernels $k --threads $threads --runs 60 --stages clip.image_embed
			done
		done
	done
	for k in auto auto+bmm; do
		for which in base new; do
			bin=$BASE; [ $which = new ] && bin=$NEW
			row "blip_${which}_t2" "$bin" --random-init $BLIP --precision int8 --delegate xnnpack --kernels $k --threads 2 --runs 5 --stages blip.vision
		done
	done
done
