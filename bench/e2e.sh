#!/usr/bin/env bash
# Benchmark, end to end: `hoist release --deploy compose` against the original flow done with
# standard tools (a shell script: git tag, ./build.sh, docker build of the generated
# Dockerfiles, docker push, docker-compose pull + up -d with an override pinning the images,
# then a poll until every container is healthy), on the shop example with SHOP_DEPS_MB of
# dependency jars per service.
#
#   bench/e2e.sh [ROUNDS]            (default 1; DEPS_MB=50 by default)
#
# Per round, each side gets its own git repository (with a bare `origin`), its own fresh
# `docker-registry` on 127.0.0.1 and its own compose project (ephemeral host ports), and runs:
#   cold   the first release: `[minor] ...` on top of v1.0.0-<sha>; empty registry, none of
#          the side's images in the engine except the base both need (prepared untimed)
#   incr   an incremental release: `[patch] ...` changing user-service's code (the tag is
#          baked into every app jar, so all three app jars change, on both sides)
# hoist runs twice: as shipped, and with SOURCE_DATE_EPOCH fixed (1700000000). Without it,
# hoist stamps every layer above the base with the release commit's time, so the 50 MB
# dependency layer gets a new digest (and is uploaded again) on every release.
# The sides run one after the other (hoist, hoist with the epoch, the script), each torn
# down (containers, volume, images) before the next starts, so none benefits from another's
# cache or CPU.
#
# Measured per case: wall time to "all healthy"; bytes: hoist's `bytes_uploaded` (its JSON)
# and, for both sides, the growth of the registry's storage directory (`du -sb`); peak
# memory: hoist's own VmHWM (sampled from /proc), and `/usr/bin/time -f %M` of each side's
# process tree (the largest single process of the tree: javac, docker, compose, ...). The
# Docker daemon, containerd and the registry are not counted on either side.
#
# The base: one jlink'ed JRE root filesystem (with a per-run marker file, so no layer of it
# is already in the engine from other work), `hoist image import`ed for hoist (the kv-store
# image, built with `hoist image build-file` and `docker load`ed, carries that base layer
# into the engine) and `docker import`ed for the script (fresh per round, so
# `docker build` starts without a layer cache).
#
# Needs: docker (engine running), docker-compose v1 or the v2 plugin, docker-registry, a JDK,
# git, python3, gzip, bc, /usr/bin/time, cargo. HOIST_BIN picks the hoist binary (default: a
# release build).
set -euo pipefail

ROUNDS=${1:-1}
DEPS_MB=${DEPS_MB:-50}
HERE=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/hoist-bench-e2e.XXXXXX)
SUFFIX=$(printf '%x' $(( $$ ^ $(date +%s) )) | tail -c 7)
NS=hoist-bench-e2e-$SUFFIX
KV=$NS/shop-kv-store:1
SERVICES="chat-service gateway user-service"
PIDS=()
PROJECTS=()
REG_PORTS=()

# shellcheck source=bench/lib.sh
source "$HERE/bench/lib.sh"
hoist_bin "$HERE"
if docker compose version >/dev/null 2>&1; then COMPOSE=(docker compose); else COMPOSE=(docker-compose); fi

# Removes every image of the given registry ports (by tag and by digest).
rm_images() {
  local port
  for port in "$@"; do
    docker image ls --format '{{.Repository}}:{{.Tag}}' | grep "^127.0.0.1:$port/" | grep -v ':<none>$' | xargs -r docker image rm -f >/dev/null 2>&1 || true
    docker image ls --digests --format '{{.Repository}}@{{.Digest}}' | grep "^127.0.0.1:$port/" | grep -v '<none>' | xargs -r docker image rm -f >/dev/null 2>&1 || true
  done
}
down() { # dir project
  if [ -d "$1" ]; then
    (cd "$1" && "${COMPOSE[@]}" -p "$2" -f docker-compose-prod.yaml down -v -t 2 >/dev/null 2>&1) || true
  fi
  docker ps -aq --filter "label=com.docker.compose.project=$2" | xargs -r docker rm -f >/dev/null 2>&1 || true
  docker volume rm "${2}_kv-data" >/dev/null 2>&1 || true
}
cleanup() {
  local rc=$?
  set +e
  if [ "$rc" != 0 ]; then
    for f in "$WORK"/reg-*/log; do [ -f "$f" ] && { echo "== $f"; tail -5 "$f"; }; done >&2
  fi
  for p in "${PROJECTS[@]}"; do down "$WORK/$p" "$p"; done
  rm_images "${REG_PORTS[@]}"
  docker image ls --format '{{.Repository}}:{{.Tag}}' | grep "^$NS/" | xargs -r docker image rm -f >/dev/null 2>&1
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  rm -rf "$WORK"
}
trap cleanup EXIT

