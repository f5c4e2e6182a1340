#!/bin/sh
# Quick start: install what is missing, build, ingest the bundled examples
# into ./tlsrpt.db and print what was stored.
set -eu
cd "$(dirname "$0")/.."
sh tools/deps.sh
[ -d build ] || meson setup build >/dev/null
ninja -C build >/dev/null
echo "== ingest examples/ into ./tlsrpt.db"
./build/collector/tlsrpt-collector --db ./tlsrpt.db ingest examples/reports examples/mail
echo "== stored, per reporting organisation and policy domain"
./build/collector/tlsrpt-collector --db ./tlsrpt.db stats
