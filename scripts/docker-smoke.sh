#!/usr/bin/env bash
# End-to-end proof of the Docker deployment: builds the image, starts the API with docker-compose
# (ready from the image's warm compile cache, serving the committed model), trains a new version
# into the model volume while it runs, and checks that the same container picks that version up
# without a restart; real predictions over HTTP throughout. Reports the image size and always
# tears the project down (containers, network, volumes).
#
#   bash scripts/docker-smoke.sh [BASE_IMAGE]
#
# Environment: BASE_IMAGE (default python:3.11-slim; CI passes ../shared/docker/local-base-image.sh's
# stand-in), MNIST_SOURCE_DIR (gz IDX files, default ../shared/mnist), MNIST_IMAGE (tag to build,
# default mnist-serving:smoke), MNIST_TRAIN_ARGS (extra training options), SMOKE_TIMEOUT (seconds
# to wait for a healthy API, default 300). Needs docker, docker-compose (or `docker compose`), python3.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)

BASE_IMAGE=${1:-${BASE_IMAGE:-python:3.11-slim}}
MNIST_SOURCE_DIR=${MNIST_SOURCE_DIR:-../shared/mnist}
export MNIST_IMAGE=${MNIST_IMAGE:-mnist-serving:smoke}
export MNIST_DATA_HOST_DIR
MNIST_DATA_HOST_DIR=$(cd "$MNIST_SOURCE_DIR" && pwd)
export MNIST_TRAIN_ARGS=${MNIST_TRAIN_ARGS:-}
export MNIST_HTTP_ADDRESS=127.0.0.1
export MNIST_HTTP_PORT
MNIST_HTTP_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export COMPOSE_PROJECT_NAME="mnist-smoke-$$-$started"
timeout=${SMOKE_TIMEOUT:-300}

if command -v docker-compose >/dev/null; then compose=(docker-compose); else compose=(docker compose); fi
log() { printf '\n== %s\n' "$*"; }

cleanup() {
  status=$?
  if ((status != 0)); then
    log "FAILED (exit $status); last logs"
    "${compose[@]}" logs --no-color --tail=80 || true
  fi
  log "tearing down $COMPOSE_PROJECT_NAME"
  "${compose[@]}" down --volumes --remove-orphans --timeout 10 || true
  log "wall time $(($(date +%s) - started)) s"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for f in t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz; do
  [[ -r $MNIST_DATA_HOST_DIR/$f ]] || { echo "missing $MNIST_DATA_HOST_DIR/$f" >&2; exit 1; }
done
# The committed repository's newest version; training must add exactly the next one.
committed=$(find model/mnist -mindepth 1 -maxdepth 1 -type d -regex '.*/[0-9]+' -printf '%f\n' | sort -n | tail -n1)
[[ -n $committed ]] || { echo "no committed model under model/mnist/" >&2; exit 1; }
expected=$((committed + 1))

log "building $MNIST_IMAGE from $BASE_IMAGE"
docker build --build-arg BASE_IMAGE="$BASE_IMAGE" -t "$MNIST_IMAGE" .
size=$(docker image inspect --format '{{.Size}}' "$MNIST_IMAGE")
log "image size: $(docker images --format '{{.Repository}}:{{.Tag}} {{.Size}}' "$MNIST_IMAGE") ($((size / 1000000)) MB)"

log "compose up: api on 127.0.0.1:$MNIST_HTTP_PORT (the committed model, version $committed)"
"${compose[@]}" up --detach --no-build api
api=$("${compose[@]}" ps -q api)
log "waiting up to ${timeout}s for api ($api) to be healthy"
deadline=$(($(date +%s) + timeout))
while :; do
  health=$(docker inspect --format '{{.State.Health.Status}}' "$api")
  [[ $health == healthy ]] && break
  [[ $(docker inspect --format '{{.State.Running}}' "$api") == true ]] || { echo "api stopped" >&2; exit 1; }
  (($(date +%s) < deadline)) || { echo "api still $health after ${timeout}s" >&2; exit 1; }
  sleep 2
done
echo "api healthy after $(($(date +%s) - started)) s"
api_started=$(docker inspect --format '{{.State.StartedAt}}' "$api")

log "checking the API on the committed model (loaded from the image's warm compile cache)"
python3 scripts/docker_smoke_check.py --url "http://127.0.0.1:$MNIST_HTTP_PORT" \
  --mnist-dir "$MNIST_DATA_HOST_DIR" --expect-version "$committed" --expect-cache hit

log "training version $expected into the model volume while the API serves"
# -T: no terminal (CI has none); pipefail makes a failed training fail the script.
"${compose[@]}" run -T --rm --no-deps train 2>&1 | tail -n 15

log "checking that the running API swapped in version $expected"
python3 scripts/docker_smoke_check.py --url "http://127.0.0.1:$MNIST_HTTP_PORT" \
  --mnist-dir "$MNIST_DATA_HOST_DIR" --expect-version "$expected" --wait 180
[[ $(docker inspect --format '{{.State.StartedAt}}' "$api") == "$api_started" ]] \
  || { echo "the api container was restarted" >&2; exit 1; }
[[ $(docker inspect --format '{{.RestartCount}}' "$api") == 0 ]] \
  || { echo "the api container restarted" >&2; exit 1; }
echo "  ok  same container (started $api_started), no restart"
log "docker smoke test passed"
