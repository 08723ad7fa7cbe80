#!/usr/bin/env bash
# lnpsaxs-sample end to end: paper-size design, attributes, idempotent rerun, refusal of a changed
# config, --force, 1 rank vs 2 ranks bit-identical.
. "$(dirname "$0")/lib.sh"
S="$LNPSAXS_BIN/lnpsaxs-sample"

R="$WORK/paper"
out=$("$S" --config "$LNPSAXS_SRC/configs/paper.yaml" --run-dir "$R" 2>&1) || fail "paper run failed: $out"
[ -f "$R/params.h5" ] && [ ! -e "$R/params.h5.partial" ] && pass "params.h5 written, no .partial left" || fail "params.h5 missing"
[ -f "$R/config.resolved.yaml" ] && pass "resolved config written" || fail "config.resolved.yaml missing"
h5dump -A "$R/params.h5" > "$WORK/attrs.txt" || fail "h5dump -A failed"
for a in schema_version stage config_sha256 lnpsaxs_version created_utc complete parameter_names; do
  grep -q "ATTRIBUTE \"$a\"" "$WORK/attrs.txt" && pass "attribute $a" || fail "attribute $a missing"
done
h5dump -H -d /train/theta "$R/params.h5" | grep -q "( 32768, 9 )" && pass "train 32768 x 9" || fail "train shape"
h5dump -H -d /test/theta_unit "$R/params.h5" | grep -q "( 1024, 9 )" && pass "test 1024 x 9" || fail "test shape"

# Second run with the same config: a no-op that says so, file untouched.
before=$(stat -c %Y.%s "$R/params.h5")
out=$("$S" --config "$LNPSAXS_SRC/configs/paper.yaml" --run-dir "$R" 2>&1)
grep -q "nothing to do" <<<"$out" && [ "$before" = "$(stat -c %Y.%s "$R/params.h5")" ] \
  && pass "rerun is a no-op" || fail "rerun not a no-op: $out"

# Same config except the run directory key: still the same stage fingerprint.
sed 's#dir: runs/paper#dir: somewhere/else#' "$LNPSAXS_SRC/configs/paper.yaml" > "$WORK/moved.yaml"
out=$("$S" --config "$WORK/moved.yaml" --run-dir "$R" 2>&1)
grep -q "nothing to do" <<<"$out" && pass "run.dir does not change the fingerprint" || fail "moved: $out"

# Changed config: refused without --force (exit 2, one line), accepted with it.
sed 's/n_test: 1024/n_test: 512/' "$LNPSAXS_SRC/configs/paper.yaml" > "$WORK/changed.yaml"
expect_exit 2 "different config.*--force" "$S" --config "$WORK/changed.yaml" --run-dir "$R"
"$S" --config "$WORK/changed.yaml" --run-dir "$R" --force > /dev/null 2>&1 && \
  h5dump -H -d /test/theta "$R/params.h5" | grep -q "( 512, 9 )" && pass "--force remakes" || fail "--force"

# 1 rank and 2 ranks give bit-identical designs.
"$S" --config "$LNPSAXS_SRC/configs/ci.yaml" --run-dir "$WORK/np1" > /dev/null 2>&1 || fail "np1 run"
$LNPSAXS_MPIEXEC -n 2 "$S" --config "$LNPSAXS_SRC/configs/ci.yaml" --run-dir "$WORK/np2" > /dev/null 2>&1 || fail "np2 run"
for d in /train/theta /test/theta /train/theta_unit; do
  h5diff "$WORK/np1/params.h5" "$WORK/np2/params.h5" "$d" > /dev/null && pass "np1 == np2 for $d" || fail "np1 != np2 for $d"
done
finish
