#!/usr/bin/env bash
# lnpsaxs-train end to end (issue 4 acceptance): outputs and their attributes, progress and summary
# lines, rerun no-op, 2 ranks ≈ 1 rank, SIGKILL mid-training + rerun = uninterrupted run, and bad
# inputs → exit 2 with one line (incomplete curves.h5, q grid ≠ config, NaN/inf rows, batch > data).
. "$LNPSAXS_SRC/tests/e2e/lib.sh"
SAMPLE="$LNPSAXS_BIN/lnpsaxs-sample"
SIM="$LNPSAXS_BIN/lnpsaxs-simulate"
TRAIN="$LNPSAXS_BIN/lnpsaxs-train"
CI="$LNPSAXS_SRC/configs/ci.yaml"
PY=$PYTHON
export OMP_NUM_THREADS=1

"$SAMPLE" --config "$CI" --run-dir "$WORK/base" > "$WORK/base.log" 2>&1 \
  && "$SIM" --config "$CI" --run-dir "$WORK/base" >> "$WORK/base.log" 2>&1 || { fail "sample/simulate: $(cat "$WORK/base.log")"; finish; }
copy_run() { cp -r "$WORK/base" "$WORK/$1"; }

# --- one rank: outputs, progress, summary ------------------------------------------------------
copy_run np1
"$TRAIN" --config "$CI" --run-dir "$WORK/np1" > "$WORK/np1.log" 2>&1 || fail "train np1: $(cat "$WORK/np1.log")"
grep -qE "epoch [0-9]+/20: loss [0-9.e+-]+, lr [0-9.e+-]+, [0-9]+ samples/s, elapsed .*, ETA" "$WORK/np1.log" \
  && pass "progress: $(grep -oE 'epoch 20/20.*' "$WORK/np1.log" | head -1)" || fail "no progress line: $(cat "$WORK/np1.log")"
grep -qE "checkpoint at epoch 5 " "$WORK/np1.log" && pass "checkpoint every 5 epochs" || fail "no checkpoint line"
grep -qE "test \(16 curves\): MALE_log mean [0-9.]+ .*RMSE_log mean [0-9.]+, RelErr_log mean" "$WORK/np1.log" \
  && pass "summary: $(grep -oE 'test \(16 curves\).*' "$WORK/np1.log")" || fail "no summary line"
[ ! -e "$WORK/np1/surrogate/train_state.pt" ] && pass "train_state.pt removed at the end" || fail "train_state.pt left behind"
$PY - "$WORK/np1" <<'PY' && pass "surrogate.h5 layout (h5py)" || fail "surrogate.h5 layout"
import sys, h5py, numpy as np
run = sys.argv[1]
f = h5py.File(run + "/surrogate/surrogate.h5", "r")
c = h5py.File(run + "/curves.h5", "r")
a = f.attrs
for k in ["schema_version", "stage", "config_sha256", "stage_sha256", "lnpsaxs_version", "created_utc", "complete"]:
    assert k in a, k
