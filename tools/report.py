#!/usr/bin/python3
"""Render RUN/report/index.html and its PNG figures from RUN/analysis/*.h5 (lnpsaxs-analyze).

Usage:  /usr/bin/python3 tools/report.py RUN [--out DIR]

Uses Debian's python3-h5py, python3-numpy and python3-matplotlib (Agg backend, no display).
Per target: the data with the best fit, the retained band and residuals; the RMSE_log histogram
with the retention threshold; parameter marginals; the loss-weighted Spearman heatmap and hexbins
of its strongest pairs; the PCA scatter by HDBSCAN cluster and the cluster-resolved marginals; the
median Jacobian over q, global sensitivities, coupling matrix and Gauss-Newton spectrum; per group
medoid the radius distribution, length-scale spectral mass and a realised density slice; and, for
synthetic targets, the parameter errors against the ground truth.

Where RUN/posterior/<name>/posterior.h5 (lnpsaxs-sample-posterior) is complete, the section adds the
posterior: a summary table (mean ± SD, 90 % credible interval, R-hat, bulk/tail ESS; a warning when
not converged or with divergences), its marginals over the retained ensemble's and a pair plot of
m_r, s_r and the parameters most correlated with them. Two targets that fit the same data (source)
with the same model, one with a size prior (orthogonal size data) and one without, are companions:
each one's posterior figures overlay the other's, and a table gives the posterior SDs with and
without the prior.

With more than MANY_TARGETS (20) targets (a batch: a dilution or process series, a screening plate),
index.html becomes a sortable table, one row per target with its key numbers and a thumbnail of the
fit, linking to one page per target (report/target-<name>.html), plus a trend figure of the size
parameters across targets in file order (the order of RUN/results.csv, written by lnpsaxs-analyze).
"""
import argparse
import glob
import html
import math
import os
import sys

import matplotlib

matplotlib.use("Agg")
import h5py  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

DPI = 110
NOISE_COLOUR = "#b0b0b0"
LABELS = {
    "m_r": "m_r", "s_r": "s_r", "delta_rho_int": "Δρ_int", "w": "w", "m_q1": "m_q1", "m_q2": "m_q2",
    "s_q1": "s_q1", "s_q2": "s_q2", "shell_thickness": "d", "rho_rel": "ρ_rel", "background": "b",
    "contrast": "c",
}


def label(name, unit=""):
    text = LABELS.get(name, name)
    return f"{text} [{unit}]" if unit else text


def s(x):
    """Decode an HDF5 string attribute."""
    if isinstance(x, bytes):
        return x.decode()
    return str(x)


def strings(x):
    return [s(v) for v in np.atleast_1d(x)]


def no_none(prior):
    """A size_prior attribute, or "" when there is none (the stages write "none" or leave it out)."""
    return "" if prior.strip().lower() in ("", "none") else prior


def colours(n):
    cmap = plt.get_cmap("tab10" if n <= 10 else "tab20")
    return [cmap(i % cmap.N) for i in range(n)]


def fmt(v, digits=4):
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    return f"{v:.{digits}g}"


class Target:
    """Everything the report needs from one analysis file."""

    def __init__(self, path):
        self.path = path
        with h5py.File(path, "r") as f:
            a = f.attrs
            self.name = s(a["target"])
            self.model = s(a["model"])
            self.source = s(a.get("source", ""))
            self.names = strings(a["parameter_names"])
            self.units = strings(a["parameter_units"])
            self.lower = np.asarray(a["parameter_lower"], float)
            self.upper = np.asarray(a["parameter_upper"], float)
            self.truth = np.asarray(a["truth_values"], float)
            self.warnings = [w for w in s(a.get("warnings", "")).split("\n") if w]
            self.q = f["/q"][()]
            self.target = f["/target/intensity"][()]
            self.mask = f["/target/mask"][()].astype(bool)
            self.sigma = f["/target/sigma"][()]
            self.q_max = float(a.get("q_max", np.nan))
            # issue 13: the fit's loss, its terms' split at the best restart, the checked quadrature
            self.loss = s(a.get("loss", ""))
            self.size_prior = no_none(s(a.get("size_prior", "")))  # orthogonal size data (issue 16)
            self.loss_terms = strings(a["loss_term_names"]) if "loss_term_names" in a else []
            self.loss_shares = np.asarray(a.get("loss_term_shares", []), float)
            self.fitted_points = int(a.get("fitted_points", -1))
            self.quad = {k: a[k] for k in ("quadrature_rule", "quadrature_nodes", "quadrature_nodes_configured",
                                           "quadrature_tolerance", "quadrature_error_best") if k in a}
            r = f["/retention"].attrs
            self.ret = {k: r[k] for k in r.keys()}
            self.rmse_all = f["/retention/rmse_log"][()]
            self.valid = f["/retention/valid"][()].astype(bool)
            self.kept = f["/retention/kept"][()]
            self.params = f["/retained/params"][()]
            self.rmse = f["/retained/rmse_log"][()]
            self.weight = f["/retained/weight"][()]
            self.curves = f["/retained/curve"][()]
            self.spearman = f["/spearman/matrix"][()]
            self.pairs = f["/spearman/top_pairs"][()]
            c = f["/clustering"].attrs
            self.cl_status = s(c["status"])
            self.cl_message = s(c["message"])
            self.n_clusters = int(c["n_clusters"])
            self.labels = f["/clustering/labels"][()]
            self.pca = f["/clustering/pca_scores"][()] if "/clustering/pca_scores" in f else None
            self.pca_explained = f["/clustering/pca_explained"][()] if "/clustering/pca_explained" in f else None
            g = f["/groups"]
            self.group_kind = s(g.attrs["kind"])
            self.group_names = strings(g.attrs["names"])
            self.group_label = g["label"][()]
            self.group_size = g["size"][()]
            self.medoid = g["medoid"][()]
            self.medoid_params = g["medoid_params"][()]
            self.medoid_curve = g["medoid_curve"][()]
            self.group_median = g["median"][()]
            p = f["/profiles"]
            self.trunc = (float(p.attrs["truncation_lower"]), float(p.attrs["truncation_upper"]))
            self.radius = p["radius"][()] if "radius" in p else None
            self.radius_pdf = p["radius_pdf"][()] if "radius_pdf" in p else None
            self.length = p["length"][()] if "length" in p else None
            self.length_mass = p["length_mass"][()] if "length_mass" in p else None
            self.length_peak = p["length_peak"][()] if "length_peak" in p else None
            self.slice_status = s(p.attrs.get("slice_status", "absent"))
            self.slice = p["slice"][()] if "slice" in p else None
            self.slice_dx = float(p.attrs["slice_dx"]) if "slice_dx" in p.attrs else None
            self.slice_radius = p["slice_radius"][()] if "slice_radius" in p else None
            sg = f["/sensitivity"] if "/sensitivity" in f else None
            self.sens_status = s(sg.attrs.get("status", "absent")) if sg is not None else "absent"
            self.sens_model = s(sg.attrs.get("forward_model", "")) if sg is not None else ""
            self.sens = {}
            if self.sens_status == "ok":
                for k in sg.keys():
                    self.sens[k] = sg[k][()]
            self.best_curve = f["/best/curve"][()] if "/best/curve" in f else None
            self.best_params = f["/best/params"][()] if "/best/params" in f else None
        self.p = len(self.names)
        self.span = self.upper - self.lower
        self.synthetic = bool(np.isfinite(self.truth).any())

    def group_colours(self):
        return colours(max(len(self.group_names), 1))


# --- figures -------------------------------------------------------------------------------------

def save(fig, out, name):
    path = os.path.join(out, name)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return name


