#include "log_density.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <algorithm>
#include <cmath>

#include <stdexcept>

#include <fmt/format.h>

#include "diagnostics.h"
#include "lnpsaxs/errors.h"
#include "lnpsaxs/param_space.h"

namespace lnpsaxs::posterior {
namespace {

at::Tensor tensor_rows(const std::vector<double>& v, std::int64_t cols) {
  const auto rows = static_cast<std::int64_t>(v.size()) / cols;
  return at::tensor(v, at::TensorOptions().dtype(at::kDouble)).view({rows, cols});
}

std::vector<double> to_vector(const at::Tensor& t) {
  const at::Tensor c = t.detach().to(at::kCPU).to(at::kDouble).contiguous();
  return {c.data_ptr<double>(), c.data_ptr<double>() + c.numel()};
}

}  // namespace

double lag1_autocorrelation(const std::vector<double>& r) {
  const std::size_t n = r.size();
  if (n < 3) return std::nan("");
  double m = 0;
  for (double x : r) m += x / static_cast<double>(n);
  double num = 0, den = 0;
  for (std::size_t i = 0; i < n; ++i) {
    den += (r[i] - m) * (r[i] - m);
    if (i + 1 < n) num += (r[i] - m) * (r[i + 1] - m);
  }
  return den > 0 ? num / den : std::nan("");
}

double effective_points(const std::vector<double>& r) {
  if (r.size() < 4) throw std::invalid_argument("effective_points: fewer than 4 residuals");
  const auto n = static_cast<double>(r.size());
  const double rho = lag1_autocorrelation(r);
  if (!(rho > 2.0 / std::sqrt(n))) return n;
  const double ess = basic_ess(Chains{1, static_cast<std::int64_t>(r.size()), r});
  return std::isfinite(ess) ? std::clamp(ess, 1.0, n) : n;
}

at::Tensor log_jacobian(const fit::Layout& layout, const at::Tensor& raw) {
  const at::Tensor phys = fit::physical_from_raw(layout, raw);
  at::Tensor out = at::zeros({raw.size(0)}, raw.options());
  for (std::size_t j = 0; j < layout.size(); ++j) {
    const fit::ParamSpec& p = layout[j];
    const at::Tensor r = raw.select(1, static_cast<std::int64_t>(j));
    const at::Tensor ls = at::log_sigmoid(r) + at::log_sigmoid(-r);  // ln σ(1 − σ)
    switch (p.transform) {
      case fit::Transform::sigmoid:
        out = out + std::log(p.upper - p.lower) + ls;
        break;
      case fit::Transform::tanh:  // ln(half·sech²ρ), sech²ρ = 4σ(2ρ)(1 − σ(2ρ))
        out = out + std::log(0.5 * (p.upper - p.lower)) + std::log(4.0) + at::log_sigmoid(2 * r) + at::log_sigmoid(-2 * r);
        break;
      case fit::Transform::eta: {
        const at::Tensor m1 = phys.select(1, p.ref);
        out = out + at::log(p.upper - m1) + std::log(1.0 - 2.0 * eta::kEpsilon) + ls;
        break;
      }
      case fit::Transform::cv: {
        const at::Tensor m = phys.select(1, p.ref);
        out = out + at::log(m) + std::log(p.t_upper - p.t_lower) + ls;
        break;
      }
    }
  }
  return out;
}

std::vector<double> TargetPosterior::physical(const std::vector<double>& raw) const {
  c10::NoGradGuard ng;
  const at::Tensor r = tensor_rows(raw, dim()).slice(1, 0, static_cast<std::int64_t>(layout.size()));
  const at::Tensor p = fit::physical_from_raw(layout, r).contiguous();
  return {p.data_ptr<double>(), p.data_ptr<double>() + p.numel()};
}

std::vector<double> TargetPosterior::raw_starts(const std::vector<double>& physical) const {
  const std::size_t np = layout.size();
  const std::size_t rows = physical.size() / np;
  const std::vector<double> t = sample_scale ? scale_start(physical) : std::vector<double>{};
  std::vector<double> out;
  std::vector<double> raw(np);
  for (std::size_t i = 0; i < rows; ++i) {
    layout.raw_from_physical(&physical[i * np], raw.data());
    out.insert(out.end(), raw.begin(), raw.end());
    if (sample_scale) out.push_back(t[i]);
  }
  return out;
}

TargetPosterior make_target_posterior(const fit::Layout& layout, const fit::ForwardModel& model, const fit::FitData& data,
                                      const fit::LossSettings& loss_in, const ExtraNll& extra_in,
                                      const ResidualCorrelation& corr) {
  // The size prior enters as its own −NLL term, never through the loss (so that it counts once in
  // both likelihood readings).
  fit::LossSettings loss = loss_in;
  loss.size_prior = {};
  ExtraNll extra = extra_in;
  if (loss_in.size_prior.active()) {
    const fit::SizePrior sp = loss_in.size_prior;
    const double a = loss_in.truncation_lower, b = loss_in.truncation_upper;
    extra = [sp, a, b, extra_in](const at::Tensor& phys) {
      at::Tensor nll = sp.nll(phys.select(1, 0), phys.select(1, 1), a, b);
      if (extra_in) nll = nll + extra_in(phys);
      return nll;
    };
  }
  const std::string with_prior =
      loss_in.size_prior.active() ? "; times the size prior's likelihood exp(-NLL): " + loss_in.size_prior.describe() : "";
  TargetPosterior tp{layout, loss.kind == fit::LossKind::chi2, 0, "", 0, 0, 0, {}, {}};
  const auto np = static_cast<std::int64_t>(layout.size());
  const auto n = static_cast<double>(data.data.size());
  const auto dopt = at::TensorOptions().dtype(at::kDouble).device(model.setup().device);
  const std::int64_t fb = data.fit_begin - data.eval_begin, fe = data.fit_end - data.eval_begin;
  auto prior = [layout, extra](const at::Tensor& raw, const at::Tensor& phys) {
    at::Tensor lp = log_jacobian(layout, raw);
    if (extra) lp = lp - extra(phys);
    return lp;
  };
  tp.n_points = static_cast<std::int64_t>(data.data.size());
  tp.n_effective = n;
  tp.residual_rho = std::nan("");
  if (!corr.at.empty() && corr.at.size() != layout.size())
    throw InputError("posterior: residual point has " + std::to_string(corr.at.size()) + " parameters, the layout " +
                     std::to_string(layout.size()));
  // The residual correlation at corr.at sets the likelihood's weight N_eff/N (set below, per likelihood).
  auto set_effective = [&](const std::vector<double>& residuals) {
    tp.residual_rho = lag1_autocorrelation(residuals);
    tp.n_effective = corr.temper ? effective_points(residuals) : n;
  };
  auto tempering_words = [&]() {
    if (std::isnan(tp.residual_rho)) return std::string();
    return fmt::format("; residuals at the fit's best restart: lag-1 autocorrelation {:.3f}, {}", tp.residual_rho,
                       tp.n_effective < n ? fmt::format("likelihood tempered by N_eff/N = {:.4g}/{} (effective number of "
                                                        "independent residuals, docs/posterior.md section 1)",
                                                        tp.n_effective, data.data.size())
                                          : std::string(corr.temper ? "not significant (<= 2/sqrt(N)): not tempered"
                                                                    : "not tempered (posterior.residual_correlation: none)"));
  };
  if (!tp.sample_scale) {
    if (!corr.at.empty()) {
      // The loss's residuals: ln M − ln D, weighted as the loss weights them (its log term).
      c10::NoGradGuard ng;
      const at::Tensor phys = fit::physical_from_raw(layout, [&] {
        std::vector<double> raw(layout.size());
        layout.raw_from_physical(corr.at.data(), raw.data());
        return tensor_rows(raw, np).to(dopt);
      }());
      const at::Tensor ln_m = model.ln_intensity(phys, data.eval_begin, data.eval_end).slice(1, fb, fe).to(at::kDouble).squeeze(0);
      const at::Tensor d = at::tensor(data.data, dopt), wl = at::tensor(data.w_log, dopt);
      set_effective(to_vector(at::sqrt(wl) * (ln_m - at::log(d))));
    }
    const double ne = tp.n_effective;
    tp.likelihood = std::string("loss ") + fit::loss_name(loss.kind) +
                    " as a Gaussian of unknown variance (p(sigma) ~ 1/sigma, marginalised): log p(D|theta) = "
                    "-(N_eff/2) ln L(theta), N = " + std::to_string(data.data.size()) + " fitted points" +
                    tempering_words() + with_prior;
    tp.log_density = [=](const at::Tensor& raw) {
      const at::Tensor phys = fit::physical_from_raw(layout, raw);
      const at::Tensor l = fit::composite_loss(model, data, loss, phys).to(at::kDouble);
      return -0.5 * ne * at::log(l) + prior(raw, phys);
    };
    return tp;
  }
  for (double s : data.sigma) {
    if (!(s > 0) || !std::isfinite(s)) throw InputError("posterior: loss chi2 needs sigma > 0 on every fitted point");
  }
  const at::Tensor y = at::tensor(data.data, dopt).unsqueeze(0);
  std::vector<double> wv;
  for (double s : data.sigma) wv.push_back(1.0 / (s * s));
  const at::Tensor u = at::tensor(wv, dopt).unsqueeze(0);
  const bool bg = layout.background();
  const double inv_q = 1.0 / model.setup().data_invariant;
  auto ln_mean = [model, data, fb, fe](const at::Tensor& phys) {
    return model.ln_mean_intensity(phys, data.eval_begin, data.eval_end).slice(1, fb, fe).to(at::kDouble);
  };
  // c: the row maximum of ln Ī at the box centre, so that t = ln s + c is of order ln(data).
  {
    c10::NoGradGuard ng;
    std::vector<double> mid(static_cast<std::size_t>(np));
    for (std::int64_t j = 0; j < np; ++j) {
      mid[static_cast<std::size_t>(j)] = 0.5 * (layout[static_cast<std::size_t>(j)].lower + layout[static_cast<std::size_t>(j)].upper);
      if (layout[static_cast<std::size_t>(j)].name == "background") mid[static_cast<std::size_t>(j)] = 0;
    }
    std::vector<double> raw(static_cast<std::size_t>(np));
    layout.raw_from_physical(mid.data(), raw.data());
    const at::Tensor phys = fit::physical_from_raw(layout, tensor_rows(raw, np).to(dopt));
    tp.scale_offset = ln_mean(phys).amax(1).item<double>();
  }
  const double c = tp.scale_offset;
  const std::int64_t bcol = bg ? np - 1 : -1;
  tp.likelihood = "Gaussian, sigma of the data: D_i ~ N(s Ibar_i(theta) + b/Q_data, sigma_i^2) over N = " +
                  std::to_string(data.data.size()) + " fitted points; scale s sampled as ln_scale = ln s + " +
                  std::to_string(c) + " with a flat prior" + (bg ? "; background b with a uniform prior on its box" : "");
  tp.scale_start = [=](const std::vector<double>& physical) {
    c10::NoGradGuard ng;
    const at::Tensor phys = tensor_rows(physical, np).to(dopt);
    const at::Tensor x = at::exp(ln_mean(phys) - c);
    at::Tensor yb = y.expand_as(x);
    if (bcol >= 0) yb = yb - (phys.select(1, bcol) * inv_q).unsqueeze(1);
    const at::Tensor s = ((u * x * yb).sum(1) / (u * x * x).sum(1)).clamp_min(1e-300);
    const at::Tensor t = at::log(s).contiguous().cpu();
    return std::vector<double>(t.data_ptr<double>(), t.data_ptr<double>() + t.numel());
  };
  auto model_rows = [=](const at::Tensor& phys, const at::Tensor& t) {
    const at::Tensor x = at::exp(ln_mean(phys) - c + t.unsqueeze(1));
    return bcol >= 0 ? x + (phys.select(1, bcol) * inv_q).unsqueeze(1) : x;
  };
  if (!corr.at.empty()) {
    // The σ-weighted residuals (s·Ī + b̃ − D)/σ at the best fit, s at its least-squares value.
    c10::NoGradGuard ng;
    const at::Tensor phys = tensor_rows(corr.at, np).to(dopt);
    const at::Tensor t = at::tensor(tp.scale_start(corr.at), dopt);
    set_effective(to_vector(((model_rows(phys, t) - y) * at::sqrt(u)).squeeze(0)));
  }
  const double weight = tp.n_effective / n;
  tp.likelihood += tempering_words() + with_prior;
  tp.log_density = [=](const at::Tensor& raw) {
    const at::Tensor phys = fit::physical_from_raw(layout, raw.slice(1, 0, np));
    const at::Tensor r = model_rows(phys, raw.select(1, np)) - y;
    return -0.5 * weight * (u * r * r).sum(1) + prior(raw.slice(1, 0, np), phys);
  };
  return tp;
}

}  // namespace lnpsaxs::posterior