assert a["complete"] == 1 and a["stage"] == "train"
assert a["width"] == 64 and a["blocks"] == 2 and a["n_q"] == 64 and a["n_inputs"] == 9
assert np.array_equal(f["q"][...], c["q"][...])
y = c["train/log10_intensity"][...].astype(np.float64)
assert abs(a["y_mean"] - y.mean()) < 1e-6 and abs(a["y_std"] - y.std(ddof=1)) < 1e-6, (a["y_mean"], y.mean())
assert list(a["parameter_names"]) == ["delta_rho_int", "radius", "w", "m_q1", "m_q2", "s_q1", "s_q2", "shell_thickness", "rho_rel"]
assert a["box_lower"][1] == 100.0 and a["box_upper"][1] == 180.0
assert f["history/loss"].shape == (20,) and np.isfinite(f["history/loss"][...]).all()
lr = f["history/lr"][...]
assert abs(lr[0] - 1e-3) < 1e-12 and np.all(np.diff(lr) < 0)
t = f["test"]
ref = c["test/log10_intensity"][...].astype(np.float64)
pred = t["log10_intensity_pred"][...].astype(np.float64)
assert pred.shape == ref.shape == (16, 64)
d = pred - ref
male = np.abs(d).mean(1)
assert np.allclose(t["male_log"][...], male, rtol=1e-6)
assert np.allclose(t["rmse_log"][...], np.sqrt((d * d).mean(1)), rtol=1e-6)
assert np.allclose(t["relerr_log"][...], male / (ref.max(1) - ref.min(1)), rtol=1e-6)
assert abs(t.attrs["male_log_mean"] - male.mean()) < 1e-9 and abs(t.attrs["male_log_median"] - np.median(male)) < 1e-9
tf = f["train_fit"]
assert tf["male_log"].shape == (64,) and abs(tf.attrs["male_log_mean"] - tf["male_log"][...].mean()) < 1e-9
import hashlib
w = open(run + "/surrogate/" + a["weights_file"], "rb").read()
assert hashlib.sha256(w).hexdigest() == a["weights_sha256"]
PY
"$TRAIN" --config "$CI" --run-dir "$WORK/np1" 2>&1 | grep -q "nothing to do" && pass "rerun is a no-op" || fail "rerun did work"

# --- two ranks: same global batch, same result up to float rounding ----------------------------------
copy_run np2
$LNPSAXS_MPIEXEC -n 2 "$TRAIN" --config "$CI" --run-dir "$WORK/np2" > "$WORK/np2.log" 2>&1 || fail "train np2: $(cat "$WORK/np2.log")"
grep -q "2 rank(s)" "$WORK/np2.log" && pass "2 ranks logged" || fail "np2 log: $(cat "$WORK/np2.log")"
out=$($PY - "$WORK/np1" "$WORK/np2" <<'PY'
import sys, h5py, numpy as np
a, b = (h5py.File(r + "/surrogate/surrogate.h5", "r") for r in sys.argv[1:3])
d = np.abs(a["test/log10_intensity_pred"][...].astype(float) - b["test/log10_intensity_pred"][...]).max()
l = np.abs(a["history/loss"][...] / b["history/loss"][...] - 1).max()
print(f"max |pred diff| {d:.2e} log10, max loss rel diff {l:.2e}")
sys.exit(0 if d < 1e-3 and l < 1e-4 else 1)
PY
) && pass "2 ranks = 1 rank: $out" || fail "2 ranks differ from 1 rank: $out"

# --- SIGKILL mid-training, rerun resumes and ends identical to an uninterrupted run ----------------
sed -e 's/^  width: 64 /  width: 384 /' -e 's/^  blocks: 2 /  blocks: 3 /' -e 's/^  epochs: 20$/  epochs: 100/' \
    -e 's/^  checkpoint_every: 5 /  checkpoint_every: 10 /' "$CI" > "$WORK/slow.yaml"
grep -q "width: 384" "$WORK/slow.yaml" && grep -q "epochs: 100" "$WORK/slow.yaml" || fail "slow.yaml not derived from ci.yaml"
copy_run ref
copy_run killed
"$TRAIN" --config "$WORK/slow.yaml" --run-dir "$WORK/ref" > "$WORK/ref.log" 2>&1 || fail "reference run: $(cat "$WORK/ref.log")"
"$TRAIN" --config "$WORK/slow.yaml" --run-dir "$WORK/killed" > "$WORK/k1.log" 2>&1 &
pid=$!
for _ in $(seq 1 1200); do  # until a checkpoint at epoch >= 20 is on disk
  sleep 0.05
  grep -qE "checkpoint at epoch ([2-9][0-9]|1[0-9][0-9]) " "$WORK/k1.log" && break
done
sleep 0.1  # and some work beyond it, lost by the kill
kill -KILL $pid; wait $pid 2>/dev/null
last=$(grep -oE "checkpoint at epoch [0-9]+" "$WORK/k1.log" | tail -1)
[ -f "$WORK/killed/surrogate/train_state.pt" ] && [ ! -f "$WORK/killed/surrogate/surrogate.h5" ] \
  && pass "killed mid-training (last: $last)" || fail "kill did not happen mid-training: $(tail -3 "$WORK/k1.log")"
