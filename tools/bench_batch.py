#!/usr/bin/python3
"""Benchmark (not a test): batch fitting of N synthetic sphere curves, lnpsaxs against SasView's fitting.

    /usr/bin/python3 tools/bench_batch.py [--n 40] [--restarts 8] [--steps 300] [--np 2] [--bin build/bin]

Writes N polydisperse-sphere curves with known (m_r, s_r) and 1 % noise (tests/pipeline/
make_sphere_batch.py), then in the same run
  1. lnpsaxs: one fit.batch over the directory through pipeline/run-local.sh --np NP --until fit
     (sphere model, `restarts` multi-starts per curve, K = 32 log-radius nodes), timed as a whole;
  2. sasmodels + bumps (Debian python3-sasmodels / python3-bumps): each file fitted alone with
     Levenberg-Marquardt from one start (radius 150 A, radius_pd 0.25, scale matched at the first
     point; log-normal polydispersity, cutoff 0, nsigma 8), NP worker processes.
Prints curves per minute for both (their ratio is the number to compare: the machine is shared and
noisy), restarts per curve, and how often each finds the known m_r and s_r within 1 %.
The sasmodels log-normal `radius` is the median and `radius_pd` the SD of ln R: converted to the
real-space mean m_r = median exp(s^2/2) and SD s_r = m_r sqrt(exp(s^2) - 1) before comparing.
"""
import argparse, csv, multiprocessing as mp, os, subprocess, sys, tempfile, time
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def sasmodels_fit(path):
    np.float, np.int, np.Inf = float, int, np.inf  # bumps 0.9 uses aliases numpy 1.24 removed
    from bumps.fitters import fit
    from bumps.fitproblem import FitProblem
    from sasmodels.core import load_model
    from sasmodels.bumps_model import Model, Experiment
    from sasmodels.data import Data1D
    q, i, s = np.loadtxt(path, unpack=True)
    keep = (q >= 0.005) & (q <= 0.08)
    data = Data1D(x=q[keep], y=i[keep], dy=s[keep])
    kernel = load_model("sphere")
    pars = dict(scale=1.0, background=0.0, sld=1.0, sld_solvent=0.0, radius=150.0, radius_pd=0.25,
                radius_pd_type="lognormal", radius_pd_n=80, radius_pd_nsigma=8)
    m = Model(kernel, **pars)
    e = Experiment(data=data, model=m, cutoff=0)
    m.scale.value = data.y[0] / e.theory()[0]
    m.scale.range(0, 1e12)
    m.radius.range(30, 400)
    m.radius_pd.range(0.01, 0.8)
    e = Experiment(data=data, model=m, cutoff=0)
    t0 = time.perf_counter()
    fit(FitProblem(e), method="lm", steps=200, verbose=False)
    med, sig = m.radius.value, m.radius_pd.value
    mean = med * np.exp(sig ** 2 / 2)
    return os.path.basename(path)[:-4], mean, mean * np.sqrt(np.expm1(sig ** 2)), time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--restarts", type=int, default=8)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--np", type=int, default=2)
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "bin"))
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="lnpsaxs-bench-batch-")
    d = os.path.join(work, "curves")
    subprocess.run([sys.executable, os.path.join(ROOT, "tests/pipeline/make_sphere_batch.py"), d, str(a.n)], check=True)
    truth = {r[0]: (float(r[1]), float(r[2])) for r in csv.reader(open(os.path.join(d, "truth.csv"))) if r}
    cfg = os.path.join(work, "batch.yaml")
    with open(cfg, "w") as fh:
        fh.write(f"""run: {{dir: {work}/run, seed: 11}}
q: {{n: 64, min: 0.004, max: 0.1}}
fit:
  steps: {a.steps}
  batch_restarts: {a.restarts}
  quadrature_nodes: 32
  quadrature_rule: log_radius
  batch:
    - {{files: '{d}/*.dat', model: sphere, q_min: 0.005, q_max: 0.08, restarts: {a.restarts}, m_r: [60, 300],
       s_r: [4, 60], truncation: [10, 600]}}
""")
    env = dict(os.environ, LNPSAXS_BIN=a.bin, OMP_NUM_THREADS="1")
    t0 = time.perf_counter()
    with open(os.path.join(work, "lnpsaxs.log"), "w") as log:  # the fit's log, not on the console
        subprocess.run([os.path.join(ROOT, "pipeline/run-local.sh"), cfg, "--np", str(a.np), "--until", "fit"],
                       check=True, env=env, stdout=log, stderr=subprocess.STDOUT)
    t_lnp = time.perf_counter() - t0
    # Best parameters per target straight from fits.h5 (analyze is not part of the timing).
    import h5py
    lnp = {}
    for name in truth:
        f = h5py.File(f"{work}/run/fits/{name}/fits.h5", "r")
        b = int(np.nanargmin(f["rmse_log"][...]))
        names = list(f.attrs["parameter_names"])
        lnp[name] = (f["params"][b, names.index("m_r")], f["params"][b, names.index("s_r")])
    files = sorted(os.path.join(d, n + ".dat") for n in truth)
    t0 = time.perf_counter()
    with mp.Pool(a.np) as pool:
        sm = {r[0]: r[1:3] for r in pool.map(sasmodels_fit, files)}
    t_sm = time.perf_counter() - t0

    def hits(res):
        m = sum(abs(res[k][0] / truth[k][0] - 1) < 0.01 for k in truth)
        s = sum(abs(res[k][1] / truth[k][1] - 1) < 0.01 for k in truth)
        worst = max(abs(res[k][0] / truth[k][0] - 1) for k in truth)
        return m, s, worst
    for label, t, res, starts in (("lnpsaxs (AdamW multi-start)", t_lnp, lnp, a.restarts),
                                  ("sasmodels + bumps LM", t_sm, sm, 1)):
        m, s, worst = hits(res)
        print(f"{label:30s} {a.n} curves in {t:7.1f} s = {60 * a.n / t:7.1f} curves/min on {a.np} processes, "
              f"{starts} start(s)/curve; m_r within 1 %: {m}/{a.n}, s_r within 1 %: {s}/{a.n}, "
              f"worst m_r error {100 * worst:.2f} %")
    print(f"throughput ratio lnpsaxs / sasmodels+bumps: {t_sm / t_lnp:.2f}")
    print(f"(work directory {work})")


if __name__ == "__main__":
    main()
