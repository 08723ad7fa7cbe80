#!/usr/bin/env bash
# Benchmark of lnpsaxs-sample-posterior (issue 16; not a test; docs/posterior.md "Speed"):
#   1. the gold sphere curve (q 0.002-0.03 1/A, chi2 with sigma, background) at the stage defaults
#      (4 chains, 500 warm-up + 1,000 draws, 16 leapfrog steps), against a long bumps DREAM run on
#      sasmodels' sphere (200,000 samples): means and SDs of m_r, s_r, background, z of the difference;
#   2. the speed of every posterior of RUN (optional; e.g. the Table S2 run of tools/table_s2_prior.sh,
#      quick surrogate): chain-iterations/s of one rank, ms per log-density gradient (one forward +
#      backward pass over the chains evaluated together), draws/s and bulk ESS/s per chain.
#
#   tools/bench_posterior.sh [BUILD_DIR] [--surrogate-run RUN] [--dream-samples N]
#
# Ratios and rates of one run on one machine; compare within a run (shared vCPUs).
set -euo pipefail
usage() { sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; }   # the comment block at the top
case "${1:-}" in -h|--help) usage; exit 0 ;; esac
SRC=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${LNPSAXS_PYTHON:-/usr/bin/python3}   # README "Python"
BUILD=${1:-$SRC/build}; [ $# -gt 0 ] && shift
SUR_RUN="" DREAM=200000
while [ $# -gt 0 ]; do
  case $1 in
    --surrogate-run) SUR_RUN=$2; shift 2 ;;
    --dream-samples) DREAM=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "bench_posterior: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
GOLD=$SRC/tests/data/au_86116_cosaxs.dat
W=$(mktemp -d /tmp/lnpsaxs-bench-posterior.XXXXXX)
trap 'rm -rf "$W"' EXIT
export OMP_NUM_THREADS=1
sed "s|@GOLD@|$GOLD|" "$SRC/tests/posterior/gold_chi2.yaml" > "$W/gold.yaml"   # stage defaults for the posterior
"$BUILD/bin/lnpsaxs-fit" --config "$W/gold.yaml" --run-dir "$W/run" > "$W/fit.log" 2>&1 || { tail -3 "$W/fit.log"; exit 1; }
"$BUILD/bin/lnpsaxs-sample-posterior" --config "$W/gold.yaml" --run-dir "$W/run" > "$W/post.log" 2>&1 || { tail -3 "$W/post.log"; exit 1; }
cp "$W/post.log" "$W/run/posterior.log"
"$PYTHON" "$SRC/tests/posterior/dream_ref.py" posterior "$GOLD" "$W/run/fits/gold/fits.h5" --q-min 0.002 --q-max 0.03 \
  --samples "$DREAM" --burn 2000 > "$W/dream.json" 2> "$W/dream.log" || { tail -3 "$W/dream.log"; exit 1; }

"$PYTHON" - "$W/run" "$W/dream.json" "$SUR_RUN" <<'PY'
import glob, json, math, os, re, sys
import h5py

def speed(run):
    """Per target: rank lines of the posterior log and the joined file's ESS."""
    logs = glob.glob(os.path.join(run, "posterior.log")) + glob.glob(os.path.join(run, "posterior", "*.log"))
    lines = [l for p in logs for l in open(p, errors="replace")]
    pat = re.compile(r"\] info: (\S+): rank (\d+): (\d+) chain\(s\) x (\d+) iterations in ([\d.]+) s: ([\d.e+]+) "
                     r"chain-iterations/s, (\d+) gradient evaluations of (\d+) row\(s\), ([\d.e+-]+) ms each")
    per = {}
    for l in lines:
        m = pat.search(l)
        if m:
            per.setdefault(m.group(1), []).append(m)
    for name, ms in sorted(per.items()):
        p = os.path.join(run, "posterior", name, "posterior.h5")
        if not os.path.exists(p):
            continue
        f = h5py.File(p, "r")
        chains, draws, warm = int(f.attrs["chains"]), int(f.attrs["draws"]), int(f.attrs["warmup"])
        sec = max(float(m.group(5)) for m in ms)          # the ranks run side by side
        rank_chains = max(int(m.group(3)) for m in ms)
        ms_grad = sum(float(m.group(9)) for m in ms) / len(ms)
        rows = int(ms[0].group(8))
        ess = float(f.attrs["ess_bulk_min"])
        # per chain: its share of a rank's time (chains on one rank run one after another, or
        # batched; either way a rank spends sec on rank_chains chains)
        t_chain = sec / rank_chains
        print(f"{name}: {f.attrs['model']}, {chains} chains x ({warm} + {draws}) iterations, "
              f"{int(f.attrs['leapfrog_steps'])} leapfrog steps; {sec:.1f} s for {rank_chains} chain(s) on a rank: "
              f"{draws / t_chain:.3g} draws/s per chain, bulk ESS (min over parameters) {ess / chains / t_chain:.3g}/s "
              f"per chain; {ms_grad:.3g} ms per gradient of {rows} row(s); R-hat max {float(f.attrs['rhat_max']):.4f}")

run, dream, sur = sys.argv[1:4]
f = h5py.File(os.path.join(run, "posterior", "gold", "posterior.h5"), "r")
d = json.load(open(dream))
names = [n.decode() if isinstance(n, bytes) else n for n in f.attrs["parameter_names"]]
print("gold sphere, chi2 with sigma, against bumps DREAM:")
for k, name in enumerate(names):
    m, sd, mcse, mcse_sd, ess = (f["summary/" + x][k] for x in ("mean", "sd", "mcse_mean", "mcse_sd", "ess_bulk"))
    r = d[name]
    zm = (m - r["mean"]) / math.hypot(mcse, r["mcse_mean"])
    zs = (sd - r["sd"]) / math.hypot(mcse_sd, r["mcse_sd"])   # delta-method MCSE of an SD, both sides
    print(f"  {name}: lnpsaxs {m:.6g} +- {sd:.4g} (ESS {ess:.0f}); DREAM {r['mean']:.6g} +- {r['sd']:.4g} "
          f"(ESS {r['ess']:.0f}); z(mean) {zm:+.2f}, z(sd) {zs:+.2f}")
print("speed:")
speed(run)
if sur:
    speed(sur)
PY
