# Sourced by every slurm/*.sbatch script. Expects in the environment (full_pipeline.sh exports
# them; set them yourself to resubmit one script by hand):
#   LNPSAXS_CONFIG   the YAML config            LNPSAXS_RUN_DIR  the run directory
#   LNPSAXS_BIN      folder of lnpsaxs-* binaries  LNPSAXS_SRC  the source checkout (for tools/)
#   LNPSAXS_SETUP    optional shell lines (module load ..., source env) run first
#   LNPSAXS_PYTHON   the Python of the report (default /usr/bin/python3, Debian's, see README)
# A job is signalled (sbatch --signal=B:USR1@S) before its time limit: the running stage is
# stopped (it checkpoints every few items, so nothing before the last batch is lost) and the job
# requeues itself; the requeued job resumes from the checkpoint.
set -uo pipefail
: "${LNPSAXS_CONFIG:?set LNPSAXS_CONFIG}" "${LNPSAXS_RUN_DIR:?set LNPSAXS_RUN_DIR}" "${LNPSAXS_BIN:?set LNPSAXS_BIN}"
eval "${LNPSAXS_SETUP:-}"
export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}
export OMPI_MCA_rmaps_base_oversubscribe=1

STEP=""
requeue() {
  local id=${SLURM_JOB_ID}
  [ -n "${SLURM_ARRAY_JOB_ID:-}" ] && id="${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}"
  echo "lnpsaxs: time limit near: stopping the stage and requeueing job $id"
  # The stage stops at its next checkpoint boundary (exit 3); then the job goes back in the queue.
  [ -n "$STEP" ] && kill -TERM "$STEP" 2>/dev/null && wait "$STEP"
  scontrol requeue "$id"
  exit 0
}
trap requeue USR1

# run_step CMD...: run one MPI step with srun across the allocation; returns its exit code.
run_step() {
  echo "lnpsaxs: $(date -u +%FT%TZ) job ${SLURM_JOB_ID} task ${SLURM_ARRAY_TASK_ID:--}: $*"
  srun --kill-on-bad-exit=1 "$@" &
  STEP=$!
  wait "$STEP"
  local rc=$?
  STEP=""
  return $rc
}

# STAGE_ARGS: the common command line of every stage, as an array so that a config or run
# directory path with spaces stays one argument: run_step "$LNPSAXS_BIN/lnpsaxs-X" "${STAGE_ARGS[@]}".
STAGE_ARGS=(--config "$LNPSAXS_CONFIG" --run-dir "$LNPSAXS_RUN_DIR")
[ -n "${LNPSAXS_FORCE:-}" ] && STAGE_ARGS+=(--force)
