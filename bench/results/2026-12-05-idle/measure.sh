#!/bin/bash
# usage: EDGED=path/to/edged measure.sh VQA_BUNDLE IDLE_UNLOAD (run from the repository)
# A daemon with CLIP (shapes, labelling every frame) and a BLIP VQA bundle used only by ask;
# prints the resident memory (VmRSS, RssAnon) at each step.
set -e
root=$(git rev-parse --show-toplevel)
edged=$(realpath "${EDGED:-edged}")
work=$(mktemp -d)
cd "$work"
cp $root/configs/labels/shapes.yaml shapes.yaml
cat > edged.yaml <<EOC
device: m
http: 127.0.0.1:18931
cache_dir: $work/cache
mqtt: {broker: embedded, listen: "127.0.0.1:18932"}
runtime: {threads: 1, workers: 2}
models:
  clip: $root/models/shapes/clip
  blip_vqa: $1
  idle_unload: $2
cameras:
  - name: demo
    source: {kind: synthetic, fps: 5, scene_every: 1s, seed: 7}
    labels: {sets: [shapes.yaml], every: 1s}
EOC
"$edged" run -c edged.yaml > out.log 2> err.log &
pid=$!
mem() { echo "$1: $(grep -E 'VmRSS|RssAnon' /proc/$pid/status | awk '{printf "%s %d MiB  ", $1, $2/1024}')"; }
until curl -s 127.0.0.1:18931/healthz | grep -q '"status": "ok"'; do
  grep -q "model failed" err.log && { tail -3 err.log; kill $pid; exit 1; }
  sleep 1
done
mem "ready (VQA loaded, not run)"
ask() { mosquitto_pub -h 127.0.0.1 -p 18932 -t edged/m/demo/ask -m '{"question":"what color is the background?","request_id":"'$1'","reply_to":"edged/m/reply/'$1'"}'; }
mosquitto_sub -h 127.0.0.1 -p 18932 -t edged/m/reply/a1 -C 1 -W 120 > a1.txt & s=$!; sleep 0.5; ask a1; wait $s
mem "after an ask"
if [ "$2" != "0" ]; then
  until grep -q 'model unloaded' err.log; do sleep 1; done
  mem "after idle_unload"
  mosquitto_sub -h 127.0.0.1 -p 18932 -t edged/m/reply/a2 -C 1 -W 120 > a2.txt & s=$!; sleep 0.5; ask a2; wait $s
  mem "after the next ask (reloaded)"
  grep -o '"reload_seconds": [0-9.]*' <(curl -s 127.0.0.1:18931/healthz)
fi
grep VmHWM /proc/$pid/status
kill -TERM $pid; wait $pid || true
