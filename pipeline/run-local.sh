#!/usr/bin/env bash
# Runs the pipeline on this machine with mpiexec (the embedded default; docs/architecture.md §10).
#
#   pipeline/run-local.sh CONFIG [--from STAGE] [--only STAGE] [--until STAGE] [--np N]
#                                [--shards N] [--run-dir DIR] [--force]
#   pipeline/run-local.sh CONFIG status [--run-dir DIR]
#
# Stages run in order: sample simulate synth train fit analyze posterior report. A stage whose outputs
# are complete for this config is skipped (lnpsaxs-status); a killed stage resumes from its
# checkpoint when the same command is rerun. --from S runs S and every later stage (earlier ones
# must be complete); --only S runs S alone; --until S stops after S; --force remakes outputs.
# The report is redone when an analysis or posterior file is newer than report/index.html.
# Stages no fit target needs are not run: sample, simulate and train only for a surrogate target,
# synth only for a synth: target (a batch of sphere fits runs fit, analyze and report alone);
# posterior (lnpsaxs-sample-posterior) only with posterior.enabled: true.
# --shards N runs fit as N shards one after another (each on N ranks, as N SLURM array tasks would;
# the last joins them): the global split of targets x restarts, tested like a cluster run.
# Prints a status table at the end (stage, action, time, state, output).
# Environment: LNPSAXS_BIN (default: build/bin), LNPSAXS_NP (default ranks: 2), LNPSAXS_PYTHON
# (the report's Python, default /usr/bin/python3).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${LNPSAXS_BIN:-$ROOT/build/bin}
STAGES=(sample simulate synth train fit analyze posterior report)

usage() { sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; }   # the comment block at the top
[ $# -ge 1 ] || { usage; exit 2; }
case "$1" in -h|--help) usage; exit 0 ;; esac
CONFIG=$1; shift
[ -f "$CONFIG" ] || { echo "run-local: error: config file $CONFIG not found" >&2; exit 2; }
FROM="" ONLY="" UNTIL="" NP=${LNPSAXS_NP:-2} RUN_DIR="" FORCE="" STATUS_ONLY="" SHARDS=1
while [ $# -gt 0 ]; do
  case "$1" in
    --from) FROM=$2; shift 2 ;;
    --only) ONLY=$2; shift 2 ;;
    --until) UNTIL=$2; shift 2 ;;
    --np) NP=$2; shift 2 ;;
    --shards) SHARDS=$2; shift 2 ;;
    --run-dir) RUN_DIR=$2; shift 2 ;;
    --force) FORCE=1; shift ;;
    status) STATUS_ONLY=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run-local: error: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
for s in "$FROM" "$ONLY" "$UNTIL"; do
  if [ -n "$s" ] && [[ ! " ${STAGES[*]} " =~ " $s " ]]; then
    echo "run-local: error: unknown stage '$s' (${STAGES[*]})" >&2; exit 2
  fi
done
[[ "$NP" =~ ^[1-9][0-9]*$ ]] || { echo "run-local: error: --np '$NP' must be a positive integer" >&2; exit 2; }
[[ "$SHARDS" =~ ^[1-9][0-9]*$ ]] || { echo "run-local: error: --shards '$SHARDS' must be a positive integer" >&2; exit 2; }
for tool in lnpsaxs-config lnpsaxs-status; do
  [ -x "$BIN/$tool" ] || { echo "run-local: error: $BIN/$tool not built (run tools/test.sh or cmake --build build)" >&2; exit 2; }
done
"$BIN/lnpsaxs-config" --config "$CONFIG" > /dev/null   # validates: one clear line and exit 2 if bad
[ -n "$RUN_DIR" ] || RUN_DIR=$("$BIN/lnpsaxs-config" --config "$CONFIG" --get run.dir)

if [ -n "$STATUS_ONLY" ]; then exec "$BIN/lnpsaxs-status" --config "$CONFIG" --run-dir "$RUN_DIR"; fi

# Which upstream stages the fit targets need (an unreadable fit.batch file stops here, exit 2).
FIT_TARGETS=$("$BIN/lnpsaxs-config" --config "$CONFIG" --fit-targets) || exit 2
NEEDS_TRAIN="" NEEDS_SYNTH=""
while read -r _name model _restarts source; do
  [ "$model" = surrogate ] && NEEDS_TRAIN=1
  [[ "$source" == synth:* ]] && NEEDS_SYNTH=1
done <<<"$FIT_TARGETS"
POSTERIOR=$("$BIN/lnpsaxs-config" --config "$CONFIG" --get posterior.enabled)
not_needed() {
  case "$1" in
    sample|simulate|train) [ -z "$NEEDS_TRAIN" ] ;;
    synth) [ -z "$NEEDS_SYNTH" ] ;;
    posterior) [ "$POSTERIOR" != true ] ;;
    *) return 1 ;;
  esac
}
why_not_needed() { [ "$1" = posterior ] && echo "not enabled (posterior.enabled: false)" || echo "not needed (no fit target reads it)"; }