def fig_fit(t, out):
    fig, (ax, axr) = plt.subplots(2, 1, figsize=(7.5, 6.2), sharex=True, gridspec_kw={"height_ratios": [3, 1.2]})
    y = np.log10(np.where(t.target > 0, t.target, np.nan))
    if t.curves.size:
        lo, hi = np.percentile(t.curves, [2.5, 97.5], axis=0)
        ax.fill_between(t.q, lo, hi, color="tab:orange", alpha=0.3, lw=0,
                        label=f"retained band (95 %, {len(t.kept)} fits)")
    ax.plot(t.q[t.mask], y[t.mask], ".", ms=3.5, color="k", label="data (fitted points)")
    if (~t.mask).any():
        ax.plot(t.q[~t.mask], y[~t.mask], ".", ms=3.0, color="0.65", label="data (outside the fit window)")
    if t.best_curve is not None:
        ax.plot(t.q, t.best_curve, "-", color="tab:red", lw=1.4, label=f"best fit (RMSE_log {fmt(t.rmse[0], 3)})")
        res = y - t.best_curve
        axr.axhline(0, color="0.5", lw=0.8)
        axr.plot(t.q[t.mask], res[t.mask], ".", ms=3, color="k")
        if (~t.mask).any():
            axr.plot(t.q[~t.mask], res[~t.mask], ".", ms=2.5, color="0.65")
        if t.curves.size:
            axr.fill_between(t.q, lo - t.best_curve, hi - t.best_curve, color="tab:orange", alpha=0.3, lw=0)
        lim = np.nanpercentile(np.abs(res[t.mask]), 99) if t.mask.any() else 1
        axr.set_ylim(-1.6 * lim - 1e-3, 1.6 * lim + 1e-3)
    if np.isfinite(t.q_max) and t.q_max < t.q[-1]:
        for a in (ax, axr):
            a.axvline(t.q_max, color="0.4", ls="--", lw=0.8)
    ax.set_ylabel("log10 I_PI(q)  (Porod-normalised)")
    axr.set_ylabel("data − best")
    axr.set_xlabel("q [Å⁻¹]")
    ax.set_title(f"{t.name}: data, best fit and retained band ({t.model} model)")
    ax.legend(fontsize=8, loc="lower left")
    return save(fig, out, f"{t.name}_fit.png")


def fig_rmse_hist(t, out):
    fig, ax = plt.subplots(figsize=(7, 3.8))
    r = t.rmse_all[t.valid]
    r = r[np.isfinite(r) & (r > 0)]
    if r.size:
        bins = np.logspace(np.log10(r.min()) - 0.02, np.log10(r.max()) + 0.02, 60)
        ax.hist(r, bins=bins, color="0.6", label=f"all valid restarts ({r.size})")
        if t.rmse.size:
            ax.hist(t.rmse, bins=bins, color="tab:orange", label=f"retained ({t.rmse.size})")
        ax.set_xscale("log")
    ax.axvline(float(t.ret["l_star"]), color="tab:blue", ls="-", lw=1.2, label=f"L* = {fmt(float(t.ret['l_star']), 3)}")
    ax.axvline(float(t.ret["threshold"]), color="tab:red", ls="--", lw=1.2,
               label=f"{fmt(float(t.ret['alpha']), 3)}·L* = {fmt(float(t.ret['threshold']), 3)}")
    ax.set_xlabel("RMSE_log (log10 units, fit window)")
    ax.set_ylabel("restarts")
    bound = s(t.ret["bound"])
    extra = "" if bound == "none" else f"; {bound} bound active"
    ax.set_title(f"{t.name}: final RMSE_log of {int(t.ret['n_total'])} restarts"
                 f" ({int(t.ret['n_invalid'])} NaN excluded{extra})", fontsize=10)
    ax.legend(fontsize=8)
    return save(fig, out, f"{t.name}_rmse_hist.png")


def grid(n, width=3.0, height=2.4, cols=None):
    cols = cols or min(n, 5)
    rows = int(math.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    for a in axes.flat[n:]:
        a.axis("off")
    return fig, axes.flat


def fig_marginals(t, out):
    fig, axes = grid(t.p)
    for j, ax in enumerate(axes):
        if j >= t.p:
            break
        v = t.params[:, j]
        ax.hist(v, bins=30, range=(t.lower[j], t.upper[j]), weights=t.weight * len(v) if len(v) else None,
                color="tab:orange", alpha=0.85)
        if t.best_params is not None:
            ax.axvline(t.best_params[j], color="tab:red", lw=1.2, label="best")
        if np.isfinite(t.truth[j]):
            ax.axvline(t.truth[j], color="k", ls="--", lw=1.2, label="truth")
        ax.set_xlabel(label(t.names[j], t.units[j]))
        ax.set_yticks([])
    axes[0].legend(fontsize=7)
    fig.suptitle(f"{t.name}: loss-weighted marginals of the retained solutions (x range = fit box)", y=1.01)
    fig.tight_layout()
    return save(fig, out, f"{t.name}_marginals.png")


def heatmap(ax, m, names, title, vmin=-1, vmax=1, cmap="RdBu_r", annotate=True):
    im = ax.imshow(m, vmin=vmin, vmax=vmax, cmap=cmap)
    ax.set_xticks(range(len(names)))
    ax.set_yticks(range(len(names)))
    ax.set_xticklabels(names, rotation=60, ha="right")
    ax.set_yticklabels(names)
    if annotate and len(names) <= 12:
        for i in range(m.shape[0]):
            for j in range(m.shape[1]):
                if np.isfinite(m[i, j]):
                    ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", fontsize=7,
                            color="w" if abs(m[i, j]) > 0.6 else "k")
    ax.set_title(title, fontsize=10)
    return im


def fig_spearman(t, out):
    n = [LABELS.get(x, x) for x in t.names]
    fig, ax = plt.subplots(figsize=(1.0 + 0.55 * t.p + 1.5, 0.55 * t.p + 1.6))
    im = heatmap(ax, t.spearman, n, f"{t.name}: loss-weighted Spearman ρ_w")
    fig.colorbar(im, ax=ax, shrink=0.8)
    return save(fig, out, f"{t.name}_spearman.png")


def fig_hexbin(t, out):
    pairs = [tuple(p) for p in t.pairs]
    if not pairs:
        return None
    fig, axes = grid(len(pairs), width=3.2, height=2.9)
    for ax, (a, b) in zip(axes, pairs):
        ax.hexbin(t.params[:, a], t.params[:, b], gridsize=22, cmap="viridis", mincnt=1,
                  extent=(t.lower[a], t.upper[a], t.lower[b], t.upper[b]))
        if np.isfinite(t.truth[a]) and np.isfinite(t.truth[b]):
            ax.plot(t.truth[a], t.truth[b], "r+", ms=12, mew=2)
        ax.set_xlabel(label(t.names[a], t.units[a]), fontsize=8)
        ax.set_ylabel(label(t.names[b], t.units[b]), fontsize=8)
        ax.set_title(f"ρ_w = {t.spearman[a, b]:+.2f}", fontsize=9)
        ax.tick_params(labelsize=7)
    fig.suptitle(f"{t.name}: strongest weighted-Spearman pairs (retained solutions; + = truth)", y=1.01)
    fig.tight_layout()
    return save(fig, out, f"{t.name}_hexbin.png")


def fig_pca(t, out):
    if t.pca is None or t.pca.shape[0] < 2:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 5))
    y = t.pca[:, 1] if t.pca.shape[1] > 1 else np.zeros(len(t.pca))
    noise = t.labels < 0
    ax.scatter(t.pca[noise, 0], y[noise], s=7, c=NOISE_COLOUR, label=f"noise ({noise.sum()})", alpha=0.7)
    cols = colours(max(t.n_clusters, 1))
    for c in range(t.n_clusters):
        sel = t.labels == c
        ax.scatter(t.pca[sel, 0], y[sel], s=8, color=cols[c], label=f"cluster {c} ({sel.sum()})", alpha=0.8)
    gc = t.group_colours()
    for g, m in enumerate(t.medoid):
        ax.plot(t.pca[m, 0], y[m], "X", ms=13, mec="k", mfc=gc[g] if t.group_kind == "clusters" else "w")
    ev = t.pca_explained if t.pca_explained is not None else [np.nan, np.nan]
    ax.set_xlabel(f"PC 1 ({100 * ev[0]:.0f} % of the variance)")
    ax.set_ylabel(f"PC 2 ({100 * ev[1]:.0f} %)" if len(ev) > 1 else "PC 2")
    ax.set_title(f"{t.name}: PCA of the z-scored retained solutions (X = medoid)\n{t.cl_message}", fontsize=10)
    ax.legend(fontsize=8, markerscale=1.5)
    return save(fig, out, f"{t.name}_pca.png")


