# shellcheck shell=bash
# Helpers the bench scripts share (sourced, not run). The caller sets HERE (the checkout) and
# WORK (a scratch directory), and PIDS=() before using start_registry, and kills "${PIDS[@]}"
# on exit.

# hoist_bin ROOT -> sets HOIST_BIN: the caller's, else a release build of ROOT's hoist in
# ROOT/target-bench (or CARGO_TARGET_DIR).
hoist_bin() {
  if [ -z "${HOIST_BIN:-}" ]; then
    export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$1/target-bench}
    cargo build --release -q -p hoist --manifest-path "$1/Cargo.toml"
    HOIST_BIN=$CARGO_TARGET_DIR/release/hoist
  fi
}

# copy_shop DEST: the example project without build output or hoist state.
copy_shop() {
  mkdir -p "$1"
  (cd "$HERE/examples/shop" && tar --exclude=./*/build --exclude=./.hoist -cf - .) | tar -C "$1" -xf -
}

# prepare_shop DEST TAG DEPS_MB: a copy of the example in DEST as a git repository, its jars
# built for TAG with DEPS_MB of dependency jars, and the jlink'ed JRE ($WORK/jre) imported
# into its layout as the base shop-jre:17. Leaves the caller in DEST.
prepare_shop() {
  copy_shop "$1"
  cd "$1"
  git init -q && git add -A && git -c user.name=b -c user.email=b@b commit -qm init
  SHOP_DEPS_MB=$3 ./build.sh "$2" >/dev/null
  base/make-jre-rootfs.sh "$WORK/jre" >/dev/null
  "$HOIST_BIN" -q image import "$WORK/jre" --ref shop-jre:17 >/dev/null
}

now() { date +%s.%N; }
since() { echo "$(now) - $1" | bc; }
# median [VALUE...]: of the arguments, else of the lines on stdin.
median() {
  if [ $# -gt 0 ]; then printf '%s\n' "$@"; else cat; fi |
    sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'
}
free_port() { python3 -c 'import socket,sys; s=socket.socket(); s.bind((sys.argv[1],0)); print(s.getsockname()[1])' "${REG_IP:-127.0.0.1}"; }

# Where start_registry listens: REG_IP (default 127.0.0.1); with REG_TLS_DIR set (see
# make_tls) it serves TLS with the certificate there.
REG_IP=${REG_IP:-127.0.0.1}
REG_TLS_DIR=${REG_TLS_DIR:-}

# make_tls DIR IP: a throwaway CA (DIR/ca.pem) and a server certificate for IP signed by it
# (DIR/cert.pem, DIR/key.pem).
make_tls() {
  local dir=$1 ip=$2
  mkdir -p "$dir"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=hoist-bench-ca \
    -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$ip" \
    -keyout "$dir/key.pem" -out "$dir/server.csr" 2>/dev/null
  printf 'subjectAltName=IP:%s\nbasicConstraints=CA:FALSE\n' "$ip" >"$dir/ext"
  openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial -days 1 \
    -extfile "$dir/ext" -out "$dir/cert.pem" 2>/dev/null
}

# An IPv4 address of this machine that is not a loopback one.
non_loopback_ip() { hostname -I | tr ' ' '\n' | grep -E '^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$' | grep -v '^127\.' | head -1; }

# start_registry NAME -> sets PORT: a fresh Debian `docker-registry` on REG_IP with its
# storage under $WORK/reg-NAME; its pid goes to PIDS and its port to REG_PORTS. (Not to be
# called in $(…): the server would keep the substitution open and PIDS would be lost.)
start_registry() {
  local name=$1 port scheme=http curl_tls=()
  port=$(free_port)
  mkdir -p "$WORK/reg-$name/storage"
  cat >"$WORK/reg-$name/config.yml" <<YAML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $WORK/reg-$name/storage
  delete:
    enabled: true
http:
  addr: $REG_IP:$port
YAML
  if [ -n "$REG_TLS_DIR" ]; then
    printf '  tls:\n    certificate: %s\n    key: %s\n' "$REG_TLS_DIR/cert.pem" "$REG_TLS_DIR/key.pem" \
      >>"$WORK/reg-$name/config.yml"
    scheme=https curl_tls=(--cacert "$REG_TLS_DIR/ca.pem")
  fi
  docker-registry serve "$WORK/reg-$name/config.yml" >"$WORK/reg-$name/log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 100); do
    curl -fsS "${curl_tls[@]}" "$scheme://$REG_IP:$port/v2/" >/dev/null 2>&1 && break
    sleep 0.1
  done
  REG_PORTS+=("$port")
  PORT=$port
}
