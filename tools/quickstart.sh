#!/usr/bin/env bash
# The README's main job: installs what is missing, builds, and runs the whole pipeline locally on
# configs/quick.yaml (sample → simulate → synth → train → fit → analyze → report), then prints
# where the report is. Rerunning continues where it stopped (every stage resumes or skips).
#   tools/quickstart.sh [CONFIG] [--np N] [extra pipeline/run-local.sh arguments]
set -euo pipefail
usage() { sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; }   # the comment block at the top
case "${1:-}" in -h|--help) usage; exit 0 ;; esac
cd "$(dirname "$0")/.."
CONFIG=configs/quick.yaml
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then CONFIG=$1; shift; fi

./tools/install-deps.sh
if [ ! -f build/build.ninja ]; then
  cmake -S . -B build -G Ninja
fi
echo "== build"
cmake --build build -j "$(nproc)"

start=$(date +%s)
pipeline/run-local.sh "$CONFIG" "$@"
RUN=$(build/bin/lnpsaxs-config --config "$CONFIG" --get run.dir)
echo
echo "quickstart: pipeline finished in $(( $(date +%s) - start )) s"
echo "quickstart: report: $(cd "$RUN" && pwd)/report/index.html"
echo "quickstart: outputs (HDF5, open with h5py or h5dump) in $RUN/"
