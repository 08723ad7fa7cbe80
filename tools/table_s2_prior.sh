#!/usr/bin/env bash
# Table S2 size-prior experiment (issue 16; not a test; docs/posterior.md "Size prior on the Table
# S2 targets"): the four synthetic Table S2 targets fitted with the quick surrogate, each with and
# without a cryo-TEM size prior of 400 particles drawn from its true radius distribution; then
# analyze, the posterior of all eight, the report (posterior figures with / without the prior) and
# a table of posterior SDs and their ratios (RUN/table_s2_prior.md).
#
#   tools/table_s2_prior.sh [--run-dir DIR] [--np N] [--particles N]
#
# Reuses sample/simulate/synth/train outputs of configs/quick.yaml in DIR (run-local skips complete
# stages); from scratch about 10 min for those, then ~2 min per fit and per posterior on 2 cores.
set -euo pipefail
usage() { sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; }   # the comment block at the top
SRC=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${LNPSAXS_PYTHON:-/usr/bin/python3}   # README "Python"
BIN=${LNPSAXS_BIN:-$SRC/build/bin}
RUN=runs/table_s2_prior NP=2 PARTICLES=400
while [ $# -gt 0 ]; do
  case $1 in
    --run-dir) RUN=$2; shift 2 ;;
    --np) NP=$2; shift 2 ;;
    --particles) PARTICLES=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "table_s2_prior: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
mkdir -p "$RUN"
CFG=$RUN/table_s2_prior.yaml
"$PYTHON" "$SRC/tools/table_s2_prior.py" config "$RUN" "$SRC/configs/quick.yaml" "$CFG" --particles "$PARTICLES"
LNPSAXS_BIN=$BIN "$SRC/pipeline/run-local.sh" "$CFG" --run-dir "$RUN" --np "$NP" --until analyze
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
MPIRUN=(mpiexec -n "$NP")
"${MPIRUN[@]}" "$BIN/lnpsaxs-sample-posterior" --config "$CFG" --run-dir "$RUN" 2>&1 | tee "$RUN/posterior.log"
"$PYTHON" "$SRC/tools/report.py" "$RUN"
"$PYTHON" "$SRC/tools/table_s2_prior.py" summary "$RUN" --markdown "$RUN/table_s2_prior.md"
grep -h "chain-iterations/s" "$RUN/posterior.log" || true
