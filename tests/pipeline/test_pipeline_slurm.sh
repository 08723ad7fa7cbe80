#!/usr/bin/env bash
# The whole pipeline through a real single-node SLURM (issue 7 acceptance, cluster half): slurmctld
# and slurmd from tools/local-slurm.sh (auth/none, stopped by PID in the EXIT trap), WITHOUT the
# cluster-wide DependencyParameters=kill_invalid_depend, so that only the jobs' own
# --kill-on-invalid-dep=yes keeps dependants of a failed job from pending forever.
#  1. slurm/full_pipeline.sh on configs/ci.yaml with simulate, synth and fit as 2-task job arrays
#     (each task an srun of 2 MPI ranks): the jobs are arrays chained with afterok (scontrol while
#     pending; the jobcomp log), every job completes, every stage's outputs are complete;
#  2. its results agree with pipeline/run-local.sh --np 2 on the same config. "Agree" means:
#     - params.h5, curves.h5 (through the virtual datasets), targets/case-K.h5, surrogate.h5 and
#       the surrogate weights file: bit-identical. Both runs train on 2 ranks with 1 thread each, so
#       training is bit-for-bit reproducible; (a different rank count would change the float
#       rounding of the gradient all-reduce, see tests/train);
#     - fits and analyses of every target, analytical and surrogate: bit-identical. The restarts
#       are split differently (1 shard x 2 ranks locally, 2 array tasks x 2 ranks here); the fit
#       evaluates the network in fixed-size row blocks, so no restart's rounding depends on its batch;
#  3. a failed array task: simulate task 1 cannot create its shard (a directory sits at its
#     .partial path): the task fails, every dependent job is cancelled without running (squeue
#     empties within a minute), the independent synth branch completes; after removing the obstacle
#     the same command completes the run, complete stages saying "nothing to do", and the curves equal
#     the local run's.
# sacct does not work here (no slurmdbd: "Slurm accounting storage is disabled"); job states come
# from squeue, scontrol show job and the jobcomp/filetxt log.
. "$(dirname "$0")/lib.sh"
for tool in slurmctld slurmd sbatch squeue scontrol; do
  command -v $tool > /dev/null || skip "$tool not installed (tools/install-deps.sh installs slurm-wlm)"