# The report has no fingerprint of its own: it is out of date when an analysis file is newer.
report_stale() {
  local index="$RUN_DIR/report/index.html"
  [ -f "$index" ] || return 1
  [ -n "$(find "$RUN_DIR/analysis" -maxdepth 1 -name '*.h5' -newer "$index" 2>/dev/null | head -1)" ] ||
    [ -n "$(find "$RUN_DIR/posterior" -maxdepth 2 -name 'posterior.h5' -newer "$index" 2>/dev/null | head -1)" ]
}

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
declare -A ACTION TIME
phase=before
[ -z "$FROM" ] && [ -z "$ONLY" ] && phase=run
for stage in "${STAGES[@]}"; do
  [ "$stage" = "$FROM" ] && phase=run
  if [ -n "$ONLY" ]; then [ "$stage" = "$ONLY" ] && phase=run || phase=skip; fi
  if [ "$phase" = before ] && not_needed "$stage"; then ACTION[$stage]=$(why_not_needed "$stage" | cut -d' ' -f1-2); continue; fi
  if [ "$phase" = before ]; then
    if "$BIN/lnpsaxs-status" --config "$CONFIG" --run-dir "$RUN_DIR" --stage "$stage" --check; then
      ACTION[$stage]="skipped (before --from)"
      echo "== $stage: complete for this config, skipped (before --from $FROM)"
    else
      echo "run-local: error: --from $FROM, but the earlier stage '$stage' is not complete for this config" >&2
      "$BIN/lnpsaxs-status" --config "$CONFIG" --run-dir "$RUN_DIR"
      exit 2
    fi
    continue
  fi
  if [ "$phase" = skip ] || [ "$phase" = done ]; then ACTION[$stage]="not requested"; continue; fi
  if not_needed "$stage"; then
    ACTION[$stage]=$(why_not_needed "$stage" | cut -d' ' -f1-2)
    echo "== $stage: $(why_not_needed "$stage")"
    [ "$stage" = "$UNTIL" ] && phase=done
    continue
  fi
  note=""
  [ -z "$FORCE" ] && [ "$stage" = report ] && report_stale && note=" (out of date: an analysis or posterior file is newer than report/index.html)"
  if [ -z "$FORCE" ] && [ -z "$note" ] && "$BIN/lnpsaxs-status" --config "$CONFIG" --run-dir "$RUN_DIR" --stage "$stage" --check; then
    ACTION[$stage]="skipped (complete)"
    echo "== $stage: complete for this config, skipped"
  else
    echo "== $stage$note"
    t0=$(date +%s%N)
    args=(--config "$CONFIG" --run-dir "$RUN_DIR")   # one argument each, whatever the paths hold
    [ -n "$FORCE" ] && args+=(--force)
    if [ "$stage" = report ]; then
      "${LNPSAXS_PYTHON:-/usr/bin/python3}" "$ROOT/tools/report.py" "$RUN_DIR"
    else
      exe=lnpsaxs-$stage
      [ "$stage" = posterior ] && exe=lnpsaxs-sample-posterior
      [ -x "$BIN/$exe" ] || { echo "run-local: error: $BIN/$exe not built" >&2; exit 2; }
      set +e
      if [ "$stage" = fit ] && [ "$SHARDS" -gt 1 ]; then
        rc=0
        for ((i = 0; i < SHARDS && rc == 0; i++)); do
          echo "-- fit shard $i of $SHARDS"
          mpiexec -n "$NP" "$BIN/$exe" "${args[@]}" --shard "$i" --num-shards "$SHARDS"
          rc=$?
        done
      else
        mpiexec -n "$NP" "$BIN/$exe" "${args[@]}"
        rc=$?
      fi
      set -e
      if [ $rc -ne 0 ]; then
        echo "run-local: stage $stage failed (exit $rc); rerun the same command to resume" >&2
        "$BIN/lnpsaxs-status" --config "$CONFIG" --run-dir "$RUN_DIR"
        exit $rc
      fi
    fi
    ACTION[$stage]="ran"
    ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    TIME[$stage]=$(printf '%d.%01ds' $((ms / 1000)) $(((ms % 1000) / 100)))
  fi
  [ "$stage" = "$UNTIL" ] && phase=done
done

echo
printf '%-9s %-24s %-9s\n' stage action time
for stage in "${STAGES[@]}"; do printf '%-9s %-24s %-9s\n' "$stage" "${ACTION[$stage]}" "${TIME[$stage]:--}"; done
echo
"$BIN/lnpsaxs-status" --config "$CONFIG" --run-dir "$RUN_DIR"
