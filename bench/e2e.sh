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
#   incr   an incremental release: `[patch] ...` changing only user-service's code. hoist
#          carries the unchanged services (issue 15: it rebuilds, pushes and restarts
#          user-service only; the others' previous images are re-tagged in the registry,
#          same digest, so compose leaves their containers alone); the script rebuilds and
#          restarts all three (the tag is baked into every app jar, so all its jars change).
#          A hoist without carry (its JSON `services` rows have no `action`) builds all three.
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
# Docker daemon, containerd and the registry are not counted on either side. CPU: the
# seconds the side's compose project's containers spent from just before its release
# command to all healthy (their cgroups, see cpu_snap), the healthchecks' JVMs included. In
# incr also: how many app containers the release recreated, and which services hoist built
# (the reference "changed" bytes are those of the built services' files).
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

# cg_usec ID: the CPU time (µs) the container's cgroup has used, or nothing when no cgroup of
# it is readable. Docker's layouts: cgroup v2 with the systemd driver
# (system.slice/docker-<id>.scope) or cgroupfs (docker/<id>); a hybrid host keeps the v2 tree
# under unified/ (this machine: Docker 20.10, cgroupfs driver, /sys/fs/cgroup/unified/docker/<id>);
# v1 only has cpuacct.usage (ns). Anything else (Docker in a nested cgroup): a search.
cg_usec() {
  local id=$1 f
  for f in "/sys/fs/cgroup/system.slice/docker-$id.scope/cpu.stat" "/sys/fs/cgroup/docker/$id/cpu.stat" \
    "/sys/fs/cgroup/unified/system.slice/docker-$id.scope/cpu.stat" "/sys/fs/cgroup/unified/docker/$id/cpu.stat"; do
    [ -r "$f" ] && { awk '$1 == "usage_usec" {print $2}' "$f"; return; }
  done
  for f in "/sys/fs/cgroup/cpuacct/docker/$id/cpuacct.usage" "/sys/fs/cgroup/cpu,cpuacct/docker/$id/cpuacct.usage" \
    "/sys/fs/cgroup/cpuacct/system.slice/docker-$id.scope/cpuacct.usage" \
    "/sys/fs/cgroup/cpu,cpuacct/system.slice/docker-$id.scope/cpuacct.usage"; do
    [ -r "$f" ] && { echo $(($(cat "$f") / 1000)); return; }
  done
  f=$(find /sys/fs/cgroup -maxdepth 6 -type f -name cpu.stat \( -path "*/docker-$id.scope/*" -o -path "*/$id/*" \) 2>/dev/null | head -1)
  [ -n "$f" ] && awk '$1 == "usage_usec" {print $2}' "$f"
  return 0
}
# api_usec ID: the same counter from the engine (cpu_stats.cpu_usage.total_usage, ns), for hosts
# whose cgroups this user cannot read. `docker stats --no-stream` reads it too but prints only a
# percentage over its sampling interval, not the cumulative time a difference needs.
api_usec() {
  curl -fsS --unix-socket /var/run/docker.sock "http://localhost/containers/$1/stats?stream=false&one-shot=true" 2>/dev/null |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["cpu_stats"]["cpu_usage"]["total_usage"] // 1000)' 2>/dev/null || true
}
# cpu_snap PROJECT FILE: one line "<service> <id> <µs>" per container of the compose project.
cpu_snap() {
  local ids id svc u
  : >"$2"
  ids=$(docker ps -aq --filter "label=com.docker.compose.project=$1")
  [ -n "$ids" ] || return 0
  # shellcheck disable=SC2086 # one argument per container id
  docker inspect -f '{{.Id}} {{index .Config.Labels "com.docker.compose.service"}}' $ids 2>/dev/null >"$2.ids" || true
  while read -r id svc; do
    u=$(cg_usec "$id")
    [ -n "$u" ] || u=$(api_usec "$id")
    echo "$svc $id ${u:-0}" >>"$2"
  done <"$2.ids"
}
# cpu_seconds START END: the CPU seconds of the containers in END: their use since START, or all
# of it for a container START does not have (created by the release). Not counted: what a
# container removed mid-deploy (an app container compose recreated) used between START and its
# removal, and its shutdown (bounded by the stop timeout): a side that recreates more
# containers is undercounted by its old containers' last seconds.
cpu_seconds() {
  awk 'FILENAME == ARGV[1] {s[$2] = $3; next} {t += $3 - ($2 in s ? s[$2] : 0)} END {printf "%.2f", t / 1e6}' "$1" "$2"
}
# recreated START END: "<n> <of>": of the app services' containers in END, how many START does
# not have (compose created or recreated them).
recreated() {
  awk -v svcs="$SERVICES" 'BEGIN {n = split(svcs, a, " "); for (i = 1; i <= n; i++) app[a[i]] = 1}
    FILENAME == ARGV[1] {s[$2] = 1; next} $1 in app {of++; if (!($2 in s)) r++} END {print r + 0, of + 0}' "$1" "$2"
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
# Sets T (s), HWM (KB, hoist's own peak RSS), TREE (KB, /usr/bin/time %M), JSON, and CPU (s)
# and RECREATED ("<n> <of>") from the snapshots around it.
hoist_release() {
  local d=$1 p=$2 c=$3 sde=${4:-} t pid child
  cpu_snap "$p" "$WORK/cpu0-$p-$c" # before the timer: the snapshot is not the release's time
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
  cpu_snap "$p" "$WORK/cpu1-$p-$c"
  CPU=$(cpu_seconds "$WORK/cpu0-$p-$c" "$WORK/cpu1-$p-$c")
  RECREATED=$(recreated "$WORK/cpu0-$p-$c" "$WORK/cpu1-$p-$c")
  TREE=$(tail -1 "$WORK/mem-$p-$c")
  JSON=$WORK/json-$p-$c
}
ops_release() { # DIR PROJECT REGPORT CASE
  local d=$1 p=$2 c=$4 t
  cpu_snap "$p" "$WORK/cpu0-$p-$c"
  t=$(now)
  (cd "$d" && SHOP_DEPS_MB=$DEPS_MB /usr/bin/time -f %M -o "$WORK/mem-$p-$c" \
    env OPS_STEPS="$WORK/steps-$p-$c" "$WORK/ops-release.sh" "127.0.0.1:$3" "$p" "${COMPOSE[@]}" >/dev/null)
  wait_healthy "$p"
  T=$(since "$t")
  cpu_snap "$p" "$WORK/cpu1-$p-$c"
  CPU=$(cpu_seconds "$WORK/cpu0-$p-$c" "$WORK/cpu1-$p-$c")
  RECREATED=$(recreated "$WORK/cpu0-$p-$c" "$WORK/cpu1-$p-$c")
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

# actions JSON: "<service> <action> <from>" per service of SERVICES, from the release's
# `services` rows: action "built" when a row has none (hoist before carry, issue 15) or when
# the JSON has no `services` at all; "absent" for a service without a row; from "-" if none.
actions() {
  python3 - "$1" "$SERVICES" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
rows = {x["service"]: x for x in r["services"]} if "services" in r else None
for s in sys.argv[2].split():
    row = {"action": "built"} if rows is None else rows.get(s, {"action": "absent"})
    print(s, row.get("action", "built"), row.get("from") or "-")
PY
}
# Where hoist's time went: build + images (its per-service seconds; the services build in
# parallel, so the longest, which is also not a carried one's 0), then push + deploy.
hoist_steps() { # side case
  local bi
  bi=$(python3 -c 'import json,sys; print(max([s.get("seconds", 0) for s in json.load(open(sys.argv[1])).get("services", [])] + [0]))' "$JSON")
  rec "$1" "$2" build+image "$bi"
  rec "$1" "$2" rest "$(echo "$T - $bi" | bc)"
}
# hoist_side SIDE ROUND [EPOCH]: both cases with `hoist release`; EPOCH exports SOURCE_DATE_EPOCH.
hoist_side() {
  local side=$1 round=$2 sde=${3:-} p d b0 b1 b2 tag1 tag2 changed s f old c hp got n0 a from want built
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
  rec "$side" cold cpu "$CPU"
  tag1=$(json "$JSON" tag)
  for s in $SERVICES; do rm -rf "$WORK/libs-$s-v1"; cp -a "$d/$s/build/libs" "$WORK/libs-$s-v1"; done
  change "$d" incr
  sync
  hoist_release "$d" "$p" incr "$sde"
  b2=$(reg_bytes "$p")
  rec "$side" incr time "$T"; rec "$side" incr hwm "$HWM"; rec "$side" incr tree "$TREE"
  rec "$side" incr up "$(json "$JSON" bytes_uploaded)"; rec "$side" incr du $((b2 - b1)); hoist_steps "$side" incr
  rec "$side" incr cpu "$CPU"; rec "$side" incr recreated "${RECREATED% *}"; rec "$side" incr apps "${RECREATED#* }"
  tag2=$(json "$JSON" tag)
  git -C "$d.origin.git" rev-parse -q --verify "refs/tags/$tag2" >/dev/null || { echo "hoist did not push $tag2" >&2; exit 1; }
  actions "$JSON" >"$WORK/actions-$p"
  built=$(awk '$2 == "built" {print $1}' "$WORK/actions-$p" | tr '\n' ' ')
  rec "$side" incr built "$(echo "$built" | wc -w)"
  # What changed: the files of the built services' artifacts that differ from the cold release,
  # gzip -1'd (a carried service's files are not the release's bytes; its build output, if
  # any, is not looked at).
  changed=0
  for s in $built; do
    for f in $(cd "$d/$s/build/libs" && find . -type f | sort); do
      old="$WORK/libs-$s-v1/${f/$tag2/$tag1}"
      if [ ! -f "$old" ] || ! cmp -s "$old" "$d/$s/build/libs/$f"; then
        changed=$((changed + $(gzip -1 -c "$d/$s/build/libs/$f" | wc -c)))
      fi
    done
  done
  rec "$side" incr changed "$changed"
  # The deployed release answers: a built service with the new tag, a carried one with the tag
  # its image was built for (baked into its jar): the row's `from`, else the cold release's.
  while read -r s a from; do
    want=$tag2
    [ "$a" = built ] || { want=$from; [ "$want" != - ] || want=$tag1; }
    c=$(docker ps -q --filter "label=com.docker.compose.project=$p" --filter "label=com.docker.compose.service=$s")
    hp=$(docker port "$c" 8080/tcp | head -1 | sed 's/.*://')
    got=$(curl -fsS "http://127.0.0.1:$hp/version")
    [ "$got" = "$want" ] || { echo "$side: $s ($a) answered '$got', expected $want" >&2; exit 1; }
  done <"$WORK/actions-$p"
  echo "round $round $side: $(show "$side" "$n0")"
  echo "round $round $side incr: services $(awk '{printf "%s%s=%s", (NR > 1 ? ", " : ""), $1, $2}' "$WORK/actions-$p"); recreated ${RECREATED% *}/${RECREATED#* }; cpu $CPU s"
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
  rec ops cold cpu "$CPU"
  change "$d" incr
  sync
  ops_release "$d" "$p" "$port" incr
  b2=$(reg_bytes "$p")
  rec ops incr time "$T"; rec ops incr tree "$TREE"; rec ops incr du $((b2 - b1)); ops_steps "$p" incr
  rec ops incr cpu "$CPU"; rec ops incr recreated "${RECREATED% *}"; rec ops incr apps "${RECREATED#* }"
  echo "round $round script: $(show ops "$n0")"
  echo "round $round script incr: services all built; recreated ${RECREATED% *}/${RECREATED#* }; cpu $CPU s"
  down "$d" "$p"; rm_images "$port"
  docker image rm -f "$jre" >/dev/null 2>&1 || true
done

kb2mb() { echo "scale=1; $1 / 1024" | bc; }
# ratio A B: A / B, "-" when B is 0 (no built service: nothing changed to compare with).
ratio() { if [ "$(echo "$2 == 0" | bc)" = 1 ]; then echo -; else printf %.2f "$(echo "scale=4; $1 / $2" | bc)"; fi; }
CH=$(get hoist incr changed)
NSVC=$(echo "$SERVICES" | wc -w)
echo
echo "| case (median of $ROUNDS) | hoist release --deploy compose | same, SOURCE_DATE_EPOCH fixed | script: git tag, build.sh, docker build + push, compose pull + up -d, poll |"
echo "|---|---|---|---|"
for c in cold incr; do
  printf '| %s: wall time to all healthy | %.2f s | %.2f s | %.2f s (%sx hoist) |\n' "$c" "$(get hoist $c time)" "$(get hoist-sde $c time)" "$(get ops $c time)" "$(ratio "$(get ops $c time)" "$(get hoist $c time)")"
  echo "| $c: bytes uploaded (hoist's bytes_uploaded) | $(get hoist $c up) | $(get hoist-sde $c up) | - |"
  echo "| $c: registry storage growth (du -sb) | $(get hoist $c du) | $(get hoist-sde $c du) | $(get ops $c du) |"
  echo "| $c: peak RSS of the hoist process | $(kb2mb "$(get hoist $c hwm)") MB | $(kb2mb "$(get hoist-sde $c hwm)") MB | - |"
  echo "| $c: peak RSS, largest process of the tree (/usr/bin/time %M) | $(kb2mb "$(get hoist $c tree)") MB | $(kb2mb "$(get hoist-sde $c tree)") MB | $(kb2mb "$(get ops $c tree)") MB |"
  printf '| %s: CPU seconds of the compose project containers, start to all healthy (cgroups) | %.2f s | %.2f s | %.2f s (%sx hoist) |\n' "$c" "$(get hoist $c cpu)" "$(get hoist-sde $c cpu)" "$(get ops $c cpu)" "$(ratio "$(get ops $c cpu)" "$(get hoist $c cpu)")"
done
echo "| incr: services built (of $NSVC; the others carried) | $(get hoist incr built) | $(get hoist-sde incr built) | $NSVC (the script builds all) |"
echo "| incr: app containers recreated | $(get hoist incr recreated)/$(get hoist incr apps) | $(get hoist-sde incr recreated)/$(get hoist-sde incr apps) | $(get ops incr recreated)/$(get ops incr apps) |"
for c in cold incr; do
  printf '| %s: where the time went | build + images %.1f s, push + deploy + health %.1f s | build + images %.1f s, push + deploy + health %.1f s | build %.1f s, docker build %.1f s, docker push %.1f s, tag push + compose + health %.1f s |\n' "$c" \
    "$(get hoist $c build+image)" "$(get hoist $c rest)" "$(get hoist-sde $c build+image)" "$(get hoist-sde $c rest)" \
    "$(get ops $c build)" "$(get ops $c image)" "$(get ops $c push)" "$(get ops $c rest)"
done
echo
echo "gzip -1 size of the changed files of the services hoist built ($(get hoist incr built) of $NSVC): $CH bytes (hoist-sde run: $(get hoist-sde incr changed), $(get hoist-sde incr built) of $NSVC)"
echo "incr speed-up, script / hoist: $(ratio "$(get ops incr time)" "$(get hoist incr time)")x as shipped, $(ratio "$(get ops incr time)" "$(get hoist-sde incr time)")x with SOURCE_DATE_EPOCH fixed (target >= 3x)"
echo "incr bytes uploaded / changed: $(ratio "$(get hoist incr up)" "$CH")x as shipped, $(ratio "$(get hoist-sde incr up)" "$(get hoist-sde incr changed)")x with SOURCE_DATE_EPOCH fixed (target <= 1.1x)"
echo "compose: ${COMPOSE[*]} ($("${COMPOSE[@]}" version --short 2>/dev/null || true)), engine $(docker version --format '{{.Server.Version}}'), $(nproc) cores"
