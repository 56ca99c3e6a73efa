#!/usr/bin/env bash
# Benchmark: `hoist image` (daemonless, into the OCI layout) against `docker build` of the
# generated Dockerfiles on this machine's Engine, on the shop example with SHOP_DEPS_MB of
# dependency jars per service; then the bytes of new blobs after an application-only release.
#
#   bench/image.sh [ROUNDS]          (default 3; DEPS_MB=50 by default)
#
# Cold builds both sides: hoist starts from a layout holding only the base image, docker
# builds with --no-cache from the same base (docker-imported from the same root filesystem).
# The base import is not timed on either side.
#
# Needs: docker (engine running), a JDK (jlink, javac, jar), git, gzip, cargo.
# HOIST_BIN picks the hoist binary (default: a release build).
# Prints one line per measurement and a summary for bench/README.md.
set -euo pipefail

ROUNDS=${1:-3}
DEPS_MB=${DEPS_MB:-50}
HERE=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/hoist-bench-image.XXXXXX)
SUFFIX=$(printf '%x' $(( $$ ^ $(date +%s) )) | tail -c 7)
JRE=hoist-bench-$SUFFIX/shop-jre:17
REPO=hoist-bench-$SUFFIX/shop
V1=v1.0.0-aaaaaaa
V2=v1.0.1-bbbbbbb
SERVICES="chat-service gateway user-service"
export SOURCE_DATE_EPOCH=1700000000

# shellcheck source=bench/lib.sh
source "$HERE/bench/lib.sh"
hoist_bin "$HERE"

cleanup() {
  set +e
  docker ps -aq --filter "name=hoist-bench-$SUFFIX-" | xargs -r docker rm -f >/dev/null 2>&1
  docker images --format '{{.Repository}}:{{.Tag}}' | grep "^hoist-bench-$SUFFIX/" | xargs -r docker rmi -f >/dev/null 2>&1
  rm -rf "$WORK"
}
trap cleanup EXIT


echo "== preparing the example in $WORK (SHOP_DEPS_MB=$DEPS_MB)"
prepare_shop "$WORK/shop" "$V1" "$DEPS_MB"
tar --numeric-owner --owner=0 --group=0 -C "$WORK/jre" -cf - . | docker import - "$JRE" >/dev/null
cp -a .hoist/oci "$WORK/base-layout"
"$HOIST_BIN" -q dockerfile --write >/dev/null
for s in $SERVICES; do sed -i "s|^FROM shop-jre:17|FROM $JRE|" "$s/Dockerfile"; done

hoist_times=()
docker_times=()
for round in $(seq 1 "$ROUNDS"); do
  rm -rf .hoist/oci && cp -a "$WORK/base-layout" .hoist/oci
  sync
  t0=$(now); "$HOIST_BIN" -q image --tag "$V1" >/dev/null; t1=$(now)
  h=$(echo "$t1 - $t0" | bc); hoist_times+=("$h")
  sync
  t0=$(now)
  for s in $SERVICES; do
    DOCKER_BUILDKIT=0 docker build -q --no-cache --build-arg "TAG=$V1" -t "$REPO:${s}_$V1-$round" "$s" >/dev/null 2>>"$WORK/docker-build.log"
  done
  t1=$(now)
  d=$(echo "$t1 - $t0" | bc); docker_times+=("$d")
  echo "round $round: hoist image ${h}s, docker build ${d}s"
done
H=$(printf '%s\n' "${hoist_times[@]}" | median)
D=$(printf '%s\n' "${docker_times[@]}" | median)

echo "== application-only release $V1 -> $V2 (user-service code changed)"
"$HOIST_BIN" -q image --tag "$V1" >/dev/null # the layout holds release 1
java=$(find user-service/src -name '*.java' | sort | head -1)
printf '\nclass HoistBenchChange { static int x = %s; }\n' "$RANDOM" >>"$java"
for s in $SERVICES; do cp -a "$s/build/libs" "$WORK/libs-$s-v1"; done
SHOP_DEPS_MB=$DEPS_MB ./build.sh "$V2" >/dev/null
read -r NEW_LAYERS NEW <<<"$("$HOIST_BIN" -q --output json image --tag "$V2" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["new_layer_bytes"], d["new_blob_bytes"])')"
# What changed: every file of the artifacts whose bytes differ from release 1, gzip -1'd
# (the tag is baked into each app jar, so all three app jars change).
CHANGED=0
CHANGED_FILES=""
for s in $SERVICES; do
  for f in $(cd "$s/build/libs" && find . -type f | sort); do
    old="$WORK/libs-$s-v1/${f/$V2/$V1}"
    if [ ! -f "$old" ] || ! cmp -s "$old" "$s/build/libs/$f"; then
      CHANGED=$(( CHANGED + $(gzip -1 -c "$s/build/libs/$f" | wc -c) ))
      CHANGED_FILES="$CHANGED_FILES $s/${f#./}"
    fi
  done
done
RATIO_LAYERS=$(echo "scale=3; $NEW_LAYERS / $CHANGED" | bc)
RATIO=$(echo "scale=3; $NEW / $CHANGED" | bc)
echo "changed files:$CHANGED_FILES"

echo "== the 50 MB images still run: export, docker load, /version of each service"
"$HOIST_BIN" -q image export --tag "$V2" --repo "$REPO" -o "$WORK/images.tar" >/dev/null
docker load -q -i "$WORK/images.tar" >/dev/null
for s in $SERVICES; do
  c=hoist-bench-$SUFFIX-$s
  docker run -d --name "$c" -p 127.0.0.1::8080 "$REPO:${s}_$V2" >/dev/null
  port=$(docker port "$c" 8080/tcp | head -1 | sed 's/.*://')
  got=
  for _ in $(seq 1 120); do
    got=$(curl -fsS "http://127.0.0.1:$port/version" 2>/dev/null || true)
    [ -n "$got" ] && break
    sleep 0.5
  done
  docker rm -f "$c" >/dev/null
  [ "$got" = "$V2" ] || { echo "$s answered '$got', expected $V2" >&2; exit 1; }
  echo "$s /version: $got"
done

SPEEDUP=$(echo "scale=2; $D / $H" | bc)
echo
echo "| measurement | value |"
echo "|---|---|"
echo "| hoist image, 3 services, cold (median of $ROUNDS) | ${H}s |"
echo "| docker build --no-cache of the generated Dockerfiles (median of $ROUNDS) | ${D}s |"
echo "| speed-up | ${SPEEDUP}x (target >= 3x) |"
echo "| gzip -1 size of the changed files | $CHANGED |"
echo "| new layer bytes after an app-only release | $NEW_LAYERS (${RATIO_LAYERS}x, target <= 1.1x) |"
echo "| new blob bytes incl. 3 manifests + 3 configs | $NEW (${RATIO}x) |"
