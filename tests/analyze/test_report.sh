#!/usr/bin/env bash
# tools/report.py on the analysis of the four generated ensembles (tests/analyze/lib.sh: a gold-like
# sphere, an LNP-like surrogate with sensitivity, NaN losses, too few restarts): index.html with a
# section per target, the figures it links, the truth table of synthetic targets. Skipped (exit 77,
# ctest "Skipped") where Python lacks h5py / matplotlib / numpy (tools/install-deps.sh installs them).
. "$(dirname "$0")/lib.sh"
"$PYTHON" -c "import h5py, matplotlib, numpy" 2>/dev/null \
  || skip "$PYTHON lacks h5py / matplotlib / numpy (tools/install-deps.sh installs them)"

make_fakes
out=$("$A" --config "$CFG" --run-dir "$R" 2>&1) || fail "analyze: $out"
out=$("$A" --config "$CFG" --run-dir "$R" --target lnp gold --force --debug-forward-model 2>&1) || fail "analyze with sensitivity: $out"

out=$("$PYTHON" "$LNPSAXS_SRC/tools/report.py" "$R" 2>&1) && pass "report.py ran" || fail "report.py: $out"
[ -s "$R/report/index.html" ] && pass "report/index.html" || fail "no index.html"
n=$(ls "$R"/report/*.png 2>/dev/null | wc -l)
[ "$n" -ge 40 ] && pass "$n figures" || fail "only $n figures"
for c in gold lnp nan few; do grep -q "id=\"$c\"" "$R/report/index.html" && pass "report section $c" || fail "no section $c"; done
grep -q "parameter errors" "$R/report/index.html" && pass "truth comparison for synthetic targets" || fail "no truth table"
missing=$(grep -o 'src="[^"]*"' "$R/report/index.html" | sed 's/src="//; s/"$//' | while read -r f; do [ -f "$R/report/$f" ] || echo "$f"; done)
[ -z "$missing" ] && pass "every linked figure exists" || fail "missing figures: $missing"
finish
