#!/usr/bin/env bash
# Runs every measurement of BENCHMARKS.md and writes the JSON lines, with the machine and its
# load before and after each command, into bench/results/<UTC date>/. Usage (from the repo root):
#   bench/run-all.sh [SECTION...]     sections: machine imageproc clip clip_image clip_text_int8 blip blip_final vqa synth synth_blip peer peer1 memory daemon hotpath kernels
# The real-size bundles (random weights) are converted once into $BENCH_CACHE
# (default /tmp/edged-bench-cache) and reused. Takes 20-40 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
OUT=${OUT:-bench/results/$(date -u +%Y-%m-%d)}
CACHE=${BENCH_CACHE:-/tmp/edged-bench-cache}
mkdir -p "$OUT"
# A private copy of the TFLite library: `make build` rewrites lib/ in place, which kills a
# running process that mapped it (SIGBUS).
LIBDIR=$(mktemp -d)
BIN=$LIBDIR/edged
cp third_party/tflite/lib/linux_amd64/libtensorflowlite_c.so "$LIBDIR/"
go build -o "$BIN" ./cmd/edged
export LD_LIBRARY_PATH=$LIBDIR
trap 'rm -rf "$LIBDIR"' EXIT

run() { # run NAME COMMAND...: JSON lines to $OUT/NAME.jsonl, the command and load to $OUT/NAME.cmd
	local name=$1; shift
	{ echo "# $*"; echo "# load before: $(cut -d' ' -f1-3 /proc/loadavg)"; } >"$OUT/$name.cmd"
	"$@" >"$OUT/$name.jsonl" 2>"$OUT/$name.log" || echo "# exit status $?" >>"$OUT/$name.cmd"
	echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/$name.cmd"
	echo "$name done ($(wc -l <"$OUT/$name.jsonl") lines)"
}

