#!/usr/bin/env bash
# Simulator benchmark on this CPU (issues 3 and 15, docs/cpu.md): per-realisation time and peak
# memory of the fused cpu backend beside the floor measured in the same process (one FFTW C2R of N³
# at FFTW_MEASURE and one streaming pass), N = 256 and 512, 1 and 2 threads (each in its own
# process), the LibTorch reference at N = 256, and the throughput of lnpsaxs-simulate with 1 vs 2
# MPI ranks (1 thread each) on the same items. Ratios in one run are what count on shared machines;
# absolute times vary (the cpu columns are process CPU time, robust to other load).
#   tools/bench_simulate.sh [BUILD_DIR]     (default: build; BENCH_SIZES="256 512" to change N)
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-build}/bin
[ -x "$B/lnpsaxs-bench-simulate" ] || { echo "bench_simulate: $B/lnpsaxs-bench-simulate not built" >&2; exit 2; }
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
W=$(mktemp -d); trap 'rm -rf "$W"' EXIT
echo "== load: $(uptime)"
echo "== one realisation (box 2560 Å, Δx = 2560/N, N_f = 2N, 300 q)"
for n in ${BENCH_SIZES:-256 512}; do
  for t in 1 2; do "$B/lnpsaxs-bench-simulate" "$n" "$t" 7 cpu "$W"; done
  if [ "$n" -le 256 ]; then "$B/lnpsaxs-bench-simulate" "$n" 1 2 torch; fi
done

# N = 128 and 513 items so that the work (~70 ms per item: ~36 s on one rank) outweighs each process's fixed start-up (MPI, LibTorch,
# reading params.h5, importing the FFTW wisdom: ~1 s), which 2 ranks cannot share; a checkpoint
# (a collective write, all ranks in step) every 32 items (~2 s of work): at the default 4 items
# (0.3 s) the collective writes alone cost 2 ranks ~15 % (measured 1.72x instead of 1.98x).
echo "== lnpsaxs-simulate throughput, 1 vs 2 ranks (N = 128, Δx = 5 Å, 4 realisations, 512 + 1 items)"
cat > "$W/bench.yaml" <<YAML
run: {dir: $W/run, seed: 1}
parameters: {radius: [100.0, 250.0]}
sample: {n_train: 512, n_test: 1}
simulate: {grid_n: 128, dx: 5.0, n_fft: 256, realisations: 4}
execution: {threads: 1, checkpoint_items: 32}
YAML
"$B/lnpsaxs-sample" --config "$W/bench.yaml" --log-level warn
mpiexec -n 1 "$B/lnpsaxs-simulate" --config "$W/bench.yaml" --log-level warn  # makes the FFTW wisdom
for np in 1 2; do
  rm -rf "$W/run/curves" "$W/run/curves.h5"
  t0=$(date +%s%N)
  mpiexec -n $np "$B/lnpsaxs-simulate" --config "$W/bench.yaml" --log-level warn
  ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  echo "ranks=$np  513 curves x 4 realisations in $ms ms  ->  $(( 513 * 4 * 1000000 / ms )) realisations/1000 s"
done