def fig_cluster_marginals(t, out):
    fig, axes = grid(t.p)
    gc = t.group_colours()
    for j, ax in enumerate(axes):
        if j >= t.p:
            break
        bins = np.linspace(t.lower[j], t.upper[j], 31)
        if t.group_kind == "clusters":
            noise = t.labels < 0
            if noise.any():
                ax.hist(t.params[noise, j], bins=bins, color=NOISE_COLOUR, alpha=0.6, label="noise")
            for g, lab in enumerate(t.group_label):
                sel = t.labels == lab
                ax.hist(t.params[sel, j], bins=bins, histtype="step", lw=1.6, color=gc[g], label=t.group_names[g])
        else:
            ax.hist(t.params[:, j], bins=bins, histtype="step", lw=1.6, color=gc[0], label=t.group_names[0])
        for g in range(len(t.group_names)):
            ax.axvline(t.medoid_params[g, j], color=gc[g], ls=":", lw=1.2)
        if np.isfinite(t.truth[j]):
            ax.axvline(t.truth[j], color="k", ls="--", lw=1.1)
        ax.set_xlabel(label(t.names[j], t.units[j]))
        ax.set_yticks([])
    axes[0].legend(fontsize=7)
    fig.suptitle(f"{t.name}: cluster-resolved marginals (dotted = medoid, dashed = truth)", y=1.01)
    fig.tight_layout()
    return save(fig, out, f"{t.name}_cluster_marginals.png")


def fig_jacobian(t, out):
    j = t.sens["jacobian_median_rownorm"]
    n = [LABELS.get(x, x) for x in t.names]
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    lim = np.nanmax(np.abs(j)) or 1
    q = t.sens.get("q", t.q)  # the fitted points (older analysis files: the whole grid)
    im = ax.imshow(j.T, aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim,
                   extent=(q[0], q[-1], t.p - 0.5, -0.5), interpolation="nearest")
    ax.set_yticks(range(t.p))
    ax.set_yticklabels(n)
    ax.set_xlabel("q [Å⁻¹]")
    if np.isfinite(t.q_max) and t.q_max < q[-1]:
        ax.axvline(t.q_max, color="k", ls="--", lw=0.8)
    ax.set_title(f"{t.name}: median ∂log10 I_PI/∂θ̃ on the fitted points over the retained solutions (each q row normalised)", fontsize=10)
    fig.colorbar(im, ax=ax, label="signed, row-normalised")
    return save(fig, out, f"{t.name}_jacobian.png")


def fig_sensitivity(t, out):
    g = t.sens["global"]
    per = t.sens.get("global_per_group")
    n = [LABELS.get(x, x) for x in t.names]
    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    x = np.arange(t.p)
    if per is not None and per.shape[0] > 1:
        w = 0.8 / (per.shape[0] + 1)
        ax.bar(x - 0.4 + w / 2, g, w, color="k", label="all retained (median J)")
        for k, c in enumerate(t.group_colours()[:per.shape[0]]):
            ax.bar(x - 0.4 + w * (k + 1.5), per[k], w, color=c, label=t.group_names[k])
        ax.legend(fontsize=7)
    else:
        ax.bar(x, g, color="tab:blue")
    ax.set_xticks(x)
    ax.set_xticklabels(n)
    ax.set_yscale("log")
    ax.set_ylabel("RMS over q of median J")
    ax.set_title(f"{t.name}: global sensitivity of log10 I_PI to each scaled parameter", fontsize=10)
    return save(fig, out, f"{t.name}_sensitivity.png")


def fig_coupling(t, out):
    n = [LABELS.get(x, x) for x in t.names]
    fig, ax = plt.subplots(figsize=(1.0 + 0.55 * t.p + 1.5, 0.55 * t.p + 1.6))
    im = heatmap(ax, t.sens["coupling"], n, f"{t.name}: coupling (cosine of median Jacobian columns)")
    fig.colorbar(im, ax=ax, shrink=0.8)
    return save(fig, out, f"{t.name}_coupling.png")


