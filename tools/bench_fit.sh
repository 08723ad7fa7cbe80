#!/usr/bin/env bash
# Benchmark of the gold sphere fit (issue 13; not a test): lnpsaxs-fit against the same model
# written with PyTorch eager ops (tools/bench_fit_torch.py, the authors' notebook style), in one
# run, on the same 816 measured points of tests/data/au_86116_cosaxs.dat (q in [0.002, 0.06] 1/A,
# background, truncation [10, 600] A, loss log). Reports restart-steps/s of each and their ratio;
# compare ratios within one run, never absolute times across runs (shared vCPUs).
#
#   tools/bench_fit.sh [BUILD_DIR] [--restarts 256] [--steps 1000] [--threads "1 2"]
#
# lnpsaxs paths timed: the default (quadrature_rule auto = fixed_log_radius for the sphere: form
# factors tabulated once at K checked nodes, then one matmul per step) and the paper rule
# (inverse_cdf at K = 64, unchecked: form factors recomputed every step, as before issue 13).
set -euo pipefail
usage() { sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; }   # the comment block at the top
case "${1:-}" in -h|--help) usage; exit 0 ;; esac
SRC=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${LNPSAXS_PYTHON:-/usr/bin/python3}   # README "Python"
BUILD=${1:-$SRC/build}; [ $# -gt 0 ] && shift
RESTARTS=256 STEPS=1000 THREADS="1 2"
while [ $# -gt 0 ]; do
  case $1 in
    --restarts) RESTARTS=$2; shift 2 ;;
    --steps) STEPS=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "bench_fit: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
FIT=$BUILD/bin/lnpsaxs-fit
GOLD=$SRC/tests/data/au_86116_cosaxs.dat
WORK=$(mktemp -d /tmp/lnpsaxs-bench-fit-XXXXXX)
trap 'rm -rf "$WORK"' EXIT

rate() {  # rate THREADS RULE TOLERANCE: restart-steps/s of lnpsaxs-fit from its final log line
  cat > "$WORK/c.yaml" <<YAML
execution:
  threads: $1
size_distribution:
  truncation: [10.0, 600.0]
  m_r: [50.0, 300.0]
  s_r: [5.0, 100.0]
fit:
  quadrature_rule: $2
  quadrature_tolerance: $3
  batch_restarts: $RESTARTS
YAML
  rm -rf "$WORK/run"
  OMP_NUM_THREADS=$1 "$FIT" --config "$WORK/c.yaml" --run-dir "$WORK/run" --data "$GOLD" --model sphere \
    --q-min 0.002 --q-max 0.06 --background --loss log --restarts "$RESTARTS" --steps "$STEPS" > "$WORK/log" 2>&1
  local k
  k=$(grep -oE "quadrature K = [0-9]+" "$WORK/log" | grep -oE "[0-9]+$")
  echo "$(grep -oE "\(([0-9.e+]+) restart-steps/s" "$WORK/log" | grep -oE "[0-9.e+]+" | head -1) $k"
}

echo "gold sphere fit: $RESTARTS restarts x $STEPS steps, 816 points (lnpsaxs $(git -C "$SRC" rev-parse --short HEAD 2>/dev/null || echo '?'))"
for t in $THREADS; do
  read -r fast kf <<<"$(rate "$t" auto 1e-3)"
  read -r paper kp <<<"$(rate "$t" inverse_cdf 0)"
  torch=$(OMP_NUM_THREADS=$t "$PYTHON" "$SRC/tools/bench_fit_torch.py" "$GOLD" --restarts "$RESTARTS" \
    --steps "$STEPS" --threads "$t" --nodes 64 | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["restart_steps_per_s"])')
  awk -v t="$t" -v f="$fast" -v kf="$kf" -v p="$paper" -v kp="$kp" -v y="$torch" 'BEGIN {
    printf "  %d thread(s): lnpsaxs default (fixed_log_radius, K = %d): %.4g restart-steps/s; lnpsaxs inverse_cdf (K = %d): %.4g;", t, kf, f, kp, p
    printf " PyTorch eager (K = 64): %.4g  ->  lnpsaxs default / PyTorch = %.2fx, inverse_cdf / PyTorch = %.2fx\n", y, f / y, p / y }'
done
