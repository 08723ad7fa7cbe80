#!/usr/bin/env bash
# Submits the whole lnpsaxs pipeline to SLURM: one job per stage, chained with
# --dependency=afterok; simulate, synth, fit and posterior as job arrays (one shard per array task,
# each an MPI job launched with srun; one rank per GPU on GPU nodes), each followed by a join job.
# posterior (lnpsaxs-sample-posterior) is submitted only with posterior.enabled: true.
#
#   slurm/full_pipeline.sh CONFIG [--from STAGE] [--until STAGE] [--dry-run] [--force]
#       [--run-dir DIR] [--bin DIR] [--account A] [--partition P] [--gpus-per-node G]
#       [--ntasks-per-node N] [--cpus-per-task C] [--array STAGE=N] [--time STAGE=HH:MM:SS]
#
# Resources come from the config's `slurm:` section; the flags override it. --dry-run prints the
# plan and the sbatch commands without submitting. --from S submits S and later stages only (the
# earlier ones must be complete in the run directory). Stages whose outputs are complete say
# "nothing to do" and finish at once, so resubmitting after a failure continues the run.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
STAGES=(sample simulate synth train fit analyze posterior report)
usage() { sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; }   # the comment block at the top
[ $# -ge 1 ] || { usage; exit 2; }
case "$1" in -h|--help) usage; exit 0 ;; esac
CONFIG=$1; shift
[ -f "$CONFIG" ] || { echo "full_pipeline: error: config file $CONFIG not found" >&2; exit 2; }
CONFIG=$(cd "$(dirname "$CONFIG")" && pwd)/$(basename "$CONFIG")
BIN=${LNPSAXS_BIN:-$SRC/build/bin}
FROM="" UNTIL="" DRY="" FORCE="" RUN_DIR=""
declare -A OVR ARRAY TIME
while [ $# -gt 0 ]; do
  case "$1" in
    --from) FROM=$2; shift 2 ;;
    --until) UNTIL=$2; shift 2 ;;
    --dry-run) DRY=1; shift ;;
    --force) FORCE=1; shift ;;
    --run-dir) RUN_DIR=$2; shift 2 ;;
    --bin) BIN=$(cd "$2" && pwd); shift 2 ;;
    --account|--partition|--gpus-per-node|--ntasks-per-node|--cpus-per-task) OVR[${1#--}]=$2; shift 2 ;;
    --array) ARRAY[${2%%=*}]=${2#*=}; shift 2 ;;
    --time) TIME[${2%%=*}]=${2#*=}; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "full_pipeline: error: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
for s in "$FROM" "$UNTIL"; do
  if [ -n "$s" ] && [[ ! " ${STAGES[*]} " =~ " $s " ]]; then
    echo "full_pipeline: error: unknown stage '$s' (${STAGES[*]})" >&2; exit 2
  fi
done
[ -x "$BIN/lnpsaxs-config" ] || { echo "full_pipeline: error: $BIN/lnpsaxs-config not built (cmake --build build)" >&2; exit 2; }
get() { "$BIN/lnpsaxs-config" --config "$CONFIG" --get "$1"; }
get run.dir > /dev/null   # validates the config: one clear line and exit 2 if bad
[ -n "$RUN_DIR" ] || RUN_DIR=$(get run.dir)
case "$RUN_DIR" in /*) ;; *) RUN_DIR=$PWD/$RUN_DIR ;; esac

opt() { if [ -n "${OVR[$1]:-}" ]; then echo "${OVR[$1]}"; else get "slurm.${1//-/_}"; fi; }
ACCOUNT=$(opt account); PARTITION=$(opt partition); GPUS=$(opt gpus-per-node)
NTASKS=$(opt ntasks-per-node); CPUS=$(opt cpus-per-task); NODES=$(get slurm.nodes)
SIGNAL=$(get slurm.signal_seconds); EXTRA=$(get slurm.extra); SETUP=$(get slurm.setup)
[ "$GPUS" -gt 0 ] && NTASKS=$GPUS   # one MPI rank per GPU
for s in simulate synth fit posterior; do [ -n "${ARRAY[$s]:-}" ] || ARRAY[$s]=$(get "slurm.array.$s"); done
for s in "${STAGES[@]}"; do [ -n "${TIME[$s]:-}" ] || TIME[$s]=$(get "slurm.time.$s"); done

# --- the plan ----------------------------------------------------------------------------------
commas() { local n=$1 out=""; while [ ${#n} -gt 3 ]; do out=",${n: -3}$out"; n=${n:0:${#n}-3}; done; echo "$n$out"; }
selected=() phase=$([ -n "$FROM" ] && echo before || echo run)
for s in "${STAGES[@]}"; do
  [ "$s" = "$FROM" ] && phase=run
  [ "$phase" = run ] && selected+=("$s")
  [ "$s" = "$UNTIL" ] && [ "$phase" = run ] && phase=done
done
n_train=$(get sample.n_train); n_test=$(get sample.n_test); n_curves=$((n_train + n_test))
# Every fit target, fit.batch members expanded (an unreadable batch file stops here, exit 2):
# NAME MODEL RESTARTS SOURCE per line (lnpsaxs-config --fit-targets).
FIT_TARGETS=$("$BIN/lnpsaxs-config" --config "$CONFIG" --fit-targets) || exit 2
fit_summary="" n_targets=0 n_restarts=0 NEEDS_TRAIN="" NEEDS_SYNTH=""
while read -r name model r source; do
  [ -n "$name" ] || continue
  [ "$model" = surrogate ] && NEEDS_TRAIN=1
  [[ "$source" == synth:* ]] && NEEDS_SYNTH=1
  n_targets=$((n_targets + 1)); n_restarts=$((n_restarts + r))
  if [ "$n_targets" -le 12 ]; then fit_summary+="${fit_summary:+, }$name ($model, $(commas "$r"))"
  elif [ "$n_targets" = 13 ]; then fit_summary+=", ..."; fi
done <<<"$FIT_TARGETS"
# Stages no fit target reads are not submitted (a sphere batch needs no surrogate, no synth), nor
# posterior unless posterior.enabled.
POSTERIOR=$(get posterior.enabled)
not_needed() {
  case "$1" in
    sample|simulate|train) [ -z "$NEEDS_TRAIN" ] ;;
    synth) [ -z "$NEEDS_SYNTH" ] ;;
    posterior) [ "$POSTERIOR" != true ] ;;
    *) return 1 ;;
  esac
}
kept=()
for s in "${selected[@]}"; do not_needed "$s" || kept+=("$s"); done
selected=("${kept[@]}")
per_task() { echo $(( ($1 + $2 - 1) / $2 )); }
echo "lnpsaxs pipeline plan for $CONFIG"
echo "  run directory: $RUN_DIR"
echo "  sample:   $(commas "$n_train") training + $(commas "$n_test") held-out test θ (Sobol, $(get sample.randomisation))"
echo "  simulate: $(commas "$n_train") + $(commas "$n_test") = $(commas "$n_curves") curves; n = $(get simulate.realisations) realisations per curve;" \
     "N = $(get simulate.grid_n) ($(get simulate.grid_n)^3 voxels of $(get simulate.dx) Å), N_f = $(get simulate.n_fft), $(get q.n) q points;" \
     "$(commas "$(per_task "$n_curves" "${ARRAY[simulate]}")") curves per array task"
echo "  synth:    Table S2 cases [$(get synth.cases)] x $(commas "$(get synth.particles)") particles"
echo "  train:    surrogate width $(get train.width) x $(get train.blocks) residual blocks, $(commas "$(get train.epochs)") epochs, global batch $(get train.batch_size)"
echo "  fit:      $n_targets target(s), $(commas "$n_restarts") restarts in all: ${fit_summary:-none};" \
     "$(commas "$(per_task "$n_restarts" "${ARRAY[fit]}")") restarts per array task (targets x restarts split by global index)"
if [ "$POSTERIOR" = true ]; then
  n_chains=$((n_targets * $(get posterior.chains)))
  echo "  posterior: $(get posterior.chains) HMC chains per target, $(commas "$n_chains") in all, $(get posterior.warmup) warm-up + $(get posterior.draws) draws x $(get posterior.leapfrog_steps) leapfrog steps;" \
       "$(commas "$(per_task "$n_chains" "${ARRAY[posterior]}")") chains per array task"
fi
echo "  analyze:  per target; report: $RUN_DIR/report/index.html"
echo
ranks_shape="$NODES x $NTASKS x $CPUS"
gpus_job=$((GPUS * NODES))
printf '  %-14s %-14s %-22s %-24s %s\n' job array "nodes x ranks x cores" GPUs "time limit"
row() {  # row NAME ARRAY_SIZE(0: none) mpi|single TIME
  local arr=- shape="1 x 1 x 1" gpus=0
  [ "$2" -gt 0 ] && arr="0-$(($2 - 1)) ($2)"
  if [ "$3" = mpi ]; then
    shape=$ranks_shape; gpus=$gpus_job
    [ "$2" -gt 0 ] && [ "$gpus_job" -gt 0 ] && gpus="$gpus_job per task, $(( gpus_job * $2 )) in all"
  fi
  printf '  %-14s %-14s %-22s %-24s %s\n' "$1" "$arr" "$shape" "$gpus" "$4"
}
total_gpus=0
for s in "${selected[@]}"; do
  case "$s" in
    sample|report) row "$s" 0 single "${TIME[$s]}" ;;
    simulate|synth|fit|posterior) row "$s" "${ARRAY[$s]}" mpi "${TIME[$s]}"; row "$s-join" 0 single 00:30:00
                        total_gpus=$((total_gpus + gpus_job * ARRAY[$s])) ;;
    train|analyze) row "$s" 0 mpi "${TIME[$s]}"; total_gpus=$((total_gpus + gpus_job)) ;;
  esac
done
if [ "$GPUS" -gt 0 ]; then
  echo "  GPUs: $GPUS per node, one MPI rank per GPU; $total_gpus GPU allocations over the submitted jobs (array tasks run as the queue allows)"
else
  echo "  GPUs: none (CPU nodes: $NTASKS MPI rank(s) per node x $CPUS core(s) each)"
fi
echo "  account: ${ACCOUNT:-(site default)}; partition: ${PARTITION:-(site default)}; stop and requeue $SIGNAL s before the time limit"
[ -n "$SETUP" ] && echo "  set-up before every stage: $SETUP"
echo

# --kill-on-invalid-dep=yes: a job whose dependency can never be met (a parent failed) is
# cancelled instead of pending forever, whatever the site's DependencyParameters.
common=(--parsable --kill-on-invalid-dep=yes --signal="B:USR1@$SIGNAL")
[ -n "$ACCOUNT" ] && common+=(--account="$ACCOUNT")
[ -n "$PARTITION" ] && common+=(--partition="$PARTITION")
mpi_job=(--nodes="$NODES" --ntasks-per-node="$NTASKS" --cpus-per-task="$CPUS")
[ "$GPUS" -gt 0 ] && mpi_job+=(--gpus-per-node="$GPUS")
single_job=(--nodes=1 --ntasks=1 --cpus-per-task=1)
# shellcheck disable=SC2206
[ -n "$EXTRA" ] && common+=($EXTRA)
export_vars="ALL,LNPSAXS_CONFIG=$CONFIG,LNPSAXS_RUN_DIR=$RUN_DIR,LNPSAXS_BIN=$BIN,LNPSAXS_SRC=$SRC"
[ -n "$FORCE" ] && export_vars+=",LNPSAXS_FORCE=1"
export LNPSAXS_SETUP="$SETUP"
[ -n "$DRY" ] || mkdir -p "$RUN_DIR/slurm-logs"

declare -A JOB
n_fake=0
# submit NAME SCRIPT DEPS mpi|single [extra sbatch args...]: prints and (unless --dry-run) submits.
# EXPORT_EXTRA (",VAR=value...") is added to the job's environment.
EXPORT_EXTRA=""
submit() {
  local name=$1 script=$2 deps=$3 kind=$4; shift 4
  local shape=("${mpi_job[@]}")
  [ "$kind" = single ] && shape=("${single_job[@]}")
  local out="$RUN_DIR/slurm-logs/%x-%j.out"
  [[ " $* " == *" --array="* ]] && out="$RUN_DIR/slurm-logs/%x-%A_%a.out"
  local args=("${common[@]}" "${shape[@]}" --job-name="lnpsaxs-$name" --output="$out" --export="$export_vars$EXPORT_EXTRA" "$@")
  [ -n "$deps" ] && args+=(--dependency="afterok:$deps")
  if [ -n "$DRY" ]; then
    n_fake=$((n_fake + 1))
    JOB[$name]="<$name>"
    echo "sbatch ${args[*]} $SRC/slurm/$script"
  else
    JOB[$name]=$(sbatch "${args[@]}" "$SRC/slurm/$script")
    echo "submitted $name: job ${JOB[$name]}"
  fi
}
dep() { local out="" j; for j in "$@"; do [ -n "${JOB[$j]:-}" ] && out="${out:+$out:}${JOB[$j]}"; done; echo "$out"; }

phase=$([ -n "$FROM" ] && echo before || echo run)
for stage in "${STAGES[@]}"; do
  [ "$stage" = "$FROM" ] && phase=run
  if [ "$phase" = before ] && not_needed "$stage"; then continue; fi
  if [ "$phase" = before ]; then
    if [ -z "$DRY" ] && ! "$BIN/lnpsaxs-status" --config "$CONFIG" --run-dir "$RUN_DIR" --stage "$stage" --check; then
      echo "full_pipeline: error: --from $FROM, but the earlier stage '$stage' is not complete in $RUN_DIR" >&2
      exit 2
    fi
    if [ -n "$DRY" ]; then echo "# $stage: not submitted (--from $FROM; it must be complete in $RUN_DIR)"
    else echo "# $stage: complete, not submitted (--from $FROM)"; fi
    continue
  fi
  [ "$phase" = done ] && break
  if not_needed "$stage"; then
    if [ "$stage" = posterior ]; then echo "# posterior: not enabled (posterior.enabled: false), not submitted"
    else echo "# $stage: not needed (no fit target reads it), not submitted"; fi
    [ "$stage" = "$UNTIL" ] && phase=done
    continue
  fi
  case "$stage" in
    sample) submit sample sample.sbatch "" single --time="${TIME[sample]}" ;;
    simulate|synth|fit)
      case "$stage" in simulate) d=$(dep sample) ;; synth) d="" ;; fit) d=$(dep train synth-join) ;; esac
      submit "$stage" "$stage.sbatch" "$d" mpi --time="${TIME[$stage]}" --array="0-$((ARRAY[$stage] - 1))"
      EXPORT_EXTRA=",LNPSAXS_STAGE=$stage,LNPSAXS_SHARDS=${ARRAY[$stage]}"
      submit "$stage-join" join.sbatch "$(dep "$stage")" single --time=00:30:00
      EXPORT_EXTRA="" ;;
    train) submit train train.sbatch "$(dep simulate-join)" mpi --time="${TIME[train]}" ;;
    analyze) submit analyze analyze.sbatch "$(dep fit-join)" mpi --time="${TIME[analyze]}" ;;
    posterior)  # chains start from analyze's medoids; the join adds the intervals to results.csv
      submit posterior posterior.sbatch "$(dep analyze)" mpi --time="${TIME[posterior]}" --array="0-$((ARRAY[posterior] - 1))"
      EXPORT_EXTRA=",LNPSAXS_STAGE=sample-posterior,LNPSAXS_SHARDS=${ARRAY[posterior]}"
      submit posterior-join join.sbatch "$(dep posterior)" single --time=00:30:00
      EXPORT_EXTRA="" ;;
    report) submit report report.sbatch "$(dep analyze posterior-join)" single --time="${TIME[report]}" ;;
  esac
  [ "$stage" = "$UNTIL" ] && phase=done
done
[ -n "$DRY" ] && echo && echo "(dry run: nothing submitted)"
if [ -z "$DRY" ]; then
  echo
  echo "follow with: squeue -u \$USER; logs in $RUN_DIR/slurm-logs; state: $BIN/lnpsaxs-status --config $CONFIG --run-dir $RUN_DIR"
fi