def fig_gauss_newton(t, out):
    ev = t.sens["gauss_newton_eigenvalues"]
    med = t.sens["gauss_newton_median_eigenvalues"]
    vec = t.sens["gauss_newton_median_eigenvectors"]
    n = [LABELS.get(x, x) for x in t.names]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 3.9), gridspec_kw={"width_ratios": [1.1, 1]})
    floor = max(np.nanmax(ev) * 1e-16, 1e-300) if ev.size else 1e-300
    ax.boxplot([np.maximum(ev[:, k], floor) for k in range(ev.shape[1])], whis=(5, 95), showfliers=False)
    ax.plot(np.arange(1, len(med) + 1), np.maximum(med, floor), "rD", ms=5, label="JᵀJ of the median J")
    ax.set_yscale("log")
    ax.set_xlabel("eigenvalue index (stiff → sloppy)")
    ax.set_ylabel("eigenvalue of JᵀJ")
    ax.legend(fontsize=8)
    ax.set_title("Gauss–Newton spectrum per retained solution (5–95 %)", fontsize=10)
    im = ax2.imshow(vec, cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
    ax2.set_yticks(range(t.p))
    ax2.set_yticklabels(n)
    ax2.set_xticks(range(t.p))
    ax2.set_xticklabels([str(i + 1) for i in range(t.p)])
    ax2.set_xlabel("eigenvector (stiff → sloppy)")
    ax2.set_title("eigenvectors of JᵀJ (median J)", fontsize=10)
    fig.colorbar(im, ax=ax2, shrink=0.8)
    fig.suptitle(t.name, y=1.02)
    fig.tight_layout()
    return save(fig, out, f"{t.name}_gauss_newton.png")


def fig_radius(t, out):
    if t.radius is None or t.radius_pdf is None:
        return None
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    for g, c in enumerate(t.group_colours()):
        m = t.medoid_params[g]
        ax.plot(t.radius, t.radius_pdf[g], color=c, lw=1.8,
                label=f"{t.group_names[g]}: m_r {m[t.names.index('m_r')]:.0f} Å, s_r {m[t.names.index('s_r')]:.0f} Å")
    if np.isfinite(t.truth[t.names.index("m_r")]):
        ax.axvline(t.truth[t.names.index("m_r")], color="k", ls="--", lw=1, label="true m_r")
    ax.set_xlabel("radius r [Å]")
    ax.set_ylabel("p(r) [Å⁻¹]")
    ax.set_title(f"{t.name}: radius distribution of each medoid (truncated log-normal on "
                 f"[{t.trunc[0]:.0f}, {t.trunc[1]:.0f}] Å)", fontsize=10)
    ax.legend(fontsize=8)
    return save(fig, out, f"{t.name}_radius.png")


def fig_lengthscale(t, out):
    if t.length is None or t.length_mass is None:
        return None
    fig, ax = plt.subplots(figsize=(6.5, 3.8))
    for g, c in enumerate(t.group_colours()):
        ax.plot(t.length, t.length_mass[g], color=c, lw=1.8,
                label=f"{t.group_names[g]}: peak {t.length_peak[g]:.0f} Å")
        ax.axvline(t.length_peak[g], color=c, ls=":", lw=1)
    ax.set_xscale("log")
    ax.set_xlabel("length scale ℓ = 2π/q [Å]")
    ax.set_ylabel("spectral mass q²P(q) (area 1 over q)")
    ax.set_title(f"{t.name}: length-scale spectral mass of each medoid's interior", fontsize=10)
    ax.legend(fontsize=8)
    return save(fig, out, f"{t.name}_lengthscale.png")


def fig_slices(t, out):
    if t.slice is None:
        return None
    ng = t.slice.shape[0]
    n = t.slice.shape[1]
    half = n / 2 * t.slice_dx
    lo, hi = np.percentile(t.slice, [1, 99])
    fig, axes = plt.subplots(1, ng, figsize=(3.6 * ng + 0.8, 3.6), squeeze=False)
    for g, ax in enumerate(axes.flat):
        im = ax.imshow(t.slice[g].T, origin="lower", cmap="magma", vmin=lo, vmax=hi,
                       extent=(-half, half - t.slice_dx, -half, half - t.slice_dx))
        ax.add_patch(plt.Circle((0, 0), t.slice_radius[g], fill=False, color="c", lw=0.8, ls="--"))
        ax.set_title(f"{t.group_names[g]} (R = {t.slice_radius[g]:.0f} Å)", fontsize=9)
        ax.set_xlabel("x [Å]")
        if g == 0:
            ax.set_ylabel("y [Å]")
    fig.colorbar(im, ax=list(axes.flat), shrink=0.85, label="density ρ (solvent = 1)")
    fig.suptitle(f"{t.name}: central slice of one realised density field per medoid", y=1.02)
    return save(fig, out, f"{t.name}_slices.png")


def truth_errors(t):
    """Rows (name, truth, best, medoid of the largest group, retained median) and relative errors."""
    if not t.synthetic or t.best_params is None:
        return None
    big = int(np.argmax(t.group_size))
    rows = []
    for j, n in enumerate(t.names):
        if not np.isfinite(t.truth[j]):
            continue
        med = float(np.median(t.params[:, j]))
        rows.append((n, t.units[j], t.truth[j], t.best_params[j], t.medoid_params[big, j], med, t.span[j]))
    return rows


def fig_truth(t, out, rows):
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    x = np.arange(len(rows))
    w = 0.27
    for k, (lab, idx, c) in enumerate([("best fit", 3, "tab:red"), ("medoid (largest group)", 4, "tab:green"),
                                       ("retained median", 5, "tab:blue")]):
        ax.bar(x + (k - 1) * w, [100 * (r[idx] - r[2]) / r[6] for r in rows], w, color=c, label=lab)
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xticks(x)
    ax.set_xticklabels([LABELS.get(r[0], r[0]) for r in rows])
    ax.set_ylabel("error / fit-box width [%]")
    ax.set_title(f"{t.name}: parameter errors against the ground truth", fontsize=10)
    ax.legend(fontsize=8)
    return save(fig, out, f"{t.name}_truth.png")


# --- HTML ----------------------------------------------------------------------------------------

CSS = """
body { font-family: sans-serif; max-width: 1200px; margin: 2em auto; color: #222; }
h1 { border-bottom: 2px solid #444; } h2 { border-bottom: 1px solid #aaa; margin-top: 2.5em; }
img { max-width: 100%; border: 1px solid #ddd; margin: 0.4em 0; }
table { border-collapse: collapse; font-size: 0.9em; margin: 0.6em 0; }
td, th { border: 1px solid #ccc; padding: 2px 8px; text-align: right; }
th { background: #f0f0f0; } td:first-child, th:first-child { text-align: left; }
.warn { color: #a40; } .note { color: #555; font-size: 0.9em; }
.figs { display: flex; flex-wrap: wrap; gap: 8px; } .figs img { max-width: 49%; }
"""


def summary(t, rows):
    r = t.ret
    e = html.escape
    lines = [f"<p><b>{e(t.model)}</b> model, data <code>{e(t.source)}</code>; fit window q ≤ {fmt(t.q_max, 3)} Å⁻¹.</p>"]
    if t.loss:
        split = ""
        if len(t.loss_terms) == 2 and t.loss_terms[1] != "-" and t.loss_shares.size == 2:
            split = (f" (best restart: {e(t.loss_terms[0])} term {100 * t.loss_shares[0]:.1f} %, "
                     f"{e(t.loss_terms[1])} term {100 * t.loss_shares[1]:.1f} %)")
        pts = f" over {t.fitted_points} measured points" if t.fitted_points > 0 else ""
        lines.append(f"<p><b>Loss.</b> {e(t.loss)}{pts}{split}.</p>")
    if "quadrature_nodes" in t.quad:
        qd = t.quad
        lines.append(
            f"<p><b>Quadrature.</b> {e(s(qd.get('quadrature_rule', '')))} rule, K = {int(qd['quadrature_nodes'])}"
            f" (checked from K = {int(qd.get('quadrature_nodes_configured', qd['quadrature_nodes']))} to a K-vs-2K"
            f" tolerance of {fmt(float(qd.get('quadrature_tolerance', np.nan)))} in log10 I); K-vs-2K error at the best"
            f" restart {fmt(float(qd.get('quadrature_error_best', np.nan)))}.</p>")
    kept_pct = 100 * len(t.kept) / max(int(r["n_valid"]), 1)
    bound = s(r["bound"])
    lines.append(
        f"<p><b>Retention.</b> {int(r['n_total'])} restarts, {int(r['n_valid'])} with a finite loss"
        f" ({int(r['n_invalid'])} NaN excluded). L* = {fmt(float(r['l_star']))} (mean RMSE_log of the best"
        f" {int(r['n_best'])}); {int(r['n_accepted'])} within {fmt(float(r['alpha']), 3)}·L*; kept {len(t.kept)}"
        f" ({kept_pct:.1f} %{'' if bound == 'none' else ', the ' + bound + ' bound applied'}).</p>")
    if t.pairs.size:
        top = ", ".join(f"{LABELS.get(t.names[a], t.names[a])}–{LABELS.get(t.names[b], t.names[b])} "
                        f"({t.spearman[a, b]:+.2f})" for a, b in t.pairs[:3])
        lines.append(f"<p><b>Correlations.</b> Strongest loss-weighted Spearman pairs: {top}.</p>")
    cl = f"<p><b>Clustering.</b> {e(t.cl_message)}."
    if t.group_kind == "clusters":
        sizes = ", ".join(f"{n}: {k}" for n, k in zip(t.group_names, t.group_size))
        cl += f" Cluster sizes — {sizes}."
        if t.n_clusters == 1:
            cl += " A single basin: the retained fits agree on one solution."
        else:
            cl += f" {t.n_clusters} distinct basins fit the data about equally well (a non-identifiable structure)."
    else:
        cl += " The medoid views below summarise all retained solutions."
    lines.append(cl + "</p>")
    head = "".join(f"<th>{e(label(n, u))}</th>" for n, u in zip(t.names, t.units))
    body = ""
    for g, name in enumerate(t.group_names):
        body += f"<tr><td>{e(name)} ({t.group_size[g]})</td>" + "".join(
            f"<td>{fmt(v)}</td>" for v in t.medoid_params[g]) + "</tr>"
    if t.synthetic:
        body += "<tr><td><i>truth</i></td>" + "".join(f"<td>{fmt(v)}</td>" for v in t.truth) + "</tr>"
    lines.append(f"<p><b>Medoids</b> (parameters of the most central solution of each group):</p>"
                 f"<table><tr><th>group</th>{head}</tr>{body}</table>")
    if t.length_peak is not None:
        peaks = ", ".join(f"{n}: {p:.0f} Å" for n, p in zip(t.group_names, t.length_peak))
        lines.append(f"<p><b>Length scales.</b> Peak of the interior's spectral mass — {peaks}.</p>")
    if t.sens_status == "ok":
        g = t.sens["global"]
        order = np.argsort(g)[::-1]
        ev = t.sens["gauss_newton_median_eigenvalues"]
        vec = t.sens["gauss_newton_median_eigenvectors"]
        sloppy = np.argsort(np.abs(vec[:, -1]))[::-1][:2]
        cond = ev[0] / ev[-1] if ev[-1] > 0 else np.inf
        note = " (synthetic debug model, not physics)" if t.sens_model.startswith("debug") else ""
        lines.append(
            f"<p><b>Sensitivity</b>{note}. Most constrained: "
            f"{', '.join(LABELS.get(t.names[k], t.names[k]) for k in order[:3])}; least: "
            f"{', '.join(LABELS.get(t.names[k], t.names[k]) for k in order[-2:])}. Gauss–Newton eigenvalues span"
            f" {fmt(cond, 3)}× (stiff/sloppy); the sloppiest direction is mostly "
            f"{' and '.join(LABELS.get(t.names[k], t.names[k]) for k in sloppy)}.</p>")
    else:
        lines.append(f"<p class='note'><b>Sensitivity</b> not computed: {e(t.sens_status)}.</p>")
    if rows:
        tr = "".join(
            f"<tr><td>{e(label(n, u))}</td><td>{fmt(tv)}</td><td>{fmt(b)}</td><td>{fmt(m)}</td><td>{fmt(md)}</td>"
            f"<td>{100 * (b - tv) / sp:+.1f} %</td><td>{100 * (m - tv) / sp:+.1f} %</td></tr>"
            for n, u, tv, b, m, md, sp in rows)
        lines.append("<p><b>Synthetic target: parameter errors against the ground truth</b> "
                     "(error in % of the fit-box width):</p><table><tr><th>parameter</th><th>truth</th><th>best</th>"
                     "<th>medoid</th><th>retained median</th><th>best err</th><th>medoid err</th></tr>"
                     f"{tr}</table>")
    for w in t.warnings:
        lines.append(f"<p class='warn'>⚠ {e(w)}</p>")
    return "\n".join(lines)


def integrity_problem(path, producer="lnpsaxs-analyze"):
    """What makes an analysis file unusable, as a phrase after its path, or None: not an HDF5 file,
    not flagged complete, or a virtual dataset whose source file is missing or not complete (the
    report never draws HDF5 fill values as data)."""
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        return f"cannot be read as HDF5 ({e})"
    with f:
        if int(np.asarray(f.attrs.get("complete", 0))) != 1:
            return f"is not flagged complete (rerun {producer})"
        found = []

        def visit(name, obj):
            if isinstance(obj, h5py.Dataset) and obj.is_virtual:
                for src in obj.virtual_sources():
                    if src.file_name == ".":
                        continue
                    full = src.file_name if os.path.isabs(src.file_name) else \
                        os.path.join(os.path.dirname(path), src.file_name)
                    try:
                        with h5py.File(full, "r") as g:
                            ok = int(np.asarray(g.attrs.get("complete", 0))) == 1 and src.dset_name in g
                    except OSError:
                        ok = False
                    if not ok:
                        found.append(f"has a bad source: {full} is missing or not complete (virtual dataset /{name})")
                        return True
            return None

        f.visititems(visit)
        return found[0] if found else None


# --- posterior (RUN/posterior/<name>/posterior.h5, lnpsaxs-sample-posterior) -------------------

POSTERIOR_COLOUR, ENSEMBLE_COLOUR, COMPANION_COLOUR = colours(3)  # blue, orange, green
RHAT_LIMIT = 1.01  # the stage's convergence rule: every split R-hat <= 1.01
MAX_POINTS = 4000  # most points of one scatter


def posterior_path(run, name):
    return os.path.join(run, "posterior", name, "posterior.h5")


class Posterior:
    """One target's HMC posterior: the pooled draws in physical units, the per-parameter summary and
    the convergence record. With draws=False only the attributes (for pairing companions)."""

    SUMMARY = ("mean", "sd", "q05", "q50", "q95", "rhat", "ess_bulk", "ess_tail")

    def __init__(self, path, draws=True):
        self.path = path
        with h5py.File(path, "r") as f:
            a = f.attrs
            self.name = s(a["target"])
            self.model = s(a.get("model", ""))
            self.source = s(a.get("source", ""))
            self.names = strings(a["parameter_names"])
            self.size_prior = no_none(s(a.get("size_prior", "")))
            self.likelihood = s(a.get("likelihood", ""))
            self.truth = np.asarray(a["truth_values"], float) if "truth_values" in a else None
            self.converged = int(np.asarray(a["converged"])) if "converged" in a else None
            self.rhat_max = float(np.asarray(a.get("rhat_max", np.nan)))
            self.n_divergent = int(np.asarray(a.get("n_divergent", 0)))
            self.ess_bulk_min = float(np.asarray(a.get("ess_bulk_min", np.nan)))
            self.ess_tail_min = float(np.asarray(a.get("ess_tail_min", np.nan)))
            if not draws:
                return
            d = np.asarray(f["/draws"][()], float)
            p = len(self.names)
            if d.ndim != 3 or d.shape[2] != p:
                raise ValueError(f"/draws has shape {d.shape}, not [chains, draws, {p}]")
            self.chains, self.per_chain = d.shape[0], d.shape[1]
            pooled = d.reshape(-1, p)
            self.pooled = pooled[np.isfinite(pooled).all(axis=1)]
            self.summary = {}
            for k in self.SUMMARY:
                path_k = "/summary/" + k
                v = np.asarray(f[path_k][()], float) if path_k in f else None
                self.summary[k] = v if v is not None and v.shape == (p,) else self._from_draws(k, p)
        if not math.isfinite(self.rhat_max) and np.isfinite(self.summary["rhat"]).any():
            self.rhat_max = float(np.nanmax(self.summary["rhat"]))

    def _from_draws(self, k, p):
        """A summary column the file lacks, from the pooled draws (R-hat and ESS: unknown)."""
        x = self.pooled
        if not len(x) or k in ("rhat", "ess_bulk", "ess_tail"):
            return np.full(p, np.nan)
        if k == "mean":
            return x.mean(axis=0)
        if k == "sd":
            return x.std(axis=0, ddof=1) if len(x) > 1 else np.zeros(p)
        return np.percentile(x, {"q05": 5, "q50": 50, "q95": 95}[k], axis=0)

    def truth_or(self, fallback):
        return self.truth if self.truth is not None and self.truth.shape == fallback.shape else fallback


def load_posterior(run, t):
    """(Posterior or None, problem): the complete posterior of target t, if there is one. A posterior
    file that cannot be used is named (stderr and the section) and left out, never fatal."""
    path = posterior_path(run, t.name)
    if not os.path.exists(path):
        return None, ""
    problem = integrity_problem(path, "lnpsaxs-sample-posterior")
    post = None
    if not problem:
        try:
            post = Posterior(path)
            if post.names != t.names:
                problem = f"has the parameters {', '.join(post.names)}, not those of the analysis file"
        except (OSError, KeyError, ValueError) as ex:
            problem = f"cannot be read ({ex})"
    if problem:
        print(f"report.py: warning: {path} {problem}: the report leaves the posterior out", file=sys.stderr)
        return None, f"{path} {problem}"
    return post, ""


def posterior_index(run, files):
    """(index, order): target name -> attributes of its complete posterior (Posterior without draws)
    for every analysis file that has one; order: all target names in file order."""
    index, order = {}, []
    for path in files:
        with h5py.File(path, "r") as f:
            name = s(f.attrs["target"])
        order.append(name)
        p = posterior_path(run, name)
        if os.path.exists(p) and not integrity_problem(p, "lnpsaxs-sample-posterior"):
            try:
                index[name] = Posterior(p, draws=False)
            except (OSError, KeyError, ValueError):
                pass
    return index, order


def companion(name, index, order):
    """The target that fits the same data (source) with the same model and parameters, with the size
    prior where `name` has none or without it where `name` has one, or None. Of several such, the
    one whose name shares the longest prefix with `name`, then the first in file order."""
    me = index.get(name)
    if me is None:
        return None
    cands = [n for n in order if n != name and n in index and index[n].source == me.source
             and index[n].model == me.model and index[n].names == me.names
             and bool(index[n].size_prior) != bool(me.size_prior)]
    if not cands:
        return None
    return max(cands, key=lambda n: (len(os.path.commonprefix([n, name])), -order.index(n)))


def rhat_text(v):
    v = float(v)
    return f"{v:.4f}" if math.isfinite(v) else "–"


def ess_text(v):
    v = float(v)
    return f"{v:.0f}" if math.isfinite(v) else "–"


def thin(x, n=MAX_POINTS):
    """At most n rows of x, evenly spaced (the pooled draws run chain after chain, so every chain
    keeps its share)."""
    if len(x) <= n:
        return x
    return x[np.linspace(0, len(x) - 1, n).astype(int)]


def prior_labels(post, comp):
    """Legend labels of a posterior and of its companion's."""
    if comp is None:
        return "posterior", None
    return (("posterior with size prior", "posterior without size prior") if post.size_prior else
            ("posterior without size prior", "posterior with size prior"))


def posterior_bins(t, j, posts):
    """Histogram bins over the fit box of parameter j, fine enough to resolve the narrowest of
    the posteriors (about 15 bins across its 90 % interval, 30 to 400 over the box)."""
    lo, hi = t.lower[j], t.upper[j]
    span = hi - lo if hi > lo else 1.0
    widths = [(p.summary["q95"][j] - p.summary["q05"][j]) / 15 for p in posts]
    widths = [w for w in widths if np.isfinite(w) and w > 0]
    w = min(max(min(widths, default=span / 30), span / 400), span / 30)
    return np.linspace(lo, hi, int(math.ceil(span / w)) + 1)


def fig_posterior_marginals(t, post, comp, out):
    fig, axes = grid(t.p)
    own, other = prior_labels(post, comp)
    truth = post.truth_or(t.truth)
    # the posterior without the size prior underneath, the (usually narrower) one with it on top
    layers = [(post, own, POSTERIOR_COLOUR)] + ([(comp, other, COMPANION_COLOUR)] if comp is not None else [])
    layers.sort(key=lambda x: bool(x[0].size_prior))
    for j, ax in enumerate(axes):
        if j >= t.p:
            break
        bins = posterior_bins(t, j, [x[0] for x in layers])
        hists = [np.histogram(p.pooled[:, j], bins=bins, density=True)[0] if len(p.pooled) else np.zeros(len(bins) - 1)
                 for p, _, _ in layers]
        peak = max(float(h.max()) for h in hists) or 1.0
        if len(t.kept):  # the retained ensemble's marginal (optima, not a density): scaled to the posterior's peak
            ens, _ = np.histogram(t.params[:, j], bins=30, range=(t.lower[j], t.upper[j]), weights=t.weight)
            if ens.max() > 0:
                ax.hist(t.params[:, j], bins=30, range=(t.lower[j], t.upper[j]), weights=t.weight * peak / ens.max(),
                        color=ENSEMBLE_COLOUR, alpha=0.4, label="retained ensemble (scaled)")
        for (p, lab, c), h in zip(layers, hists):
            if p is post:
                ax.stairs(h, bins, fill=True, color=c, alpha=0.7, label=lab)
            else:
                ax.stairs(h, bins, color=c, lw=1.5, label=lab)
        ax.axvspan(post.summary["q05"][j], post.summary["q95"][j], color=POSTERIOR_COLOUR, alpha=0.13, lw=0,
                   label="90 % credible interval")
        if np.isfinite(truth[j]):
            ax.axvline(truth[j], color="k", ls="--", lw=1.2, label="truth")
        ax.set_xlim(t.lower[j], t.upper[j])
        rhat = post.summary["rhat"][j]
        bad = np.isfinite(rhat) and rhat > RHAT_LIMIT
        ax.set_title(f"R̂ = {rhat_text(rhat)}", fontsize=9, color="tab:red" if bad else "k")
        ax.set_xlabel(label(t.names[j], t.units[j]))
        ax.set_yticks([])
    handles, labels = axes[0].get_legend_handles_labels()
    fig.suptitle(f"{t.name}: posterior marginals ({post.chains} chains × {post.per_chain} draws; x range = fit box)",
                 y=1.01)
    fig.tight_layout()
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=len(labels), fontsize=8)
    return save(fig, out, f"{t.name}_posterior_marginals.png")


