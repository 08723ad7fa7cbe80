#!/usr/bin/env bash
# slurm/full_pipeline.sh --dry-run (issue 7 acceptance): the paper-scale plan of configs/paper.yaml
# (32,768 + 1,024 curves, n = 50, N = 512, array sizes, GPU counts) and its sbatch commands (job
# arrays, afterok chain, --kill-on-invalid-dep, --signal), flags overriding the config's slurm:
# section, --from; nothing is submitted and nothing is created. Needs no SLURM daemons.
. "$(dirname "$0")/lib.sh"
FP="$LNPSAXS_SRC/slurm/full_pipeline.sh"
PAPER="$LNPSAXS_SRC/configs/paper.yaml"
# A fake sbatch first in PATH: a dry run must never call it.
mkdir -p "$WORK/fakebin"
printf '#!/bin/sh\necho "$@" >> "%s/sbatch.calls"\nexit 1\n' "$WORK" > "$WORK/fakebin/sbatch"
chmod +x "$WORK/fakebin/sbatch"
export PATH="$WORK/fakebin:$PATH"

has() {  # has LABEL PATTERN TEXT: TEXT matches the extended regex PATTERN
  if grep -qE -- "$2" <<<"$3"; then pass "$1"; else fail "$1: no /$2/ in:"$'\n'"$3"; fi
}
line() { grep -E -- "$1" <<<"$2"; }   # line PATTERN TEXT: the matching lines

# --- the paper-scale plan -------------------------------------------------------------------------------
out=$("$FP" "$PAPER" --dry-run --run-dir "$WORK/paper" 2>&1); rc=$?
[ $rc = 0 ] && pass "paper.yaml --dry-run exits 0" || fail "paper.yaml --dry-run exit $rc: $out"
has "plan: 32,768 + 1,024 curves" "simulate: 32,768 \+ 1,024 = 33,792 curves" "$out"
has "plan: n = 50 realisations" "n = 50 realisations per curve" "$out"
has "plan: N = 512" "N = 512 \(512\^3 voxels of 5 Å\), N_f = 1024, 300 q points" "$out"
has "plan: 32,768 training + 1,024 test θ" "sample: +32,768 training \+ 1,024 held-out test" "$out"
has "plan: simulate array 0-63, 4 GPUs per task, 256 in all" "^  simulate +0-63 \(64\) +1 x 4 x 8 +4 per task, 256 in all +24:00:00" "$out"
has "plan: synth array 0-3, 16 GPUs" "^  synth +0-3 \(4\) +1 x 4 x 8 +4 per task, 16 in all" "$out"
has "plan: fit array 0-7, 32 GPUs" "^  fit +0-7 \(8\) +1 x 4 x 8 +4 per task, 32 in all +06:00:00" "$out"
has "plan: train on 4 GPUs" "^  train +- +1 x 4 x 8 +4 +04:00:00" "$out"
has "plan: joins are 1-task jobs" "^  simulate-join +- +1 x 1 x 1 +0 " "$out"
has "plan: GPUs per node, one rank per GPU" "GPUs: 4 per node, one MPI rank per GPU; 312 GPU allocations" "$out"
has "plan: 528 curves per array task" "528 curves per array task" "$out"
has "plan: fit restarts (4 x 1,024 synthetic + 4,096 baseline)" "fit: +5 target\(s\), 8,192 restarts in all: case1 \(surrogate, 1,024\).*gold_sphere \(sphere, 4,096\)" "$out"
has "plan: site set-up lines" "set-up before every stage: module purge; module load CUDA" "$out"
sb=$(line '^sbatch ' "$out")
[ "$(wc -l <<<"$sb")" = 10 ] && pass "10 sbatch commands (7 stages + 3 joins)" || fail "sbatch commands: $sb"
bad=$(grep -vE -- '--parsable .*--kill-on-invalid-dep=yes --signal=B:USR1@600 ' <<<"$sb")
[ -z "$bad" ] && pass "every job: --parsable, --kill-on-invalid-dep=yes, --signal=B:USR1@600" || fail "job lacks them: $bad"
has "simulate: array 0-63, 4 ranks x 4 GPUs per task, after sample" \
  "--ntasks-per-node=4 --cpus-per-task=8 --gpus-per-node=4 --job-name=lnpsaxs-simulate .*--array=0-63 --dependency=afterok:<sample> .*simulate.sbatch$" "$sb"
has "simulate-join after the simulate array, knows 64 shards" "LNPSAXS_STAGE=simulate,LNPSAXS_SHARDS=64 .*--dependency=afterok:<simulate> .*join.sbatch$" "$sb"
has "synth: array 0-3, no dependency" "--job-name=lnpsaxs-synth .*--array=0-3 [^ ]*synth.sbatch$" "$sb"
has "train after simulate-join" "--job-name=lnpsaxs-train .*--dependency=afterok:<simulate-join> .*train.sbatch$" "$sb"
has "fit: array 0-7 after train and synth-join" "--job-name=lnpsaxs-fit .*--array=0-7 --dependency=afterok:<train>:<synth-join> .*fit.sbatch$" "$sb"
has "fit-join knows 8 shards" "LNPSAXS_STAGE=fit,LNPSAXS_SHARDS=8 .*--dependency=afterok:<fit> " "$sb"
has "analyze after fit-join" "--job-name=lnpsaxs-analyze .*--dependency=afterok:<fit-join> " "$sb"
has "report after analyze" "--job-name=lnpsaxs-report .*--dependency=afterok:<analyze> .*report.sbatch$" "$sb"
has "array tasks log per task" "--output=$WORK/paper/slurm-logs/%x-%A_%a.out" "$sb"
has "jobs get config, run dir, binaries" "--export=ALL,LNPSAXS_CONFIG=$PAPER,LNPSAXS_RUN_DIR=$WORK/paper,LNPSAXS_BIN=$LNPSAXS_BIN," "$sb"
has "ends saying nothing was submitted" "\(dry run: nothing submitted\)" "$out"
[ ! -e "$WORK/sbatch.calls" ] && pass "dry run never calls sbatch" || fail "dry run called sbatch: $(cat "$WORK/sbatch.calls")"
[ ! -e "$WORK/paper" ] && pass "dry run creates no run directory" || fail "dry run created $WORK/paper"

