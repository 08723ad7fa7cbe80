#!/usr/bin/env bash
# lnpsaxs-analyze end to end on generated fits.h5 files (tests/analyze/make_fake_fits.cpp):
# a gold-like sphere ensemble (one tight cluster), an LNP-like surrogate ensemble (three basins),
# NaN losses, too few restarts to cluster, the sensitivity path, bad inputs (missing / incomplete
# fits → exit 2, one line), an idempotent rerun and the shipped configs (the HTML report:
# test_report.sh).
. "$(dirname "$0")/lib.sh"

make_fakes

out=$("$A" --config "$CFG" --run-dir "$R" 2>&1); rc=$?
[ "$rc" = 0 ] && pass "analyze over 4 targets exits 0" || fail "analyze exit $rc: $out"
for c in gold lnp nan few; do
  [ -f "$R/analysis/$c.h5" ] && [ "$(attr "$R/analysis/$c.h5" / complete)" = 1 ] && pass "analysis/$c.h5 complete" || fail "analysis/$c.h5"
done
G="$R/analysis/gold.h5"
[ "$(attr "$G" / stage)" = analyze ] && pass "stage attribute" || fail "stage attribute"
[ "$(attr "$G" /clustering n_clusters)" = 1 ] && pass "gold: one cluster" || fail "gold: $(attr "$G" /clustering n_clusters) clusters"
[ "$(attr "$G" /groups kind)" = clusters ] && pass "gold: medoid of the cluster" || fail "gold groups kind"
L="$R/analysis/lnp.h5"
[ "$(attr "$L" /clustering n_clusters)" = 3 ] && pass "lnp: three clusters" || fail "lnp: $(attr "$L" /clustering n_clusters) clusters"
h5dump -H -d /spearman/top_pairs "$L" | grep -q "( 10, 2 )" && pass "lnp: ten top Spearman pairs" || fail "top pairs shape"
h5dump -H -d /profiles/length_mass "$L" | grep -q "( 3, 200 )" && pass "lnp: length-scale mass per medoid" || fail "length_mass"
h5dump -H -d /profiles/slice "$L" | grep -q "( 3, 64, 64 )" && pass "lnp: density slice per medoid" || fail "slice"
[ "$(attr "$L" /retention n_kept)" -le 300 ] && [ "$(attr "$L" /retention n_kept)" -ge 50 ] && pass "lnp: retention within 5-30 %" \
  || fail "n_kept $(attr "$L" /retention n_kept)"
attr "$L" /sensitivity status | grep -q "skipped" && pass "sensitivity skipped without a forward model" || fail "sensitivity status"
[ "$(attr "$R/analysis/nan.h5" /retention n_invalid)" = 100 ] && pass "nan: 100 NaN losses excluded and counted" \
  || fail "nan: n_invalid $(attr "$R/analysis/nan.h5" /retention n_invalid)"
grep -q "100 of 1000 restarts have a NaN" <<<"$out" && pass "NaN losses reported in the log" || fail "no NaN warning"
[ "$(attr "$R/analysis/few.h5" /clustering status)" = skipped ] && grep -q "fewer than analyze.clustering.min_cluster_size" <<<"$out" \
  && pass "few: clear warning, no clustering" || fail "few: status $(attr "$R/analysis/few.h5" /clustering status)"

# Rerun: nothing to do. --force with the synthetic model covers the sensitivity path.
out=$("$A" --config "$CFG" --run-dir "$R" 2>&1)
[ "$(grep -c "nothing to do" <<<"$out")" = 4 ] && pass "rerun is a no-op" || fail "rerun: $out"
out=$("$A" --config "$CFG" --run-dir "$R" --target lnp gold --force --debug-forward-model 2>&1) || fail "debug model run: $out"
[ "$(attr "$L" /sensitivity status)" = ok ] && pass "sensitivity computed" || fail "sensitivity: $(attr "$L" /sensitivity status)"
h5dump -H -d /sensitivity/jacobian_median "$L" | grep -q "( 120, 10 )" && pass "median Jacobian [n_q, P]" || fail "jacobian shape"
h5dump -H -d /sensitivity/gauss_newton_eigenvalues "$L" | grep -q ", 10 )" && pass "Gauss-Newton eigenvalues per solution" || fail "GN"
# Jacobian summaries on the fitted points only (issue 13): the gold fit's window ends before the grid.
"$PYTHON" - "$R/analysis/gold.h5" <<'PY' && pass "gold: Jacobian, sensitivity and coupling on the fitted points only" || fail "gold: Jacobian rows"
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
m = f["target/mask"][...].astype(bool)
assert 0 < m.sum() < m.size, m.sum()
assert f["sensitivity/jacobian_median"].shape[0] == m.sum(), f["sensitivity/jacobian_median"].shape
assert np.array_equal(f["sensitivity/q"][...], f["q"][...][m])
PY

# Bad inputs: exit 2 with one line naming the file.
E="$WORK/empty"
expect_exit 2 "holds no fitted target.*lnpsaxs-fit" "$A" --config "$CFG" --run-dir "$E"
expect_exit 2 "fits/nope/fits.h5 is missing" "$A" --config "$CFG" --run-dir "$R" --target nope
"$FAKE" --config "$CFG" --run-dir "$WORK/part" --case lnp --name cut --partial || fail "partial fake"
expect_exit 2 "incomplete.*rerun lnpsaxs-fit" "$A" --config "$CFG" --run-dir "$WORK/part"
sed 's/seed: 11/seed: 12/' "$CFG" > "$WORK/other.yaml"
expect_exit 2 "different config" "$A" --config "$WORK/other.yaml" --run-dir "$R" --target gold

# The shipped configs parse (exit 2 only for the empty run directory).
for c in ci quick paper; do
  expect_exit 2 "holds no fitted target" "$A" --config "$LNPSAXS_SRC/configs/$c.yaml" --run-dir "$WORK/cfg-$c"
done

finish
