# Helpers for the analyze tests (on top of tests/e2e/lib.sh): a config with only the sections
# analyze reads ($CFG), and make_fakes: RUN/fits/<case>/fits.h5 for the four generated cases
# (tests/analyze/make_fake_fits.cpp) in $R.
. "$(dirname "${BASH_SOURCE[0]}")/../e2e/lib.sh"
A="$LNPSAXS_BIN/lnpsaxs-analyze"
FAKE="$LNPSAXS_BIN/lnpsaxs-make-fake-fits"
R="$WORK/run"
CFG="$WORK/analyze.yaml"
# Only the sections analyze reads, so the test does not depend on other stages' keys.
cat > "$CFG" <<'EOF'
run:
  dir: runs/analyze-test
  seed: 11
q:
  n: 120
  min: 0.002
  max: 0.2
simulate:
  grid_n: 64
  dx: 10.0
  n_fft: 128
parameters:
  radius: [100.0, 260.0]
size_distribution:
  m_r: [150.0, 200.0]
  truncation: [100.0, 400.0]
analyze:
  clustering:
    min_cluster_size: 20
    min_samples: 8
  lengthscale_points: 200
  radius_points: 200
EOF

# attr FILE OBJECT NAME: the value of a scalar attribute as h5dump prints it.
attr() { h5dump -a "$2/$3" "$1" 2>/dev/null | sed -n 's/.*(0): *//p' | head -1 | tr -d '"'; }

make_fakes() {
  local c
  for c in gold lnp nan few; do
    "$FAKE" --config "$CFG" --run-dir "$R" --case "$c" --name "$c" || fail "make-fake-fits $c"
  done
}