commit() { git -c user.name=bench -c user.email=bench@example.com commit -qm "$1"; }

# Poll until every container of the compose project is healthy (as bench/deploy.sh).
wait_healthy() { # project
  local ids states
  while :; do
    ids=$(docker ps -aq --filter "label=com.docker.compose.project=$1")
    if [ -n "$ids" ]; then
      # shellcheck disable=SC2086 # one argument per container id
      states=$(docker inspect --format '{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}' $ids)
      echo "$states" | grep -qv '^healthy$' || return 0
    fi
    sleep 0.25
  done
}

echo "== preparing the example in $WORK (SHOP_DEPS_MB=$DEPS_MB)"
copy_shop "$WORK/src"
printf '.hoist/\nbuild/\n' >"$WORK/src/.gitignore"
sed -i -E 's/"1808[0-3]:8080"/"127.0.0.1::8080"/; s#image: shop-kv-store:1#image: '"$KV"'#' "$WORK/src/docker-compose-prod.yaml"
"$WORK/src/base/make-jre-rootfs.sh" "$WORK/jre" >/dev/null
echo "$NS" >"$WORK/jre/etc/hoist-bench-e2e" # a base layer no other work has in the engine
# The hoist side's base layout, and the kv-store image (both sides deploy it) in the engine.
(
  cd "$WORK/src"
  ./build.sh --deps >/dev/null
  "$HOIST_BIN" -q image import "$WORK/jre" --ref shop-jre:17 >/dev/null
  "$HOIST_BIN" -q image build-file kv-store/Dockerfile --ref "$KV" --context kv-store >/dev/null
  "$HOIST_BIN" -q image export "$KV" -o "$WORK/kv.tar" >/dev/null
  rm -rf kv-store/build
)
docker load -q -i "$WORK/kv.tar" >/dev/null
mv "$WORK/src/.hoist" "$WORK/base-layout"

# A side's repository: the example as released (v1.0.0-<sha>), a bare origin, main pushed.
make_repo() { # dir
  local d=$1
  mkdir -p "$d" && cp -a "$WORK/src/." "$d/"
  (
    cd "$d"
    git init -q --initial-branch=main
    git config user.name bench && git config user.email bench@example.com
    git add -A && commit "shop as released"
    git tag -a "v1.0.0-$(git rev-parse --short=7 HEAD)" -m "Release 1.0.0"
    git init -q --bare "$d.origin.git" && git remote add origin "$d.origin.git"
    git push -q origin main --tags
  )
}
# The two merged pull requests: cold = [minor] gateway change, incr = [patch] user-service.
change() { # dir case
  (
    cd "$1"
    if [ "$2" = cold ]; then
      sed -i 's|^}$|    // a new feature\n}|' gateway/src/main/java/shop/gateway/Main.java
      git add -A && commit "[minor] gateway: new feature"
    else
      java=$(find user-service/src -name '*.java' | sort | head -1)
      printf '\nclass HoistBenchChange { static int x = %s; }\n' "$RANDOM" >>"$java"
      git add -A && commit "[patch] user-service: fix"
    fi
  )
}

# The original flow as a script (run under /usr/bin/time, so written to a file).
cat >"$WORK/ops-release.sh" <<'OPS'
#!/usr/bin/env bash
# ops-release.sh REGISTRY PROJECT COMPOSE...: the release glue the original pipeline ran.
set -euo pipefail
REGISTRY=$1 PROJECT=$2; shift 2; COMPOSE=("$@")
SERVICES="chat-service gateway user-service"
T0=$(date +%s.%N)
step() { echo "$1 $(echo "$(date +%s.%N) - $T0" | bc)" >>"${OPS_STEPS:-/dev/null}"; }
# 1. version: the marker in the merge commit's subject bumps the latest v<x.y.z>-<sha> tag.
marker=$(git log -1 --format=%s | grep -oiE '\[(major|minor|patch)\]' | head -1 | tr 'A-Z' 'a-z')
[ -n "$marker" ] || { echo "no release marker" >&2; exit 0; }
last=$(git describe --tags --abbrev=0 --match 'v*')
IFS=. read -r ma mi pa <<<"$(echo "$last" | sed -E 's/^v([0-9]+\.[0-9]+\.[0-9]+)-.*/\1/')"
case $marker in
  '[major]') ma=$((ma + 1)); mi=0; pa=0 ;;
  '[minor]') mi=$((mi + 1)); pa=0 ;;
  '[patch]') pa=$((pa + 1)) ;;