def pair_parameters(t, post, k=5):
    """(indices, correlation): m_r and s_r, then the parameters whose draws correlate most (|Pearson|)
    with either, k in all; the Pearson matrix of the draws."""
    size = [t.names.index(n) for n in ("m_r", "s_r") if n in t.names] or list(range(min(2, t.p)))
    if len(post.pooled) > 2:
        with np.errstate(all="ignore"):
            corr = np.atleast_2d(np.corrcoef(post.pooled, rowvar=False))
    else:
        corr = np.full((t.p, t.p), np.nan)
    strength = np.nan_to_num(np.abs(corr))
    rest = sorted((j for j in range(t.p) if j not in size), key=lambda j: -max(strength[j, i] for i in size))
    return (size + rest)[:k], corr


def fig_posterior_pairs(t, post, comp, out):
    from matplotlib.lines import Line2D
    sel, corr = pair_parameters(t, post)
    n = len(sel)
    if n < 2 or not len(post.pooled):
        return None
    own, other = prior_labels(post, comp)
    truth = post.truth_or(t.truth)
    layers = [(post, own, POSTERIOR_COLOUR)] + ([(comp, other, COMPANION_COLOUR)] if comp is not None else [])
    layers.sort(key=lambda x: bool(x[0].size_prior))  # with the size prior drawn on top
    lim = {}
    for j in sel:  # zoom on the draws (0.5-99.5 %) and the truth, within the fit box
        v = np.concatenate([p.pooled[:, j] for p, _, _ in layers])
        a, b = np.percentile(v, [0.5, 99.5])
        if np.isfinite(truth[j]):
            a, b = min(a, truth[j]), max(b, truth[j])
        pad = 0.12 * (b - a) if b > a else 0.01 * (t.span[j] or 1.0)
        lim[j] = (max(t.lower[j], a - pad), min(t.upper[j], b + pad))
    ens = thin(t.params)
    pts = [(thin(p.pooled), c) for p, _, c in layers]
    fig, axes = plt.subplots(n, n, figsize=(2.3 * n + 0.4, 2.3 * n), squeeze=False)
    for r, i in enumerate(sel):  # row: the parameter on y
        for c, j in enumerate(sel):  # column: the parameter on x
            ax = axes[r, c]
            if c > r:
                ax.axis("off")
                continue
            if c == r:
                bins = np.linspace(lim[j][0], lim[j][1], 41)
                for p, _, col in layers:
                    if p is post:
                        ax.hist(p.pooled[:, j], bins=bins, density=True, color=col, alpha=0.7)
                    else:
                        ax.hist(p.pooled[:, j], bins=bins, density=True, histtype="step", lw=1.4, color=col)
                if np.isfinite(truth[j]):
                    ax.axvline(truth[j], color="k", ls="--", lw=1.1)
                ax.set_yticks([])
            else:
                if len(ens):
                    ax.scatter(ens[:, j], ens[:, i], s=5, color="0.6", alpha=0.6, lw=0)
                for x, col in pts:
                    ax.scatter(x[:, j], x[:, i], s=2, color=col, alpha=0.3, lw=0, rasterized=True)
                if np.isfinite(truth[i]) and np.isfinite(truth[j]):
                    ax.plot(truth[j], truth[i], "r+", ms=11, mew=2)
                ax.set_ylim(lim[i])
                ax.text(0.03, 0.96, f"r = {corr[i, j]:+.2f}" if np.isfinite(corr[i, j]) else "r = –",
                        transform=ax.transAxes, fontsize=7, va="top")
                if c == 0:
                    ax.set_ylabel(label(t.names[i], t.units[i]), fontsize=8)
                else:
                    ax.set_yticklabels([])
            ax.set_xlim(lim[j])
            if r == n - 1:
                ax.set_xlabel(label(t.names[j], t.units[j]), fontsize=8)
            else:
                ax.set_xticklabels([])
            ax.tick_params(labelsize=7)
    handles = [Line2D([], [], marker="o", ls="", color=col, label=lab) for _, lab, col in layers]
    handles.append(Line2D([], [], marker="o", ls="", color="0.6", label="retained ensemble"))
    if np.isfinite(truth[sel]).any():
        handles.append(Line2D([], [], marker="+", ls="", color="r", mew=2, ms=10, label="truth"))
    fig.suptitle(f"{t.name}: posterior pairs — m_r, s_r and the parameters most correlated with them\n"
                 f"(r = Pearson of the draws; at most {MAX_POINTS} points each; axes zoomed on the draws)", y=1.0)
    fig.tight_layout()
    axes[0, n - 1].legend(handles=handles, loc="upper right", fontsize=8)  # in the empty upper triangle
    return save(fig, out, f"{t.name}_posterior_pairs.png")


