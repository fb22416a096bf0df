#!/usr/bin/env bash
# Fuzzes the embedded mock-hub once per fault mode and prints, per fault, the runs needed to find
# a failure and the length of the shrunk sequence (a Markdown table). Not run in CI.
#   scripts/fuzz-faults.sh [SEED] [RUNS]
set -euo pipefail
seed="${1:-1}"
runs="${2:-3000}"
cargo build --release --bin conform >&2
conform=target/release/conform
dir="$(mktemp -d)"
echo "| fault | found at run | operations | shrunk to | shrink steps | seconds |"
echo "|---|---|---|---|---|---|"
for f in $("$conform" fuzz --mock-fault list); do
  "$conform" fuzz -q --mock-fault "$f" --seed "$seed" --runs "$runs" --time 10m \
    --json "$dir/$f.json" >/dev/null || true
  python3 - "$f" "$dir/$f.json" <<'PY'
import json, sys
f, path = sys.argv[1], sys.argv[2]
r = json.load(open(path))
x = r["finding"]
if x is None:
    print(f"| `{f}` | not found in {r['runs']} runs | | | | {r['totalSeconds']:.1f} |")
else:
    print(f"| `{f}` | {x['run']} | {x['originalLength']} | {x['shrunkLength']} | {x['shrinkSteps']} | {r['totalSeconds']:.1f} |")
PY
done
rm -rf "$dir"
