# shellcheck shell=bash
# Helpers the bench scripts share (sourced, not run). The caller sets WORK (a scratch
# directory) and PIDS=() before using start_registry, and kills "${PIDS[@]}" on exit.

# hoist_bin ROOT -> sets HOIST_BIN: the caller's, else a release build of ROOT's hoist in
# ROOT/target-bench (or CARGO_TARGET_DIR).
hoist_bin() {
  if [ -z "${HOIST_BIN:-}" ]; then
    export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$1/target-bench}
    cargo build --release -q -p hoist --manifest-path "$1/Cargo.toml"
    HOIST_BIN=$CARGO_TARGET_DIR/release/hoist
  fi
}

now() { date +%s.%N; }
since() { echo "$(now) - $1" | bc; }
# median [VALUE...]: of the arguments, else of the lines on stdin.
median() {
  if [ $# -gt 0 ]; then printf '%s\n' "$@"; else cat; fi |
    sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'
}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_registry NAME -> sets PORT: a fresh Debian `docker-registry` on 127.0.0.1 with its
# storage under $WORK/reg-NAME; its pid goes to PIDS and its port to REG_PORTS. (Not to be
# called in $(…): the server would keep the substitution open and PIDS would be lost.)
start_registry() {
  local name=$1 port
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
  addr: 127.0.0.1:$port
YAML
  docker-registry serve "$WORK/reg-$name/config.yml" >"$WORK/reg-$name/log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 100); do
    curl -fsS "http://127.0.0.1:$port/v2/" >/dev/null 2>&1 && break
    sleep 0.1
  done
  REG_PORTS+=("$port")
  PORT=$port
}
