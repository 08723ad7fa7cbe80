#!/usr/bin/env bash
# tools/report.py on the analysis of the four generated ensembles (tests/analyze/lib.sh: a gold-like
# sphere, an LNP-like surrogate with sensitivity, NaN losses, too few restarts): index.html with a
# section per target, the figures it links, the truth table of synthetic targets. Then fake posterior
# files (make_fake_posterior.py): lnp, and lnp_prior (a copy of lnp's analysis fitted "with a size
# prior": the companion pair), gold not converged, few not complete (left out); nan has none. Skipped
# (exit 77, ctest "Skipped") where Python lacks h5py / matplotlib / numpy (tools/install-deps.sh).
. "$(dirname "$0")/lib.sh"
"$PYTHON" -c "import h5py, matplotlib, numpy" 2>/dev/null \
  || skip "$PYTHON lacks h5py / matplotlib / numpy (tools/install-deps.sh installs them)"

make_fakes
out=$("$A" --config "$CFG" --run-dir "$R" 2>&1) || fail "analyze: $out"
out=$("$A" --config "$CFG" --run-dir "$R" --target lnp gold --force --debug-forward-model 2>&1) || fail "analyze with sensitivity: $out"

FP=("$PYTHON" "$LNPSAXS_SRC/tests/analyze/make_fake_posterior.py")
prior="number-weighted radius mean 245 +- 2 A, SD 30 +- 2 A (fake cryo-TEM histogram)"
out=$("${FP[@]}" "$R" lnp 2>&1) || fail "fake posterior lnp: $out"
out=$("${FP[@]}" "$R" lnp_prior --source-as lnp --size-prior "$prior" 2>&1) || fail "fake posterior lnp_prior: $out"
out=$("${FP[@]}" "$R" gold --not-converged 2>&1) || fail "fake posterior gold: $out"
out=$("${FP[@]}" "$R" few --incomplete 2>&1) || fail "fake posterior few: $out"

out=$("$PYTHON" "$LNPSAXS_SRC/tools/report.py" "$R" 2>&1) && pass "report.py ran" || fail "report.py: $out"
H="$R/report/index.html"
[ -s "$H" ] && pass "report/index.html" || fail "no index.html"
n=$(ls "$R"/report/*.png 2>/dev/null | wc -l)
[ "$n" -ge 40 ] && pass "$n figures" || fail "only $n figures"
for c in gold lnp nan few lnp_prior; do grep -q "id=\"$c\"" "$H" && pass "report section $c" || fail "no section $c"; done
# section NAME: the HTML of one target's section (from its <h2> to the next).
section() {
  awk -v h="<h2 id=\"$1\">" 'index($0, "<h2 id=") { on = index($0, h) > 0; if (on) { print substr($0, index($0, h)); next } } on' "$H"
}
for c in lnp lnp_prior gold; do
  for f in posterior_marginals posterior_pairs; do
    section "$c" | grep -q "src=\"${c}_$f.png\"" && [ -s "$R/report/${c}_$f.png" ] \
      && pass "$c: $f figure" || fail "$c: no $f figure"
  done
  section "$c" | grep -q "90 % credible interval" && pass "$c: posterior summary table" || fail "$c: no posterior summary table"
done
for c in lnp lnp_prior; do
  s=$(section "$c")
  grep -q "SD shrinks" <<<"$s" && grep -q "SD without size prior" <<<"$s" && pass "$c: with/without size prior SD table" \
    || fail "$c: no with/without size prior SD table"
  grep -qF "$prior" <<<"$s" && pass "$c: size prior shown" || fail "$c: size prior not shown"
  ! grep -q "not converged" <<<"$s" && pass "$c: no convergence warning" || fail "$c: convergence warning on a converged posterior"
done
# the fake prior shrinks the m_r and s_r SDs 4-fold: the table's ratio for m_r is about x4
r=$(section lnp | grep -o 'm_r \[Å\]</td><td>[^<]*</td><td>[^<]*</td><td><b>×[0-9.]*' | sed 's/.*×//')
awk -v r="${r:-0}" 'BEGIN { exit !(r > 3 && r < 5) }' && pass "m_r SD shrinks ×$r with the size prior" \
  || fail "m_r SD ratio '$r', not about 4"
s=$(section gold)
grep -q "not converged: R-hat max [0-9.]* > 1.01; do not use these intervals" <<<"$s" && pass "gold: not-converged warning" \
  || fail "gold: no not-converged warning"
grep -q "7 divergent" <<<"$s" && pass "gold: divergences reported" || fail "gold: divergences not reported"
! grep -q "SD shrinks" <<<"$s" && pass "gold: no companion" || fail "gold: a companion table without a companion"
for c in nan few; do
  ls "$R/report/${c}_posterior_"* >/dev/null 2>&1 && fail "$c: posterior figures without a complete posterior" \
    || pass "$c: no posterior figures"
  section "$c" | grep -q "<h3>Posterior" && fail "$c: posterior block without a complete posterior" || pass "$c: no posterior block"
done
section few | grep -q "posterior left out: .*not flagged complete" && pass "few: incomplete posterior named" \
  || fail "few: incomplete posterior not named"
grep -q "parameter errors" "$H" && pass "truth comparison for synthetic targets" || fail "no truth table"
missing=$(grep -o 'src="[^"]*"' "$H" | sed 's/src="//; s/"$//' | while read -r f; do [ -f "$R/report/$f" ] || echo "$f"; done)
[ -z "$missing" ] && pass "every linked figure exists" || fail "missing figures: $missing"
finish
