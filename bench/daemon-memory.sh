# Sourced by the daemon memory scripts (bench/results/*/measure*.sh), run from the repository
# with EDGED=path/to/edged (and CACHE=DIR for a cache folder of your own): daemon_start writes an edged.yaml in a new temporary folder (the
# shapes labels, a synthetic camera labelling every second, an embedded broker), starts edged
# and waits until /healthz says ok; mem prints the process's resident memory.
set -e
root=$(git rev-parse --show-toplevel)
edged=$(realpath "${EDGED:-edged}")

# daemon_start HTTP_PORT MQTT_PORT THREADS MODELS [CAMERA]: MODELS and CAMERA are YAML lines
# under models: and under the camera, indented already.
daemon_start() {
  http=127.0.0.1:$1 mqtt_port=$2
  work=$(mktemp -d)
  cd "$work"
  cp $root/configs/labels/shapes.yaml shapes.yaml
  cat > edged.yaml <<EOC
device: m
http: $http
cache_dir: ${CACHE:-$work/cache}
mqtt: {broker: embedded, listen: "127.0.0.1:$mqtt_port"}
runtime: {threads: $3, workers: 2}
models:
$4
cameras:
  - name: demo
    source: {kind: synthetic, fps: 5, scene_every: 1s, seed: 7}
    labels: {sets: [shapes.yaml], every: 1s}
$5
EOC
  "$edged" run -c edged.yaml > out.log 2> err.log &
  pid=$!
  until curl -s $http/healthz | grep -q '"status": "ok"'; do
    grep -q "model failed" err.log && { tail -3 err.log; kill $pid; exit 1; }
    sleep 1
  done
}

mem() { echo "$1: $(grep -E 'VmRSS|RssAnon|RssFile' /proc/$pid/status | awk '{printf "%s %d MiB  ", $1, $2/1024}')"; }
