#!/usr/bin/env bash
# Release binaries to ship: small executables, with their line tables in a separate file.
#
# `cargo build --release` keeps line tables in the binaries (`debug = "line-tables-only"`), so a
# panic's backtrace names file and line, but conform is then ~80 MB. This moves the debug
# sections out: DIR/conform keeps its symbols (a backtrace names every function) and points at
# DIR/conform.debug (zlib-compressed DWARF) through `.gnu_debuglink`. Rust's backtraces, gdb and
# addr2line find the .debug file beside the binary and then name file and line as before.
# Needs `objcopy` (binutils). Usage: scripts/dist.sh [DIR] (default: dist)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-dist}
cargo build --release -p signalr-conform --bin conform -p signalr-mock --bin mock-hub
mkdir -p "$out"
for bin in conform mock-hub; do
    cp target/release/"$bin" "$out/$bin"
    (
        cd "$out"
        rm -f "$bin.debug"
        objcopy --only-keep-debug --compress-debug-sections=zlib "$bin" "$bin.debug"
        objcopy --strip-debug --add-gnu-debuglink="$bin.debug" "$bin"
    )
done
ls -l "$out"