done
[ "$(id -u)" = 0 ] || skip "the local SLURM runs its daemons as root"
FP="$LNPSAXS_SRC/slurm/full_pipeline.sh"
SL="$WORK/slurm"
cleanup() {
  if [ -n "${SLURM_CONF:-}" ]; then
    scancel --full $(squeue -h -o %A 2>/dev/null | sort -u) 2> /dev/null   # no job may outlive the test
    for _ in $(seq 1 30); do [ -z "$(squeue -h 2>/dev/null)" ] && break; sleep 0.5; done
  fi
  "$LNPSAXS_SRC/tools/local-slurm.sh" stop "$SL"
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 143' TERM INT HUP   # (a ctest timeout) through the EXIT trap: no daemon or job outlives the test
# Two free ports, so that the test can run beside another local SLURM.
read -r ctld_port d_port < <("$PYTHON" -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')
start_out=$(LNPSAXS_SLURMCTLD_PORT=$ctld_port LNPSAXS_SLURMD_PORT=$d_port LNPSAXS_SLURM_KILL_INVALID_DEPEND=0 \
            "$LNPSAXS_SRC/tools/local-slurm.sh" start "$SL" 2>&1) || { fail "local SLURM did not start: $start_out"; finish; }
eval "$start_out"   # export SLURM_CONF=...
[ "$(sinfo -h -o %T)" = idle ] && pass "local SLURM up (ports $ctld_port, $d_port), node idle" || fail "sinfo: $(sinfo)"
! grep -q "^DependencyParameters=kill_invalid_depend" "$SLURM_CONF" && pass "cluster without kill_invalid_depend" \
  || fail "slurm.conf still sets kill_invalid_depend"
JOBCOMP="$SL/jobcomp.txt"
SHAPE=(--ntasks-per-node 2 --array simulate=2 --array synth=2 --array fit=2)

# submitted NAME LOG: the job id full_pipeline.sh printed for NAME.
submitted() { sed -n "s/^submitted $1: job \([0-9]*\)$/\1/p" "$2"; }
# wait_empty SECONDS: until squeue lists no job; returns 1 on timeout.
wait_empty() {
  local t0=$SECONDS
  while [ -n "$(squeue -h)" ]; do
    [ $((SECONDS - t0)) -ge "$1" ] && return 1
    sleep 1
  done
  echo "$((SECONDS - t0))"
}
# jc_state JOBID [TASK]: JobState of a finished job (or array task) in the jobcomp log.
jc_state() {
  if [ $# = 2 ]; then grep -E "ArrayJobId=$1 ArrayTaskId=$2 " "$JOBCOMP" | sed -n 's/.* JobState=\([A-Z_]*\) .*/\1/p' | tail -1
  else grep -E "^JobId=$1 " "$JOBCOMP" | sed -n 's/.* JobState=\([A-Z_]*\) .*/\1/p' | tail -1; fi
}

# --- the local reference run ----------------------------------------------------------------------------
L="$WORK/local"
pipeline/run-local.sh "$CI" --run-dir "$L" --np 2 > "$WORK/local.log" 2>&1 || fail "local run: $(tail -20 "$WORK/local.log")"

# --- 1. the SLURM run -----------------------------------------------------------------------------------
S="$WORK/slurm-run"
"$FP" "$CI" --run-dir "$S" "${SHAPE[@]}" > "$WORK/submit.log" 2>&1 || fail "full_pipeline.sh: $(cat "$WORK/submit.log")"
declare -A J
for name in sample simulate simulate-join synth synth-join train fit fit-join analyze report; do J[$name]=$(submitted "$name" "$WORK/submit.log"); done
# While the chain is pending: arrays and dependencies as slurmctld holds them.
for name in simulate synth fit train fit-join analyze report simulate-join; do
  scontrol show job "${J[$name]}" > "$WORK/show-$name.txt" 2>&1
done
[ "$(grep -c '^submitted ' "$WORK/submit.log")" = 10 ] && pass "10 jobs submitted (7 stages + 3 joins)" \
  || fail "submission: $(cat "$WORK/submit.log")"
arrays=""
for name in simulate synth fit; do
  grep -qE "ArrayJobId=${J[$name]} ArrayTaskId=(0-1|[01]) " "$WORK/show-$name.txt" && arrays+=" $name"
done
[ "$arrays" = " simulate synth fit" ] && pass "simulate, synth, fit submitted as job arrays 0-1" \
  || fail "arrays:$arrays"$'\n'"$(head -3 "$WORK"/show-{simulate,synth,fit}.txt)"
deps_ok=1
chk_dep() {  # chk_dep NAME PARENT...: NAME's pending dependency names afterok on each parent
  local p
  for p in "${@:2}"; do
    grep -qE "Dependency=.*afterok:${J[$p]}(_\*)?\(unfulfilled\)" "$WORK/show-$1.txt" \
      || { deps_ok=0; fail "$1 does not depend afterok on $p: $(grep -o 'Dependency=[^ ]*' "$WORK/show-$1.txt")"; }
  done
}
chk_dep train simulate-join; chk_dep fit train synth-join; chk_dep fit-join fit; chk_dep analyze fit-join; chk_dep report analyze
[ $deps_ok = 1 ] && pass "afterok chain while pending: train<-simulate-join, fit<-train+synth-join, fit-join<-fit, analyze<-fit-join, report<-analyze"

if t=$(wait_empty 300); then pass "SLURM run finished in ${t}s (squeue empty)"; else fail "jobs still queued after 300 s: $(squeue)"; fi
bad=""
for name in sample simulate-join synth-join train fit-join analyze report; do
  [ "$(jc_state "${J[$name]}")" = COMPLETED ] || bad+=" $name=$(jc_state "${J[$name]}")"
done
for name in simulate synth fit; do
  for task in 0 1; do [ "$(jc_state "${J[$name]}" $task)" = COMPLETED ] || bad+=" ${name}_$task=$(jc_state "${J[$name]}" $task)"; done
done
[ -z "$bad" ] && pass "jobcomp: every job and array task COMPLETED" || fail "jobcomp:$bad"$'\n'"$(tail -n 15 "$S"/slurm-logs/*.out)"
bad=""
for name in simulate synth fit; do
  for task in 0 1; do
    log="$S/slurm-logs/lnpsaxs-$name-${J[$name]}_$task.out"
    # simulate and fit log "shard i/2 on 2 rank(s)"; synth logs "case K particles (shard i)".
    grep -qE "\[$name r0\] info: .*(shard $task/2 on 2 rank\(s\)|particles \(shard $task\): )" "$log" 2>/dev/null \
      || bad+=" ${name}_$task"
  done
done
[ -z "$bad" ] && pass "each array task ran its own shard i of 2 (simulate, fit: as 2 MPI ranks under srun)" \
  || fail "array task logs:$bad"
all_complete "$CI" "$S" "SLURM run"
outputs_ok "$CI" "$S" "SLURM run"
ls "$S"/curves/shard-000[01]-of-0002.h5 > /dev/null 2>&1 && h5dump -p -H -d /train/log10_intensity "$S/curves.h5" | grep -q VIRTUAL \
  && pass "curves.h5 joins 2 shards with a virtual dataset" || fail "curves shards / VDS"

# --- 2. agreement with the local run ----------------------------------------------------------------------
for ds in /train/log10_intensity /test/log10_intensity /train/theta /test/theta /q; do
  h5diff "$L/curves.h5" "$S/curves.h5" $ds > /dev/null || fail "h5diff curves.h5 $ds: SLURM run differs from the local run"
done && pass "h5diff: curves.h5 (2 shards via SLURM) = local run (1 shard)"
agree "params.h5 identical" 0 "$L/params.h5" "$S/params.h5"
for f in "$L"/targets/case-*.h5; do agree "synth $(basename "$f") identical" 0 "$f" "$S/targets/$(basename "$f")"; done
agree "surrogate.h5 identical" 0 "$L/surrogate/surrogate.h5" "$S/surrogate/surrogate.h5"
for w in "$L"/surrogate/*.pt; do
  cmp -s "$w" "$S/surrogate/$(basename "$w")" && pass "surrogate weights $(basename "$w") byte-identical" || fail "weights $(basename "$w") differ"
done
for t in $(targets "$CI"); do
  agree "fits/$t ($(target_model "$CI" "$t")) identical" 0 "$L/fits/$t/fits.h5" "$S/fits/$t/fits.h5"
  agree "analysis/$t identical" 0 "$L/analysis/$t.h5" "$S/analysis/$t.h5"
done

# --- 3. a failed array task, then a resubmission ----------------------------------------------------------
F="$WORK/slurm-fail"
mkdir -p "$F/curves/shard-0001-of-0002.h5.partial"   # simulate task 1 cannot create its shard file
"$FP" "$CI" --run-dir "$F" "${SHAPE[@]}" > "$WORK/submit-fail.log" 2>&1 || fail "full_pipeline.sh: $(cat "$WORK/submit-fail.log")"
declare -A JF
for name in sample simulate simulate-join synth synth-join train fit fit-join analyze report; do JF[$name]=$(submitted "$name" "$WORK/submit-fail.log"); done
if t=$(wait_empty 120); then pass "failed array task: no job pends (squeue empty after ${t}s)"
else fail "jobs pend after a failed array task: $(squeue -o '%i %T %r')"; fi
[ "$(jc_state "${JF[simulate]}" 1)" = FAILED ] && [ "$(jc_state "${JF[simulate]}" 0)" = COMPLETED ] \
  && pass "simulate task 1 FAILED, task 0 COMPLETED" || fail "simulate tasks: $(jc_state "${JF[simulate]}" 0) $(jc_state "${JF[simulate]}" 1)"
grep -Eq "(cannot create HDF5 file|cannot write) .*shard-0001-of-0002.h5.partial" "$F/slurm-logs/lnpsaxs-simulate-${JF[simulate]}_1.out" \
  && pass "task 1's log names the file at fault" || fail "task 1 log: $(head "$F/slurm-logs/lnpsaxs-simulate-${JF[simulate]}_1.out")"
bad=""
for name in simulate-join train fit fit-join analyze report; do
  [ "$(jc_state "${JF[$name]}")" = CANCELLED ] || bad+=" $name=$(jc_state "${JF[$name]}")"
  grep -E "^JobId=${JF[$name]} " "$JOBCOMP" | grep -q " NodeCnt=0 " || bad+=" $name(ran)"
  ls "$F/slurm-logs/lnpsaxs-$name-${JF[$name]}"*.out > /dev/null 2>&1 && bad+=" $name(log)"
done
[ -z "$bad" ] && pass "every dependent job CANCELLED without running" || fail "dependants:$bad"
[ "$(jc_state "${JF[synth-join]}")" = COMPLETED ] && pass "independent branch (synth, synth-join) completed" \
  || fail "synth-join: $(jc_state "${JF[synth-join]}")"
"$STATUS" --config "$CI" --run-dir "$F" --stage train --check; [ $? = 3 ] && ! "$STATUS" --config "$CI" --run-dir "$F" --stage simulate --check \
  && pass "status: simulate and train not complete" || fail "status after the failure: $("$STATUS" --config "$CI" --run-dir "$F")"

rmdir "$F/curves/shard-0001-of-0002.h5.partial"
"$FP" "$CI" --run-dir "$F" "${SHAPE[@]}" > "$WORK/resubmit.log" 2>&1 || fail "resubmission: $(cat "$WORK/resubmit.log")"
declare -A JR
for name in sample simulate synth-join fit-join report; do JR[$name]=$(submitted "$name" "$WORK/resubmit.log"); done
if t=$(wait_empty 300); then pass "resubmission finished in ${t}s"; else fail "resubmission still queued after 300 s: $(squeue)"; fi
bad=""
for name in sample synth-join fit-join report; do [ "$(jc_state "${JR[$name]}")" = COMPLETED ] || bad+=" $name"; done
[ -z "$bad" ] && pass "resubmission: every job COMPLETED" || fail "resubmission: not completed:$bad"
grep -q "params.h5 is complete for this config .*nothing to do" "$F/slurm-logs/lnpsaxs-sample-${JR[sample]}.out" \
  && grep -q "shard-0000-of-0002.h5 is complete for this config .*nothing to do" "$F/slurm-logs/lnpsaxs-simulate-${JR[simulate]}_0.out" \
  && pass "resubmission: complete stages and shards say 'nothing to do'" || fail "resubmission redid complete work"
all_complete "$CI" "$F" "resubmitted run"
for ds in /train/log10_intensity /test/log10_intensity; do
  h5diff "$L/curves.h5" "$F/curves.h5" $ds > /dev/null || fail "h5diff $ds: resubmitted run differs from the local run"
done && pass "h5diff: curves of the failed+resubmitted run = local run"
for t in $(targets "$CI"); do
  agree "resubmitted fits/$t identical" 0 "$L/fits/$t/fits.h5" "$F/fits/$t/fits.h5"
done
finish
