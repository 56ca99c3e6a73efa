#!/usr/bin/env bash
# hoist's main job on the example project, as a newcomer runs it:
#   1. copy examples/shop into a throwaway git repository with an earlier release tag,
#   2. merge a "[minor]" change,
#   3. let hoist decide the version, build every service, and tag the release.
# Usage: examples/demo.sh [WORKDIR]   (default: a new temp dir; it is kept for you to look at)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-$(mktemp -d -t hoist-demo-XXXXXX)}

echo "==> building hoist" >&2
cargo build --release --quiet -p hoist --manifest-path "$here/Cargo.toml"
hoist="${CARGO_TARGET_DIR:-$here/target}/release/hoist"

echo "==> a throwaway repository in $work/shop" >&2
rm -rf "$work/shop" && mkdir -p "$work"
cp -r "$here/examples/shop" "$work/shop"
rm -rf "$work/shop"/*/build "$work/shop/.hoist"
cd "$work/shop"
git init --quiet --initial-branch=main
git -c user.name=demo -c user.email=demo@example.com commit --quiet --allow-empty -m "initial"
git add -A
git -c user.name=demo -c user.email=demo@example.com commit --quiet -m "shop as released"
git tag "v1.0.0-$(git rev-parse --short=7 HEAD)"
echo "// a new feature" >> gateway/src/main/java/shop/gateway/Main.java
git add -A
git -c user.name=demo -c user.email=demo@example.com commit --quiet -m "[minor] gateway: new feature"

echo "==> hoist version" >&2
"$hoist" version
echo "==> hoist tag" >&2
"$hoist" tag
echo "==> hoist build" >&2
"$hoist" build
echo "==> done: $work/shop (tags: $(git tag | tr '\n' ' '))" >&2