def prior_sd_table(t, post, comp):
    """The posterior SD of each parameter without and with the size prior, and their ratio."""
    e = html.escape
    with_p, without = (post, comp) if post.size_prior else (comp, post)
    rows = ""
    for j, (n, u) in enumerate(zip(t.names, t.units)):
        a, b = without.summary["sd"][j], with_p.summary["sd"][j]
        ratio = a / b if np.isfinite(a) and np.isfinite(b) and b > 0 else np.nan
        cell = f"×{ratio:.2f}" if np.isfinite(ratio) else "–"
        if np.isfinite(ratio) and ratio >= 2:
            cell = f"<b>{cell}</b>"
        rows += f"<tr><td>{e(label(n, u))}</td><td>{fmt(float(a), 3)}</td><td>{fmt(float(b), 3)}</td><td>{cell}</td></tr>"
    return (f"<p><b>With and without the size prior.</b> <code>{e(without.name)}</code> and <code>{e(with_p.name)}</code>"
            f" fit the same data with the same {e(t.model)} model, the latter with the size prior"
            f" ({e(with_p.size_prior)}). Posterior SD of each parameter without and with it: a ratio well above 1"
            f" marks a direction (degeneracy) the orthogonal size data removed.</p>"
            f"<table><tr><th>parameter</th><th>SD without size prior</th><th>SD with size prior</th>"
            f"<th>SD shrinks</th></tr>{rows}</table>")


