#!/usr/bin/env bash
# The whole pipeline on this machine (issue 7 acceptance, local half), through pipeline/run-local.sh
# on configs/ci.yaml with 2 MPI ranks:
#  1. a fresh run completes every stage (lnpsaxs-status --check, output contract, report);
#  2. a rerun skips every stage and touches no file;
#  3. --from fit with a config that adds a fit target reruns only fit and analyze (and the report):
#     the log shows sample..train skipped, the old targets' fits and analyses are untouched (sha256,
#     mtime) and only the new target's files are written; --from with an incomplete earlier stage
#     is refused;
#  4. SIGKILL of the whole process tree in the middle of simulate, then the same command: it resumes,
#     completes the pipeline, and curves.h5 holds every curve exactly once, bit-identical to an
#     uninterrupted run.
. "$(dirname "$0")/lib.sh"
RUN_LOCAL="$LNPSAXS_SRC/pipeline/run-local.sh"

# --- 1. a fresh run ----------------------------------------------------------------------------------
L="$WORK/local"
"$RUN_LOCAL" "$CI" --run-dir "$L" --np 2 > "$WORK/run1.log" 2>&1; rc=$?
[ $rc = 0 ] && pass "run-local.sh on ci.yaml exits 0" || fail "run-local.sh exit $rc: $(tail -20 "$WORK/run1.log")"
all_complete "$CI" "$L" "fresh run"
outputs_ok "$CI" "$L" "fresh run"
bad=""
for st in $ALL_STAGES; do grep -qE "^$st +ran +[0-9.]+s" "$WORK/run1.log" || bad+=" $st"; done
[ -z "$bad" ] && pass "status table: every stage ran, with its time" || fail "status table lacks 'ran' for:$bad"
grep -qE "^fit +complete +3/3 " "$WORK/run1.log" && pass "final lnpsaxs-status table: fit 3/3 complete" \
  || fail "no final state table: $(tail -12 "$WORK/run1.log")"

# --- 2. a rerun skips everything ---------------------------------------------------------------------
touch "$WORK/marker1"; sleep 0.05
"$RUN_LOCAL" "$CI" --run-dir "$L" --np 2 > "$WORK/run2.log" 2>&1 || fail "rerun failed: $(tail "$WORK/run2.log")"
bad=""
for st in $ALL_STAGES; do grep -qE "^$st +skipped \(complete\)" "$WORK/run2.log" || bad+=" $st"; done
[ -z "$bad" ] && pass "rerun: every stage skipped (complete)" || fail "rerun did not skip:$bad"$'\n'"$(cat "$WORK/run2.log")"
changed=$(newer_files "$L" "$WORK/marker1")
[ -z "$changed" ] && pass "rerun: no file in the run directory written" || fail "rerun wrote: $changed"

# --- 3. --from fit with a new target -------------------------------------------------------------------
NEW="$WORK/new-target.yaml"
# The new record goes first in fit.targets, so the old targets also change position.
sed '/^  targets:$/a\    - {name: gold_sphere_q003, file: tests/data/au_86116_cosaxs.dat, model: sphere, q_min: 0.002,\n       q_max: 0.03, restarts: 4, m_r: [50, 300], s_r: [5, 100], truncation: [10, 600]}' "$CI" > "$NEW"
[ "$(targets "$NEW" | head -1)" = gold_sphere_q003 ] && [ "$(targets "$NEW" | wc -l)" = $(($(targets "$CI" | wc -l) + 1)) ] \
  && pass "new-target.yaml = ci.yaml + target gold_sphere_q003" || fail "sed did not add the target: $(targets "$NEW")"