# --- posterior.enabled: a posterior array and its join between analyze and the report -----------------
has "posterior not enabled: not submitted" "^# posterior: not enabled \(posterior.enabled: false\), not submitted" "$out"
PP="$WORK/paper-posterior.yaml"
{ cat "$PAPER"; printf '\nposterior:\n  enabled: true\n  chains: 8\n'; } > "$PP"
out=$("$FP" "$PP" --dry-run --run-dir "$WORK/paper" --array posterior=4 2>&1) || fail "posterior dry run: $out"
sb=$(line '^sbatch ' "$out")
[ "$(wc -l <<<"$sb")" = 12 ] && pass "posterior.enabled: 12 sbatch commands (+ posterior, posterior-join)" || fail "sbatch commands: $sb"
has "posterior: array 0-3 after analyze" "--job-name=lnpsaxs-posterior .*--array=0-3 --dependency=afterok:<analyze> .*posterior.sbatch$" "$sb"
has "posterior-join: lnpsaxs-sample-posterior, 4 shards" "LNPSAXS_STAGE=sample-posterior,LNPSAXS_SHARDS=4 .*--dependency=afterok:<posterior> .*join.sbatch$" "$sb"
has "report after analyze and posterior-join" "--job-name=lnpsaxs-report .*--dependency=afterok:<analyze>:<posterior-join> .*report.sbatch$" "$sb"
has "plan: posterior chains per target and per task" "posterior: 8 HMC chains per target, 40 in all, .*10 chains per array task" "$out"
[ -x "$LNPSAXS_SRC/slurm/posterior.sbatch" ] && pass "slurm/posterior.sbatch executable" || fail "slurm/posterior.sbatch not executable"

# --- flags override the slurm: section (a CPU-only site) ------------------------------------------------
out=$("$FP" "$PAPER" --dry-run --run-dir "$WORK/paper" --gpus-per-node 0 --ntasks-per-node 32 --cpus-per-task 2 \
      --array simulate=128 --array fit=16 --time fit=08:00:00 --account naiss2026-1-1 --partition cpu 2>&1) \
  || fail "dry run with overrides: $out"
sb=$(line '^sbatch ' "$out")
! grep -q -- "--gpus-per-node" <<<"$sb" && pass "--gpus-per-node 0: no GPU request" || fail "GPU request left: $sb"
[ -z "$(grep -v -- "--account=naiss2026-1-1 --partition=cpu " <<<"$sb")" ] && pass "--account/--partition on every job" \
  || fail "account/partition missing"
has "--ntasks-per-node/--cpus-per-task override" "--ntasks-per-node=32 --cpus-per-task=2 --job-name=lnpsaxs-simulate .*--array=0-127 " "$sb"
has "--array fit=16 and --time fit=08:00:00" "--job-name=lnpsaxs-fit .*--time=08:00:00 --array=0-15 " "$sb"
has "plan: CPU nodes" "GPUs: none \(CPU nodes: 32 MPI rank\(s\) per node x 2 core\(s\) each\)" "$out"
has "plan: 264 curves per task of 128" "264 curves per array task" "$out"

# --- --from / --until -----------------------------------------------------------------------------------
out=$("$FP" "$PAPER" --dry-run --run-dir "$WORK/paper" --from fit 2>&1) || fail "--from fit dry run: $out"
sb=$(line '^sbatch ' "$out")
[ "$(wc -l <<<"$sb")" = 4 ] && has "--from fit: fit without dependency, then fit-join, analyze, report" \
  "--job-name=lnpsaxs-fit .*--array=0-7 [^ ]*fit.sbatch$" "$sb" || fail "--from fit submits: $sb"
has "--from fit: earlier stages listed as not submitted" "^# train: not submitted \(--from fit" "$out"
out=$("$FP" "$PAPER" --dry-run --run-dir "$WORK/paper" --until simulate 2>&1) || fail "--until simulate dry run: $out"
[ "$(line '^sbatch ' "$out" | wc -l)" = 3 ] && pass "--until simulate: sample, simulate, simulate-join (regenerate the training set)" \
  || fail "--until simulate: $(line '^sbatch ' "$out")"
expect_exit 2 "unknown stage 'fitt'" "$FP" "$PAPER" --dry-run --from fitt
expect_exit 2 "unknown argument '--bogus'" "$FP" "$PAPER" --dry-run --bogus
expect_exit 2 "config file .*nope.yaml not found" "$FP" "$WORK/nope.yaml" --dry-run
[ ! -e "$WORK/sbatch.calls" ] && pass "still no sbatch call" || fail "sbatch called: $(cat "$WORK/sbatch.calls")"
finish