def posterior_summary(t, post, comp):
    e = html.escape
    sm = post.summary
    lines = [f"<p><b>Posterior</b> (lnpsaxs-sample-posterior: {post.chains} chains × {post.per_chain} draws, "
             f"<code>posterior/{e(t.name)}/posterior.h5</code>): R-hat max {rhat_text(post.rhat_max)}, smallest bulk / tail"
             f" ESS {ess_text(post.ess_bulk_min)} / {ess_text(post.ess_tail_min)}.</p>"]
    if post.converged == 0:
        lines.append(f"<p class='warn'><b>⚠ not converged: R-hat max {rhat_text(post.rhat_max)} > {RHAT_LIMIT}; "
                     f"do not use these intervals.</b></p>")
    elif post.converged is None:
        lines.append("<p class='warn'>⚠ the file records no convergence verdict (attribute converged).</p>")
    if post.n_divergent > 0:
        lines.append(f"<p class='warn'>⚠ {post.n_divergent} divergent transition(s): the sampler may have missed a "
                     f"part of the posterior.</p>")
    prior = e(post.size_prior) if post.size_prior else "none (the SAXS data alone)"
    lines.append(f"<p class='note'>Likelihood: {e(post.likelihood) or 'not recorded'}. Size prior: {prior}.</p>")
    truth = post.truth_or(t.truth)
    has_truth = bool(np.isfinite(truth).any())
    head = ("<tr><th>parameter</th><th>mean ± SD</th><th>90 % credible interval</th><th>R-hat</th><th>ESS bulk</th>"
            "<th>ESS tail</th>" + ("<th>truth</th><th>truth in interval</th>" if has_truth else "") + "</tr>")
    body = ""
    for j, (n, u) in enumerate(zip(t.names, t.units)):
        rh = float(sm["rhat"][j])
        rcell = f"<td class='warn'>{rhat_text(rh)}</td>" if np.isfinite(rh) and rh > RHAT_LIMIT else f"<td>{rhat_text(rh)}</td>"
        body += (f"<tr><td>{e(label(n, u))}</td><td>{fmt(float(sm['mean'][j]))} ± {fmt(float(sm['sd'][j]), 3)}</td>"
                 f"<td>[{fmt(float(sm['q05'][j]))}, {fmt(float(sm['q95'][j]))}]</td>{rcell}"
                 f"<td>{ess_text(sm['ess_bulk'][j])}</td><td>{ess_text(sm['ess_tail'][j])}</td>")
        if has_truth:
            tv = float(truth[j])
            inside = ("yes" if sm["q05"][j] <= tv <= sm["q95"][j] else "no") if np.isfinite(tv) else "–"
            body += f"<td>{fmt(tv)}</td><td>{inside}</td>"
        body += "</tr>"
    lines.append(f"<table>{head}{body}</table>")
    if comp is not None:
        lines.append(prior_sd_table(t, post, comp))
    return "\n".join(lines)


def posterior_toc(post):
    """The table-of-contents note on a target's posterior."""
    if post is None:
        return ""
    if post.converged == 0:
        return ", <span class='warn'>posterior not converged</span>"
    return ", posterior" + (" with size prior" if post.size_prior else "")


def posterior_block(run, t, index, order, out):
    """(html, figures, posterior): the section's posterior part, empty when t has no posterior file."""
    post, problem = load_posterior(run, t)
    if post is None:
        return (f"<p class='warn'>⚠ posterior left out: {html.escape(problem)}</p>" if problem else ""), [], None
    comp = None
    other = companion(t.name, index, order)
    if other is not None:
        try:
            comp = Posterior(posterior_path(run, other))
        except (OSError, KeyError, ValueError) as ex:
            print(f"report.py: warning: {posterior_path(run, other)} cannot be read ({ex})", file=sys.stderr)
        if comp is not None and (comp.names != t.names or not len(comp.pooled)):
            comp = None
    figs = [f for f in (fig_posterior_marginals(t, post, comp, out), fig_posterior_pairs(t, post, comp, out)) if f]
    imgs = "".join(f'<img src="{f}" alt="{f}">' for f in figs)
    return (f"<h3>Posterior</h3>\n{posterior_summary(t, post, comp)}\n<div class='figs'>{imgs}</div>"), figs, post


MANY_TARGETS = 20

SORT_JS = """<script>
function sortTable(th) {
  const table = th.closest('table'), body = table.tBodies[0], col = th.cellIndex;
  const asc = th.dataset.asc !== '1'; th.dataset.asc = asc ? '1' : '0';
  const key = r => { const t = r.cells[col].dataset.v ?? r.cells[col].textContent; const x = parseFloat(t);
                     return isNaN(x) ? t : x; };
  [...body.rows].sort((a, b) => { const x = key(a), y = key(b);
    return (x < y ? -1 : x > y ? 1 : 0) * (asc ? 1 : -1); }).forEach(r => body.appendChild(r));
}
</script>"""


def results_order(run, files):
    """The analysis files in RUN/results.csv order (config and file order), then any others by name."""
    import csv
    by_name = {os.path.basename(f)[:-3]: f for f in files}
    order, rows = [], {}
    path = os.path.join(run, "results.csv")
    if os.path.exists(path):
        with open(path, newline="", encoding="utf-8") as fh:
            for r in csv.DictReader(fh):
                rows[r["target"]] = r
                if r["target"] in by_name:
                    order.append(by_name[r["target"]])
    order += [f for f in files if f not in order]
    return order, rows


