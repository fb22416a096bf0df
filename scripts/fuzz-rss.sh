#!/usr/bin/env bash
# Fuzzes the embedded mock-hub and prints the process's resident memory (VmRSS) as the sequence
# count passes each checkpoint, then the run's last line. Not run in CI.
#   scripts/fuzz-rss.sh [SEED] [RUNS] [CHECKPOINTS...]   e.g. scripts/fuzz-rss.sh 2026 10000 1000 5000 10000
set -euo pipefail
seed="${1:-2026}"
runs="${2:-10000}"
shift $(( $# > 2 ? 2 : $# ))
if [ $# -eq 0 ]; then set -- 1000 5000 10000; fi
checkpoints=("$@")
cargo build --release --bin conform >&2
dir="$(mktemp -d)"
# `script` gives the run a terminal, so it prints its progress ("\rN sequences") every 50.
script -qfec "target/release/conform fuzz --seed $seed --runs $runs --json $dir/fuzz.json" \
  "$dir/out" >/dev/null &
sleep 1
pid="$(pgrep -n -f "target/release/conform fuzz --seed $seed --runs $runs --json $dir" || true)"
next=0
while kill -0 "$pid" 2>/dev/null; do
  n="$(tr '\r' '\n' <"$dir/out" | grep -Eo '^[0-9]+ sequences' | tail -1 | cut -d' ' -f1 || true)"
  rss="$(awk '/VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)"
  while [ -n "$n" ] && [ $next -lt ${#checkpoints[@]} ] && [ "$n" -ge "${checkpoints[$next]}" ]; do
    echo "after $n sequences (checkpoint ${checkpoints[$next]}): RSS $((rss / 1024)) MB"
    next=$((next + 1))
  done
  sleep 1
done
wait || true
tr '\r' '\n' <"$dir/out" | grep -E '^(PASS|FAIL|FLAKY)' || true
python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print('runs', r['runs'], 'sequences/min %.0f' % r['sequencesPerMinute'], 'passed', r['passed'], 'flaky', r['flakyCount'])" "$dir/fuzz.json"
rm -rf "$dir"
