#!/usr/bin/env bash
# The paper's Table 1 (docs/method.md §8; one A100) on this machine's GPU (issue 8), printing
# our time, the paper's and the ratio, plus one GRF realisation against the memory-bandwidth floor
# (bytes moved / measured device-to-device copy bandwidth). See docs/gpu.md.
#
#   tools/bench_gpu.sh [BUILD_DIR]        (default: build; needs a CUDA build, docs/gpu.md)
# Environment: BENCH_QUICK=1 (time 16 of the 512 batch curves and 8 of the 64 independent
# polydisperse nodes, extrapolate), BENCH_DEVICE (default 0), BENCH_TRAIN_CONFIG (config for the
# surrogate rows, default configs/paper.yaml, whose execution.device is cuda).
#
# Simulator rows: lnpsaxs-bench-simulate-cuda (models/simulator/cuda). Surrogate rows: taken from
# lnpsaxs-bench-train / lnpsaxs-fit-bench when they are built and report them, else marked "not
# measured". On a machine without a GPU (or a build without CUDA) it says so and exits 0.
set -euo pipefail
usage() { sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; }   # the comment block at the top
case "${1:-}" in -h|--help) usage; exit 0 ;; esac
cd "$(dirname "$0")/.."
B=${1:-build}/bin
exe="$B/lnpsaxs-bench-simulate-cuda"

if [ ! -x "$exe" ]; then
  echo "bench_gpu: $exe is not built: configure a CUDA build (docs/gpu.md) and build lnpsaxs-bench-simulate-cuda" >&2
  exit 2
fi

echo "== GPU"
if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=index,name,memory.total,clocks.max.sm,clocks.max.mem --format=csv,noheader 2>/dev/null || true
fi

args=(--device "${BENCH_DEVICE:-0}")
[ "${BENCH_QUICK:-0}" = 1 ] && args+=(--quick)
set +e
"$exe" "${args[@]}"
rc=$?
set -e
if [ $rc -eq 77 ]; then
  echo "bench_gpu: no GPU here (or no CUDA in this build): nothing measured, no figure to report."
  exit 0
elif [ $rc -ne 0 ]; then
  echo "bench_gpu: lnpsaxs-bench-simulate-cuda failed (exit $rc)" >&2
  exit $rc
fi

echo
echo "== paper Table 1, surrogate rows (paper: one A100)"
printf '%-52s %14s %14s %11s\n' "row" "ours" "paper" "paper/ours"
ratio() { awk -v o="$1" -v p="$2" 'BEGIN { if (o > 0) printf "%.1fx", p / o; else printf "-" }'; }
train_exe="$B/lnpsaxs-bench-train"
batch_ms=""; poly_ms=""
if [ -x "$train_exe" ]; then
  cfg=${BENCH_TRAIN_CONFIG:-configs/paper.yaml}
  out=$("$train_exe" --seconds 2 "$cfg" 2>&1 || true)
  line=$(printf '%s\n' "$out" | grep '^inference:' | head -1 || true)
  # "inference: batch 512 X ms (Y ms/curve); polydisperse K = 64: Z ms forward, W ms forward + gradient ..."
  batch_ms=$(printf '%s\n' "$line" | sed -n 's/.*batch 512 \([0-9.]*\) ms.*/\1/p')
  poly_ms=$(printf '%s\n' "$line" | sed -n 's/.*K = 64: \([0-9.]*\) ms forward,.*/\1/p')
  [ -z "$line" ] && printf '%s\n' "$out" | tail -5
fi
row_ms() {  # name ours_ms paper_ms
  if [ -n "$2" ]; then
    printf '%-52s %11s ms %11s ms %11s\n' "$1" "$2" "$3" "$(ratio "$2" "$3")"
  else
    printf '%-52s %14s %11s ms %11s\n' "$1" "not measured" "$3" "-"
  fi
}
row_ms "surrogate, one monodisperse curve" "" 1.26
row_ms "surrogate, batch of 512 curves" "$batch_ms" 1.4
row_ms "surrogate, polydisperse K = 64" "$poly_ms" 2.43
fit_exe="$B/lnpsaxs-fit-bench"
restart_s=""; restarts_s=""
if [ -x "$fit_exe" ]; then
  out=$("$fit_exe" 2>&1 || true)
  # Expected lines (when the fit benchmark reports them): "one restart: X s", "128 restarts: Y s".
  restart_s=$(printf '%s\n' "$out" | sed -n 's/.*one restart[^:]*: *\([0-9.]*\) s.*/\1/p' | head -1)
  restarts_s=$(printf '%s\n' "$out" | sed -n 's/.*128 restarts[^:]*: *\([0-9.]*\) s.*/\1/p' | head -1)
fi
row_s() {
  if [ -n "$2" ]; then
    printf '%-52s %12s s %12s s %11s\n' "$1" "$2" "$3" "$(ratio "$2" "$3")"
  else
    printf '%-52s %14s %12s s %11s\n' "$1" "not measured" "$3" "-"
  fi
}
row_s "fit, one restart x 1000 iterations (fwd + bwd)" "$restart_s" 11.8
row_s "fit, 128 restarts x 1000 iterations" "$restarts_s" 37.1
[ -x "$train_exe" ] || echo "(lnpsaxs-bench-train not built in $B: surrogate rows not measured)"
[ -n "$restart_s" ] || echo "(lnpsaxs-fit-bench did not report restart times: fit rows not measured)"