def fig_trend(targets, out):
    """Size parameters (best fit, and retained mean +- SD) across targets in file order."""
    params = [n for n in ("m_r", "s_r", "shell_thickness") if any(n in t.names for t in targets)]
    if not params:
        return None
    fig, axes = plt.subplots(len(params), 1, figsize=(max(7.5, 0.18 * len(targets)), 2.3 * len(params)),
                             sharex=True, squeeze=False)
    x = np.arange(len(targets))
    for ax, n in zip(axes[:, 0], params):
        best = np.array([t.params[0, t.names.index(n)] if n in t.names and len(t.kept) else np.nan
                         for t in targets])  # retained rows are best first
        mean = np.array([t.params[:, t.names.index(n)].mean() if n in t.names and len(t.kept) else np.nan
                         for t in targets])
        sd = np.array([t.params[:, t.names.index(n)].std() if n in t.names and len(t.kept) > 1 else 0.0
                       for t in targets])
        ax.errorbar(x, mean, yerr=sd, fmt="o", ms=3, capsize=2, color="C0", label="retained mean ± SD")
        ax.plot(x, best, "x", color="C3", ms=4, label="best fit")
        ax.set_ylabel(label(n, "Å"))
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8)
    axes[-1, 0].set_xticks(x)
    axes[-1, 0].set_xticklabels([t.name for t in targets], rotation=90, fontsize=7)
    axes[0, 0].set_title("size parameters across targets, in file order")
    return save(fig, out, "trend_sizes.png")


def render_many(run, out, files):
    """index.html as a sortable table linking to one page per target; a trend figure of sizes."""
    files, results = results_order(run, files)
    e = html.escape
    targets, rows = [], []
    index, order = posterior_index(run, files)
    for i, path in enumerate(files):
        t = Target(path)
        targets.append(t)
        figs = [fig_fit(t, out), fig_rmse_hist(t, out), fig_marginals(t, out), fig_spearman(t, out),
                fig_hexbin(t, out), fig_pca(t, out), fig_cluster_marginals(t, out)]
        if t.sens_status == "ok":
            figs += [fig_jacobian(t, out), fig_sensitivity(t, out), fig_coupling(t, out), fig_gauss_newton(t, out)]
        figs += [fig_radius(t, out), fig_lengthscale(t, out), fig_slices(t, out)]
        trows = truth_errors(t)
        figs.append(fig_truth(t, out, trows))
        imgs = "".join(f'<img src="{f}" alt="{f}">' for f in figs if f)
        pblock, pfigs, _ = posterior_block(run, t, index, order, out)
        figs += pfigs
        page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{e(t.name)}</title><style>{CSS}</style>"
                f"</head><body><p><a href='index.html'>← all {len(files)} targets</a></p><h2>{e(t.name)}</h2>\n"
                f"{summary(t, trows)}\n<div class='figs'>{imgs}</div>\n{pblock}</body></html>")
        link = f"target-{t.name}.html"
        with open(os.path.join(out, link), "w", encoding="utf-8") as fh:
            fh.write(page)
        r = results.get(t.name, {})
        def col(key):
            v = r.get(key, "")
            return f"<td data-v='{e(v)}'>{e(fmt(float(v))) if v not in ('', 'nan') else ''}</td>"
        pcols = "".join(col(k) for k in ("best_m_r [Å]", "sd_m_r [Å]", "best_s_r [Å]", "sd_s_r [Å]"))
        thumb = figs[0]
        rows.append(f"<tr><td data-v='{i}'>{i + 1}</td><td><a href='{e(link)}'>{e(t.name)}</a></td><td>{e(t.model)}</td>"
                    f"{col('rmse_log [log10]')}{col('chi2_per_n')}{pcols}<td data-v='{len(t.kept)}'>{len(t.kept)}</td>"
                    f"<td>{e(r.get('clusters', ''))}</td><td>{e(r.get('status', ''))}</td>"
                    f"<td><a href='{e(link)}'><img class='thumb' src='{e(thumb)}' alt='fit'></a></td></tr>")
        print(f"report.py: {t.name}: {sum(1 for f in figs if f)} figures")
    skipped = [n for n, r in results.items() if r.get("status") == "skipped"]
    trend = fig_trend(targets, out)
    head = "".join(f"<th onclick='sortTable(this)'>{h}</th>" for h in
                   ("#", "target", "model", "RMSE_log", "χ²/N", "best m_r [Å]", "SD m_r [Å]", "best s_r [Å]",
                    "SD s_r [Å]", "retained", "clusters", "status", "fit"))
    note = (f"<p class='warn'>Skipped (unreadable, fit.batch_skip_bad): {e(', '.join(skipped))}</p>" if skipped else "")
    page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>lnpsaxs report</title><style>{CSS}"
            f" img.thumb {{ width: 160px; }} th {{ cursor: pointer; }}</style>{SORT_JS}"
            f"</head><body><h1>lnpsaxs ensemble analysis: {len(files)} targets</h1><p class='note'>Run directory "
            f"<code>{e(os.path.abspath(run))}</code>. Every number is also in <code>results.csv</code> / "
            f"<code>results.h5</code>; click a column to sort, a target for its page.</p>{note}"
            + (f"<div class='figs'><img src='{trend}' alt='trend'></div>" if trend else "")
            + f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></body></html>")
    with open(os.path.join(out, "index.html"), "w", encoding="utf-8") as fh:
        fh.write(page)
    print(f"report.py: wrote {os.path.join(out, 'index.html')} ({len(files)} targets, one page each)")
    return 0


def render(run, out):
    files = sorted(glob.glob(os.path.join(run, "analysis", "*.h5")))
    if not files:
        print(f"report.py: {run}/analysis holds no *.h5: run lnpsaxs-analyze first", file=sys.stderr)
        return 2
    for path in files:
        problem = integrity_problem(path)
        if problem:
            print(f"report.py: error: {path} {problem}", file=sys.stderr)
            return 2
    os.makedirs(out, exist_ok=True)
    if len(files) > MANY_TARGETS:
        return render_many(run, out, files)
    sections, toc = [], []
    index, order = posterior_index(run, files)
    for path in files:
        t = Target(path)
        figs = [fig_fit(t, out), fig_rmse_hist(t, out), fig_marginals(t, out), fig_spearman(t, out),
                fig_hexbin(t, out), fig_pca(t, out), fig_cluster_marginals(t, out)]
        if t.sens_status == "ok":
            figs += [fig_jacobian(t, out), fig_sensitivity(t, out), fig_coupling(t, out), fig_gauss_newton(t, out)]
        figs += [fig_radius(t, out), fig_lengthscale(t, out), fig_slices(t, out)]
        rows = truth_errors(t)
        figs.append(fig_truth(t, out, rows))
        imgs = "".join(f'<img src="{f}" alt="{f}">' for f in figs if f)
        pblock, pfigs, post = posterior_block(run, t, index, order, out)
        figs += pfigs
        e = html.escape
        sections.append(f'<h2 id="{e(t.name)}">{e(t.name)}</h2>\n{summary(t, rows)}\n<div class="figs">{imgs}</div>'
                        f'\n{pblock}')
        toc.append(f'<li><a href="#{e(t.name)}">{e(t.name)}</a> — {e(t.model)}, {len(t.kept)} retained, '
                   f'{e(t.cl_message)}{posterior_toc(post)}</li>')
        print(f"report.py: {t.name}: {sum(1 for f in figs if f)} figures")
    page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>lnpsaxs report</title><style>{CSS}</style>"
            f"</head><body><h1>lnpsaxs ensemble analysis</h1><p class='note'>Run directory <code>"
            f"{html.escape(os.path.abspath(run))}</code>. Bånkestad et al. 2026 analysis: retention, loss-weighted "
            f"Spearman, HDBSCAN, PCA, medoids, Jacobian sensitivity.</p><ul>{''.join(toc)}</ul>"
            + "\n".join(sections) + "</body></html>")
    with open(os.path.join(out, "index.html"), "w", encoding="utf-8") as f:
        f.write(page)
    print(f"report.py: wrote {os.path.join(out, 'index.html')}")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run", help="run directory (holds analysis/*.h5)")
    ap.add_argument("--out", help="output folder (default RUN/report)")
    args = ap.parse_args()
    return render(args.run, args.out or os.path.join(args.run, "report"))


if __name__ == "__main__":
    sys.exit(main())
