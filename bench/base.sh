#!/usr/bin/env bash
# Benchmark: a base image from a registry. `hoist image` + `hoist push` with
# `[image] base = "127.0.0.1:PORT/library/jre:17"` against `docker build` + `docker push` of
# the Dockerfiles `hoist dockerfile --write` generates (FROM the same reference), on the
# shop example with DEPS_MB of dependency jars per service.
#
#   bench/base.sh [ROUNDS]          (default 1; DEPS_MB=50 by default)
#
# Three fresh Debian `docker-registry`s on 127.0.0.1: the "public" one holding the base (the
# jlink'ed JRE imported by hoist, pushed by skopeo as library/jre:17-amd64, and an OCI index
# of it PUT at library/jre:17, as the tests' public registry does), and one target
# registry per side. The base is pulled by docker beforehand, and the jars are built
# beforehand; neither is timed. Per round each side starts cold: hoist from a layout
# without the base (it resolves it: manifest and config only), docker with --no-cache
# (the base is in the Engine). Each side pushes its three images to its own empty target,
# so both carry the base layers there: docker uploads them from the Engine, hoist copies
# them registry to registry.
#
# Bytes of base layers downloaded are read from the base registry's access log (every GET
# of a blob that is a layer of the base, with the bytes served), split by step:
# `hoist image` (target 0) and `hoist push` (the registry-to-registry copy, streamed
# through hoist, never stored).
#
# Needs: docker (Engine), docker-registry, skopeo, curl, a JDK, git, python3, bc, cargo.
# HOIST_BIN picks the hoist binary (default: a release build).
set -euo pipefail

ROUNDS=${1:-1}
DEPS_MB=${DEPS_MB:-50}
HERE=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/hoist-bench-base.XXXXXX)
V1=v1.0.0-aaaaaaa
SERVICES="chat-service gateway user-service"
export SOURCE_DATE_EPOCH=1700000000
PIDS=()
PULLED=()

# shellcheck source=bench/lib.sh
source "$HERE/bench/lib.sh"
hoist_bin "$HERE"

cleanup() {
  set +e
  for i in "${PULLED[@]}"; do docker rmi -f "$i" >/dev/null 2>&1; done
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  rm -rf "$WORK"
}
trap cleanup EXIT

# The base registry keeps an access log (lib.sh's registries don't): start one, then
# restart it with the log on, over the same storage and port.
start_registry base
BASE=127.0.0.1:$PORT
kill "${PIDS[-1]}"; wait "${PIDS[-1]}" 2>/dev/null || true
unset 'PIDS[-1]'
sed -i 's/^    disabled: true/    disabled: false/' "$WORK/reg-base/config.yml"
docker-registry serve "$WORK/reg-base/config.yml" >"$WORK/reg-base/log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do curl -fsS "http://$BASE/v2/" >/dev/null 2>&1 && break; sleep 0.1; done
BASE_REF=$BASE/library/jre:17

echo "== preparing the example in $WORK (SHOP_DEPS_MB=$DEPS_MB)"
prepare_shop "$WORK/shop" "$V1" "$DEPS_MB"
# prepare_shop imports the jlink'ed JRE into the project's layout as shop-jre:17: that image
# goes to the base registry, and then the layout goes (the point is a layout without it).
echo "== the base: the JRE imported by hoist, pushed by skopeo to $BASE_REF"
skopeo copy -q --dest-tls-verify=false "oci:.hoist/oci:shop-jre:17" "docker://$BASE/library/jre:17-amd64"
skopeo inspect --raw --tls-verify=false "docker://$BASE/library/jre:17-amd64" >"$WORK/base-manifest.json"
python3 - "$WORK/base-manifest.json" >"$WORK/base-index.json" <<'PY'
import hashlib, json, sys
raw = open(sys.argv[1], "rb").read()
print(json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [{
    "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + hashlib.sha256(raw).hexdigest(),
    "size": len(raw), "platform": {"architecture": "amd64", "os": "linux"}}]}))
PY
curl -fsS -X PUT -H "Content-Type: application/vnd.oci.image.index.v1+json" \
  --data-binary "@$WORK/base-index.json" "http://$BASE/v2/library/jre/manifests/17" >/dev/null
LAYERS=$(python3 -c 'import json,sys; print(" ".join(l["digest"] for l in json.load(open(sys.argv[1]))["layers"]))' "$WORK/base-manifest.json")
BASE_LAYER_BYTES=$(python3 -c 'import json,sys; print(sum(l["size"] for l in json.load(open(sys.argv[1]))["layers"]))' "$WORK/base-manifest.json")

rm -rf .hoist/oci
sed -i "s|^base = .*|base = \"$BASE_REF\"|" hoist.toml
"$HOIST_BIN" -q dockerfile --write >/dev/null
for s in $SERVICES; do grep -q "^FROM $BASE_REF" "$s/Dockerfile" || { echo "$s/Dockerfile is not FROM $BASE_REF" >&2; exit 1; }; done
docker pull -q "$BASE_REF" >/dev/null
PULLED+=("$BASE_REF")
PULL_LINES=$(wc -l <"$WORK/reg-base/log")

