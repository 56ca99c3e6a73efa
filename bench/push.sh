#!/usr/bin/env bash
# Benchmark: `hoist push` against `skopeo copy oci:… docker://…` of the same images to the
# same kind of registry (a fresh Debian `docker-registry` on 127.0.0.1 for each side), on
# the shop example with SHOP_DEPS_MB of dependency jars per service. First push and an
# incremental push after an application-only release (user-service code changed).
#
#   bench/push.sh [ROUNDS]          (default 3; DEPS_MB=50 by default)
#   TLS=1 bench/push.sh [ROUNDS]    both registries serve TLS (a throwaway CA) on a
#                                   non-loopback address, as remote registries do; needs
#                                   root to put the CA under /etc/docker/certs.d for the run
#
# Wall time is measured against the registry directly. Bytes sent (request heads and
# bodies, client to registry) are counted by a small TCP proxy in a second, untimed pass.
# skopeo copies the three images one after the other, as a release script would; hoist
# pushes them in one deduplicated pass.
#
# Needs: docker-registry, skopeo, a JDK, git, python3, cargo.
# HOIST_BIN picks the hoist binary (default: a release build).
set -euo pipefail

ROUNDS=${1:-3}
DEPS_MB=${DEPS_MB:-50}
HERE=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/hoist-bench-push.XXXXXX)
V1=v1.0.0-aaaaaaa
V2=v1.0.1-bbbbbbb
SERVICES="chat-service gateway user-service"
export SOURCE_DATE_EPOCH=1700000000
PIDS=()
CERTS_D=()

# shellcheck source=bench/lib.sh
source "$HERE/bench/lib.sh"
hoist_bin "$HERE"

cleanup() {
  set +e
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  for d in "${CERTS_D[@]}"; do rm -rf "$d"; done
  rm -rf "$WORK"
}
trap cleanup EXIT


# start_proxy UPSTREAM_PORT COUNTFILE -> sets PORT. Counts client->server bytes; while
# COUNTFILE.dump-on exists it also keeps them, per connection, in COUNTFILE.dump.<n>.
start_proxy() {
  local up=$1 count=$2 port
  port=$(free_port)
  python3 - "$port" "$up" "$count" "$REG_IP" >"$count.log" 2>&1 <<'PY' &
import asyncio, os, sys
port, up, path, ip = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
total = 0
def save():
    with open(path, "w") as f: f.write(str(total))
async def pipe(r, w, count, cid):
    global total
    try:
        while True:
            data = await r.read(1 << 16)
            if not data: break
            if count:
                total += len(data); save()
                if os.path.exists(path + ".dump-on"):
                    with open(path + ".dump." + str(cid), "ab") as f: f.write(data)
            w.write(data); await w.drain()
    except Exception: pass
    finally:
        try: w.close()
        except Exception: pass
conns = 0
async def handle(cr, cw):
    global conns
    conns += 1
    ur, uw = await asyncio.open_connection(ip, up)
    await asyncio.gather(pipe(cr, uw, True, conns), pipe(ur, cw, False, conns))
async def main():
    save()
    srv = await asyncio.start_server(handle, ip, port)
    async with srv: await srv.serve_forever()
asyncio.run(main())
PY
  PIDS+=($!)
  sleep 0.5
  PORT=$port
}