OLD_TARGETS=$(targets "$CI")
(cd "$L" && sha256sum fits/*/* analysis/*.h5 surrogate/* params.h5 curves.h5 curves/* targets/*) > "$WORK/before.sha"
touch "$WORK/marker2"; sleep 0.05
"$RUN_LOCAL" "$NEW" --run-dir "$L" --np 2 --from fit > "$WORK/from-fit.log" 2>&1; rc=$?
[ $rc = 0 ] && pass "--from fit with a new target exits 0" || fail "--from fit exit $rc: $(tail -20 "$WORK/from-fit.log")"
bad=""
for st in sample simulate synth train; do
  grep -q "^== $st: complete for this config, skipped (before --from fit)" "$WORK/from-fit.log" || bad+=" $st"
  grep -qE "^$st +skipped \(before --from\)" "$WORK/from-fit.log" || bad+=" $st(table)"
done
[ -z "$bad" ] && pass "--from fit: the log shows sample, simulate, synth, train skipped" || fail "--from fit log:$bad"$'\n'"$(grep -v '^20' "$WORK/from-fit.log")"
for st in fit analyze report; do
  grep -qE "^$st +ran " "$WORK/from-fit.log" && pass "--from fit: $st ran" || fail "--from fit: $st did not run"
done
for t in $OLD_TARGETS; do
  grep -qE "\[fit r0\] info: $t: .*shard-0000-of-0001.h5 is complete for this config: nothing to do" "$WORK/from-fit.log" \
    || fail "fit log does not say old target $t has nothing to do"
done
grep -qE "gold_sphere_q003: 4/4 restarts done" "$WORK/from-fit.log" && pass "fit log: only gold_sphere_q003 fitted" \
  || fail "no fit of gold_sphere_q003 in the log"
if (cd "$L" && sha256sum --quiet -c "$WORK/before.sha"); then
  pass "old targets' fits/analyses and upstream outputs byte-identical (sha256) after --from fit"
else
  fail "--from fit changed existing outputs"
fi
changed=$(newer_files "$L" "$WORK/marker2" | grep -vxE 'fits/gold_sphere_q003/[^/]+|analysis/gold_sphere_q003(\.h5|/fit\.csv|/fit\.h5)|results\.(csv|h5)|report/.*|config\.resolved\.yaml')
[ -z "$changed" ] && pass "--from fit wrote only the new target's fits/analysis, the report and the resolved config" \
  || fail "--from fit also wrote: $changed"
newer_files "$L" "$WORK/marker2" | grep -qx "fits/gold_sphere_q003/fits.h5" \
  && newer_files "$L" "$WORK/marker2" | grep -qx "analysis/gold_sphere_q003.h5" \
  && pass "new target fitted and analysed" || fail "no fits.h5 / analysis for gold_sphere_q003"
all_complete "$NEW" "$L" "after --from fit"
outputs_ok "$NEW" "$L" "after --from fit"
for st in fit analyze; do
  "$STATUS" --config "$CI" --run-dir "$L" --stage $st --check && pass "$st still complete under the old ci.yaml" \
    || fail "$st no longer complete under ci.yaml"
done
expect_exit 2 "--from fit, but the earlier stage 'sample' is not complete" "$RUN_LOCAL" "$CI" --run-dir "$WORK/empty" --from fit
expect_exit 2 "unknown stage 'fitt'" "$RUN_LOCAL" "$CI" --run-dir "$WORK/empty" --from fitt

# --- 3b. posterior.enabled: the posterior stage joins the same run ------------------------------------
PC="$WORK/posterior.yaml"
{ cat "$NEW"; printf '\nposterior:\n  enabled: true\n  chains: 2\n  warmup: 60\n  draws: 60\n  leapfrog_steps: 6\n'; } > "$PC"
"$STATUS" --config "$NEW" --run-dir "$L" --stage posterior | grep -qE "^posterior +complete .*not enabled \(posterior.enabled: false\)" \
  && pass "lnpsaxs-status: posterior not enabled by default" || fail "status of posterior: $("$STATUS" --config "$NEW" --run-dir "$L")"
"$STATUS" --config "$PC" --run-dir "$L" --stage posterior --check; rc=$?
[ $rc = 3 ] && pass "posterior.enabled: the stage is missing before it runs" || fail "posterior --check exit $rc before the run"
"$RUN_LOCAL" "$PC" --run-dir "$L" --np 2 > "$WORK/post.log" 2>&1; rc=$?
[ $rc = 0 ] && pass "run-local.sh with posterior.enabled exits 0" || fail "posterior run exit $rc: $(tail -20 "$WORK/post.log")"
bad=""
for st in sample simulate synth train fit analyze; do grep -qE "^$st +skipped \(complete\)" "$WORK/post.log" || bad+=" $st"; done
[ -z "$bad" ] && pass "posterior.enabled: upstream stages skipped (posterior.* is not in their fingerprints)" || fail "not skipped:$bad"
grep -qE "^posterior +ran +[0-9.]+s" "$WORK/post.log" && grep -qE "^report +ran " "$WORK/post.log" \
  && pass "posterior ran, then the report" || fail "posterior/report did not run: $(grep -E '^(posterior|report) ' "$WORK/post.log")"
bad=""
for t in $(targets "$PC"); do [ -f "$L/posterior/$t/posterior.h5" ] || bad+=" $t"; done
[ -z "$bad" ] && pass "posterior.h5 for every target" || fail "no posterior.h5 for:$bad"
head -1 "$L/results.csv" | grep -q "post_q05_m_r" && pass "results.csv has the credible intervals (post_q05_m_r ...)" \
  || fail "results.csv header: $(head -1 "$L/results.csv")"
"$STATUS" --config "$PC" --run-dir "$L" --stage posterior --check && pass "lnpsaxs-status: posterior complete" \
  || fail "posterior not complete: $("$STATUS" --config "$PC" --run-dir "$L")"
"$RUN_LOCAL" "$PC" --run-dir "$L" --np 2 > "$WORK/post2.log" 2>&1 || fail "posterior rerun failed"
grep -qE "^posterior +skipped \(complete\)" "$WORK/post2.log" && grep -qE "^report +skipped \(complete\)" "$WORK/post2.log" \
  && pass "rerun: posterior and report skipped" || fail "rerun: $(grep -E '^(posterior|report) ' "$WORK/post2.log")"

# --- 4. SIGKILL in the middle of simulate, then the same command --------------------------------------
SLOW="$WORK/slow.yaml"   # ~10 s of simulate on 2 cores, a checkpoint every 2 curves per rank
sed -e 's/^  realisations: 2$/  realisations: 48/' -e 's/^  checkpoint_items: 4$/  checkpoint_items: 2/' "$CI" > "$SLOW"
grep -q "realisations: 48" "$SLOW" && grep -q "checkpoint_items: 2" "$SLOW" || fail "slow.yaml not derived from ci.yaml"
n_train=$("$LNPSAXS_BIN/lnpsaxs-config" --config "$SLOW" --get sample.n_train)
"$RUN_LOCAL" "$SLOW" --run-dir "$WORK/ref" --np 2 --until simulate > "$WORK/ref.log" 2>&1 || fail "reference run: $(tail "$WORK/ref.log")"

K="$WORK/killed"
PART="$K/curves/shard-0000-of-0001.h5.partial"
# A new session, so that every process of the run (run-local.sh, mpiexec, the ranks, which Open MPI
# puts in process groups of their own) can be found and SIGKILLed together.
setsid bash -c 'echo $$ > "$0"; exec "$@"' "$WORK/killed.sid" "$RUN_LOCAL" "$SLOW" --run-dir "$K" --np 2 > "$WORK/k1.log" 2>&1 &
bg=$!
for _ in $(seq 1 50); do [ -s "$WORK/killed.sid" ] && break; sleep 0.1; done
sid=$(cat "$WORK/killed.sid" 2>/dev/null)
session() { [ -n "${sid:-}" ] && ps -eo pid=,sid= | awk -v s="$sid" '$2 == s { print $1 }'; }
# shellcheck disable=SC2046
trap 'kill -KILL $(session) 2> /dev/null; rm -rf "$WORK"' EXIT   # if the test stops early
trap 'exit 143' TERM INT HUP
n=0
for _ in $(seq 1 600); do  # until some batches are on disk (at most 60 s)
  sleep 0.1
  n=$(h5dump -d /train/done "$PART" 2>/dev/null | grep -o ' 1' | wc -l)
  [ "${n:-0}" -ge 16 ] && break
done
pids=$(session)
# shellcheck disable=SC2086
ranks=$(ps -o args= -p "$(echo $pids | tr ' ' ,)" 2>/dev/null | grep -cE '^[^ ]*/lnpsaxs-simulate ')
[ "$ranks" = 2 ] && pass "simulate running as 2 MPI ranks in session $sid when killed" \
  || fail "$ranks simulate ranks running in session $sid: $(ps -o pid=,args= -p "$(echo $pids | tr ' ' ,)")"
# shellcheck disable=SC2086
[ -n "$pids" ] && kill -KILL $pids
wait $bg 2>/dev/null
for _ in $(seq 1 50); do [ -z "$(session)" ] && break; sleep 0.1; done
[ -z "$(session)" ] && pass "SIGKILL: no process of the run left" || fail "processes survived SIGKILL: $(session)"
n=$(h5dump -d /train/done "$PART" 2>/dev/null | grep -o ' 1' | wc -l)
if [ -f "$PART" ] && [ ! -e "$K/curves.h5" ] && [ "$n" -gt 0 ] && [ "$n" -lt "$n_train" ]; then
  pass "killed mid-simulate: $n of $n_train training curves done, shard still .partial"
else
  fail "kill not in the middle of simulate ($n of $n_train done): $(tail -5 "$WORK/k1.log")"
fi
"$STATUS" --config "$SLOW" --run-dir "$K" --stage simulate | grep -qE "^simulate +partial .*in progress: shard-0000-of-0001.h5.partial" \
  && pass "lnpsaxs-status: simulate partial" || fail "status after kill: $("$STATUS" --config "$SLOW" --run-dir "$K")"

"$RUN_LOCAL" "$SLOW" --run-dir "$K" --np 2 > "$WORK/k2.log" 2>&1; rc=$?
[ $rc = 0 ] && pass "the same command after the kill exits 0" || fail "rerun after kill exit $rc: $(tail -20 "$WORK/k2.log")"
grep -q "^== sample: complete for this config, skipped" "$WORK/k2.log" && grep -qE "^simulate +ran" "$WORK/k2.log" \
  && pass "rerun: sample skipped, simulate ran" || fail "rerun log: $(grep '^==' "$WORK/k2.log")"
grep -q "resuming shard 0" "$WORK/k2.log" && pass "simulate: $(grep -o 'resuming shard 0.*' "$WORK/k2.log" | head -1 | sed "s|$WORK/||")" \
  || fail "simulate did not resume: $(grep 'simulate r0' "$WORK/k2.log" | head -5)"
all_complete "$SLOW" "$K" "after kill + rerun"
for ds in /train/log10_intensity /test/log10_intensity /train/theta /test/theta /q; do
  h5diff "$WORK/ref/curves.h5" "$K/curves.h5" $ds > /dev/null || fail "h5diff $ds: killed+resumed run differs from the uninterrupted one"
done && pass "h5diff: curves.h5 of the killed+resumed run = the uninterrupted run (curves, θ, q)"
out=$("$PYTHON" - "$K" <<'PY' 2>&1
import sys, h5py, numpy as np
run = sys.argv[1]
p, c = h5py.File(f"{run}/params.h5", "r"), h5py.File(f"{run}/curves.h5", "r")
s = h5py.File(f"{run}/curves/shard-0000-of-0001.h5", "r")
total = 0
for split in ("train", "test"):
    n = p[f"{split}/theta"].shape[0]
    done = s[f"{split}/done"][...]
    assert done.shape == (n,) and (done == 1).all(), (split, done)
    y, th = c[f"{split}/log10_intensity"][...], c[f"{split}/theta"][...]
    assert y.shape[0] == n and th.shape[0] == n, (split, y.shape, th.shape)
    assert np.array_equal(th, p[f"{split}/theta"][...]), f"{split}: theta rows not in params.h5 order"
    assert np.isfinite(y).all() and (y != 0).any(axis=1).all(), f"{split}: unwritten rows"
    assert np.unique(y, axis=0).shape[0] == n, f"{split}: duplicated curves"
    total += n
print(f"{total} curves, each once, in item order")
PY
) && pass "resumed curves.h5: $out" || fail "resumed curves.h5: $out"
finish
