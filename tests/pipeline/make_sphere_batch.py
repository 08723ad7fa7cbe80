#!/usr/bin/python3
"""Writes N small synthetic SAXS curves of polydisperse spheres with known (m_r, s_r) plus noise.

  make_sphere_batch.py DIR N [--first K] [--seed S] [--noise F]

Files DIR/sNN.dat (3 columns q [1/A], I, sigma; 150 points on [0.003, 0.1] 1/A) and DIR/truth.csv
(name, m_r, s_r). The truth is a number-weighted log-normal radius distribution with real-space mean
m_r and SD s_r, integrated here on a fine radius grid (independent of lnpsaxs' Gauss-Legendre
quadrature): I(q) = scale * sum_R p(R) [V(R) 3 (sin qR - qR cos qR) / (qR)^3]^2. Noise: Gaussian, relative
SD F (default 1 %), sigma = F * I. Curve k has m_r = 90 + 4 k A and s_r = 0.12 m_r: a size series.
"""
import argparse, os
import numpy as np

ap = argparse.ArgumentParser()
ap.add_argument("dir")
ap.add_argument("n", type=int)
ap.add_argument("--first", type=int, default=1)
ap.add_argument("--seed", type=int, default=5)
ap.add_argument("--noise", type=float, default=0.01)
a = ap.parse_args()
os.makedirs(a.dir, exist_ok=True)
q = np.linspace(0.003, 0.1, 150)
rows = []
for k in range(a.first, a.first + a.n):
    m, s = 90.0 + 4.0 * k, 0.12 * (90.0 + 4.0 * k)
    sig2 = np.log1p((s / m) ** 2)
    mu = np.log(m) - sig2 / 2
    r = np.linspace(max(m - 8 * s, 1.0), m + 8 * s, 4001)
    p = np.exp(-(np.log(r) - mu) ** 2 / (2 * sig2)) / (r * np.sqrt(2 * np.pi * sig2))
    w = p * (r[1] - r[0])
    x = np.outer(q, r)
    f = 3 * (np.sin(x) - x * np.cos(x)) / x ** 3 * (4 / 3 * np.pi * r ** 3)
    i = 1e-9 * (f ** 2 * w).sum(axis=1)
    rng = np.random.default_rng(a.seed * 1000 + k)
    obs = i * (1 + a.noise * rng.standard_normal(q.size))
    name = f"s{k:02d}"
    np.savetxt(os.path.join(a.dir, name + ".dat"), np.c_[q, obs, a.noise * i], fmt="%.10g",
               header=f"synthetic polydisperse spheres m_r={m} s_r={s} A, noise {a.noise}")
    rows.append(f"{name},{m},{s}")
with open(os.path.join(a.dir, "truth.csv"), "a") as fh:
    fh.write("\n".join(rows) + "\n")
