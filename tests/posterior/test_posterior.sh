#!/usr/bin/env bash
# lnpsaxs-sample-posterior end to end (issue 16 acceptance, test-sized):
#   - the CoSAXS gold curve, model sphere, loss chi2 (sigma-weighted, free scale and background):
#     posterior means and SDs of m_r, s_r and background agree with bumps' DREAM on sasmodels'
#     sphere (tests/posterior/dream_ref.py, same data, window, boxes and priors) within 2
#     Monte-Carlo standard errors (of the difference);
#   - converged (every R-hat <= 1.01), no divergences, summary.csv written;
#   - deterministic per (seed, target, chain): 2 ranks, and 2 shards run one after the other,
#     give bit-identical draws; the join waits for every shard;
#   - a second copy of a finished run does nothing; a missing fit is an error naming the file.
# A longer DREAM run: tests/posterior/dream_ref.py posterior DATA FITS_H5 --q-min A --q-max B --samples 200000.
. "$(dirname "$0")/../e2e/lib.sh"
FIT="$LNPSAXS_BIN/lnpsaxs-fit"
POST="$LNPSAXS_BIN/lnpsaxs-sample-posterior"
GOLD="$LNPSAXS_SRC/tests/data/au_86116_cosaxs.dat"
export OMP_NUM_THREADS=1
"$PYTHON" -c "import bumps, sasmodels, h5py" 2>/dev/null || skip "python3-bumps, python3-sasmodels or h5py missing"
{ sed "s|@GOLD@|$GOLD|" "$LNPSAXS_SRC/tests/posterior/gold_chi2.yaml"
  printf 'posterior:\n  chains: 4\n  warmup: 300\n  draws: 500\n  leapfrog_steps: 8\n'; } > "$WORK/gold.yaml"
RUN="$WORK/run"
expect_exit 2 "fits/gold/fits.h5 is missing.*run lnpsaxs-fit first" "$POST" --config "$WORK/gold.yaml" --run-dir "$RUN"
"$FIT" --config "$WORK/gold.yaml" --run-dir "$RUN" > "$WORK/fit.log" 2>&1 || fail "fit: $(tail -3 "$WORK/fit.log")"
"$POST" --config "$WORK/gold.yaml" --run-dir "$RUN" > "$WORK/post.log" 2>&1 || fail "sample-posterior: $(tail -3 "$WORK/post.log")"
grep "posterior of" "$WORK/post.log" | sed 's/^.*gold: //'
P="$RUN/posterior/gold/posterior.h5"
[ -f "$RUN/posterior/gold/summary.csv" ] && pass "summary.csv written" || fail "no summary.csv"

read -r conv ndiv rhat <<<"$("$PYTHON" - "$P" <<'PY'
import sys, h5py
f = h5py.File(sys.argv[1], "r")
print(int(f.attrs["converged"]), int(f.attrs["n_divergent"]), float(f.attrs["rhat_max"]))
PY
)"
[ "$conv" = 1 ] && [ "$ndiv" = 0 ] && pass "converged (R-hat max $rhat), no divergences" \
  || fail "converged=$conv, divergences $ndiv, R-hat max $rhat"

# Against DREAM.
"$PYTHON" "$LNPSAXS_SRC/tests/posterior/dream_ref.py" posterior "$GOLD" "$RUN/fits/gold/fits.h5" --q-min 0.002 --q-max 0.03 \
  --samples 16000 --burn 300 > "$WORK/dream.json" 2> "$WORK/dream.log" || fail "DREAM: $(tail -3 "$WORK/dream.log")"
"$PYTHON" - "$P" "$WORK/dream.json" <<'PY' > "$WORK/compare.txt"
import json, math, sys, h5py
f = h5py.File(sys.argv[1], "r")
d = json.load(open(sys.argv[2]))
names = [n.decode() if isinstance(n, bytes) else n for n in f.attrs["parameter_names"]]
ok = True
for k, name in enumerate(names):
    m, sd = f["summary/mean"][k], f["summary/sd"][k]
    mcse_m = f["summary/mcse_mean"][k]
    ess = f["summary/ess_bulk"][k]
    mcse_sd = f["summary/mcse_sd"][k]
    r = d[name]
    zm = (m - r["mean"]) / math.hypot(mcse_m, r["mcse_mean"])
    zs = (sd - r["sd"]) / math.hypot(mcse_sd, r["mcse_sd"])
    good = abs(zm) <= 2 and abs(zs) <= 2
    ok = ok and good
    print(f"{name}: lnpsaxs {m:.6g} +- {sd:.4g} (ESS {ess:.0f}); DREAM {r['mean']:.6g} +- {r['sd']:.4g} "
          f"(ESS {r['ess']:.0f}); z(mean) {zm:+.2f}, z(sd) {zs:+.2f} {'ok' if good else 'DIFFERS'}")
print("agree" if ok else "differ")
PY
cat "$WORK/compare.txt"
tail -1 "$WORK/compare.txt" | grep -q agree && pass "posterior means and SDs of m_r, s_r, background within 2 MCSE of DREAM" \
  || fail "posterior differs from DREAM"

# Determinism: 2 ranks; and 2 shards one after the other (the join waits for both).
draws_equal() {
  "$PYTHON" - "$1" "$2" <<'PY'
import sys, h5py, numpy as np
a, b = (h5py.File(p, "r")["draws"][...] for p in sys.argv[1:3])
sys.exit(0 if a.shape == b.shape and np.array_equal(a, b) else 1)
PY
}
for d in np2 shards; do mkdir -p "$WORK/$d/fits" && cp -r "$RUN/fits/gold" "$WORK/$d/fits/"; done
$LNPSAXS_MPIEXEC -n 2 "$POST" --config "$WORK/gold.yaml" --run-dir "$WORK/np2" > "$WORK/np2.log" 2>&1 \
  || fail "2 ranks: $(tail -3 "$WORK/np2.log")"
draws_equal "$P" "$WORK/np2/posterior/gold/posterior.h5" && pass "2 ranks: bit-identical draws" || fail "2 ranks: draws differ"
"$POST" --config "$WORK/gold.yaml" --run-dir "$WORK/shards" --shard 0 --num-shards 2 > "$WORK/s0.log" 2>&1 || fail "shard 0"
[ ! -f "$WORK/shards/posterior/gold/posterior.h5" ] && grep -q "not joined yet" "$WORK/s0.log" \
  && pass "shard 0 alone: not joined" || fail "shard 0 alone joined or said nothing"
"$POST" --config "$WORK/gold.yaml" --run-dir "$WORK/shards" --shard 1 --num-shards 2 > "$WORK/s1.log" 2>&1 || fail "shard 1"
draws_equal "$P" "$WORK/shards/posterior/gold/posterior.h5" && pass "2 shards: bit-identical draws" || fail "2 shards: draws differ"
"$POST" --config "$WORK/gold.yaml" --run-dir "$RUN" > "$WORK/again.log" 2>&1 && grep -q "nothing to do" "$WORK/again.log" \
  && pass "a rerun of a finished run does nothing" || fail "rerun: $(tail -2 "$WORK/again.log")"
finish
