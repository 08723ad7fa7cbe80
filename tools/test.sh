#!/usr/bin/env bash
# The README's test command: installs dependencies if missing, configures, builds and runs every
# test (unit, MPI, end-to-end). Usage: tools/test.sh [BUILD_DIR] (default: build)
# Environment: LNPSAXS_JOBS (build parallelism, default: number of cores), CMAKE_ARGS (extra).
set -euo pipefail
usage() { sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; }   # the comment block at the top
case "${1:-}" in -h|--help) usage; exit 0 ;; esac
cd "$(dirname "$0")/.."
BUILD=${1:-build}
JOBS=${LNPSAXS_JOBS:-$(nproc)}

./tools/install-deps.sh
echo "== configure ($BUILD)"
# -Werror: CI must stay warning-clean (-Wall -Wextra).
cmake -S . -B "$BUILD" -G Ninja -DLNPSAXS_WERROR=ON ${CMAKE_ARGS:-}
echo "== build (-j$JOBS)"
cmake --build "$BUILD" -j "$JOBS"
echo "== test"
cd "$BUILD"
ctest --output-on-failure -j "$JOBS" --timeout 1200
