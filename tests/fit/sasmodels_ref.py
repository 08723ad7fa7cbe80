#!/usr/bin/python3
"""Second implementation for the fit tests (issue 13): SasView's sasmodels (form factors,
log-normal polydispersity, Pinhole1D resolution) and bumps (Levenberg-Marquardt), both Debian
packages (tools/install-deps.sh). Test-only; run with Debian's /usr/bin/python3.

Parameter mapping (lnpsaxs -> sasmodels; docs/fit.md "Checked against sasmodels"):
  m_r, s_r: real-space mean and SD of the log-normal radius  ->  radius = median = m/sqrt(1+s^2/m^2),
  radius_pd = sigma_ln = sqrt(ln(1+s^2/m^2)) (radius_pd_type lognormal, cutoff 0, nsigma >= 8).
  core_shell: sasmodels' core_shell_sphere puts the log-normal on the CORE radius with a fixed
  shell; lnpsaxs puts it on the OUTER radius r = r_core + d, so m_r = mean(r_core) + d,
  s_r = SD(r_core) (exact for the mean and SD, not for the shape); contrast c = (sld_core -
  sld_solvent)/(sld_shell - sld_solvent).

Sub-commands (numbers printed as JSON on stdout):
  sphere-curve OUT --m M --s S [--dq-frac F]     noise-free sphere curve, sigma = 1 % of I
  core-shell-curve OUT --m M --s S --d D --c C   noise-free core-shell curve (M, S of the core)
  fit-sphere DATA --q-min A --q-max B            sasmodels + bumps LM fit: free scale, background,
                                                 radius, radius_pd; sigma-weighted chi2
"""
import argparse
import json
import math
import sys

import numpy as np

# bumps 0.9 still uses aliases that numpy 1.24 removed.
np.float = float
np.int = int
np.Inf = np.inf

from sasmodels.core import load_model  # noqa: E402
from sasmodels.data import Data1D, empty_data1D  # noqa: E402
from sasmodels.direct_model import DirectModel  # noqa: E402
from sasmodels.resolution import Pinhole1D  # noqa: E402

NSIGMA, NPTS = 20, 600  # polydispersity integration: platform notes say nsigma >= 20 for 1e-6


def lognormal(m, s):
    """(median, sigma_ln) of the log-normal with real-space mean m and SD s."""
    s2 = math.log1p((s / m) ** 2)
    return m / math.sqrt(1 + (s / m) ** 2), math.sqrt(s2)


def moments(median, sigma):
    """Real-space mean and SD from (median, sigma_ln)."""
    m = median * math.exp(0.5 * sigma * sigma)
    return m, m * math.sqrt(math.expm1(sigma * sigma))


def evaluate(name, q, **pars):
    model = DirectModel(empty_data1D(q), load_model(name), cutoff=0.0)
    return np.asarray(model(**pars), float)


def q_points(n=600, lo=0.002, hi=0.08):
    return np.linspace(lo, hi, n)


def write(path, q, i, dq=None):
    with open(path, "w") as f:
        f.write("# written by tests/fit/sasmodels_ref.py (sasmodels)\n")
        f.write("# q (1/A)  I  sigma" + ("  dQ (1/A)\n" if dq is not None else "\n"))
        for k in range(len(q)):
            row = f"{q[k]:.10e} {i[k]:.10e} {0.01 * i[k]:.10e}"
            if dq is not None:
                row += f" {dq[k]:.10e}"
            f.write(row + "\n")


def sphere_curve(a):
    q = q_points()
    med, sig = lognormal(a.m, a.s)
    pars = dict(radius=med, radius_pd=sig, radius_pd_type="lognormal", radius_pd_n=NPTS,
                radius_pd_nsigma=NSIGMA, background=0.0, scale=1.0)
    dq = None
    if a.dq_frac > 0:
        dq = a.dq_frac * q
        # The model on a dense q_calc (so sasmodels' midpoint rule is exact to ~1e-6), then
        # Pinhole1D's weight matrix: a Gaussian truncated to [-2.5, +3] sigma, renormalised.
        q_calc = np.linspace(max(q[0] - 3.5 * dq[0], 1e-4), q[-1] + 3.5 * dq[-1], 40000)
        res = Pinhole1D(q, dq, q_calc=q_calc)
        i = res.apply(evaluate("sphere", res.q_calc, **pars))
    else:
        i = evaluate("sphere", q, **pars)
    write(a.out, q, i, dq)
    print(json.dumps({"median": med, "sigma_ln": sig, "points": len(q)}))