esac
TAG=v$ma.$mi.$pa-$(git rev-parse --short=7 HEAD)
git tag -a "$TAG" -m "Release $TAG"
# 2. build (all services, one invocation, as `gradle build -Pversion=$TAG`)
./build.sh "$TAG" >/dev/null
step build
# 3. images and 4. push, one service after the other
for s in $SERVICES; do
  DOCKER_BUILDKIT=0 docker build -q --build-arg "TAG=$TAG" -t "$REGISTRY/shop:${s}_$TAG" "$s" >/dev/null
done
step image
for s in $SERVICES; do docker push -q "$REGISTRY/shop:${s}_$TAG" >/dev/null; done
step push
# 5. the tag to origin, once the images are in the registry
git push -q origin "$TAG"
# 6. deploy: pin the release's images (the sed of the original), pull, up -d
{
  echo "services:"
  for s in $SERVICES; do printf '  %s:\n    image: %s\n' "$s" "$REGISTRY/shop:${s}_$TAG"; done
} >ops-override.yaml
"${COMPOSE[@]}" -p "$PROJECT" -f docker-compose-prod.yaml -f ops-override.yaml pull -q $SERVICES >/dev/null 2>&1
"${COMPOSE[@]}" -p "$PROJECT" -f docker-compose-prod.yaml -f ops-override.yaml up -d >/dev/null 2>&1
echo "$TAG"
OPS
chmod +x "$WORK/ops-release.sh"

# The hoist process below PID (the subshell runs /usr/bin/time, which runs hoist).
find_hoist() {
  local q=$1 c x
  for _ in 1 2 3; do
    for c in $(pgrep -P "$q" 2>/dev/null || true); do
      x=$(readlink "/proc/$c/exe" 2>/dev/null || true)
      [ "$x" = "$(readlink -f "$HOIST_BIN")" ] && { echo "$c"; return; }
      q=$c
    done
  done
}
# hoist_release DIR PROJECT CASE [EPOCH]: times `hoist release --deploy compose` to all healthy.
# Sets T (s), HWM (KB, hoist's own peak RSS), TREE (KB, /usr/bin/time %M), JSON.
hoist_release() {
  local d=$1 p=$2 c=$3 sde=${4:-} t pid child
  t=$(now)
  (cd "$d" && env SHOP_DEPS_MB="$DEPS_MB" ${sde:+SOURCE_DATE_EPOCH=$sde} /usr/bin/time -f %M -o "$WORK/mem-$p-$c" \
    "$HOIST_BIN" -q --output json release --deploy compose >"$WORK/json-$p-$c") &
  pid=$!
  child=
  for _ in $(seq 2000); do
    child=$(find_hoist "$pid")
    [ -n "$child" ] && break
    sleep 0.005
  done
  HWM=0
  while [ -n "$child" ] && kill -0 "$child" 2>/dev/null; do
    v=$(awk '/^VmHWM/ {print $2}' "/proc/$child/status" 2>/dev/null || true)
    [ -n "$v" ] && HWM=$v
    sleep 0.05
  done
  wait "$pid"
  wait_healthy "$p"
  T=$(since "$t")
  TREE=$(tail -1 "$WORK/mem-$p-$c")
  JSON=$WORK/json-$p-$c
}
ops_release() { # DIR PROJECT REGPORT CASE
  local d=$1 p=$2 c=$4 t
  t=$(now)
  (cd "$d" && SHOP_DEPS_MB=$DEPS_MB /usr/bin/time -f %M -o "$WORK/mem-$p-$c" \
    env OPS_STEPS="$WORK/steps-$p-$c" "$WORK/ops-release.sh" "127.0.0.1:$3" "$p" "${COMPOSE[@]}" >/dev/null)
  wait_healthy "$p"
  T=$(since "$t")
  TREE=$(tail -1 "$WORK/mem-$p-$c")
}
# Where the script's time went: build, docker build, push (seconds since its start).
ops_steps() { # project case
  local k v prev=0
  while read -r k v; do rec ops "$2" "$k" "$(echo "$v - $prev" | bc)"; prev=$v; done <"$WORK/steps-$1-$2"
  rec ops "$2" rest "$(echo "$T - $prev" | bc)"
}
reg_bytes() { du -sb "$WORK/reg-$1/storage" | cut -f1; }

