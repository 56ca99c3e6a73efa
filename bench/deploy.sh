#!/usr/bin/env bash
# Benchmark: `hoist deploy compose` against what an operator would otherwise script
# (`docker-compose pull`, `docker-compose up -d`, then a loop polling until every service is
# healthy), on the same compose file, the same images and the same registry.
#
#   bench/deploy.sh [ROUNDS]        (default 3)
#
# Cases, each timed to "all healthy":
#   noop    deploy the release that is already running
#   change  deploy a release in which one service (user-service) changed (v1 -> v2, then
#           v2 -> v1, alternating, so every round is a one-service change)
#
# Needs: docker (engine running), docker-compose v1 or the v2 plugin, docker-registry,
# skopeo, a JDK (jlink), cargo. HOIST_BIN picks the hoist binary (default: a release build).
# Prints one line per measurement and a summary table (medians) for bench/README.md.
set -euo pipefail

ROUNDS=${1:-3}
HERE=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/hoist-bench-deploy.XXXXXX)
SUFFIX=$(printf '%x' $(( $$ ^ $(date +%s) )) | tail -c 7)
P_HOIST=bench-hoist-$SUFFIX
P_OPS=bench-ops-$SUFFIX
JRE=hoist-bench/shop-jre:17
KV=hoist-bench/shop-kv-store:1
V1=v1.0.0-aaaaaaa
V2=v1.1.0-bbbbbbb
SERVICES="chat-service gateway user-service"

# shellcheck source=bench/lib.sh
source "$HERE/bench/lib.sh"
hoist_bin "$HERE"
if docker compose version >/dev/null 2>&1; then COMPOSE=(docker compose); else COMPOSE=(docker-compose); fi

PIDS=()
cleanup() {
  set +e
  for p in "$P_HOIST" "$P_OPS"; do
    for d in "$WORK/$p"; do
      [ -d "$d" ] && (cd "$d" && "${COMPOSE[@]}" -p "$p" -f docker-compose-prod.yaml down -t 2 >/dev/null 2>&1)
    done
    docker volume rm "${p}_kv-data" >/dev/null 2>&1
  done
  docker image ls --format '{{.Repository}}:{{.Tag}}' --filter "reference=127.0.0.1:$PORT/shop-$SUFFIX" 2>/dev/null | xargs -r docker image rm >/dev/null 2>&1
  docker image ls --digests --format '{{.Repository}}@{{.Digest}}' --filter "reference=127.0.0.1:$PORT/shop-$SUFFIX" 2>/dev/null | grep -v '<none>' | xargs -r docker image rm >/dev/null 2>&1
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  rm -rf "$WORK"
}
trap cleanup EXIT


# --- registry -----------------------------------------------------------------------------
start_registry shop
REPO=127.0.0.1:$PORT/shop-$SUFFIX

# --- images -------------------------------------------------------------------------------
if ! docker image inspect "$JRE" >/dev/null 2>&1; then
  "$HERE/examples/shop/base/make-jre-rootfs.sh" "$WORK/rootfs" >/dev/null
  tar --numeric-owner --owner=0 --group=0 -C "$WORK/rootfs" -cf "$WORK/rootfs.tar" .
  docker import "$WORK/rootfs.tar" "$JRE" >/dev/null
fi
app_image() { # jar tag
  local ctx; ctx=$(mktemp -d "$WORK/ctx.XXXX")
  cp "$1" "$ctx/app.jar"
  printf 'FROM %s\nCOPY app.jar /app.jar\nENTRYPOINT ["/opt/java/bin/java","-XX:TieredStopAtLevel=1","-Xshare:auto","-XX:+UseSerialGC","-Xss256k","-XX:MaxRAM=128m","-jar","/app.jar"]\n' "$JRE" >"$ctx/Dockerfile"
  docker build -q -t "$2" "$ctx" >/dev/null 2>&1
}
SRC=$WORK/src
copy_shop "$SRC"
if ! docker image inspect "$KV" >/dev/null 2>&1; then
  (cd "$SRC" && ./build.sh --deps >/dev/null 2>&1)
  app_image "$SRC/kv-store/build/libs/shop-kv-store.jar" "$KV"
fi
(cd "$SRC" && SOURCE_DATE_EPOCH=1700000000 ./build.sh "$V1" >/dev/null 2>&1)
for s in $SERVICES; do
  app_image "$SRC/$s/build/libs/shop-$s-$V1.jar" "$REPO:${s}_$V1"
  docker push -q "$REPO:${s}_$V1" >/dev/null
