#!/usr/bin/env bash
# lnpsaxs-synth end to end: Table S2 targets with ground truth, identical on 1 vs 2 ranks and
# 1 vs 2 shards, bad inputs → exit 2.
. "$(dirname "$0")/lib.sh"
SYN="$LNPSAXS_BIN/lnpsaxs-synth"
CI="$LNPSAXS_SRC/configs/ci.yaml"
export OMP_NUM_THREADS=1   # bit-identity holds for equal threads per rank (float reductions)

"$SYN" --config "$CI" --run-dir "$WORK/a" > "$WORK/a.log" 2>&1 || fail "synth: $(cat "$WORK/a.log")"
$LNPSAXS_MPIEXEC -n 2 "$SYN" --config "$CI" --run-dir "$WORK/b" > /dev/null 2>&1 || fail "synth np2"
for s in 0 1; do "$SYN" --config "$CI" --run-dir "$WORK/c" --shard $s --num-shards 2 > /dev/null 2>&1 || fail "shard $s"; done
for c in 1 3; do
  for d in b c; do
    h5diff "$WORK/a/targets/case-$c.h5" "$WORK/$d/targets/case-$c.h5" /intensity > /dev/null \
      && pass "case $c identical ($d)" || fail "case $c differs ($d)"
  done
done
[ ! -e "$WORK/a/targets/case-2.h5" ] && pass "only the configured cases" || fail "case 2 made"
"$PYTHON" - "$WORK/a/targets/case-1.h5" <<'PY' && pass "case-1.h5 holds curve, radii and ground truth" || fail "case-1 content"
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
assert f.attrs["complete"] == 1 and f.attrs["stage"] == "synth"
names = list(f.attrs["truth_names"]); truth = f.attrs["truth_values"]
assert names[:2] == ["m_r", "s_r"] and truth[0] == 245 and truth[1] == 30 and abs(truth[3] - 0.30) < 1e-12
r = f["radius"][...]; I = f["intensity"][...]
assert r.shape == (6,) and (r >= 100).all() and (r <= 180).all()
assert I.shape == f["q"].shape and (I > 0).all() and I[0] > 100 * I[-1]
PY
printf 'synth:\n  cases: [1, 5]\n' > "$WORK/bad.yaml"
expect_exit 2 "synth.cases: element 5 is out of range" "$SYN" --config "$WORK/bad.yaml" --run-dir "$WORK/bad"
sed 's/truncation: \[100.0, 180.0\]/truncation: [100.0, 300.0]/' "$CI" > "$WORK/big.yaml"
expect_exit 2 "synth.truncation: largest radius 300" "$SYN" --config "$WORK/big.yaml" --run-dir "$WORK/big"
finish