# Results: one line "SIDE CASE KEY VALUE" per measurement; medians at the end.
rec() { echo "$1 $2 $3 $4" >>"$WORK/results"; }
: >"$WORK/results"
# The values recorded for SIDE since line N of the results (this round's).
show() { tail -n +"$(($2 + 1))" "$WORK/results" | awk -v s="$1" '$1 == s {printf "%s.%s=%s ", $2, $3, $4}'; }
# shellcheck disable=SC2046 # one argument per value
get() { median $(awk -v s="$1" -v c="$2" -v k="$3" '$1 == s && $2 == c && $3 == k {print $4}' "$WORK/results"); }
json() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"; }

# Where hoist's time went: build + images (its per-service seconds), then push + deploy.
hoist_steps() { # side case
  local bi
  bi=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["services"][0]["seconds"])' "$JSON")
  rec "$1" "$2" build+image "$bi"
  rec "$1" "$2" rest "$(echo "$T - $bi" | bc)"
}
# hoist_side SIDE ROUND [EPOCH]: both cases with `hoist release`; EPOCH exports SOURCE_DATE_EPOCH.
hoist_side() {
  local side=$1 round=$2 sde=${3:-} p d b0 b1 b2 tag1 tag2 changed s f old c hp got n0
  n0=$(wc -l <"$WORK/results")
  p=e2e-$side-$SUFFIX-$round; d=$WORK/$p; PROJECTS+=("$p")
  start_registry "$p"; port=$PORT
  make_repo "$d"
  sed -i -E 's#^name = "shop"#name = "'"$p"'"#; s#^repository = .*#repository = "127.0.0.1:'"$port"'/shop"#' "$d/hoist.toml"
  (cd "$d" && git add -A && commit "bench: registry and project name" && git push -q origin main)
  cp -a "$WORK/base-layout" "$d/.hoist"
  change "$d" cold
  sync
  b0=$(reg_bytes "$p")
  hoist_release "$d" "$p" cold "$sde"
  b1=$(reg_bytes "$p")
  rec "$side" cold time "$T"; rec "$side" cold hwm "$HWM"; rec "$side" cold tree "$TREE"
  rec "$side" cold up "$(json "$JSON" bytes_uploaded)"; rec "$side" cold du $((b1 - b0)); hoist_steps "$side" cold
  tag1=$(json "$JSON" tag)
  for s in $SERVICES; do rm -rf "$WORK/libs-$s-v1"; cp -a "$d/$s/build/libs" "$WORK/libs-$s-v1"; done
  change "$d" incr
  sync
  hoist_release "$d" "$p" incr "$sde"
  b2=$(reg_bytes "$p")
  rec "$side" incr time "$T"; rec "$side" incr hwm "$HWM"; rec "$side" incr tree "$TREE"
  rec "$side" incr up "$(json "$JSON" bytes_uploaded)"; rec "$side" incr du $((b2 - b1)); hoist_steps "$side" incr
  tag2=$(json "$JSON" tag)
  git -C "$d.origin.git" rev-parse -q --verify "refs/tags/$tag2" >/dev/null || { echo "hoist did not push $tag2" >&2; exit 1; }
  # What changed: the files of the artifacts that differ from the cold release, gzip -1'd.
  changed=0
  for s in $SERVICES; do
    for f in $(cd "$d/$s/build/libs" && find . -type f | sort); do
      old="$WORK/libs-$s-v1/${f/$tag2/$tag1}"
      if [ ! -f "$old" ] || ! cmp -s "$old" "$d/$s/build/libs/$f"; then
        changed=$((changed + $(gzip -1 -c "$d/$s/build/libs/$f" | wc -c)))
      fi
    done
  done
  rec "$side" incr changed "$changed"
  for s in $SERVICES; do # the deployed release answers
    c=$(docker ps -q --filter "label=com.docker.compose.project=$p" --filter "label=com.docker.compose.service=$s")
    hp=$(docker port "$c" 8080/tcp | head -1 | sed 's/.*://')
    got=$(curl -fsS "http://127.0.0.1:$hp/version")
    [ "$got" = "$tag2" ] || { echo "$side: $s answered '$got', expected $tag2" >&2; exit 1; }
  done
  echo "round $round $side: $(show "$side" "$n0")"
  down "$d" "$p"; rm_images "$port"
}

