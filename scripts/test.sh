#!/usr/bin/env bash
# Builds everything and runs the whole test suite twice: a normal build (build/) and an
# AddressSanitizer + UndefinedBehaviorSanitizer build (build-asan/). Set MINYI_SKIP_ASAN=1
# to run only the first.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
jobs=$(nproc)
export CCACHE_DIR="${CCACHE_DIR:-$HOME/.cache/ccache}"
export CCACHE_BASEDIR="$PWD"  # cache hits across clones in different folders

run_suite() {
  local dir=$1
  shift
  cmake -S . -B "$dir" -DMINYI_WERROR=ON -DMINYI_BUILD_TESTS=ON "$@" >/dev/null
  cmake --build "$dir" -j"$jobs"
  (cd "$dir" && ctest --output-on-failure -j"$jobs" --timeout 900)
}

echo "== normal build: unit and end-to-end tests =="
run_suite build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMINYI_BUILD_BENCH=ON

if [[ "${MINYI_SKIP_ASAN:-0}" != 1 ]]; then
  echo "== AddressSanitizer + UndefinedBehaviorSanitizer build: the same suite =="
  export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:detect_stack_use_after_return=0"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
  run_suite build-asan -DCMAKE_BUILD_TYPE=Debug -DMINYI_SANITIZE=ON -DMINYI_BUILD_BENCH=OFF
fi
