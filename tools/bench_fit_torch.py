#!/usr/bin/python3
"""The gold sphere fit written with PyTorch eager ops, in the style of the authors' notebooks
(fixed Gauss-Legendre nodes, batched Adam): the comparison side of tools/bench_fit.sh (issue 13).
Not a test.

Model: polydisperse sphere, log-normal radius (real-space mean m_r, SD s_r) truncated to [A, B],
integrated with K fixed Gauss-Legendre nodes in r on [A, B] weighted by the pdf; the form factor
(r^3 f(qr))^2 is recomputed at every step (eager, as the notebooks do); Porod-normalised over the
window with a background b: M = (1 - b Q1/Q_data) I/Q + b/Q_data; loss = MSE of log10 M against
the data at every measured point of the window. R restarts x S steps of Adam (beta2 0.9, lr 1e-2,
cosine to 0.1 lr, per-restart gradient clip 5) on sigmoid-mapped parameters, in float32.

  bench_fit_torch.py DATA [--q-min 0.002] [--q-max 0.06] [--restarts 256] [--steps 1000]
                          [--nodes 64] [--threads 2]
Prints one line of JSON: restart_steps_per_s, points, seconds, best (m_r, s_r, RMSE_log).
"""
import argparse
import json
import math
import time

import numpy as np
import torch


def load(path, q_min, q_max):
    rows = []
    with open(path) as f:
        for line in f:
            try:
                v = [float(x) for x in line.split()]
            except ValueError:
                continue
            if len(v) >= 2 and v[1] > 0 and q_min <= v[0] <= q_max:
                rows.append(v[:2])
    a = np.array(rows)
    return a[:, 0], a[:, 1]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("data")
    p.add_argument("--q-min", type=float, default=0.002)
    p.add_argument("--q-max", type=float, default=0.06)
    p.add_argument("--restarts", type=int, default=256)
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--nodes", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--truncation", type=float, nargs=2, default=(10.0, 600.0))
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    q_np, i_np = load(a.data, a.q_min, a.q_max)
    dt = torch.float32
    q = torch.tensor(q_np, dtype=dt)
    c = np.zeros_like(q_np)  # trapezoid weights
    c[:-1] += 0.5 * np.diff(q_np)
    c[1:] += 0.5 * np.diff(q_np)
    q_data = float(np.sum(c * q_np**2 * i_np))
    d = torch.tensor(i_np / q_data, dtype=dt)
    log_d = torch.log10(d)
    cq2 = torch.tensor(c * q_np**2, dtype=dt)
    q1 = float(np.sum(c * q_np**2))
    lo_r, hi_r = a.truncation
    x, w = np.polynomial.legendre.leggauss(a.nodes)
    r = torch.tensor(lo_r + (hi_r - lo_r) * (x + 1) / 2, dtype=dt)  # fixed nodes [K]
    wgl = torch.tensor(w / 2, dtype=dt)
    box = torch.tensor([[50.0, 300.0], [5.0, 100.0], [0.0, 2.0 * float(i_np.min())]], dtype=dt)
    u = 0.05 + 0.9 * torch.rand(a.restarts, 3)
    raw = torch.logit(u).requires_grad_(True)
    opt = torch.optim.Adam([raw], lr=1e-2, betas=(0.9, 0.9))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(s / a.steps, 1.0))))

    def model(raw):
        phys = box[:, 0] + (box[:, 1] - box[:, 0]) * torch.sigmoid(raw)
        m, s, b = phys[:, 0:1], phys[:, 1:2], phys[:, 2:3]
        s2 = torch.log1p((s / m) ** 2)
        mu, sig = torch.log(m) - 0.5 * s2, torch.sqrt(s2)
        pdf = torch.exp(-0.5 * ((torch.log(r) - mu) / sig) ** 2) / (r * sig)  # [R, K]
        wk = wgl * pdf
        wk = wk / wk.sum(1, keepdim=True)
        qr = q[None, :, None] * r[None, None, :]  # [1, N, K]
        f = 3 * (torch.sin(qr) - qr * torch.cos(qr)) / qr**3
        ff = ((r / 100) ** 3 * f) ** 2  # [1, N, K]
        ibar = (ff * wk[:, None, :]).sum(2)  # [R, N]
        inv = (ibar * cq2).sum(1, keepdim=True)
        bt = b / q_data
        mdl = (1 - bt * q1) * ibar / inv + bt
        return phys, torch.log10(mdl)

    t0 = time.perf_counter()
    for step in range(a.steps):
        opt.zero_grad()
        _, lm = model(raw)
        loss = ((lm - log_d) ** 2).mean(1)
        loss.sum().backward()
        with torch.no_grad():
            g = raw.grad
            n = g.norm(dim=1, keepdim=True)
            g.mul_((5.0 / (n + 1e-6)).clamp(max=1.0))
        opt.step()
        sched.step()
    secs = time.perf_counter() - t0
    with torch.no_grad():
        phys, lm = model(raw)
        rmse = torch.sqrt(((lm - log_d) ** 2).mean(1))
        k = int(torch.argmin(rmse))
    print(json.dumps({"code": "pytorch-eager", "restart_steps_per_s": a.restarts * a.steps / secs, "seconds": secs,
                      "points": len(q_np), "restarts": a.restarts, "steps": a.steps, "nodes": a.nodes,
                      "threads": a.threads, "best_m_r": float(phys[k, 0]), "best_s_r": float(phys[k, 1]),
                      "best_rmse_log": float(rmse[k])}))


if __name__ == "__main__":
    main()