# log_lines: how many lines the base registry's access log has (a step's requests are the
# lines between two counts). layer_bytes FROM TO: bytes of base layers it served in them.
log_lines() { wc -l <"$WORK/reg-base/log"; }
layer_bytes() {
  python3 - "$WORK/reg-base/log" "$1" "$2" $LAYERS <<'PY'
import re, sys
path, start, end, layers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), set(sys.argv[4:])
total = 0
for line in open(path, errors="replace").read().splitlines()[start:end]:
    m = re.search(r'"GET /v2/[^ ]*/blobs/(sha256:[0-9a-f]{64}) [^"]*" (\d{3}) (\d+|-)', line)
    if m and m.group(1) in layers and m.group(3) != "-":
        total += int(m.group(3))
print(total)
PY
}

# secs T0 T1: the time between, to 0.01 s.
secs() { printf '%.2f' "$(echo "$2 - $1" | bc)"; }
# The counter checked on what docker pulled beforehand: the base's layers, once.
PULL_BYTES=$(layer_bytes 0 "$PULL_LINES")

hoist_image=(); hoist_push=(); hoist_total=(); docker_build=(); docker_push=(); docker_total=()
BUILD_BYTES=0; PUSH_BYTES=0; HOIST_FAILED=
for round in $(seq 1 "$ROUNDS"); do
  start_registry "h$round"; ph=$PORT
  start_registry "d$round"; pd=$PORT
  rm -rf .hoist/oci
  sed -i "s|^repository = .*|repository = \"127.0.0.1:$ph/shop\"|" hoist.toml
  sync
  ht=failed; hi=-; hp=-
  l0=$(log_lines); t0=$(now)
  if "$HOIST_BIN" -q image --tag "$V1" >/dev/null 2>"$WORK/hoist-image.log"; then
    t1=$(now); l1=$(log_lines)
    if "$HOIST_BIN" -q push --tag "$V1" >/dev/null 2>"$WORK/hoist-push.log"; then
      t2=$(now); l2=$(log_lines)
      hi=$(secs "$t0" "$t1"); hp=$(secs "$t1" "$t2"); ht=$(secs "$t0" "$t2")
      hoist_image+=("$hi"); hoist_push+=("$hp"); hoist_total+=("$ht")
      BUILD_BYTES=$(( BUILD_BYTES + $(layer_bytes "$l0" "$l1") ))
      PUSH_BYTES=$(( PUSH_BYTES + $(layer_bytes "$l1" "$l2") ))
      for s in $SERVICES; do
        skopeo inspect -n --tls-verify=false "docker://127.0.0.1:$ph/shop:${s}_$V1" >/dev/null
      done
    else
      HOIST_FAILED="hoist push: $(tail -3 "$WORK/hoist-push.log")"
    fi
  else
    HOIST_FAILED="hoist image: $(tail -3 "$WORK/hoist-image.log")"
  fi
  sync
  t0=$(now)
  for s in $SERVICES; do
    DOCKER_BUILDKIT=0 docker build -q --no-cache --build-arg "TAG=$V1" -t "127.0.0.1:$pd/shop:${s}_$V1" "$s" \
      >/dev/null 2>>"$WORK/docker-build.log"
    PULLED+=("127.0.0.1:$pd/shop:${s}_$V1")
  done
  t1=$(now)
  for s in $SERVICES; do docker push -q "127.0.0.1:$pd/shop:${s}_$V1" >/dev/null; done
  t2=$(now)
  db=$(secs "$t0" "$t1"); dp=$(secs "$t1" "$t2"); dt=$(secs "$t0" "$t2")
  docker_build+=("$db"); docker_push+=("$dp"); docker_total+=("$dt")
  for s in $SERVICES; do skopeo inspect -n --tls-verify=false "docker://127.0.0.1:$pd/shop:${s}_$V1" >/dev/null; done
  echo "round $round: hoist $ht (image $hi, push $hp); docker $dt (build $db, push $dp) [s]"
  [ -z "$HOIST_FAILED" ] || break
done

DB=$(median "${docker_build[@]}"); DP=$(median "${docker_push[@]}"); DT=$(median "${docker_total[@]}")
echo
echo "base: $BASE_REF, $BASE_LAYER_BYTES bytes of layers (compressed); docker pull beforehand got $PULL_BYTES of them (the access-log counter's check)"
echo
if [ -n "$HOIST_FAILED" ]; then
  echo "| measurement | hoist | docker build + push |"
  echo "|---|---|---|"
  echo "| build (median of ${#docker_total[@]}) | failed | ${DB}s |"
  echo "| push | failed | ${DP}s |"
  echo "| total | failed | ${DT}s |"
  echo
  echo "the hoist side failed (registry bases need hoist with issue 14's resolution and push):"
  echo "$HOIST_FAILED"
  exit 1
fi
HI=$(median "${hoist_image[@]}"); HP=$(median "${hoist_push[@]}"); HT=$(median "${hoist_total[@]}")
echo "| measurement (median of $ROUNDS) | hoist | docker build + push |"
echo "|---|---|---|"
echo "| build: \`hoist image\` / 3 x \`docker build --no-cache\` | ${HI}s | ${DB}s |"
echo "| push: \`hoist push\` / 3 x \`docker push\` | ${HP}s | ${DP}s |"
echo "| total | ${HT}s | ${DT}s |"
echo "| base layer bytes downloaded by hoist to build (all rounds) | $BUILD_BYTES | - |"
echo "| base layer bytes streamed registry to registry by hoist push (all rounds) | $PUSH_BYTES | - |"
echo
echo "speed-up docker/hoist: $(echo "scale=2; $DT / $HT" | bc)x (target >= 5x)"
echo "base layer bytes downloaded to build: $BUILD_BYTES (target 0)"
