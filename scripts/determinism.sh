#!/usr/bin/env bash
# Runs the full default conformance run against the embedded mock-hub N times (default 20)
# and checks that every run gives identical verdicts; prints each run's wall time.
# Usage: scripts/determinism.sh [N] [extra conform options…]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-20}
shift || true
cargo build --release --quiet --bin conform
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
for i in $(seq 1 "$n"); do
  start=$(date +%s%N)
  set +e
  ./target/release/conform --quiet --json "$dir/run$i.json" "$@" > "$dir/run$i.txt"
  code=$?
  set -e
  end=$(date +%s%N)
  ms=$(( (end - start) / 1000000 ))
  printf 'run %2d: exit %d, %d.%03d s\n' "$i" "$code" $((ms / 1000)) $((ms % 1000))
done
python3 - "$dir" "$n" <<'PY'
import json, sys
d, n = sys.argv[1], int(sys.argv[2])
runs = []
for i in range(1, n + 1):
    with open(f"{d}/run{i}.json") as f:
        r = json.load(f)
    runs.append({o["name"]: o["verdict"] for o in r["outcomes"]})
base = runs[0]
bad = 0
for i, r in enumerate(runs[1:], start=2):
    diff = sorted(k for k in set(base) | set(r) if base.get(k) != r.get(k))
    for k in diff:
        print(f"run {i} differs from run 1: {k}: {base.get(k)} vs {r.get(k)}")
    bad += len(diff)
counts = {}
for v in base.values():
    counts[v] = counts.get(v, 0) + 1
print(f"{len(base)} executions per run: {counts}")
if bad:
    print(f"NOT deterministic: {bad} difference(s)")
    sys.exit(1)
print(f"identical verdicts across {n} runs")
PY
