#!/usr/bin/env bash
# Simulator benchmark on this CPU (issue 3): per-realisation time and peak memory for
# N = 64, 128, 256 (1 and 2 threads; each in its own process), and throughput of lnpsaxs-simulate
# with 1 vs 2 MPI ranks (1 thread each) on the same items. Ratios in one run are what count on
# shared machines; absolute times vary. Set BENCH_N512=1 to also time the paper grid (2.3 GB).
#   tools/bench_simulate.sh [BUILD_DIR]     (default: build)
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-build}/bin
[ -x "$B/lnpsaxs-bench-simulate" ] || { echo "bench_simulate: $B/lnpsaxs-bench-simulate not built" >&2; exit 2; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
echo "== one realisation (box 2560 Å, Δx = 2560/N, N_f = 2N, 300 q)"
sizes="64 128 256"; [ "${BENCH_N512:-0}" = 1 ] && sizes="$sizes 512"
for n in $sizes; do
  for t in 1 2; do "$B/lnpsaxs-bench-simulate" "$n" "$t" 3; done
done

echo "== lnpsaxs-simulate throughput, 1 vs 2 ranks (N = 64, Δx = 10 Å, 4 realisations, 64 items)"
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
cat > "$W/bench.yaml" <<YAML
run: {dir: $W/run, seed: 1}
parameters: {radius: [100.0, 250.0]}
sample: {n_train: 64, n_test: 1}
simulate: {grid_n: 64, dx: 10.0, n_fft: 128, realisations: 4}
execution: {threads: 1, checkpoint_items: 4}
YAML
"$B/lnpsaxs-sample" --config "$W/bench.yaml" --log-level warn
for np in 1 2; do
  rm -rf "$W/run/curves" "$W/run/curves.h5"
  t0=$(date +%s%N)
  mpiexec -n $np "$B/lnpsaxs-simulate" --config "$W/bench.yaml" --log-level warn
  ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  echo "ranks=$np  65 curves x 4 realisations in $ms ms  ->  $(( 65 * 4 * 1000000 / ms )) realisations/1000 s"
done