"$TRAIN" --config "$WORK/slow.yaml" --run-dir "$WORK/killed" > "$WORK/k2.log" 2>&1 || fail "resume run failed: $(cat "$WORK/k2.log")"
# The state on disk is at least as new as the last logged checkpoint (the log line follows the rename).
resumed=$(grep -oE "resuming from .*train_state.pt at epoch [0-9]+ of 100" "$WORK/k2.log" | grep -oE "epoch [0-9]+" | cut -d' ' -f2)
[ -n "$resumed" ] && [ "$resumed" -ge "${last##* }" ] && [ "$resumed" -lt 100 ] \
  && pass "$(grep -oE 'resuming from.*' "$WORK/k2.log" | sed "s|$WORK/||")" || fail "no resume line: $(cat "$WORK/k2.log")"
if h5diff "$WORK/ref/surrogate/surrogate.h5" "$WORK/killed/surrogate/surrogate.h5" /test/log10_intensity_pred > /dev/null \
   && h5diff "$WORK/ref/surrogate/surrogate.h5" "$WORK/killed/surrogate/surrogate.h5" /history/loss > /dev/null; then
  pass "resumed run = uninterrupted run (test predictions and loss history bit-identical)"
else
  fail "resumed run differs from the uninterrupted run"
fi
cmp -s "$WORK/ref/surrogate/weights.pt" "$WORK/killed/surrogate/weights.pt" && pass "weights.pt byte-identical" \
  || fail "weights.pt differ"

# --- bad inputs: exit 2 and one line ---------------------------------------------------------------
expect_exit 2 "curves.h5 is missing: run lnpsaxs-simulate" "$TRAIN" --config "$CI" --run-dir "$WORK/empty"
copy_run partial
mv "$WORK/partial/curves.h5" "$WORK/partial/curves.h5.partial"
$PY -c "import h5py,sys; f=h5py.File(sys.argv[1],'a'); f.attrs['complete']=0" "$WORK/partial/curves.h5.partial"
expect_exit 2 "curves.h5 is incomplete" "$TRAIN" --config "$CI" --run-dir "$WORK/partial"
copy_run qgrid
$PY -c "import h5py,sys; f=h5py.File(sys.argv[1],'a'); f['q'][5] += 1e-3" "$WORK/qgrid/curves.h5"
expect_exit 2 "q grid of the curves \(64 points on \[0.002, 0.2\] .*differs from the config's q section" \
  "$TRAIN" --config "$CI" --run-dir "$WORK/qgrid"
copy_run nan
$PY - "$WORK/nan/curves/shard-0000-of-0001.h5" <<'PY'
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "a")
d = f["train/log10_intensity"]
d[3, 7] = np.nan; d[40, 0] = np.nan; d[41, 63] = np.inf
PY
expect_exit 2 "/train/log10_intensity has NaN or infinite values in 3 of 64 rows: 3, 40, 41" \
  "$TRAIN" --config "$CI" --run-dir "$WORK/nan"
sed 's/^  batch_size: 16 /  batch_size: 100 /' "$CI" > "$WORK/batch.yaml"
copy_run batch
expect_exit 2 "train.batch_size: batch size 100 is larger than the training set \(64 curves" \
  "$TRAIN" --config "$WORK/batch.yaml" --run-dir "$WORK/batch"
sed 's/^  epochs: 20$/  epochs: 20\n  lr: 1e-8/' "$CI" > "$WORK/lr.yaml"
expect_exit 2 "train.lr_min: must not exceed train.lr" "$TRAIN" --config "$WORK/lr.yaml" --run-dir "$WORK/np1"
sed 's/^  epochs: 20$/  epochs: 21/' "$CI" > "$WORK/other.yaml"
expect_exit 2 "surrogate.h5 was made under a different config" "$TRAIN" --config "$WORK/other.yaml" --run-dir "$WORK/np1"
finish