def core_shell_curve(a):
    q = q_points()
    med, sig = lognormal(a.m, a.s)
    sld_solvent, sld_shell = 0.0, 1.0
    pars = dict(radius=med, radius_pd=sig, radius_pd_type="lognormal", radius_pd_n=NPTS,
                radius_pd_nsigma=NSIGMA, thickness=a.d, sld_core=sld_solvent + a.c * (sld_shell - sld_solvent),
                sld_shell=sld_shell, sld_solvent=sld_solvent, background=0.0, scale=1.0)
    i = evaluate("core_shell_sphere", q, **pars)
    write(a.out, q, i)
    print(json.dumps({"m_r": a.m + a.d, "s_r": a.s, "shell_thickness": a.d, "contrast": a.c}))


def fit_sphere(a):
    from bumps.fitters import fit
    from bumps.names import FitProblem
    from sasmodels.bumps_model import Experiment, Model

    rows = []
    with open(a.data) as f:
        for line in f:
            t = line.split()
            try:
                v = [float(x) for x in t]
            except ValueError:
                continue
            if len(v) >= 3 and v[1] > 0 and v[2] > 0 and a.q_min <= v[0] <= a.q_max:
                rows.append(v[:3])
    q, i, s = (np.array(c) for c in zip(*rows))
    data = Data1D(x=q, y=i, dy=s)
    kernel = load_model("sphere")
    model = Model(kernel, radius=a.start_median, radius_pd=a.start_sigma, radius_pd_type="lognormal",
                  radius_pd_n=a.npts, radius_pd_nsigma=a.nsigma, scale=1.0, background=0.0,
                  sld=1.0, sld_solvent=0.0)
    model.radius.range(10, 1000)
    model.radius_pd.range(0.01, 1.0)
    model.scale.range(0, 1e12)
    model.background.range(-1e6, 1e6)
    exp = Experiment(data=data, model=model, cutoff=0.0)
    problem = FitProblem(exp)
    # Scale the starting scale and background to the data (LM needs a sensible start).
    i0 = exp.theory()
    model.scale.value = float(np.sum(i * i0 / s**2) / np.sum(i0 * i0 / s**2))
    result = fit(problem, method="lm", steps=400, ftol=1e-12, xtol=1e-12)
    problem.setp(result.x)
    med, sig = float(model.radius.value), float(model.radius_pd.value)
    m, sd = moments(med, sig)
    chi2 = float(problem.chisq())
    print(json.dumps({"m_r": m, "s_r": sd, "median": med, "sigma_ln": sig, "scale": float(model.scale.value),
                      "background": float(model.background.value), "chi2_reduced": chi2, "points": len(q)}))


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("sphere-curve")
    c.add_argument("out")
    c.add_argument("--m", type=float, required=True)
    c.add_argument("--s", type=float, required=True)
    c.add_argument("--dq-frac", type=float, default=0.0)
    c = sub.add_parser("core-shell-curve")
    c.add_argument("out")
    for k in ("m", "s", "d", "c"):
        c.add_argument("--" + k, type=float, required=True)
    c = sub.add_parser("fit-sphere")
    c.add_argument("data")
    c.add_argument("--q-min", type=float, required=True)
    c.add_argument("--q-max", type=float, required=True)
    c.add_argument("--start-median", type=float, default=120.0)
    c.add_argument("--start-sigma", type=float, default=0.2)
    c.add_argument("--nsigma", type=float, default=8.0)
    c.add_argument("--npts", type=int, default=201)
    a = p.parse_args(argv)
    {"sphere-curve": sphere_curve, "core-shell-curve": core_shell_curve, "fit-sphere": fit_sphere}[a.cmd](a)


if __name__ == "__main__":
    main(sys.argv[1:])