for round in $(seq 1 "$ROUNDS"); do
  hoist_side hoist "$round"
  hoist_side hoist-sde "$round" 1700000000

  # --- the script ---------------------------------------------------------------------------
  p=e2e-ops-$SUFFIX-$round; d=$WORK/$p; PROJECTS+=("$p")
  n0=$(wc -l <"$WORK/results")
  start_registry "$p"; port=$PORT
  jre=$NS/shop-jre:17-$round
  tar --numeric-owner --owner=0 --group=0 -C "$WORK/jre" -cf - . | docker import - "$jre" >/dev/null
  make_repo "$d"
  (
    cd "$d"
    # `hoist dockerfile` adds `COPY build/libs/lib/ /lib/` only when build/libs/lib exists.
    SHOP_DEPS_MB=$DEPS_MB ./build.sh v0.0.0-setup >/dev/null
    "$HOIST_BIN" -q dockerfile --write >/dev/null
    grep -q '^COPY build/libs/lib/ /lib/' gateway/Dockerfile || { echo "no lib/ in the Dockerfile" >&2; exit 1; }
    rm -rf ./*/build
    for s in $SERVICES; do sed -i "s|^FROM shop-jre:17|FROM $jre|" "$s/Dockerfile"; done
    git add -A && commit "the generated Dockerfiles" && git push -q origin main
  )
  change "$d" cold
  sync
  b0=$(reg_bytes "$p")
  ops_release "$d" "$p" "$port" cold
  b1=$(reg_bytes "$p")
  rec ops cold time "$T"; rec ops cold tree "$TREE"; rec ops cold du $((b1 - b0)); ops_steps "$p" cold
  change "$d" incr
  sync
  ops_release "$d" "$p" "$port" incr
  b2=$(reg_bytes "$p")
  rec ops incr time "$T"; rec ops incr tree "$TREE"; rec ops incr du $((b2 - b1)); ops_steps "$p" incr
  echo "round $round script: $(show ops "$n0")"
  down "$d" "$p"; rm_images "$port"
  docker image rm -f "$jre" >/dev/null 2>&1 || true
done

kb2mb() { echo "scale=1; $1 / 1024" | bc; }
ratio() { printf %.2f "$(echo "scale=4; $1 / $2" | bc)"; }
CH=$(get hoist incr changed)
echo
echo "| case (median of $ROUNDS) | hoist release --deploy compose | same, SOURCE_DATE_EPOCH fixed | script: git tag, build.sh, docker build + push, compose pull + up -d, poll |"
echo "|---|---|---|---|"
for c in cold incr; do
  printf '| %s: wall time to all healthy | %.2f s | %.2f s | %.2f s (%sx hoist) |\n' "$c" "$(get hoist $c time)" "$(get hoist-sde $c time)" "$(get ops $c time)" "$(ratio "$(get ops $c time)" "$(get hoist $c time)")"
  echo "| $c: bytes uploaded (hoist's bytes_uploaded) | $(get hoist $c up) | $(get hoist-sde $c up) | - |"
  echo "| $c: registry storage growth (du -sb) | $(get hoist $c du) | $(get hoist-sde $c du) | $(get ops $c du) |"
  echo "| $c: peak RSS of the hoist process | $(kb2mb "$(get hoist $c hwm)") MB | $(kb2mb "$(get hoist-sde $c hwm)") MB | - |"
  echo "| $c: peak RSS, largest process of the tree (/usr/bin/time %M) | $(kb2mb "$(get hoist $c tree)") MB | $(kb2mb "$(get hoist-sde $c tree)") MB | $(kb2mb "$(get ops $c tree)") MB |"
done
for c in cold incr; do
  printf '| %s: where the time went | build + images %.1f s, push + deploy + health %.1f s | build + images %.1f s, push + deploy + health %.1f s | build %.1f s, docker build %.1f s, docker push %.1f s, tag push + compose + health %.1f s |\n' "$c" \
    "$(get hoist $c build+image)" "$(get hoist $c rest)" "$(get hoist-sde $c build+image)" "$(get hoist-sde $c rest)" \
    "$(get ops $c build)" "$(get ops $c image)" "$(get ops $c push)" "$(get ops $c rest)"
done
echo
echo "gzip -1 size of the changed files (3 app jars): $CH bytes (hoist-sde run: $(get hoist-sde incr changed))"
echo "incr speed-up, script / hoist: $(ratio "$(get ops incr time)" "$(get hoist incr time)")x as shipped, $(ratio "$(get ops incr time)" "$(get hoist-sde incr time)")x with SOURCE_DATE_EPOCH fixed (target >= 3x)"
echo "incr bytes uploaded / changed: $(ratio "$(get hoist incr up)" "$CH")x as shipped, $(ratio "$(get hoist-sde incr up)" "$(get hoist-sde incr changed)")x with SOURCE_DATE_EPOCH fixed (target <= 1.1x)"
echo "compose: ${COMPOSE[*]} ($("${COMPOSE[@]}" version --short 2>/dev/null || true)), engine $(docker version --format '{{.Server.Version}}'), $(nproc) cores"
