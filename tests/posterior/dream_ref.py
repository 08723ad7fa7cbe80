#!/usr/bin/python3
"""Independent posterior for the sampler tests (issue 16): bumps' DREAM (python3-bumps, Debian) on
the polydisperse sphere model of SasView's sasmodels, with the same data, fit window, boxes and
priors as an lnpsaxs fit of model `sphere` with loss chi2 (docs/posterior.md "Checked against
DREAM"). Test-only; run with Debian's /usr/bin/python3.

Model:  I(q) = 10^log_scale * P_sphere(q; m_r, s_r) + background, sasmodels' `sphere` with a
log-normal radius of real-space mean m_r and SD s_r (radius = median, radius_pd = sigma of ln R,
cutoff 0, nsigma 20, 600 points: ~1e-6 of the exact integral). Likelihood: Gaussian with the
file's sigma. Priors: uniform on the m_r, s_r and background boxes of the lnpsaxs fit (read from its
fits.h5: parameter_lower / parameter_upper) and uniform in log_scale (flat in ln s, like lnpsaxs:
the two scales differ by a factor depending on (m_r, s_r) only, so the priors agree).

  dream_ref.py posterior DATA FITS_H5 --q-min A --q-max B [--samples N --burn B --seed S]
prints JSON {name: {mean, sd, mcse_mean, mcse_sd, ess}} for m_r, s_r, background.
"""
import argparse
import contextlib
import json
import math
import sys

import numpy as np

np.float = float  # bumps 0.9 uses aliases numpy 1.24 removed
np.int = int
np.Inf = np.inf

import h5py  # noqa: E402
from bumps.curve import Curve  # noqa: E402
from bumps.fitters import fit  # noqa: E402
from bumps.names import FitProblem  # noqa: E402
from sasmodels.core import load_model  # noqa: E402
from sasmodels.data import empty_data1D  # noqa: E402
from sasmodels.direct_model import DirectModel  # noqa: E402


def read_curve(path, q_min, q_max):
    rows = []
    with open(path) as f:
        for line in f:
            t = line.split()
            try:
                v = [float(x) for x in t]
            except ValueError:
                continue
            if len(v) >= 3 and v[1] > 0 and v[2] > 0 and q_min <= v[0] <= q_max:
                rows.append(v[:3])
    return (np.array(c) for c in zip(*rows))


def ess(chains):
    """Stan's multi-chain ESS (Geyer's initial monotone sequence) of chains [M, N]."""
    m, n = chains.shape
    mean = chains.mean(axis=1)
    var = chains.var(axis=1, ddof=1)
    w = var.mean()
    var_plus = (n - 1) / n * w + (mean.var(ddof=1) if m > 1 else 0.0)
    x = chains - mean[:, None]
    f = np.fft.rfft(x, n=2 * n, axis=1)
    acov = np.fft.irfft(f * np.conj(f), axis=1)[:, :n] / n
    rho = 1 - (w - acov.mean(axis=0)) / var_plus
    rho[0] = 1.0
    pairs = []
    for k in range(n // 2):
        p = rho[2 * k] + rho[2 * k + 1]
        if p <= 0:
            break
        pairs.append(min(p, pairs[-1]) if pairs else p)
    tau = -1 + 2 * sum(pairs)
    return m * n / max(tau, 1e-12)


def posterior(a):
    q, i, s = read_curve(a.data, a.q_min, a.q_max)
    with h5py.File(a.fits, "r") as f:
        names = [x.decode() if isinstance(x, bytes) else x for x in f.attrs["parameter_names"]]
        lo = dict(zip(names, f.attrs["parameter_lower"]))
        hi = dict(zip(names, f.attrs["parameter_upper"]))
    kernel = DirectModel(empty_data1D(q), load_model("sphere"), cutoff=0.0)

    def sphere(x, m_r, s_r, background, log_scale):
        s2 = math.log1p((s_r / m_r) ** 2)
        median = m_r / math.sqrt(1 + (s_r / m_r) ** 2)
        p = kernel(radius=median, radius_pd=math.sqrt(s2), radius_pd_type="lognormal", radius_pd_n=600,
                   radius_pd_nsigma=20, scale=1.0, background=0.0, sld=1.0, sld_solvent=0.0)
        return 10.0 ** log_scale * np.asarray(p, float) + background

    # log_scale start from linear least squares at the box centre.
    m0, s0 = 0.5 * (lo["m_r"] + hi["m_r"]), 0.5 * (lo["s_r"] + hi["s_r"])
    p0 = sphere(q, m0, s0, 0.0, 0.0)
    ls0 = math.log10(np.sum(i * p0 / s**2) / np.sum(p0 * p0 / s**2))
    model = Curve(sphere, q, i, s, m_r=m0, s_r=s0, background=0.0, log_scale=ls0)
    model.m_r.range(lo["m_r"], hi["m_r"])
    model.s_r.range(lo["s_r"], hi["s_r"])
    model.background.range(lo["background"], hi["background"])
    model.log_scale.range(ls0 - 6, ls0 + 6)
    problem = FitProblem(model)
    # Start DREAM's population near the optimum (an LM fit first): the burn-in then only has to
    # equilibrate, not search.
    with contextlib.redirect_stdout(sys.stderr):
        best = fit(problem, method="lm", steps=400, ftol=1e-12, xtol=1e-12)
    problem.setp(best.x)
    np.random.seed(a.seed)
    with contextlib.redirect_stdout(sys.stderr):  # bumps prints its progress on stdout
        result = fit(problem, method="dream", samples=a.samples, burn=a.burn, pop=a.pop, init="eps", thin=1)
    _, points, _ = result.state.chains()  # [generations, population, parameters]
    labels = problem.labels()
    out = {}
    for name in ("m_r", "s_r", "background"):
        k = labels.index(name)
        c = points[:, :, k].T  # [chains, draws]
        e = ess(c)
        sd = float(c.std(ddof=1))
        # MCSE of the SD by the delta method on the variance, the mean of y = (x - mean)^2
        # (as lnpsaxs' diagnostics and the posterior R package do): sd(y)/sqrt(ESS(y))/(2 sd).
        y = (c - c.mean()) ** 2
        mcse_sd = float(y.std(ddof=1) / math.sqrt(ess(y)) / (2 * sd))
        out[name] = {"mean": float(c.mean()), "sd": sd, "ess": float(e), "mcse_mean": sd / math.sqrt(e),
                     "mcse_sd": mcse_sd}
    out["draws"] = int(points.shape[0] * points.shape[1])
    print(json.dumps(out))


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("posterior")
    c.add_argument("data")
    c.add_argument("fits")
    c.add_argument("--q-min", type=float, required=True)
    c.add_argument("--q-max", type=float, required=True)
    c.add_argument("--samples", type=int, default=40000)
    c.add_argument("--burn", type=int, default=300)
    c.add_argument("--pop", type=int, default=10)
    c.add_argument("--seed", type=int, default=1)
    a = p.parse_args(argv)
    {"posterior": posterior}[a.cmd](a)


if __name__ == "__main__":
    main(sys.argv[1:])
