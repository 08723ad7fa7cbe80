#include "hmc.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <torch/csrc/autograd/autograd.h>

#include <cmath>
#include <limits>
#include <stdexcept>

#include "lnpsaxs/errors.h"
#include "lnpsaxs/random_key.h"

namespace lnpsaxs::posterior {

double keyed_uniform(std::uint64_t key, std::uint64_t iteration, std::uint64_t index) {
  const std::uint64_t k = rng::mix64(rng::mix64(key ^ rng::mix64(iteration)) ^ (index * 0x9e3779b97f4a7c15ULL + 1));
  return (static_cast<double>(k >> 11) + 0.5) * 0x1.0p-53;  // (0, 1)
}

double keyed_normal(std::uint64_t key, std::uint64_t iteration, std::uint64_t index) {
  // Box–Muller on two keyed uniforms (the cosine branch only: one normal per index).
  const double u1 = keyed_uniform(key, iteration, 2 * index + 1000003), u2 = keyed_uniform(key, iteration, 2 * index + 1000004);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

LogDensity one_row_at_a_time(LogDensity f) {
  return [f](const at::Tensor& x) {
    std::vector<at::Tensor> rows;
    for (std::int64_t i = 0; i < x.size(0); ++i) rows.push_back(f(x.slice(0, i, i + 1)));
    return at::cat(rows, 0);
  };
}

std::vector<std::int64_t> metric_window_ends(std::int64_t warmup) {
  std::int64_t init = 75, term = 50, base = 25;
  if (warmup < init + term + base) {  // Stan's fallback: 15 % / 75 % / 10 %
    init = warmup * 15 / 100;
    term = warmup / 10;
    base = warmup - init - term;
  }
  std::vector<std::int64_t> ends;
  const std::int64_t slow_end = warmup - term;
  std::int64_t start = init, size = base;
  while (start < slow_end && size > 0) {
    std::int64_t end = start + size;
    // The last window absorbs what a further doubled window could not fill.
    if (end + 2 * size > slow_end) end = slow_end;
    ends.push_back(end);
    start = end;
    size *= 2;
  }
  return ends;
}

namespace {

/// Log density [C], gradient [C, D] and Hessian [C, D, D] at x [C, D] (double backward).
void derivatives(const LogDensity& f, const at::Tensor& x0, at::Tensor& lp, at::Tensor& g, at::Tensor& h) {
  const at::Tensor x = x0.detach().requires_grad_(true);
  const at::Tensor l = f(x);
  g = torch::autograd::grad({l.sum()}, {x}, {}, true, true)[0];
  const std::int64_t d = x.size(1);
  std::vector<at::Tensor> rows;
  for (std::int64_t j = 0; j < d; ++j) {
    if (!g.requires_grad()) {  // a density linear in x: zero curvature
      rows.push_back(at::zeros_like(x).detach());
      continue;
    }
    const at::Tensor r = torch::autograd::grad({g.select(1, j).sum()}, {x}, {}, true, false, true)[0];
    rows.push_back(r.defined() ? r.detach() : at::zeros_like(x));
  }
  h = at::stack(rows, 1);  // [C, D, D]: row j = ∂g_j/∂x
  h = 0.5 * (h + h.transpose(1, 2));
  lp = l.detach();
  g = g.detach();
}

}  // namespace

LaplaceStart laplace_start(const LogDensity& f, const std::vector<double>& start, std::int64_t d,
                           std::int64_t max_iterations) {
  const auto dopt = at::TensorOptions().dtype(at::kDouble);
  const std::int64_t c = static_cast<std::int64_t>(start.size()) / d;
  at::Tensor x = at::tensor(start, dopt).view({c, d}).clone();
  at::Tensor lp, g, h;
  derivatives(f, x, lp, g, h);
  if (!at::isfinite(lp).all().item<bool>()) throw InputError("HMC: a chain's start has a non-finite log density");
  constexpr double kMinCurvature = 1e-2;
  LaplaceStart out;
  auto newton_direction = [&](const at::Tensor& hess, const at::Tensor& grad, at::Tensor& cov) {
    const auto eig = at::linalg_eigh(-hess);
    const at::Tensor lam = std::get<0>(eig).clamp_min(kMinCurvature), v = std::get<1>(eig);
    cov = at::matmul(v * (1.0 / lam).unsqueeze(1), v.transpose(1, 2));
    return at::bmm(cov, grad.unsqueeze(2)).squeeze(2);
  };
  at::Tensor cov;
  for (std::int64_t it = 0; it < max_iterations; ++it) {
    const at::Tensor step = newton_direction(h, g, cov);
    // Newton decrement gᵀ Σ g: converged chains stop moving.
    const at::Tensor dec = (g * step).sum(1);
    if (dec.max().item<double>() < 1e-10) break;
    out.iterations = it + 1;
    // Backtracking per chain: the largest t in 1, 1/2, ... that does not lower the log density.
    at::Tensor t = at::ones({c}, dopt), done = dec < 1e-10;
    at::Tensor x_new = x.clone(), lp_new = lp.clone();
    for (int k = 0; k < 30; ++k) {
      const at::Tensor cand = x + t.unsqueeze(1) * step;
      at::Tensor lc;
      {
        c10::NoGradGuard ng;
        lc = f(cand);
      }
      const at::Tensor ok = at::logical_and(at::isfinite(lc), lc >= lp).logical_and(done.logical_not());
      x_new = at::where(ok.unsqueeze(1), cand, x_new);
      lp_new = at::where(ok, lc, lp_new);
      done = done.logical_or(ok);
      if (done.all().item<bool>()) break;
      t = at::where(done, t, 0.5 * t);
    }
    if (at::equal(x_new, x)) break;
    x = x_new;
    derivatives(f, x, lp, g, h);
  }
  newton_direction(h, g, cov);
  const at::Tensor xc = x.contiguous(), cc = cov.contiguous(), lc = lp.contiguous();
  out.position.assign(xc.data_ptr<double>(), xc.data_ptr<double>() + xc.numel());
  out.covariance.assign(cc.data_ptr<double>(), cc.data_ptr<double>() + cc.numel());
  out.log_density.assign(lc.data_ptr<double>(), lc.data_ptr<double>() + lc.numel());
  return out;
}

namespace {

/// Dual averaging of log ε towards the target acceptance (Hoffman & Gelman 2014, §3.2.1).
struct DualAveraging {
  double mu = 0, h_bar = 0, log_eps = 0, log_eps_bar = 0;
  std::int64_t t = 0;
  void restart(double eps) {
    mu = std::log(10 * eps);
    h_bar = 0;
    log_eps = std::log(eps);
    log_eps_bar = 0;
    t = 0;
  }
  void learn(double accept, double target) {
    constexpr double gamma = 0.05, t0 = 10, kappa = 0.75;
    ++t;
    const double td = static_cast<double>(t);
    h_bar = (1 - 1 / (td + t0)) * h_bar + (target - accept) / (td + t0);
    log_eps = mu - std::sqrt(td) / gamma * h_bar;
    const double w = std::pow(td, -kappa);
    log_eps_bar = w * log_eps + (1 - w) * log_eps_bar;
  }
};

}  // namespace

HmcResult run_hmc(const LogDensity& log_density, const std::vector<double>& start, const std::vector<std::uint64_t>& keys,
                  const HmcSettings& s, const IterationCallback& on_iteration) {
  const auto c = static_cast<std::int64_t>(keys.size());
  if (c == 0 || start.size() % keys.size() != 0) throw std::invalid_argument("run_hmc: start must be [C, D]");
  const auto d = static_cast<std::int64_t>(start.size()) / c;
  if (d < 1 || s.leapfrog < 1 || s.draws < 1 || s.warmup < 0 || !(s.initial_step > 0))
    throw std::invalid_argument("run_hmc: need D >= 1, leapfrog >= 1, draws >= 1, warmup >= 0, initial_step > 0");
  const auto dopt = at::TensorOptions().dtype(at::kDouble);

  HmcResult out;
  out.chains = c;
  out.dim = d;
  out.draws = s.draws;
  out.position.resize(static_cast<std::size_t>(c * s.draws * d));
  out.log_density.resize(static_cast<std::size_t>(c * s.draws));
  out.accept_stat.resize(static_cast<std::size_t>(c * s.draws));
  out.divergent.resize(static_cast<std::size_t>(c * s.draws));

  // Log density and its gradient at [C, D]; a non-finite value gets a zero gradient row.
  auto evaluate = [&](const at::Tensor& q, at::Tensor& grad) {
    const at::Tensor x = q.detach().requires_grad_(true);
    const at::Tensor lp = log_density(x);
    const at::Tensor safe = at::where(at::isfinite(lp), lp, at::zeros_like(lp));
    grad = torch::autograd::grad({safe.sum()}, {x}, {}, false, false, true)[0];
    grad = grad.defined() ? at::nan_to_num(grad.detach(), 0.0, 0.0, 0.0) : at::zeros_like(x);
    ++out.gradient_evaluations;
    return lp.detach();
  };

  at::Tensor q = at::tensor(start, dopt).view({c, d}).clone();
  at::Tensor laplace_cov;
  if (s.laplace) {
    const LaplaceStart ls = laplace_start(log_density, start, d);
    q = at::tensor(ls.position, dopt).view({c, d}).clone();
    laplace_cov = at::tensor(ls.covariance, dopt).view({c, d, d});
  }
  at::Tensor grad;
  at::Tensor lp = evaluate(q, grad);
  {
    const auto lpv = lp.contiguous();
    for (std::int64_t i = 0; i < c; ++i) {
      if (!std::isfinite(lpv[i].item<double>()))
        throw InputError("HMC: the start of chain " + std::to_string(i) + " has a non-finite log density");
    }
  }
  std::vector<double> eps(static_cast<std::size_t>(c), s.initial_step);
  std::vector<DualAveraging> da(static_cast<std::size_t>(c));
  for (std::int64_t i = 0; i < c; ++i) da[static_cast<std::size_t>(i)].restart(s.initial_step);
  // Inverse metric Σ: diagonal [C, D], or dense [C, D, D] with P = L⁻ᵀ (Σ = L Lᵀ) so that
  // p = P z ~ N(0, Σ⁻¹).
  const bool dense = s.dense_metric;
  at::Tensor inv_metric = dense ? at::eye(d, dopt).expand({c, d, d}).clone() : at::ones({c, d}, dopt);
  if (laplace_cov.defined()) inv_metric = dense ? laplace_cov.clone() : at::diagonal(laplace_cov, 0, 1, 2).clone();
  at::Tensor p_factor = dense ? at::linalg_inv(at::linalg_cholesky(inv_metric)).transpose(1, 2).contiguous() : at::Tensor();
  auto velocity = [&](const at::Tensor& p) {
    return dense ? at::bmm(inv_metric, p.unsqueeze(2)).squeeze(2) : inv_metric * p;
  };
  auto kinetic = [&](const at::Tensor& p) { return 0.5 * (p * velocity(p)).sum(1); };
  // Welford accumulators of the current slow window.
  at::Tensor w_mean = at::zeros({c, d}, dopt), w_m2 = dense ? at::zeros({c, d, d}, dopt) : at::zeros({c, d}, dopt);
  std::int64_t w_n = 0;
  const std::vector<std::int64_t> ends = metric_window_ends(s.warmup);
  std::size_t next_end = 0;
  const std::int64_t init_buffer = ends.empty() ? s.warmup : (s.warmup < 150 ? s.warmup * 15 / 100 : 75);

  const std::int64_t total = s.warmup + s.draws;
  std::vector<double> noise(static_cast<std::size_t>(c * d));
  for (std::int64_t it = 0; it < total; ++it) {
    const bool warm = it < s.warmup;
    // Momentum p ~ N(0, M), M = diag(1/inv_metric); step size per chain (jittered after warm-up).
    for (std::int64_t i = 0; i < c; ++i) {
      for (std::int64_t j = 0; j < d; ++j)
        noise[static_cast<std::size_t>(i * d + j)] = keyed_normal(keys[static_cast<std::size_t>(i)], static_cast<std::uint64_t>(it), static_cast<std::uint64_t>(j));
    }
    std::vector<double> step(static_cast<std::size_t>(c));
    for (std::int64_t i = 0; i < c; ++i) {
      const double e = eps[static_cast<std::size_t>(i)];
      step[static_cast<std::size_t>(i)] =
          warm ? e : e * (1 + s.step_jitter * (2 * keyed_uniform(keys[static_cast<std::size_t>(i)], static_cast<std::uint64_t>(it), 1) - 1));
    }
    const at::Tensor st = at::tensor(step, dopt).unsqueeze(1);
    const at::Tensor z = at::tensor(noise, dopt).view({c, d});
    at::Tensor p = dense ? at::bmm(p_factor, z.unsqueeze(2)).squeeze(2) : z / at::sqrt(inv_metric);
    const at::Tensor h0 = -lp + kinetic(p);
    at::Tensor qn = q, gn = grad, lpn = lp;
    for (std::int64_t l = 0; l < s.leapfrog; ++l) {
      p = p + 0.5 * st * gn;
      qn = qn + st * velocity(p);
      lpn = evaluate(qn, gn);
      p = p + 0.5 * st * gn;
    }
    const at::Tensor h1 = -lpn + kinetic(p);
    const at::Tensor dh = h1 - h0;  // energy error
    const auto dhv = dh.contiguous();
    const double* dhp = dhv.data_ptr<double>();
    std::vector<std::uint8_t> accept(static_cast<std::size_t>(c)), diverged(static_cast<std::size_t>(c));
    std::vector<double> astat(static_cast<std::size_t>(c));
    for (std::int64_t i = 0; i < c; ++i) {
      const double e = dhp[i];
      const bool div = !std::isfinite(e) || e > s.max_energy_error;
      diverged[static_cast<std::size_t>(i)] = div;
      astat[static_cast<std::size_t>(i)] = div ? 0.0 : std::min(1.0, std::exp(-e));
      accept[static_cast<std::size_t>(i)] =
          !div && std::log(keyed_uniform(keys[static_cast<std::size_t>(i)], static_cast<std::uint64_t>(it), 0)) < -e;
    }
    const at::Tensor acc = at::tensor(std::vector<std::int64_t>(accept.begin(), accept.end()), at::kLong).to(at::kBool);
    q = at::where(acc.unsqueeze(1), qn, q);
    grad = at::where(acc.unsqueeze(1), gn, grad);
    lp = at::where(acc, lpn, lp);

    if (warm) {
      for (std::int64_t i = 0; i < c; ++i) {
        DualAveraging& a = da[static_cast<std::size_t>(i)];
        a.learn(astat[static_cast<std::size_t>(i)], s.target_accept);
        eps[static_cast<std::size_t>(i)] = std::exp(a.log_eps);
      }
      if (next_end < ends.size() && it >= init_buffer) {
        ++w_n;
        const at::Tensor delta = q - w_mean;
        w_mean = w_mean + delta / static_cast<double>(w_n);
        w_m2 = w_m2 + (dense ? delta.unsqueeze(2) * (q - w_mean).unsqueeze(1) : delta * (q - w_mean));
        if (it + 1 == ends[next_end]) {
          // Regularised window (co)variance: n/(n+5)·S + 1e-3·5/(n+5)·diag(S). Stan adds 1e-3·I
          // instead, which assumes unit-scale coordinates: a fit's posterior can be 1e-4 wide in
          // them, and such a floor would then dominate the metric and force tiny steps.
          const double n = static_cast<double>(w_n);
          const at::Tensor var = w_m2 / std::max(n - 1, 1.0);
          if (dense) {
            const at::Tensor sym = 0.5 * (var + var.transpose(1, 2));
            const at::Tensor floor = at::diag_embed(at::diagonal(sym, 0, 1, 2).clamp_min(1e-300));
            inv_metric = (n / (n + 5)) * sym + 1e-3 * (5 / (n + 5)) * floor;
            p_factor = at::linalg_inv(at::linalg_cholesky(inv_metric)).transpose(1, 2).contiguous();
          } else {
            inv_metric = (n / (n + 5)) * var + 1e-3 * (5 / (n + 5)) * var.clamp_min(1e-300);
          }
          w_mean.zero_();
          w_m2.zero_();
          w_n = 0;
          ++next_end;
          for (std::int64_t i = 0; i < c; ++i) da[static_cast<std::size_t>(i)].restart(eps[static_cast<std::size_t>(i)]);
        }
      }
      if (it + 1 == s.warmup) {  // the averaged step size of the last adaptation phase
        for (std::int64_t i = 0; i < c; ++i) {
          const DualAveraging& a = da[static_cast<std::size_t>(i)];
          if (a.t > 0) eps[static_cast<std::size_t>(i)] = std::exp(a.log_eps_bar);
        }
      }
    } else {
      const std::int64_t k = it - s.warmup;
      const auto qv = q.contiguous();
      const auto lv = lp.contiguous();
      const double* qp = qv.data_ptr<double>();
      const double* lpp = lv.data_ptr<double>();
      for (std::int64_t i = 0; i < c; ++i) {
        const std::size_t row = static_cast<std::size_t>(i * s.draws + k);
        for (std::int64_t j = 0; j < d; ++j) out.position[row * static_cast<std::size_t>(d) + static_cast<std::size_t>(j)] = qp[i * d + j];
        out.log_density[row] = lpp[i];
        out.accept_stat[row] = astat[static_cast<std::size_t>(i)];
        out.divergent[row] = diverged[static_cast<std::size_t>(i)];
      }
    }
    if (on_iteration) on_iteration(it, total);
  }
  out.step_size = eps;
  const auto im = inv_metric.contiguous();
  out.inv_metric.assign(im.data_ptr<double>(), im.data_ptr<double>() + im.numel());
  return out;
}

}  // namespace lnpsaxs::posterior
