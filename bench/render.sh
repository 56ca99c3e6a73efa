#!/usr/bin/env bash
# Render the example's Kubernetes manifests, repeated to 1,000 documents, with
# `hoist render k8s` and with `kubectl kustomize` (the same `images:`), in one run.
# Target: hoist at least 5x faster. Results go in bench/README.md ("render").
#
#   bench/render.sh              # builds hoist with --release first
#   HOIST_BIN=path/to/hoist RUNS=9 bench/render.sh
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
runs="${RUNS:-7}"
docs="${DOCS:-1000}"
tag="v1.4.0-abc1234"

# shellcheck source=bench/lib.sh
source "$root/bench/lib.sh"
hoist_bin "$root"
command -v kubectl >/dev/null || { echo "bench/render.sh needs kubectl (with kustomize)" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

python3 - "$root/examples/shop" "$work" "$docs" "$tag" <<'PY'
import os, re, sys
src, work, want, tag = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
k8s = os.path.join(src, "k8s")
texts = []
for name in sorted(os.listdir(k8s)):
    if name.endswith(".yaml"):
        for doc in open(os.path.join(k8s, name)).read().split("\n---\n"):
            if doc.strip():
                texts.append(doc.strip() + "\n")
os.makedirs(os.path.join(work, "k8s"))
out, i = [], 0
while len(out) < want:
    for t in texts:
        if len(out) == want:
            break
        # Unique names per copy (kustomize rejects duplicate objects): only the
        # top-level `metadata.name` and `namespace`, at two spaces of indent.
        t = re.sub(r"(?m)^  name: (\S+)$", lambda m: f"  name: {m.group(1)}-{i}", t)
        t = re.sub(r"(?m)^  namespace: (\S+)$", lambda m: f"  namespace: {m.group(1)}-{i}", t)
        out.append(t)
    i += 1
with open(os.path.join(work, "k8s", "all.yaml"), "w") as f:
    f.write("---\n".join(out))
services = ["chat-service", "gateway", "user-service"]
with open(os.path.join(work, "k8s", "kustomization.yaml"), "w") as f:
    f.write("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - all.yaml\nimages:\n")
    for s in services:
        f.write(f"  - name: {s}\n    newName: 127.0.0.1:5000/shop\n    newTag: {s}_{tag}\n")
toml = open(os.path.join(src, "hoist.toml")).read()
open(os.path.join(work, "hoist.toml"), "w").write(toml)
PY

python3 - "$HOIST_BIN" "$work" "$runs" "$tag" "$docs" <<'PY'
import statistics, subprocess, sys, time
hoist, work, runs, tag, docs = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
cmds = {
    "hoist render k8s": [hoist, "render", "k8s", "--tag", tag, "k8s/all.yaml"],
    "kubectl kustomize": ["kubectl", "kustomize", "k8s"],
}
times, outs = {}, {}
for name, cmd in cmds.items():
    subprocess.run(cmd, cwd=work, check=True, capture_output=True)  # warm-up
    t = []
    for _ in range(runs):
        start = time.perf_counter()
        p = subprocess.run(cmd, cwd=work, check=True, capture_output=True)
        t.append(time.perf_counter() - start)
    times[name], outs[name] = statistics.median(t), p.stdout.decode()
for name, out in outs.items():
    images = out.count("127.0.0.1:5000/shop:")
    print(f"{name:20} median {times[name]*1000:8.1f} ms over {runs} runs  ({images} images set)")
ratio = times["kubectl kustomize"] / times["hoist render k8s"]
print(f"{docs} documents: hoist is {ratio:.1f}x faster than kubectl kustomize (target: 5x) -> {'PASS' if ratio >= 5 else 'FAIL'}")
PY