# A project copy whose [registry] points at REG_IP:PORT/shop. Under TLS, hoist finds the
# CA where Docker keeps a registry's CA (/etc/docker/certs.d/<host:port>/ca.crt), put there
# for the run and removed at exit; skopeo gets the same file through --dest-cert-dir.
hoist_push() { # PORT TAG
  if [ -n "$REG_TLS_DIR" ] && [ ! -d "/etc/docker/certs.d/$REG_IP:$1" ]; then
    mkdir -p "/etc/docker/certs.d/$REG_IP:$1" && cp "$REG_TLS_DIR/ca.pem" "/etc/docker/certs.d/$REG_IP:$1/ca.crt"
    CERTS_D+=("/etc/docker/certs.d/$REG_IP:$1")
  fi
  sed -i "s|^repository = .*|repository = \"$REG_IP:$1/shop\"|" hoist.toml
  "$HOIST_BIN" -q --output json push --tag "$2"
}
skopeo_push() { # PORT TAG
  local tls=(--dest-tls-verify=false)
  [ -n "$REG_TLS_DIR" ] && tls=(--dest-cert-dir "$REG_TLS_DIR/skopeo")
  for s in $SERVICES; do
    skopeo copy -q "${tls[@]}" "oci:.hoist/oci:${s}_$2" "docker://$REG_IP:$1/shop:${s}_$2" >/dev/null
  done
}
if [ "${TLS:-0}" = 1 ]; then
  REG_IP=$(non_loopback_ip)
  [ -n "$REG_IP" ] || { echo "TLS=1 needs a non-loopback IPv4 address (hostname -I)" >&2; exit 1; }
  REG_TLS_DIR=$WORK/tls
  make_tls "$REG_TLS_DIR" "$REG_IP"
  mkdir -p "$REG_TLS_DIR/skopeo" && cp "$REG_TLS_DIR/ca.pem" "$REG_TLS_DIR/skopeo/ca.crt"
fi

echo "== preparing the example in $WORK (SHOP_DEPS_MB=$DEPS_MB)"
prepare_shop "$WORK/shop" "$V1" "$DEPS_MB"
"$HOIST_BIN" -q image --tag "$V1" >/dev/null
java=$(find user-service/src -name '*.java' | sort | head -1)
printf '\nclass HoistBenchChange { static int x = %s; }\n' "$RANDOM" >>"$java"
SHOP_DEPS_MB=$DEPS_MB ./build.sh "$V2" user-service >/dev/null
for s in chat-service gateway; do
  # Unchanged services keep their jars; only the tag in their app jar differs.
  SHOP_DEPS_MB=$DEPS_MB ./build.sh "$V2" "$s" >/dev/null
done
"$HOIST_BIN" -q image --tag "$V2" >/dev/null

# Distinct blob bytes of release 1, and the bytes of blobs (and manifests) release 2 has
# that release 1 does not: what changed.
read -r TOTAL1 CHANGED < <(python3 - .hoist/oci "$V1" "$V2" $SERVICES <<'PY'
import json, sys, os
root, v1, v2, services = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
index = json.load(open(os.path.join(root, "index.json")))
refs = {m["annotations"]["org.opencontainers.image.ref.name"]: m for m in index["manifests"] if "annotations" in m}
def blobs(tag):
    out = {}
    for s in services:
        d = refs[f"{s}_{tag}"]
        out[d["digest"]] = d["size"]
        m = json.load(open(os.path.join(root, "blobs", *d["digest"].split(":"))))
        for b in [m["config"]] + m["layers"]:
            out[b["digest"]] = b["size"]
    return out
a, b = blobs(v1), blobs(v2)
print(sum(a.values()), sum(size for d, size in b.items() if d not in a))
PY
)

hoist_first=(); skopeo_first=(); hoist_incr=(); skopeo_incr=()
for round in $(seq 1 "$ROUNDS"); do
  start_registry "h$round"; ph=$PORT
  start_registry "s$round"; ps=$PORT
  sync
  t0=$(now); hoist_push "$ph" "$V1" >/dev/null; t1=$(now); h1=$(echo "$t1 - $t0" | bc)
  t0=$(now); skopeo_push "$ps" "$V1"; t1=$(now); s1=$(echo "$t1 - $t0" | bc)
  t0=$(now); hoist_push "$ph" "$V2" >/dev/null; t1=$(now); h2=$(echo "$t1 - $t0" | bc)
  t0=$(now); skopeo_push "$ps" "$V2"; t1=$(now); s2=$(echo "$t1 - $t0" | bc)
  hoist_first+=("$h1"); skopeo_first+=("$s1"); hoist_incr+=("$h2"); skopeo_incr+=("$s2")
  echo "round $round: first push hoist ${h1}s skopeo ${s1}s; incremental hoist ${h2}s skopeo ${s2}s"
done

