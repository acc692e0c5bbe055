#!/usr/bin/env bash
# memory.models_rss with attention's BATCH_MATMUL on the kernels or not: BASE (f685eb7, before
# this branch: per-operator BATCH_MATMUL buffers, opt-in +bmm) and NEW (bmmdefault: one shared
# BATCH_MATMUL scratch, on by default), each configuration in a fresh process, alternated, on the
# same converted bundles (--model; --random-init may convert again and a converting process's
# figure is not the models'). Usage: BASE=... NEW=... models_rss.sh CLIP CAPTION VQA [ROUNDS]
set -euo pipefail
CLIP=$1 CAP=$2 VQA=$3 ROUNDS=${4:-2}
run() { # tag bin kernels models
	echo "== $1 $3 $(basename "${4%%,*}")$([[ $4 == *,* ]] && echo +all) | $(date -u +%T) |$(uptime)"
	"$2" bench --model "$4" --precision int8 --threads 1 --kernels "$3" --stages memory.models_rss --json 2>/dev/null | grep models_rss
}
for round in $(seq "$ROUNDS"); do
	for m in "$CAP" "$CLIP" "$CLIP,$CAP,$VQA"; do
		run new "$NEW" auto "$m"
		run new "$NEW" auto-bmm "$m"
		run base "$BASE" auto "$m"
		run base "$BASE" auto+bmm "$m"
	done
done
