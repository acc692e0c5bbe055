#!/usr/bin/env bash
# Peak resident memory of `edged convert --random-init` for each real-size config in
# bench/configs at fp32 and at the architecture's default precision (int8), measured by
# GNU time (maximum resident set size). Usage: bench/convert-rss.sh [EDGED] [OUT.tsv]
# Prints one line per conversion: config, precision, peak RSS in MiB, wall seconds, bundle MiB,
# and the parameters the converter read (millions).
set -euo pipefail
EDGED=${1:-bin/edged}
OUT=${2:-/dev/stdout}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf 'config\tprecision\tpeak_rss_mib\twall_s\tbundle_mib\tparams_m\n' >"$OUT"
for cfg in "$here"/configs/*.json; do
	name=$(basename "$cfg" .json)
	mkdir -p "$work/$name"
	cp "$cfg" "$work/$name/config.json"
	for p in fp32 default; do
		args=(convert --from "$work/$name" --out "$work/out" --random-init)
		[ "$p" = default ] || args+=(--precision "$p")
		rm -rf "$work/out"
		/usr/bin/time -f '%M %e' -o "$work/time" "$EDGED" "${args[@]}" >/dev/null 2>"$work/log" || { cat "$work/log" >&2; exit 1; }
		read -r kib wall <"$work/time"
		prec=$(sed -n 's/.*"precision": "\([^"]*\)".*/\1/p' "$work/out/manifest.json" | head -1)
		size=$(du -sm "$work/out" | cut -f1)
		params=$(sed -n 's/.*"parameters": \([0-9]*\).*/\1/p' "$work/out/manifest.json" | head -1)
		printf '%s\t%s\t%d\t%s\t%s\t%s\n' "$name" "$prec" $((kib / 1024)) "$wall" "$size" \
			"$(awk -v p="${params:-0}" 'BEGIN { printf "%.1f", p / 1e6 }')" >>"$OUT"
	done
done
