#!/usr/bin/python3
"""Write a fake RUN/posterior/TARGET/posterior.h5 for the report test (tests/analyze/test_report.sh).

Usage:  make_fake_posterior.py RUN TARGET [--size-prior TEXT] [--source-as OTHER] [--shrink F]
                               [--not-converged] [--incomplete] [--chains C] [--draws S] [--seed N]

The draws are normal around the mean of TARGET's retained solutions (RUN/analysis/TARGET.h5) with
their covariance, clipped to the fit box; the file has the root attributes, /draws, /summary/* and
/ln_scale of lnpsaxs-sample-posterior and the checkpoint attributes every lnpsaxs output carries
(common/src/checkpoint.cpp write_provenance), written as posterior.h5.partial and renamed.

--source-as OTHER: TARGET fits OTHER's data. Where RUN/analysis/TARGET.h5 does not exist it is made
  as a copy of RUN/analysis/OTHER.h5 (attribute target renamed, size_prior set with --size-prior),
  so that TARGET and OTHER are companions (same source and model, one with a size prior).
--size-prior TEXT: the fit used orthogonal size data; the SDs of m_r and s_r shrink by --shrink
  (default 4), their correlations with the other parameters kept.
--not-converged: chain 0 is shifted by 1.5 SD (split R-hat well above 1.01; converged = 0) and
  7 divergences are recorded.
--incomplete: the file keeps complete = 0 (a damaged output under the final name).
"""
import argparse
import datetime
import hashlib
import os
import shutil
import sys
import zlib

import h5py
import numpy as np

STR = h5py.string_dtype()


def text(x):
    return x.decode() if isinstance(x, bytes) else str(x)


def split_rhat(x):
    """Split R-hat (Gelman et al. 2013) of x [chains, draws], without rank normalisation."""
    h = x.shape[1] // 2
    y = np.concatenate([x[:, :h], x[:, h:2 * h]], axis=0)
    w = y.var(axis=1, ddof=1).mean()
    b = h * y.mean(axis=1).var(ddof=1)
    if w <= 0:
        return np.nan
    return float(np.sqrt(((h - 1) / h * w + b / h) / w))


def analysis_file(run, target, other, size_prior):
    path = os.path.join(run, "analysis", target + ".h5")
    if os.path.exists(path) or other is None:
        return path
    shutil.copyfile(os.path.join(run, "analysis", other + ".h5"), path)
    with h5py.File(path, "r+") as f:
        f.attrs["target"] = target
        if size_prior:
            f.attrs["size_prior"] = size_prior
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run")
    ap.add_argument("target")
    ap.add_argument("--size-prior", default="")
    ap.add_argument("--source-as", dest="other")
    ap.add_argument("--shrink", type=float, default=4.0)
    ap.add_argument("--not-converged", action="store_true")
    ap.add_argument("--incomplete", action="store_true")
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    src = analysis_file(args.run, args.target, args.other, args.size_prior)
    with h5py.File(src, "r") as f:
        a = dict(f.attrs)
        params = f["/retained/params"][()]
        source = text(a.get("source", ""))
    if args.other is not None:
        with h5py.File(os.path.join(args.run, "analysis", args.other + ".h5"), "r") as g:
            source = text(g.attrs.get("source", ""))
    names = [text(n) for n in np.atleast_1d(a["parameter_names"])]
    lower = np.asarray(a["parameter_lower"], float)
    upper = np.asarray(a["parameter_upper"], float)
    p, c, n = len(names), args.chains, args.draws
    if params.shape[0] < 2:
        sys.exit(f"make_fake_posterior.py: {src}: fewer than 2 retained solutions")

    rng = np.random.default_rng([args.seed, zlib.crc32(args.target.encode())])
    mean = params.mean(axis=0)
    cov = np.cov(params, rowvar=False) + np.diag((1e-4 * (upper - lower)) ** 2)
    if args.size_prior:
        scale = np.array([1 / args.shrink if x in ("m_r", "s_r") else 1.0 for x in names])
        cov = cov * np.outer(scale, scale)
    draws = rng.multivariate_normal(mean, cov, size=(c, n), method="eigh")
    if args.not_converged:
        draws[0] += 1.5 * np.sqrt(np.diag(cov))
    draws = np.clip(draws, lower, upper)

    pooled = draws.reshape(-1, p)
    rhat = np.array([split_rhat(draws[:, :, j]) for j in range(p)])
    total = c * n
    # plausible ESS values (not computed): near the draw count when the chains mix, far below when not
    ess_bulk = np.full(p, (0.8 if not args.not_converged else 0.04) * total)
    ess_tail = np.full(p, (0.6 if not args.not_converged else 0.03) * total)
    converged = int(np.isfinite(rhat).all() and (rhat <= 1.01).all())

    out_dir = os.path.join(args.run, "posterior", args.target)
    os.makedirs(out_dir, exist_ok=True)
    final = os.path.join(out_dir, "posterior.h5")
    partial = final + ".partial"
    with h5py.File(partial, "w") as f:
        r = f.attrs
        # checkpoint attributes (write_provenance), complete = 0 until the file is written
        r["schema_version"] = np.int64(1)
        r["stage"] = "posterior"
        r["config_sha256"] = text(a.get("config_sha256", ""))
        r["stage_sha256"] = hashlib.sha256(f"fake posterior {args.target}".encode()).hexdigest()
        r["config_yaml"] = text(a.get("config_yaml", ""))
        r["lnpsaxs_version"] = text(a.get("lnpsaxs_version", "fake"))
        r["created_utc"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        r["complete"] = np.int64(0)
        r["target"] = args.target
        r["model"] = text(a["model"])
        r["source"] = source
        r.create("parameter_names", np.array(names, dtype=object), dtype=STR)
        r.create("parameter_units", np.array([text(u) for u in np.atleast_1d(a["parameter_units"])], dtype=object),
                 dtype=STR)
        r["parameter_lower"] = lower
        r["parameter_upper"] = upper
        if "truth_values" in a and np.isfinite(np.asarray(a["truth_values"], float)).any():
            r["truth_values"] = np.asarray(a["truth_values"], float)
        r["likelihood"] = "fake: normal around the retained solutions (tests/analyze/make_fake_posterior.py)"
        if args.size_prior:
            r["size_prior"] = args.size_prior
        r["chains"] = np.int64(c)
        r["draws"] = np.int64(n)
        r["converged"] = np.int64(converged)
        r["rhat_max"] = float(np.nanmax(rhat))
        r["n_divergent"] = np.int64(7 if args.not_converged else 0)
        r["ess_bulk_min"] = float(ess_bulk.min())
        r["ess_tail_min"] = float(ess_tail.min())
        f["/draws"] = draws
        f["/ln_scale"] = rng.normal(0.0, 0.01, size=(c, n))
        g = f.create_group("summary")
        g["mean"] = pooled.mean(axis=0)
        g["sd"] = pooled.std(axis=0, ddof=1)
        for k, q in (("q05", 5), ("q50", 50), ("q95", 95)):
            g[k] = np.percentile(pooled, q, axis=0)
        g["rhat"] = rhat
        g["ess_bulk"] = ess_bulk
        g["ess_tail"] = ess_tail
        if not args.incomplete:
            r["complete"] = np.int64(1)
    os.replace(partial, final)
    print(f"make_fake_posterior.py: {final}: {c} x {n} draws of {p} parameters, converged = {converged}, "
          f"R-hat max {np.nanmax(rhat):.4f}{', size prior' if args.size_prior else ''}"
          f"{', incomplete' if args.incomplete else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
