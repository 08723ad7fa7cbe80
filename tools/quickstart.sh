#!/usr/bin/env bash
# The README's main-job command: installs what is missing, builds, and runs the pipeline locally
# on configs/quick.yaml. (Grows with the pipeline: today it runs the stages that exist.)
# Usage: tools/quickstart.sh [CONFIG] [RUN_DIR]   (defaults: configs/quick.yaml, runs/quick)
set -euo pipefail
cd "$(dirname "$0")/.."
CONFIG=${1:-configs/quick.yaml}
RUN=${2:-runs/quick}
NP=${LNPSAXS_NP:-2}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1

./tools/install-deps.sh
if [ ! -x build/bin/lnpsaxs-sample ]; then
  cmake -S . -B build -G Ninja
fi
cmake --build build -j "$(nproc)"

for stage in sample; do
  echo "== $stage"
  mpiexec -n "$NP" "build/bin/lnpsaxs-$stage" --config "$CONFIG" --run-dir "$RUN"
done
echo
echo "quickstart: outputs in $RUN/ (open with h5dump or h5py), e.g.:"
echo "  h5dump -A $RUN/params.h5 | less"