echo "== bytes sent (through a counting proxy)"
start_registry hb; ph=$PORT
start_registry sb; ps=$PORT
start_proxy "$ph" "$WORK/count-h"; xh=$PORT
start_proxy "$ps" "$WORK/count-s"; xs=$PORT
hoist_push "$xh" "$V1" >/dev/null; HB1=$(cat "$WORK/count-h")
touch "$WORK/count-h.dump-on"
hoist_push "$xh" "$V2" >/dev/null; HB2=$(( $(cat "$WORK/count-h") - HB1 ))
rm "$WORK/count-h.dump-on"
skopeo_push "$xs" "$V1"; SB1=$(cat "$WORK/count-s")
skopeo_push "$xs" "$V2"; SB2=$(( $(cat "$WORK/count-s") - SB1 ))
hoist_push "$xh" "$V2" >/dev/null; HB3=$(( $(cat "$WORK/count-h") - HB1 - HB2 ))

HF=$(printf '%s\n' "${hoist_first[@]}" | median); SF=$(printf '%s\n' "${skopeo_first[@]}" | median)
HI=$(printf '%s\n' "${hoist_incr[@]}" | median); SI=$(printf '%s\n' "${skopeo_incr[@]}" | median)
echo
echo "| measurement | hoist push | skopeo copy (3 images) |"
echo "|---|---|---|"
echo "| first push, wall time (median of $ROUNDS) | ${HF}s | ${SF}s |"
echo "| incremental push, wall time (median of $ROUNDS) | ${HI}s | ${SI}s |"
echo "| first push, bytes sent | $HB1 | $SB1 |"
echo "| incremental push, bytes sent | $HB2 | $SB2 |"
echo "| same release again, bytes sent | $HB3 | - |"
echo
echo "distinct blob bytes of release 1: $TOTAL1; bytes that changed in release 2: $CHANGED"
echo "first push time ratio hoist/skopeo: $(echo "scale=2; $HF / $SF" | bc) (target <= 1.0)"
echo "incremental bytes ratio hoist/changed: $(echo "scale=3; $HB2 / $CHANGED" | bc) (target <= 1.1)"

if [ -n "$REG_TLS_DIR" ]; then
  echo "(TLS: HTTP/2 where the registry offers it; all TLS and HTTP/2 overheads included in the bytes)"
  exit 0
fi

# Where hoist's incremental request heads go, and the floor of any client: the requests
# the protocol cannot do without (POST + PUT per new blob, PUT per manifest) with only
# Host, Content-Length and Content-Type.
echo
echo "== request heads of hoist's incremental push"
python3 - "$CHANGED" "$WORK"/count-h.dump.* <<'PY'
import sys, collections
changed, files = int(sys.argv[1]), sys.argv[2:]
kinds = collections.OrderedDict()
floor = bodies = 0
for f in files:
    data = open(f, "rb").read()
    i = 0
    while i < len(data):
        j = data.find(b"\r\n\r\n", i) + 4
        lines = data[i:j].decode().split("\r\n")
        length = sum(int(l.split(":", 1)[1]) for l in lines[1:] if l.lower().startswith("content-length:"))
        method, target = lines[0].split()[:2]
        what = "blob upload" if "/blobs/uploads/" in target else target.split("/")[3] if target.count("/") > 2 else target
        n, b = kinds.get(f"{method} {what}", (0, 0))
        kinds[f"{method} {what}"] = (n + 1, b + j - i)
        bodies += length
        i = j + length
        if method in ("POST", "PUT"):
            target = target.split("?")[0] if method == "POST" else target
            keep = [l for l in lines[1:] if l.split(":")[0].lower() in ("host", "content-length", "content-type")]
            floor += len(f"{method} {target} HTTP/1.1\r\n") + sum(len(l) + 2 for l in keep) + 2
heads = sum(b for _, b in kinds.values())
for k, (n, b) in kinds.items():
    print(f"  {k:<24} {n:3d} requests {b:6d} bytes of heads")
print(f"  heads {heads}, bodies {bodies}; ratio {(heads + bodies) / changed:.3f}")
print(f"  floor of any client: {floor} bytes of heads, ratio {(floor + changed) / changed:.3f}")
PY
