#include "multistart.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>
#include <torch/csrc/autograd/autograd.h>

#include <cmath>
#include <limits>

#include "lnpsaxs/errors.h"
#include "lnpsaxs/param_space.h"

namespace lnpsaxs::fit {
namespace {

constexpr double kPi = 3.14159265358979323846;
constexpr double kLn10 = 2.302585092994045684;

at::Tensor to_tensor(const std::vector<double>& v, c10::ScalarType t, c10::Device d) {
  return at::tensor(v, at::TensorOptions().dtype(at::kDouble)).to(at::TensorOptions().dtype(t).device(d));
}

std::vector<double> normalised_weights(std::vector<double> w) {
  double mean = 0;
  for (double x : w) mean += x;
  mean /= static_cast<double>(w.size());
  for (double& x : w) x /= mean;
  return w;
}

}  // namespace

double lr_factor(const OptimiserSettings& o, std::int64_t step) {
  if (step < o.warmup_steps) return static_cast<double>(step + 1) / static_cast<double>(o.warmup_steps);
  const std::int64_t span = std::max<std::int64_t>(o.steps - o.warmup_steps, 1);
  const double t =
      std::clamp(static_cast<double>(step - o.warmup_steps) / static_cast<double>(span), 0.0, 1.0);
  return o.lr_final_fraction + (1.0 - o.lr_final_fraction) * 0.5 * (1.0 + std::cos(kPi * t));
}

FitData make_fit_data(const PreparedTarget& t) {
  FitData d;
  d.fit_begin = t.fit_begin;
  d.fit_end = t.fit_end;
  d.eval_begin = std::min(t.fit_begin, t.norm_begin);
  d.eval_end = std::max(t.fit_end, t.norm_end);
  d.support_begin = t.support_begin;
  d.support_end = t.support_end;
  d.data_full = t.intensity;
  std::vector<double> wl, wn;
  for (std::int64_t i = t.fit_begin; i < t.fit_end; ++i) {
    const double v = t.intensity[static_cast<std::size_t>(i)];
    const double s = t.sigma[static_cast<std::size_t>(i)];
    d.data.push_back(v);
    d.sigma.push_back(s);
    wl.push_back(t.spec.sigma_weighting ? (v / s) * (v / s) : 1.0);
    wn.push_back(t.spec.sigma_weighting ? 1.0 / (s * s) : 1.0);
  }
  d.w_log = normalised_weights(wl);
  d.w_lin = normalised_weights(wn);
  return d;
}

at::Tensor physical_from_raw(const Layout& layout, const at::Tensor& raw) {
  std::vector<at::Tensor> cols(layout.size());
  for (std::size_t j = 0; j < layout.size(); ++j) {
    const ParamSpec& p = layout[j];
    const at::Tensor r = raw.select(1, static_cast<std::int64_t>(j));
    switch (p.transform) {
      case Transform::sigmoid:
        cols[j] = p.lower + (p.upper - p.lower) * at::sigmoid(r);
        break;
      case Transform::tanh:
        cols[j] = 0.5 * (p.lower + p.upper) + 0.5 * (p.upper - p.lower) * at::tanh(r);
        break;
      case Transform::eta: {
        const at::Tensor e = eta::kEpsilon + (1.0 - 2.0 * eta::kEpsilon) * at::sigmoid(r);
        const at::Tensor& m1 = cols[static_cast<std::size_t>(p.ref)];
        cols[j] = m1 + e * (p.upper - m1);
        break;
      }
      case Transform::cv:
        cols[j] =
            cols[static_cast<std::size_t>(p.ref)] * (p.t_lower + (p.t_upper - p.t_lower) * at::sigmoid(r));
        break;
    }
  }
  return at::stack(cols, 1);
}

namespace {

/// Per-restart loss, its terms and log10 RMSE from the model on the evaluated columns.
struct LossParts {
  at::Tensor loss;      // [R]
  at::Tensor rmse_log;  // [R]
  at::Tensor terms;     // [R, 2]
  at::Tensor scale, background, shift;  // chi2 only: s, b̃ and the ln shift of Ī ([R] each)
  at::Tensor prior_nll;                 // [R] the size prior's NLL (float64; zeros without one)
};

struct LossTensors {
  at::Tensor ln_data, data, w_log, w_lin, w_chi;
  LossTensors(const FitData& d, c10::ScalarType t, c10::Device dev) {
    data = to_tensor(d.data, t, dev);
    ln_data = at::log(data);
    w_log = to_tensor(d.w_log, t, dev);
    w_lin = to_tensor(d.w_lin, t, dev);
    std::vector<double> wc;
    for (double s : d.sigma) wc.push_back(1.0 / (s * s));
    w_chi = to_tensor(wc, at::kDouble, dev);
  }
};

/// ln of what the loss compares with the data on the evaluated columns: ln M (log, composite) or
/// ln Ī before normalisation (chi2, which fits its own scale).
at::Tensor loss_model(const ForwardModel& model, const LossSettings& ls, const at::Tensor& params,
                      std::int64_t b, std::int64_t e) {
  return ls.kind == LossKind::chi2 ? model.ln_mean_intensity(params, b, e) : model.ln_intensity(params, b, e);
}

LossParts data_loss_parts(const at::Tensor& ln_eval, const FitData& d, const LossSettings& ls,
                          const LossTensors& lt) {
  const at::Tensor ln_fit = ln_eval.slice(1, d.fit_begin - d.eval_begin, d.fit_end - d.eval_begin);
  LossParts out;
  if (ls.kind == LossKind::chi2) {
    // Linear least squares for (s, b) in double; Ī shifted by its row maximum for conditioning.
    const at::Tensor shift = ln_fit.detach().to(at::kDouble).amax(1, true);
    const at::Tensor x = at::exp(ln_fit.to(at::kDouble) - shift);
    const at::Tensor y = lt.data.to(at::kDouble).unsqueeze(0), u = lt.w_chi.unsqueeze(0);
    const at::Tensor s1 = u.sum(1), sx = (u * x).sum(1), sxx = (u * x * x).sum(1), sy = (u * y).sum(1),
                     sxy = (u * x * y).sum(1);
    at::Tensor s = sxy / sxx, b = at::zeros_like(s);
    if (ls.chi2_background) {
      const at::Tensor det = sxx * s1 - sx * sx;
      const at::Tensor bf = (sxx * sy - sx * sxy) / det, sf = (sxy * s1 - sx * sy) / det;
      const at::Tensor pos = bf >= 0;
      s = at::where(pos, sf, s);
      b = at::where(pos, bf, b);
    }
    const at::Tensor m = s.unsqueeze(1) * x + b.unsqueeze(1);
    const auto n = static_cast<double>(d.data.size());
    const double dof = std::max(n - static_cast<double>(ls.n_free), 1.0);
    const at::Tensor r = m - y;
    out.loss = ((u * r * r).sum(1) / dof).to(ln_eval.scalar_type());
    const at::Tensor dl = at::log(m.clamp_min(1e-300)) - at::log(y);
    out.rmse_log = (at::sqrt((dl * dl).mean(1)) / kLn10).to(ln_eval.scalar_type());
    out.terms = at::stack({out.loss, at::zeros_like(out.loss)}, 1);
    out.scale = s;
    out.background = b;
    out.shift = shift.squeeze(1);
    return out;
  }
  const at::Tensor dlog = ln_fit - lt.ln_data;
  out.rmse_log = at::sqrt((dlog * dlog).mean(1)) / kLn10;
  if (ls.kind == LossKind::log) {
    out.loss = (lt.w_log * dlog * dlog).mean(1) / (kLn10 * kLn10);
    out.terms = at::stack({out.loss, at::zeros_like(out.loss)}, 1);
    return out;
  }
  const at::Tensor dlin = (at::exp(ln_fit) - lt.data) / ls.lin_scale;
  const at::Tensor t_log = ls.log_weight * (lt.w_log * dlog * dlog).mean(1);
  const at::Tensor t_lin = ls.lin_weight * (lt.w_lin * dlin * dlin).mean(1);
  out.loss = t_log + t_lin;
  out.terms = at::stack({t_log, t_lin}, 1);
  return out;
}

/// The loss of the data and, with a size prior, its NLL joined as LossSettings::size_prior says.
LossParts loss_parts(const at::Tensor& params, const at::Tensor& ln_eval, const FitData& d, const LossSettings& ls,
                     const LossTensors& lt) {
  LossParts out = data_loss_parts(ln_eval, d, ls, lt);
  if (!ls.size_prior.active()) {
    out.prior_nll = at::zeros({params.size(0)}, params.options().dtype(at::kDouble));
    return out;
  }
  out.prior_nll = ls.size_prior.nll(params.select(1, 0), params.select(1, 1), ls.truncation_lower, ls.truncation_upper);
  const auto n = static_cast<double>(d.data.size());
  const at::Tensor nll = out.prior_nll.to(out.loss.scalar_type());
  if (ls.kind == LossKind::chi2) {
    out.loss = out.loss + 2.0 * nll / std::max(n - static_cast<double>(ls.n_free), 1.0);
  } else {
    out.loss = out.loss * at::exp(2.0 * nll / n);
  }
  return out;
}

}  // namespace

at::Tensor composite_loss(const ForwardModel& model, const FitData& data, const LossSettings& loss,
                          const at::Tensor& params) {
  const LossTensors lt(data, model.setup().dtype, model.setup().device);
  return loss_parts(params, loss_model(model, loss, params, data.eval_begin, data.eval_end), data, loss, lt).loss;
}

BatchResult fit_batch(const ForwardModel& model, const Layout& layout, const FitData& data,
                      const OptimiserSettings& opt, const LossSettings& ls, const std::vector<double>& starts,
                      const StepCallback& on_step) {
  const auto p = static_cast<std::int64_t>(layout.size());
  if (starts.size() % static_cast<std::size_t>(p) != 0) throw InputError("fit_batch: starts must be [B, P]");
  const std::int64_t b = static_cast<std::int64_t>(starts.size()) / p;
  BatchResult out;
  if (b == 0) return out;
  const c10::Device dev = model.setup().device;
  const auto dopt = at::TensorOptions().dtype(at::kDouble).device(dev);
  const LossTensors lt(data, model.setup().dtype, dev);

  // Raw (unconstrained) coordinates and the optimiser state, in float64 whatever the model's type.
  std::vector<double> raw0(starts.size());
  for (std::int64_t r = 0; r < b; ++r) {
    layout.raw_from_physical(&starts[static_cast<std::size_t>(r * p)],
                             &raw0[static_cast<std::size_t>(r * p)]);
  }
  at::Tensor raw = at::tensor(raw0, at::TensorOptions().dtype(at::kDouble)).view({b, p}).to(dev);
  at::Tensor m = at::zeros({b, p}, dopt), v = at::zeros({b, p}, dopt);
  at::Tensor alive = at::ones({b}, dopt.dtype(at::kBool));
  at::Tensor steps = at::zeros({b}, dopt.dtype(at::kLong));
  at::Tensor good = raw;  // last raw point whose loss was finite (a restart that diverges returns there)
  {
    c10::NoGradGuard ng;
    const at::Tensor s0 = physical_from_raw(layout, raw).to(at::kCPU).contiguous();
    out.start.assign(s0.data_ptr<double>(), s0.data_ptr<double>() + b * p);
  }
  for (std::int64_t s = 0; s < opt.steps; ++s) {
    const double lr = opt.lr * lr_factor(opt, s);
    const at::Tensor rv = raw.detach().requires_grad_(true);
    const at::Tensor pv = physical_from_raw(layout, rv);
    const LossParts lp = loss_parts(pv, loss_model(model, ls, pv, data.eval_begin, data.eval_end), data, ls, lt);
    const at::Tensor g_all = torch::autograd::grad({lp.loss.sum()}, {rv})[0];
    c10::NoGradGuard ng;
    const at::Tensor lossd = lp.loss.detach().to(at::kDouble);
    const at::Tensor ok = alive & at::isfinite(lossd) & at::isfinite(g_all).all(1);
    alive = ok;
    good = at::where(ok.unsqueeze(1), raw, good);
    at::Tensor g = at::where(ok.unsqueeze(1), g_all, at::zeros_like(g_all));
    if (opt.clip_norm > 0) {
      const at::Tensor norm = g.norm(2, {1}, true);
      g = g * (opt.clip_norm / (norm + 1e-6)).clamp_max(1.0);
    }
    const double t = static_cast<double>(s + 1);
    const at::Tensor okc = ok.unsqueeze(1);
    m = at::where(okc, opt.beta1 * m + (1.0 - opt.beta1) * g, m);
    v = at::where(okc, opt.beta2 * v + (1.0 - opt.beta2) * g * g, v);
    const double bc1 = 1.0 - std::pow(opt.beta1, t), bc2 = 1.0 - std::pow(opt.beta2, t);
    const at::Tensor upd =
        raw * (1.0 - lr * opt.weight_decay) - (lr / bc1) * m / (at::sqrt(v / bc2) + opt.eps);
    raw = at::where(okc, upd, raw);
    steps = steps + ok.to(at::kLong);
    if (on_step) {
      const at::Tensor live =
          at::where(ok, lossd, at::full_like(lossd, std::numeric_limits<double>::infinity()));
      on_step(s, live.min().item<double>());
    }
  }
  // Final evaluation at the last parameters (no gradient); a restart stopped by a non-finite loss
  // goes back to its last finite point, which is one update short of its count.
  c10::NoGradGuard ng;
  raw = at::where(alive.unsqueeze(1), raw, good);
  steps = at::where(alive, steps, (steps - 1).clamp_min(0));
  at::Tensor phys = physical_from_raw(layout, raw);
  const LossParts fin = loss_parts(phys, loss_model(model, ls, phys, data.eval_begin, data.eval_end), data, ls, lt);
  at::Tensor curve;  // [B, n_q] log10 of the fitted model
  if (ls.kind == LossKind::chi2) {
    const at::Tensor x = at::exp(model.ln_mean_intensity(phys, 0, model.n_q()).to(at::kDouble) - fin.shift.unsqueeze(1));
    curve = at::log10((fin.scale.unsqueeze(1) * x + fin.background.unsqueeze(1)).clamp_min(1e-300))
                .to(model.setup().dtype);
    if (model.setup().background) {  // report b in the data's unit in the background column
      phys = phys.clone();
      phys.select(1, phys.size(1) - 1).copy_(fin.background * model.setup().data_invariant);
    }
  } else {
    curve = model.log10_intensity(phys);
  }
  const at::Tensor sup = curve.slice(1, data.support_begin, data.support_end);
  std::vector<double> dfull(data.data_full.begin() + data.support_begin,
                            data.data_full.begin() + data.support_end);
  const at::Tensor dlog_full = sup - at::log10(to_tensor(dfull, curve.scalar_type(), dev));
  const at::Tensor rmse_full = at::sqrt((dlog_full * dlog_full).mean(1));

  auto to_vec = [](const at::Tensor& x) {
    const at::Tensor c = x.to(at::kCPU, at::kDouble).contiguous();
    return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
  };
  out.params = to_vec(phys);
  out.loss = to_vec(fin.loss);
  out.loss_terms = to_vec(fin.terms);
  out.size_prior_nll = to_vec(fin.prior_nll);
  out.scale = ls.kind == LossKind::chi2 ? to_vec(fin.scale * at::exp(-fin.shift))
                                        : std::vector<double>(static_cast<std::size_t>(b), NAN);
  out.rmse_log = to_vec(fin.rmse_log);
  out.rmse_log_full = to_vec(rmse_full);
  const at::Tensor cf = curve.to(at::kCPU, at::kFloat).contiguous();
  out.curve.assign(cf.data_ptr<float>(), cf.data_ptr<float>() + cf.numel());
  const at::Tensor st = steps.to(at::kCPU).contiguous();
  out.steps.assign(st.data_ptr<std::int64_t>(), st.data_ptr<std::int64_t>() + b);
  return out;
}

}  // namespace lnpsaxs::fit
