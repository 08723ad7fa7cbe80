#!/usr/bin/env bash
# The shell scripts users run (issue 18):
#  1. --help of every script in slurm/, pipeline/ and tools/ prints its usage text (the comment
#     block at its top), exits 0 and runs nothing: no code lines (`set -euo pipefail`, `ROOT=`);
#  2. a config file and a run directory whose paths hold spaces go through the SLURM job scripts
#     (slurm/*.sbatch with slurm/lib.sh, srun replaced by a stand-in that runs the step),
#     pipeline/run-local.sh and slurm/full_pipeline.sh --dry-run as one argument each;
#  3. Python is one rule: ${LNPSAXS_PYTHON:-/usr/bin/python3} (the report job runs $LNPSAXS_PYTHON;
#     no script names /usr/bin/python3 any other way).
. "$(dirname "$0")/lib.sh"
S="$LNPSAXS_SRC"

# --- 1. --help -------------------------------------------------------------------------------------
for f in "$S"/slurm/*.sh "$S"/pipeline/*.sh "$S"/tools/*.sh; do
  rel=${f#"$S"/}
  [ "$rel" = slurm/lib.sh ] && continue   # sourced by the job scripts, not run
  out=$(bash "$f" --help 2>&1); rc=$?
  code=$(grep -E '^(set -|[A-Za-z_]+=["$(]|[A-Za-z_]+\(\) *\{|case .* in|if \[|for [A-Za-z_]+ in|\. ")' <<<"$out" | head -3)
  if [ $rc = 0 ] && grep -qF "$rel" <<<"$out" && [ -z "$code" ] && [ "$(wc -l <<<"$out")" -ge 2 ]; then
    pass "$rel --help: usage text ($(wc -l <<<"$out") lines)"
  else
    fail "$rel --help: exit $rc, code lines: [$code]"$'\n'"$out"
  fi
done

# --- 2. paths with spaces ----------------------------------------------------------------------------
SP="$WORK/with space"
mkdir -p "$SP/conf dir" "$WORK/fakebin"
CFG="$SP/conf dir/ci config.yaml"
sed -e 's/n_train: 64/n_train: 8/' -e 's/n_test: 16/n_test: 4/' "$CI" > "$CFG"
RUN="$SP/run dir"
# srun stand-in: drops srun's own options (-n 1, --kill-on-bad-exit=1) and runs the step.
cat > "$WORK/fakebin/srun" <<'SH'
#!/usr/bin/env bash
while [ $# -gt 0 ]; do case "$1" in -n) shift 2 ;; -*) shift ;; *) break ;; esac; done
exec "$@"
SH
chmod +x "$WORK/fakebin/srun"
job() {  # job SCRIPT [VAR=value...]: runs slurm/SCRIPT as SLURM would, with the spaced paths
  local script=$1; shift
  env PATH="$WORK/fakebin:$PATH" SLURM_JOB_ID=1 LNPSAXS_CONFIG="$CFG" LNPSAXS_RUN_DIR="$RUN" \
    LNPSAXS_BIN="$LNPSAXS_BIN" LNPSAXS_SRC="$S" "$@" bash "$S/slurm/$script"
}
out=$(job sample.sbatch 2>&1) && [ -f "$RUN/params.h5" ] && pass "sample.sbatch: config and run directory with spaces" \
  || fail "sample.sbatch: $out"
ok=1
for i in 0 1; do
  out=$(job simulate.sbatch SLURM_ARRAY_JOB_ID=1 SLURM_ARRAY_TASK_ID=$i SLURM_ARRAY_TASK_COUNT=2 2>&1) \
    || { ok=""; fail "simulate.sbatch task $i: $out"; }
done
[ -n "$ok" ] && pass "simulate.sbatch: 2 array tasks"
out=$(job join.sbatch LNPSAXS_STAGE=simulate LNPSAXS_SHARDS=2 2>&1) || fail "join.sbatch: $out"
"$STATUS" --config "$CFG" --run-dir "$RUN" --stage simulate --check \
  && pass "join.sbatch: simulate complete in '$RUN'" || fail "simulate not complete: $("$STATUS" --config "$CFG" --run-dir "$RUN")"
out=$(job sample.sbatch 2>&1)
grep -q "nothing to do" <<<"$out" && pass "sample.sbatch rerun: nothing to do" || fail "sample rerun: $out"
out=$(job sample.sbatch LNPSAXS_FORCE=1 2>&1)
grep -q -- "--force" <<<"$out" && ! grep -q "nothing to do" <<<"$out" && [ -f "$RUN/params.h5" ] \
  && pass "LNPSAXS_FORCE=1: --force reaches the stage (params.h5 remade)" || fail "LNPSAXS_FORCE: $out"

out=$("$S/pipeline/run-local.sh" "$CFG" --run-dir "$SP/local run" --only sample --np 1 2>&1) \
  && [ -f "$SP/local run/params.h5" ] && pass "run-local.sh: config and run directory with spaces" || fail "run-local.sh: $out"

out=$("$S/slurm/full_pipeline.sh" "$CFG" --dry-run --run-dir "$SP/cluster run" 2>&1)
rc=$?
[ $rc = 0 ] && grep -qF "pipeline plan for $CFG" <<<"$out" && grep -qF "run directory: $SP/cluster run" <<<"$out" \
  && grep -qF -- "--export=ALL,LNPSAXS_CONFIG=$CFG,LNPSAXS_RUN_DIR=$SP/cluster run," <<<"$out" \
  && pass "full_pipeline.sh --dry-run: the spaced paths whole in the plan and the job environment" \
  || fail "full_pipeline.sh --dry-run exit $rc: $out"

# --- 3. Python: one rule -----------------------------------------------------------------------------
mkdir -p "$RUN/analysis"
cat > "$WORK/fakebin/py" <<SH
#!/usr/bin/env bash
printf '%s\n' "\$@" > "$WORK/py.args"
SH
chmod +x "$WORK/fakebin/py"
job report.sbatch LNPSAXS_PYTHON="$WORK/fakebin/py" > /dev/null 2>&1
[ "$(cat "$WORK/py.args" 2>/dev/null)" = "$S/tools/report.py"$'\n'"$RUN" ] \
  && pass "report.sbatch runs \$LNPSAXS_PYTHON with report.py and the run directory as one argument" \
  || fail "report.sbatch: python got: $(cat "$WORK/py.args" 2>/dev/null)"
debian=/usr/bin/python   # + "3": the pattern is not spelt out here, so this line does not match itself
other=$(cd "$S" && grep -rn "${debian}3" slurm pipeline tools tests --include='*.sh' --include='*.sbatch' \
  | grep -v "LNPSAXS_PYTHON:-${debian}3" | grep -vE '^[^:]+:[0-9]+: *#')
[ -z "$other" ] && pass "no script runs /usr/bin/python3 but as the \${LNPSAXS_PYTHON:-/usr/bin/python3} default" \
  || fail "Python named another way: $other"
finish