done
# build.sh replaces the service's build/ directory, so v2 is built after v1's images.
(cd "$SRC" && SOURCE_DATE_EPOCH=1700000000 ./build.sh "$V2" user-service >/dev/null 2>&1)
app_image "$SRC/user-service/build/libs/shop-user-service-$V2.jar" "$REPO:user-service_$V2"
docker push -q "$REPO:user-service_$V2" >/dev/null
for s in chat-service gateway; do
  skopeo copy -q --src-tls-verify=false --dest-tls-verify=false "docker://$REPO:${s}_$V1" "docker://$REPO:${s}_$V2"
done

# --- two identical project copies: one for hoist, one for the script ----------------------
for p in "$P_HOIST" "$P_OPS"; do
  d=$WORK/$p
  mkdir -p "$d" && cp -r "$SRC/." "$d/"
  sed -i -E 's/"1808[0-3]:8080"/"127.0.0.1::8080"/; s#image: shop-kv-store:1#image: '"$KV"'#' "$d/docker-compose-prod.yaml"
  sed -i -E 's#^name = "shop"#name = "'"$p"'"#; s#^repository = .*#repository = "'"$REPO"'"#' "$d/hoist.toml"
done

# The operator's way: an override with the release's tags, pull, up -d, poll until healthy.
ops_deploy() { # tag
  local d=$WORK/$P_OPS tag=$1
  {
    echo "services:"
    for s in $SERVICES; do printf '  %s:\n    image: %s\n' "$s" "$REPO:${s}_$tag"; done
  } >"$d/ops-override.yaml"
  (cd "$d" && "${COMPOSE[@]}" -p "$P_OPS" -f docker-compose-prod.yaml -f ops-override.yaml pull -q $SERVICES >/dev/null 2>&1)
  (cd "$d" && "${COMPOSE[@]}" -p "$P_OPS" -f docker-compose-prod.yaml -f ops-override.yaml up -d >/dev/null 2>&1)
  while :; do
    local ids states
    ids=$(docker ps -aq --filter "label=com.docker.compose.project=$P_OPS")
    states=$(docker inspect --format '{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}' $ids)
    if ! echo "$states" | grep -qv '^healthy$'; then break; fi
    sleep 0.25
  done
}
hoist_deploy() { # tag
  (cd "$WORK/$P_HOIST" && "$HOIST_BIN" -q deploy compose --tag "$1" >/dev/null)
}

# Warm up: both at v1, healthy.
hoist_deploy "$V1"
ops_deploy "$V1"

declare -a R_HOIST_NOOP R_OPS_NOOP R_HOIST_CHANGE R_OPS_CHANGE
cur=$V1
for round in $(seq 1 "$ROUNDS"); do
  t=$(now); hoist_deploy "$cur"; R_HOIST_NOOP+=("$(since "$t")")
  t=$(now); ops_deploy "$cur"; R_OPS_NOOP+=("$(since "$t")")
  if [ "$cur" = "$V1" ]; then next=$V2; else next=$V1; fi
  t=$(now); hoist_deploy "$next"; R_HOIST_CHANGE+=("$(since "$t")")
  t=$(now); ops_deploy "$next"; R_OPS_CHANGE+=("$(since "$t")")
  cur=$next
  echo "round $round: noop hoist ${R_HOIST_NOOP[-1]}s script ${R_OPS_NOOP[-1]}s | change hoist ${R_HOIST_CHANGE[-1]}s script ${R_OPS_CHANGE[-1]}s"
done

median2() { printf '%.2f' "$(median "$@")"; }
hn=$(median2 "${R_HOIST_NOOP[@]}"); on=$(median2 "${R_OPS_NOOP[@]}")
hc=$(median2 "${R_HOIST_CHANGE[@]}"); oc=$(median2 "${R_OPS_CHANGE[@]}")
echo
echo "| case ($ROUNDS rounds, median wall time to all healthy) | hoist | pull + up -d + poll | ratio |"
echo "|---|---|---|---|"
echo "| no-op deploy of the running release | ${hn} s | ${on} s | $(echo "scale=2; $hn / $on" | bc) |"
echo "| one service changed | ${hc} s | ${oc} s | $(echo "scale=2; $hc / $oc" | bc) |"
echo "compose: ${COMPOSE[*]} ($("${COMPOSE[@]}" version --short 2>/dev/null || true)), engine $(docker version --format '{{.Server.Version}}'), $(nproc) cores"
