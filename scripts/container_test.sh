#!/usr/bin/env bash
# `make container-test`: build the quote server image with podman and prove it on real data.
#
# Builds (or reuses) a local Debian base image (docker/base_image.sh) and a wheelhouse (scripts/wheelhouse.sh),
# builds the server image and the replay-client image from the Dockerfile, starts the server as compose does
# (read-only root, pinned CPU, loopback only), waits for its HEALTHCHECK, then:
#   - checks that the server runs as non-root, with uvloop and httptools, and that torch/transformers are absent;
#   - replays a real capture (prepared with `cmm data prepare`) from the engine image (`cmm loadtest --log`)
#     and checks every logged quote (status ok, bid < ask, post-only against its snapshot);
#   - times 1,000 sequential quotes through the container's port, and the same against `cmm serve` on the host.
# Removes the containers and processes it started (images stay cached for the next run). Run from the repo
# root, as root on a fresh machine (installs podman, runc and debootstrap with apt-get when missing), after
# `make install` (uses .venv). Fails, saying why, where no container runtime can run.
# Env: CMM_CONTAINER_CACHE (default /var/tmp/cmm-container), CMM_CONTAINER_CAPTURE (a Binance capture),
# CMM_CONTAINER_BUNDLE (the bundle to serve, inside the build context: models/default or a folder under docker/).
set -euo pipefail
cd "$(dirname "$0")/.."

START=$SECONDS
BASE_IMAGE=localhost/cmm-debian-python:bookworm
IMAGE=localhost/cmm-quote:test
ENGINE_IMAGE=localhost/cmm-engine:test
BUILD_CACHE=localhost/cmm-quote-build:cache
CAPTURE=${CMM_CONTAINER_CAPTURE:-../shared/data/binance/spot_btcusdt_20240808.gz}
PY=.venv/bin/python
WORK=$(mktemp -d /tmp/cmm-container-test.XXXXXX)
SERVER=cmm-ct-server-$$
ENGINE=cmm-ct-engine-$$
HOST_PID=

say() { echo "[container-test +$((SECONDS - START))s] $*"; }
fail() {
    echo "container-test: FAILED: $*" >&2
    exit 1
}

