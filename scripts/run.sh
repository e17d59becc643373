#!/usr/bin/env bash
# Builds minyid and its plugins into ./build and runs it on config/minyi.yaml
# (journal and keys under ./var). Extra arguments go to minyid.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMINYI_BUILD_TESTS=OFF -DMINYI_BUILD_BENCH=OFF >/dev/null
cmake --build build -j"$(nproc)" --target minyid minyi_channel_web minyi_sink_file minyi_sink_http
exec ./build/minyid --config config/minyi.yaml "$@"
