#!/usr/bin/env bash
# Creates tests/interop/python/.venv and installs requirements.txt into it (the Python SignalR
# clients of the interop tests). Idempotent: does nothing when the venv already has exactly
# this requirements.txt installed. Run from anywhere:
#
#     bash tests/interop/python/install.sh
#
# PYTHON=/path/to/python3 picks the interpreter (3.10 or newer; default: python3).
set -euo pipefail

dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$dir/.venv"
req="$dir/requirements.txt"
stamp="$venv/.requirements.sha256"
python="${PYTHON:-python3}"

want="$(sha256sum "$req" | cut -d' ' -f1)"

# Up to date: the stamp matches and the clients import.
if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]] \
    && "$venv/bin/python" -c 'import pysignalr, signalrcore' 2>/dev/null; then
    echo "tests/interop/python/.venv is up to date"
    exit 0
fi

if ! "$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' 2>/dev/null; then
    echo "install.sh: $python is missing or older than Python 3.10 (set PYTHON=...)" >&2
    exit 1
fi

# A venv whose interpreter no longer runs (e.g. the base Python was replaced) is rebuilt.
if [[ -d "$venv" ]] && ! "$venv/bin/python" -c 'pass' 2>/dev/null; then
    rm -rf "$venv"
fi
if [[ ! -x "$venv/bin/python" ]]; then
    "$python" -m venv "$venv"
fi

rm -f "$stamp"
"$venv/bin/python" -m pip install --disable-pip-version-check --quiet --requirement "$req"
"$venv/bin/python" -c 'import pysignalr, signalrcore'
echo "$want" > "$stamp"
echo "installed $(grep -E '^(pysignalr|signalrcore)==' "$req" | tr '\n' ' ')into tests/interop/python/.venv"
