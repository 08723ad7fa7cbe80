# Helpers for the pipeline tests (on top of tests/e2e/lib.sh: pass, fail, expect_exit, finish, $WORK).
. "$(dirname "${BASH_SOURCE[0]}")/../e2e/lib.sh"
STATUS="$LNPSAXS_BIN/lnpsaxs-status"
CI="$LNPSAXS_SRC/configs/ci.yaml"
ALL_STAGES="sample simulate synth train fit analyze report"
# Bit-identity of per-item results holds for equal threads per rank (run-local.sh and the SLURM jobs
# of slurm/lib.sh both run one thread per rank then).
export OMP_NUM_THREADS=1
# fit.targets name the gold curve relative to the repository root, which is where users run.
cd "$LNPSAXS_SRC" || exit 1

# targets CONFIG: the names of the fit targets, one per line (lnpsaxs-config --fit-targets prints
# NAME MODEL RESTARTS SOURCE per target, fit.batch members expanded).
targets() { "$LNPSAXS_BIN/lnpsaxs-config" --config "$1" --fit-targets | awk '{ print $1 }'; }
# target_model CONFIG NAME: surrogate, sphere or core_shell.
target_model() { "$LNPSAXS_BIN/lnpsaxs-config" --config "$1" --fit-targets | awk -v t="$2" '$1 == t { print $2 }'; }

# all_complete CONFIG RUN LABEL: every stage complete for CONFIG (lnpsaxs-status --check), the
# report rendered and naming every target.
all_complete() {
  local st t bad=""
  for st in $ALL_STAGES; do "$STATUS" --config "$1" --run-dir "$2" --stage "$st" --check || bad+=" $st"; done
  if [ -n "$bad" ]; then
    fail "$3: not complete:$bad"$'\n'"$("$STATUS" --config "$1" --run-dir "$2")"
    return
  fi
  pass "$3: every stage complete for $(basename "$1") (lnpsaxs-status --check)"
  for t in $(targets "$1"); do
    grep -q "$t" "$2/report/index.html" 2>/dev/null || bad+=" $t"
  done
  [ -z "$bad" ] && [ "$(wc -c < "$2/report/index.html")" -gt 1000 ] && pass "$3: report/index.html shows every target" \
    || fail "$3: report/index.html lacks:$bad"
}

# outputs_ok CONFIG RUN LABEL: the contract of every output file (attributes, shapes, finite values).
outputs_ok() {
  local out
  out=$("$PYTHON" - "$1" "$2" "$LNPSAXS_BIN/lnpsaxs-config" <<'PY' 2>&1
import subprocess, sys, h5py, numpy as np
cfg, run, tool = sys.argv[1:4]
get = lambda k: subprocess.run([tool, "--config", cfg, "--get", k], check=True, capture_output=True, text=True).stdout.strip()
n_train, n_test, n_q = int(get("sample.n_train")), int(get("sample.n_test")), int(get("q.n"))
def h5(path, stage):
    f = h5py.File(f"{run}/{path}", "r")
    assert f.attrs["complete"] == 1 and f.attrs["stage"] == stage, (path, dict(f.attrs))
    assert len(f.attrs["config_sha256"]) == 64 and len(f.attrs["stage_sha256"]) == 64, path
    return f
p = h5("params.h5", "sample")
c = h5("curves.h5", "simulate")
for split, n in (("train", n_train), ("test", n_test)):
    y = c[f"{split}/log10_intensity"][...]
    assert y.shape == (n, n_q) and np.isfinite(y).all(), (split, y.shape)
    assert np.array_equal(c[f"{split}/theta"][...], p[f"{split}/theta"][...]), split
for k in get("synth.cases").split():
    h5(f"targets/case-{int(float(k))}.h5", "synth")
h5("surrogate/surrogate.h5", "train")
recs = get("fit.targets").splitlines()
for r in recs:
    name = r.split("name: ")[1].split(",")[0]
    restarts = int(r.split("restarts: ")[1].split(",")[0])
    f = h5(f"fits/{name}/fits.h5", "fit")
    P, L = f["params"][...], f["loss"][...]
    restarts = restarts or P.shape[0]  # 0: the config default for the target's kind
    assert P.shape[0] == restarts > 0 and L.shape == (restarts,), (name, P.shape, restarts)
    assert np.isfinite(L).all() and np.isfinite(P).all(), name
    a = h5(f"analysis/{name}.h5", "analyze")
    assert a["retention/rmse_log"].shape == (restarts,), name
print(f"{len(recs)} targets")
PY
  ) && pass "$3: outputs follow the contract ($out)" || fail "$3: output contract: $out"
}

# agree LABEL RTOL FILE_A FILE_B [--only DATASET...]: h5compare, as one check.
agree() {
  local label=$1 rtol=$2 a=$3 b=$4 out; shift 4
  out=$("${H5COMPARE[@]}" "$a" "$b" --rtol "$rtol" "$@") && pass "$label: $out" || fail "$label: $out"
}

# newer_files RUN MARKER: files under RUN modified after MARKER, relative to RUN, sorted.
newer_files() { (cd "$1" && find . -type f -newer "$2" | sed 's|^\./||' | sort); }