cleanup() {
    podman rm --force --ignore --time 2 "$SERVER" "$ENGINE" >/dev/null 2>&1 || true
    if [[ -n $HOST_PID ]]; then kill "$HOST_PID" 2>/dev/null && wait "$HOST_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap "exit 130" INT TERM

ensure_tools() {
    local missing=()
    for tool in podman runc debootstrap; do command -v "$tool" >/dev/null || missing+=("$tool"); done
    [[ ${#missing[@]} -eq 0 ]] && return
    command -v apt-get >/dev/null || fail "no container runtime: ${missing[*]} missing, and no apt-get to install them"
    say "installing ${missing[*]} (apt-get)"
    { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q podman runc debootstrap; } \
        >"$WORK/apt.log" 2>&1 || fail "apt-get install podman runc debootstrap failed: $(tail -3 "$WORK/apt.log")"
}

# podman's default runtime (crun) and `--ulimit host` fail on some hosts (../shared/notes/containers.md):
# use runc, host networking, and explicit limits no higher than this shell's hard limits.
nofile=$(ulimit -Hn)
nproc=$(ulimit -Hu)
[[ $nofile == unlimited || $nofile -gt 4096 ]] && nofile=4096
[[ $nproc == unlimited || $nproc -gt 4096 ]] && nproc=4096
LIMITS=(--ulimit "nofile=$nofile:$nofile" --ulimit "nproc=$nproc:$nproc")
RUN=(--runtime runc --network host "${LIMITS[@]}")
# Same hardening as docker-compose.yml; the server on the last CPU, the engine on the first.
HARDEN=(--read-only --tmpfs /tmp --cap-drop ALL --security-opt no-new-privileges)
LAST_CPU=$(($(nproc) - 1))

free_port() { $PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
readyz() { $PY -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=2).read().decode())' \
    "http://127.0.0.1:$1/readyz" 2>/dev/null; }

wait_healthy() { # NAME SECONDS: poll the image's HEALTHCHECK until it passes
    local deadline=$((SECONDS + $2))
    until podman healthcheck run "$1" >/dev/null 2>&1; do
        if [[ $(podman inspect --format '{{.State.Running}}' "$1" 2>/dev/null) != true ]]; then
            podman logs "$1" 2>&1 | tail -20 >&2
            fail "container $1 exited before it became healthy (logs above)"
        fi
        ((SECONDS < deadline)) || { podman logs "$1" 2>&1 | tail -20 >&2; fail "$1 not healthy after $2 s"; }
        sleep 0.5
    done
}

[[ $(id -u) -eq 0 ]] || fail "needs root: debootstrap and rootful podman (with runc) build and run the images here"
[[ -x $PY ]] || fail "$PY is missing: run \`make install\` first (the test prepares data and checks quotes with it)"
ensure_tools
docker/base_image.sh "$BASE_IMAGE" || fail "could not build the base image $BASE_IMAGE"
podman run --rm "${RUN[@]}" "$BASE_IMAGE" true >"$WORK/probe.log" 2>&1 \
    || fail "podman cannot run a container on this machine: $(grep -v 'level=' "$WORK/probe.log" | tail -3)"

say "preparing real snapshots"
if [[ -f $CAPTURE ]]; then
    $PY -m cmm data prepare --source binance "$CAPTURE" --out "$WORK/data/snapshots.npz"
else
    say "capture $CAPTURE absent: using the Bitstamp sample of ob-analytics instead"
    $PY -m cmm data prepare --source bitstamp --out "$WORK/data/snapshots.npz"
fi
chmod -R a+rX "$WORK/data" # the engine reads it as uid 10001

bundle=${CMM_CONTAINER_BUNDLE:-models/default}
if [[ -n ${CMM_CONTAINER_BUNDLE:-} && ! -f $bundle/manifest.json ]]; then
    fail "CMM_CONTAINER_BUNDLE=$bundle: no manifest.json there"
elif [[ ! -f $bundle/manifest.json ]]; then
    bundle=docker/test-bundle
    say "WARNING: models/default is absent: the image serves the tiny test bundle ($bundle) instead"
    $PY -c "import sys; sys.path.insert(0, 'tests'); from tiny_bundle import write_tiny_bundle; write_tiny_bundle('$bundle')"
fi

say "wheelhouse"
scripts/wheelhouse.sh docker/wheels
say "building $IMAGE and $ENGINE_IMAGE (base $BASE_IMAGE, bundle $bundle)"
BUILD=(podman build --format docker --runtime runc --network host "${LIMITS[@]}"
    --build-arg "BASE_IMAGE=$BASE_IMAGE" --build-arg "BUNDLE=$bundle")
dangling_before=$(podman images --quiet --filter dangling=true | sort)
for target in server engine build; do # the build stage is tagged too: its dependency layers stay cached
    tag=$IMAGE
    [[ $target == engine ]] && tag=$ENGINE_IMAGE
    [[ $target == build ]] && tag=$BUILD_CACHE
    "${BUILD[@]}" --target "$target" -t "$tag" . >>"$WORK/build.log" 2>&1 \
        || { tail -30 "$WORK/build.log" >&2; fail "podman build --target $target"; }
done
# Images this run left untagged (the previous test images, intermediate stages): removed, so reruns do not pile up.
mapfile -t stale < <(comm -13 <(echo "$dangling_before") <(podman images --quiet --filter dangling=true | sort))
((${#stale[@]} == 0)) || podman rmi "${stale[@]}" >/dev/null 2>&1 || true
say "image $IMAGE: $(podman image inspect --format '{{.Size}}' "$IMAGE" | awk '{printf "%.0f MB", $1 / 1e6}')"

port=$(free_port)
say "starting $SERVER on 127.0.0.1:$port (read-only root, CPU $LAST_CPU)"
podman run --detach --name "$SERVER" "${RUN[@]}" "${HARDEN[@]}" --cpuset-cpus "$LAST_CPU" \
    -e CMM_HOST=127.0.0.1 -e "CMM_PORT=$port" "$IMAGE" >/dev/null 2>"$WORK/run.log" \
    || fail "podman run: $(grep -v 'level=' "$WORK/run.log" | tail -3)"
wait_healthy "$SERVER" 90
say "healthy: $(readyz "$port")"

uid=$(podman exec "$SERVER" python3 -c 'print(open("/proc/1/status").read().split("Uid:")[1].split()[1])')
[[ $uid != 0 ]] || fail "the server process runs as root inside the container"
podman exec "$SERVER" python3 -c 'import importlib.util as u, sys; sys.exit(any(u.find_spec(m) for m in ("torch", "transformers")))' \
    || fail "torch or transformers is installed in the image"
for lib in uvloop httptools; do
    podman exec "$SERVER" grep -q "$lib" /proc/1/maps || fail "the server did not load $lib"
done
say "checked: server uid $uid (non-root), no torch/transformers, uvloop + httptools loaded"

say "replaying the snapshots from $ENGINE_IMAGE (cmm loadtest --log)"
mkdir -m 777 "$WORK/out"
podman run --rm --name "$ENGINE" "${RUN[@]}" "${HARDEN[@]}" --cpuset-cpus 0 -v "$WORK/data:/data:ro" \
    -v "$WORK/out:/out" "$ENGINE_IMAGE" loadtest --url "http://127.0.0.1:$port" --data /data/snapshots.npz \
    --rate 200 --duration 5 --warmup 0 --connections 1 --log /out/quotes.jsonl --quiet 2>"$WORK/engine.log" \
    || { grep -v 'level=' "$WORK/engine.log" | tail -10 >&2; fail "the engine's replay failed"; }
$PY docker/check_quotes.py log --log "$WORK/out/quotes.jsonl" --data "$WORK/data/snapshots.npz" --min-quotes 1000 \
    || fail "bad quotes in the replay log"

say "1,000 sequential quotes through the container's port"
container_latency=$($PY docker/check_quotes.py latency --url "http://127.0.0.1:$port" --data "$WORK/data/snapshots.npz") \
    || fail "sequential quotes through the container: $container_latency"
host_port=$(free_port)
CMM_BUNDLE=$bundle CMM_HOST=127.0.0.1 CMM_PORT=$host_port .venv/bin/cmm serve >"$WORK/host.log" 2>&1 &
HOST_PID=$!
for _ in $(seq 120); do readyz "$host_port" >/dev/null && break; sleep 0.5; done
host_latency=$($PY docker/check_quotes.py latency --url "http://127.0.0.1:$host_port" --data "$WORK/data/snapshots.npz") \
    || fail "sequential quotes through the host server: $host_latency (log: $(tail -3 "$WORK/host.log"))"
say "latency container: $container_latency"
say "latency host:      $host_latency"
say "PASSED in $((SECONDS - START)) s"
