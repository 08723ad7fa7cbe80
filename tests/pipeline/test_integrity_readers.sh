#!/usr/bin/env bash
# Data integrity (issue 12), the readers after simulate: train, fit, analyze, status and the report
# never compute on a virtual dataset whose source is missing, name what is wrong with a damaged
# input, and record where the unit of q of a measured curve came from.
. "$(dirname "$0")/lib.sh"
BIN="$LNPSAXS_BIN"
export OMP_NUM_THREADS=1
sed -e 's/n_train: 64/n_train: 32/' -e 's/n_test: 16/n_test: 8/' "$CI" > "$WORK/tiny.yaml"
T="$WORK/tiny.yaml"
GOLD="$LNPSAXS_SRC/tests/data/au_86116_cosaxs.dat"

# --- train on curves.h5 with a missing shard --------------------------------------------------
R="$WORK/run"
"$BIN/lnpsaxs-sample" --config "$T" --run-dir "$R" > /dev/null 2>&1 || fail "sample"
for s in 0 1; do "$BIN/lnpsaxs-simulate" --config "$T" --run-dir "$R" --shard $s --num-shards 2 > /dev/null 2>&1 || fail "simulate $s"; done
cp -r "$R" "$WORK/lost"
rm "$WORK/lost/curves/shard-0001-of-0002.h5"
expect_exit 2 "curves.h5 has a bad source: .*/curves/shard-0001-of-0002.h5 is missing.*rerun lnpsaxs-simulate" \
  "$BIN/lnpsaxs-train" --config "$T" --run-dir "$WORK/lost"
[ ! -e "$WORK/lost/surrogate/surrogate.h5" ] && pass "train made no surrogate from fill values" || fail "train wrote a surrogate"
# Every shard gone (curves.h5 copied alone): the same, naming the first missing shard.
mkdir -p "$WORK/alone" && cp "$R/params.h5" "$R/curves.h5" "$WORK/alone/"
expect_exit 2 "curves.h5 has a bad source: .*shard-0000-of-0002.h5 is missing" "$BIN/lnpsaxs-train" --config "$T" --run-dir "$WORK/alone"
# A complete training goes incomplete when its input loses a shard.
"$BIN/lnpsaxs-train" --config "$T" --run-dir "$R" > "$WORK/train.log" 2>&1 || fail "train: $(tail -3 "$WORK/train.log")"
"$STATUS" --config "$T" --run-dir "$R" --stage train --check && pass "train complete" || fail "train not complete"
mv "$R/curves/shard-0001-of-0002.h5" "$WORK/s1.bak"
"$STATUS" --config "$T" --run-dir "$R" --stage train --check; rc=$?
[ "$rc" = 3 ] && "$STATUS" --config "$T" --run-dir "$R" | grep -qE "^train +incomplete .*input stage simulate is damaged" \
  && pass "status --check: train not complete while a source of its input is missing" \
  || fail "status with a lost shard (exit $rc): $("$STATUS" --config "$T" --run-dir "$R")"
mv "$WORK/s1.bak" "$R/curves/shard-0001-of-0002.h5"

# --- fits.h5 with a missing shard, damaged fits.h5 ------------------------------------------------
FIT=("$BIN/lnpsaxs-fit" --config "$T" --run-dir "$R" --data "$GOLD" --model sphere --q-min 0.002 --q-max 0.06
     --background --restarts 12 --steps 20 --name gold)
for s in 0 1; do "${FIT[@]}" --shard $s --num-shards 2 > "$WORK/fit$s.log" 2>&1 || fail "fit shard $s: $(tail -2 "$WORK/fit$s.log")"; done
[ -f "$R/fits/gold/fits.h5" ] && pass "fit of 2 shards joined" || fail "no fits.h5: $(tail -3 "$WORK/fit1.log")"
"$PYTHON" - "$R/fits/gold/fits.h5" <<'PY' && pass "fits.h5 records the unit of q as an assumption (the gold file states none)" \
  || fail "fits.h5 lacks q_unit/q_unit_source"
import sys, h5py
a = h5py.File(sys.argv[1], "r").attrs
assert a["q_unit"] == "1/A" and str(a["q_unit_source"]).startswith("assumed"), dict(a)
PY
grep -q "no unit of q in the file: assuming 1/A (q from" "$WORK/fit0.log" && pass "the assumed unit is a warning with the q range" \
  || fail "no warning about the assumed unit: $(grep -i unit "$WORK/fit0.log")"
cp -r "$R/fits/gold" "$WORK/gold.bak"
rm "$R/fits/gold/shard-0001-of-0002.h5"
expect_exit 2 "fits.h5 has a bad source: .*fits/gold/shard-0001-of-0002.h5 is missing.*rerun lnpsaxs-fit" \
  "$BIN/lnpsaxs-analyze" --config "$T" --run-dir "$R" --target gold
printf 'not hdf5' > "$R/fits/gold/fits.h5"
expect_exit 2 "fits.h5 is not an HDF5 file: rerun lnpsaxs-fit" "$BIN/lnpsaxs-analyze" --config "$T" --run-dir "$R" --target gold
head -c 5000 "$WORK/gold.bak/fits.h5" > "$R/fits/gold/fits.h5"
expect_exit 2 "fits.h5 is truncated or damaged" "$BIN/lnpsaxs-analyze" --config "$T" --run-dir "$R" --target gold
rm -rf "$R/fits/gold" && cp -r "$WORK/gold.bak" "$R/fits/gold"
"$BIN/lnpsaxs-analyze" --config "$T" --run-dir "$R" --target gold > "$WORK/an.log" 2>&1 && pass "analyze with every shard in place" \
  || fail "analyze: $(tail -3 "$WORK/an.log")"

# --- the report refuses an analysis file with a virtual dataset over a missing source ------------
"$PYTHON" - "$R/analysis/gold.h5" "$WORK/badrep" <<'PY'
import os, shutil, sys, h5py
os.makedirs(sys.argv[2] + "/analysis")
bad = sys.argv[2] + "/analysis/gold.h5"
shutil.copy(sys.argv[1], bad)
with h5py.File(bad, "a") as f:
    lay = h5py.VirtualLayout(shape=(4,), dtype="f8")
    lay[:] = h5py.VirtualSource("gone.h5", "x", shape=(4,))
    f.create_virtual_dataset("extra", lay, fillvalue=0)
PY
out=$("$PYTHON" "$LNPSAXS_SRC/tools/report.py" "$WORK/badrep" 2>&1); rc=$?
[ "$rc" = 2 ] && grep -q "gone.h5 is missing" <<<"$out" && pass "report.py refuses an analysis file over a missing source" \
  || fail "report.py: exit $rc: $(tail -2 <<<"$out")"

# --- data given wrongly on the command line -----------------------------------------------------
expect_exit 2 "$WORK: is a directory, not a data file" "$BIN/lnpsaxs-fit" --config "$T" --run-dir "$R" --data "$WORK" --model sphere
expect_exit 2 "unexpected argument '.*au_86116_cosaxs.dat'.*--data FILE" "$BIN/lnpsaxs-fit" --config "$T" --run-dir "$R" --model sphere "$GOLD"
finish
