#!/usr/bin/env bash
# hoist's main job on the example project, as a newcomer runs it:
#   1. copy examples/shop into a throwaway git repository with an earlier release tag,
#   2. merge a "[minor]" change,
#   3. `hoist release`: version, tag, build, images into the local layout (no daemon),
#      and, when a Docker Engine is present, a health-gated compose deploy.
# Usage: examples/demo.sh [WORKDIR]   (default: a new temp dir, kept for you to look at)
# Stop the deployed example with: docker-compose -p shop -f WORKDIR/shop/docker-compose-prod.yaml down
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-$(mktemp -d -t hoist-demo-XXXXXX)}
say() { printf '\n==> %s\n' "$*" >&2; }
commit() { git -c user.name=demo -c user.email=demo@example.com commit --quiet "$@"; }

say "building hoist (cargo build --release)"
cargo build --release --quiet -p hoist --manifest-path "$here/Cargo.toml"
hoist="${CARGO_TARGET_DIR:-$here/target}/release/hoist"

say "a throwaway repository: $work/shop, released as v1.0.0"
rm -rf "$work/shop" && mkdir -p "$work"
cp -r "$here/examples/shop" "$work/shop"
rm -rf "$work/shop"/*/build "$work/shop/.hoist"
cd "$work/shop"
git init --quiet --initial-branch=main
git add -A && commit -m "shop as released"
git tag "v1.0.0-$(git rev-parse --short=7 HEAD)"

say "the base image: a jlink'ed JRE imported into the local OCI layout (no registry, no daemon)"
base/make-jre-rootfs.sh "$work/jre-rootfs" >/dev/null
"$hoist" image import "$work/jre-rootfs" --ref shop-jre:17

say "a merged pull request: [minor] gateway: new feature"
sed -i 's|^}$|    // a new feature\n}|' gateway/src/main/java/shop/gateway/Main.java
git add -A && commit -m "[minor] gateway: new feature"

deploy=none
if docker info >/dev/null 2>&1; then
  deploy=compose
  say "the stateful dependency (kv-store), built from its Dockerfile without a daemon, loaded into the engine"
  ./build.sh --deps >/dev/null
  "$hoist" image build-file kv-store/Dockerfile --ref shop-kv-store:1 --context kv-store
  "$hoist" image export shop-kv-store:1 -o "$work/kv-store.tar" >/dev/null
  docker load -i "$work/kv-store.tar" >/dev/null
else
  say "no Docker Engine here: releasing without a deploy"
fi

say "hoist release --no-push --deploy $deploy   (no registry in this demo: images go to the engine from the layout)"
"$hoist" release --no-push --deploy "$deploy"

say "done: $work/shop"
git tag --list >&2
if [ "$deploy" = compose ]; then
  for p in 18080 18081 18082; do printf '  http://127.0.0.1:%s/version -> %s\n' "$p" "$(curl -fsS "http://127.0.0.1:$p/version" || echo '?')" >&2; done
  printf '  http://127.0.0.1:18080/api/versions -> %s\n' "$(curl -fsS http://127.0.0.1:18080/api/versions || echo '?')" >&2
fi