sections=${*:-machine imageproc clip blip vqa synth peer daemon hotpath}
CLIPCFG=bench/configs/clip-vit-base-patch32.json
CAPCFG=bench/configs/blip-image-captioning-base.json
VQACFG=bench/configs/blip-vqa-base.json
for s in $sections; do
	case $s in
	machine)
		{ lscpu | grep -E 'Model name|^CPU\(s\)|Thread|Flags' | sed 's/\(Flags:.\{0,40\}\).*\(avx512_vnni\).*/\1 ... \2 .../'; nproc; free -g | head -2; "$BIN" version; } >"$OUT/machine.txt" 2>&1 ;;
	imageproc)
		run imageproc "$BIN" bench --stages imageproc. --runs 50 --json ;;
	clip_image)
		run clip_image "$BIN" bench --random-init $CLIPCFG --precision all --delegate none,xnnpack --threads 1,2 --runs 15 --max-time 300s --stages clip.image_embed --cache "$CACHE" --json ;;
	blip_final)
		run blip_vision "$BIN" bench --random-init $CAPCFG --precision fp32,int8 --delegate none,xnnpack --threads 1,2 --runs 5 --max-time 300s --stages blip.vision --cache "$CACHE" --json
		run blip_decode "$BIN" bench --random-init $CAPCFG --precision fp32,int8 --delegate xnnpack --threads 1 --runs 5 --stages blip.cross_kv,blip.decode_token,blip.caption --cache "$CACHE" --json ;;
	memory)
		for cp in clip-vit-base-patch32:fp32 clip-vit-base-patch32:fp16 clip-vit-base-patch32:int8-dynamic clip-vit-base-patch32:int8 \
			blip-image-captioning-base:fp32 blip-image-captioning-base:fp16 blip-image-captioning-base:int8; do
			# Convert first (another process), so that the peak covers loading and running only.
			"$BIN" bench --random-init bench/configs/${cp%%:*}.json --precision ${cp##*:} --threads 1 --stages none --cache "$CACHE" >/dev/null 2>&1
			run models_rss_${cp%%-*}_${cp##*:} "$BIN" bench --random-init bench/configs/${cp%%:*}.json --precision ${cp##*:} --threads 1 --stages memory.models_rss --cache "$CACHE" --json
		done
		run models_rss_clip_blip_vqa "$BIN" bench --random-init $CLIPCFG,$CAPCFG,$VQACFG --precision int8 --threads 1 --stages memory.models_rss --cache "$CACHE" --json ;;
	kernels)
		# edged's int8 kernels (runtime/kernels): every path of this CPU against XNNPACK alone, the
		# PyTorch peer right after, and the kernels alone in GMAC/s. One thread count per run: a
		# 2-thread XNNPACK interpreter's pool spins on after its turn and would slow the rows
		# timed after it. Convert first (not timed).
		for cfg in $CLIPCFG $CAPCFG; do "$BIN" bench --random-init $cfg --precision int8 --threads 1 --stages none --cache "$CACHE" >/dev/null 2>&1; done
		run clip_kernels_t1 "$BIN" bench --random-init $CLIPCFG --precision int8 --delegate xnnpack --kernels off,auto,auto-bmm,avx-vnni,avx2 --threads 1 --runs 40 --max-time 300s --stages clip.image_embed --cache "$CACHE" --json
		run peer_t1 env -u OPENBLAS_CORETYPE /usr/bin/python3 scripts/peer/vit_peer.py --precision int8-dynamic --threads 1 --runs 20 --floor
		run clip_kernels_t2 "$BIN" bench --random-init $CLIPCFG --precision int8 --delegate xnnpack --kernels auto,auto-bmm,avx-vnni,avx2 --threads 2 --runs 40 --max-time 300s --stages clip.image_embed --cache "$CACHE" --json
		run peer_t2 env -u OPENBLAS_CORETYPE /usr/bin/python3 scripts/peer/vit_peer.py --precision int8-dynamic --threads 2 --runs 20 --floor
		run clip_xnnpack_t2 "$BIN" bench --random-init $CLIPCFG --precision int8 --delegate xnnpack --kernels off --threads 2 --runs 20 --max-time 120s --stages clip.image_embed --cache "$CACHE" --json
		run blip_kernels_t2 "$BIN" bench --random-init $CAPCFG --precision int8 --delegate xnnpack --kernels auto,avx-vnni,avx2 --threads 2 --runs 5 --max-time 300s --stages blip.vision --cache "$CACHE" --json
		run blip_xnnpack_t2 "$BIN" bench --random-init $CAPCFG --precision int8 --delegate xnnpack --kernels off --threads 2 --runs 5 --max-time 300s --stages blip.vision --cache "$CACHE" --json
		run kernels_gmacs go test -run '^$' -bench FullyConnected -benchtime 200x ./runtime/kernels ;;
	peer1)
		run peer1 env -u OPENBLAS_CORETYPE /usr/bin/python3 scripts/peer/vit_peer.py --threads 1 --runs 5 --floor ;;
	clip)
		run clip_image "$BIN" bench --random-init $CLIPCFG --precision all --delegate none,xnnpack --threads 1,2 --runs 15 --max-time 300s --stages clip.image_embed --cache "$CACHE" --json
		run clip_text "$BIN" bench --random-init $CLIPCFG --precision all --delegate none,xnnpack --threads 1,2 --runs 10 --stages clip.text_embed,clip.zero_shot_cold,clip.zero_shot_cached --cache "$CACHE" --json ;;
	clip_text_int8)
		run clip_text_int8 "$BIN" bench --random-init $CLIPCFG --precision int8-dynamic,int8 --delegate none,xnnpack --threads 1 --runs 5 --max-time 10s --stages clip.text_embed,clip.zero_shot_cold,clip.zero_shot_cached --cache "$CACHE" --json ;;
	blip)
		run blip_vision "$BIN" bench --random-init $CAPCFG --precision all --delegate xnnpack --threads 1,2 --runs 5 --max-time 240s --stages blip.vision --cache "$CACHE" --json
		run blip_vision_none "$BIN" bench --random-init $CAPCFG --precision fp32 --delegate none --threads 1,2 --runs 3 --stages blip.vision --cache "$CACHE" --json
		run blip_decode "$BIN" bench --random-init $CAPCFG --precision fp32,int8-dynamic,int8 --delegate xnnpack --threads 1,2 --runs 5 --stages blip.cross_kv,blip.decode_token,blip.caption --cache "$CACHE" --json ;;
	vqa)
		run blip_vqa "$BIN" bench --random-init $VQACFG --precision fp32,int8 --delegate xnnpack --threads 1 --runs 5 --stages blip.vqa_answer --cache "$CACHE" --json ;;
	synth)
		run synth_clip "$BIN" bench --synthetic clip-b32-vision --precision fp32,int8-dynamic,int8 --delegate none,xnnpack,xnnpack+qs8 --threads 1,2 --runs 10 --max-time 300s --json
		run synth_clip_lnfc "$BIN" bench --synthetic clip-b32-vision --variant ln=fc --precision fp32,int8 --delegate xnnpack+qs8 --threads 1,2 --runs 10 --json
		run synth_fc "$BIN" bench --synthetic fc-stack --precision fp32,int8-dynamic,int8 --delegate none,xnnpack+qs8 --threads 1,2 --runs 10 --json ;;
	synth_blip)
		run synth_blip "$BIN" bench --synthetic blip-base-vision --precision fp32,int8 --delegate xnnpack+qs8 --threads 1,2 --runs 5 --max-time 300s --json ;;
	peer)
		run peer env -u OPENBLAS_CORETYPE /usr/bin/python3 scripts/peer/vit_peer.py --threads 2 --runs 10 --floor ;;
	daemon)
		run daemon1 "$BIN" bench --stages none --daemon 10s --daemon-cameras 1 --json
		run daemon3 "$BIN" bench --stages none --daemon 10s --daemon-cameras 3 --json ;;
	hotpath)
		{ echo "# go test ./internal/bench/stages -run '^\$' -bench 'HotPath|InvokeRaw' -benchmem"; go test -count=1 ./internal/bench/stages -run '^$' -bench 'HotPath|InvokeRaw' -benchmem 2>&1 | grep -v '^INFO'; } >"$OUT/hotpath.txt"
		echo "hotpath done" ;;
	*) echo "unknown section $s" >&2; exit 2 ;;
	esac
done
