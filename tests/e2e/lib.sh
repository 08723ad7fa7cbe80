# Helpers for the end-to-end tests. Expects LNPSAXS_BIN, LNPSAXS_SRC, LNPSAXS_MPIEXEC (set by ctest).
set -u
: "${LNPSAXS_BIN:?}" "${LNPSAXS_SRC:?}"
WORK=$(mktemp -d /tmp/lnpsaxs-e2e-XXXXXX)
trap '[ -n "${LNPSAXS_KEEP_WORK:-}" ] || rm -rf "$WORK"' EXIT
# Every run directory of one test shares the cpu simulator backend's FFTW plans (FFTW_MEASURE may
# pick other plans in another process, which changes the last bits): runs compared bit for bit
# must use the same wisdom, as the shards and ranks of one run do through RUN/fftw.
export LNPSAXS_FFTW_WISDOM_DIR="$WORK/fftw-wisdom"
# Python: Debian's /usr/bin/python3 (where tools/install-deps.sh puts h5py, scipy, sasmodels), or
# $LNPSAXS_PYTHON when set: the one rule of every script (README "Python").
PYTHON=${LNPSAXS_PYTHON:-/usr/bin/python3}
# h5compare A B [--only ...]: two HDF5 files equal bit for bit, dataset by dataset.
H5COMPARE=("$PYTHON" "$LNPSAXS_SRC/tests/pipeline/h5compare.py")
FAILS=0
pass() { echo "ok: $*"; }
fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
# skip REASON: the test cannot run here (a missing optional tool): exit 77, which ctest reports as
# "Skipped" (lnpsaxs_add_script_test sets SKIP_RETURN_CODE 77), never as passed.
skip() { echo "skip: $*"; exit 77; }

# expect_exit CODE PATTERN CMD... : runs CMD, checks exit code and that stderr+stdout match PATTERN
# and that the error is ONE line.
expect_exit() {
  local want=$1 pattern=$2; shift 2
  local out rc
  out=$("$@" 2>&1); rc=$?
  if [ "$rc" != "$want" ]; then fail "exit $rc (want $want): $*"$'\n'"$out"; return; fi
  if ! grep -qE -- "$pattern" <<<"$out"; then fail "output of '$*' lacks /$pattern/:"$'\n'"$out"; return; fi
  if [ "$want" = 2 ] && [ "$(grep -c 'error:' <<<"$out")" != 1 ]; then fail "not one error line: $*"$'\n'"$out"; return; fi
  pass "exit $want /$pattern/: ${*##*/}"
}
finish() { if [ "$FAILS" -gt 0 ]; then echo "$FAILS check(s) failed"; exit 1; fi; echo "all checks passed"; }
