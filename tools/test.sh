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
# OpenBLAS (Debian's LibTorch computes float32 matmuls with it) picks its kernels by CPU or by
# OPENBLAS_CORETYPE (these machines preset Haswell). Haswell's SGEMM rounds a row by its position
# mod 24 in the matrix: a restart's fit then changes in the last bits with the batch it shares, and
# the 1-vs-2-rank bit-identity tests fail. SkylakeX's kernels do not depend on the position. Until
# the fit lays its rows out independently of the batch (docs/fit.md, "Known limits"), the tests
# run with SkylakeX kernels wherever the CPU has AVX-512.
if grep -qw avx512f /proc/cpuinfo 2>/dev/null; then
  echo "== OPENBLAS_CORETYPE=SkylakeX (was '${OPENBLAS_CORETYPE:-unset}'; AVX-512 CPU: position-independent SGEMM)"
  export OPENBLAS_CORETYPE=SkylakeX
fi
cd "$BUILD"
ctest --output-on-failure -j "$JOBS" --timeout 1200
