#include "models/forward/forward_model.h"

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <c10/core/GradMode.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/custom_function.h>

#include <cmath>
#include <string>
#include <type_traits>
#include <vector>

#include "lnpsaxs/errors.h"
#include "lnpsaxs/h5.h"
#include "lnpsaxs/param_space.h"
#include "models/forward/quadrature.h"

#include "models/surrogate/surrogate.h"

namespace lnpsaxs::fit {
namespace {

constexpr double kLn10 = 2.302585092994045684;
constexpr double kRadiusScale = 100.0;  // Å: keeps r⁶ near 1 (the scale cancels in I_PI)

at::TensorOptions opts(c10::ScalarType t, c10::Device d) { return at::TensorOptions().dtype(t).device(d); }

at::Tensor tensor_of(const std::vector<double>& v, c10::ScalarType t, c10::Device d) {
  return at::tensor(v, at::TensorOptions().dtype(at::kDouble)).to(opts(t, d));
}

}  // namespace

namespace {

/// f(x) and f'(x) with the composite ATen ops (any device; differentiable to every order).
at::Tensor sphere_amplitude_composite(const at::Tensor& x) {
  const double threshold = x.scalar_type() == at::kDouble ? 0.1 : 0.5;
  const at::Tensor ax = x.abs();
  const at::Tensor small = ax < threshold;
  // Closed form on a copy with the small arguments replaced, so neither branch sees 0/0.
  const at::Tensor xs = at::where(small, at::ones_like(ax), ax);
  const at::Tensor closed = 3.0 * (at::sin(xs) - xs * at::cos(xs)) / (xs * xs * xs);
  const at::Tensor x2 = x * x;
  const at::Tensor series =
      1.0 + x2 * (-1.0 / 10.0 + x2 * (1.0 / 280.0 + x2 * (-1.0 / 15120.0 + x2 * (1.0 / 1330560.0))));
  return at::where(small, series, closed);
}

/// f and f' from x, sin|x| and cos|x| in one pass over contiguous CPU memory (double arithmetic
/// whatever the storage type; the trigonometric functions come from ATen's vectorised kernels).
template <class T>
void sphere_amplitude_kernel(const T* x, const T* sn, const T* cs, T* f, T* df, std::int64_t n) {
  at::parallel_for(0, n, 16384, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t i = b; i < e; ++i) {
      const double v = static_cast<double>(x[i]);
      const double a = std::fabs(v);
      if (a < (std::is_same<T, double>::value ? 0.1 : 0.5)) {  // series (f even, f' odd)
        const double v2 = v * v;
        f[i] = static_cast<T>(
            1.0 + v2 * (-1.0 / 10.0 + v2 * (1.0 / 280.0 + v2 * (-1.0 / 15120.0 + v2 / 1330560.0))));
        df[i] = static_cast<T>(v * (-1.0 / 5.0 + v2 * (1.0 / 70.0 + v2 * (-1.0 / 2520.0 + v2 / 166320.0))));
      } else {
        const double s1 = static_cast<double>(sn[i]), c1 = static_cast<double>(cs[i]);
        const double inv = 1.0 / a;
        const double fv = 3.0 * (s1 - a * c1) * inv * inv * inv;
        f[i] = static_cast<T>(fv);
        const double d = 3.0 * (s1 * inv - fv) * inv;  // d f/d|x| = 3 sin|x|/x² − 3 f/|x|
        df[i] = static_cast<T>(v < 0 ? -d : d);
      }
    }
  });
}

/// Autograd op: forward computes f and f' together; backward multiplies by the saved f' (and
/// falls back to the composite ops when a higher-order graph is being built).
struct SphereAmplitudeOp : public torch::autograd::Function<SphereAmplitudeOp> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x) {
    const at::Tensor xc = x.contiguous();
    const at::Tensor ax = xc.abs();
    const at::Tensor sn = at::sin(ax), cs = at::cos(ax);
    at::Tensor f = at::empty_like(xc), df = at::empty_like(xc);
    AT_DISPATCH_FLOATING_TYPES(xc.scalar_type(), "sphere_amplitude", [&] {
      sphere_amplitude_kernel<scalar_t>(xc.data_ptr<scalar_t>(), sn.data_ptr<scalar_t>(),
                                        cs.data_ptr<scalar_t>(), f.data_ptr<scalar_t>(),
                                        df.data_ptr<scalar_t>(), xc.numel());
    });
    ctx->save_for_backward({x, df});
    return f;
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad) {
    const auto saved = ctx->get_saved_variables();
    if (c10::GradMode::is_enabled()) {  // create_graph: keep the derivative differentiable in x
      const at::Tensor& xs = saved[0];
      const at::Tensor small = xs.abs() < (xs.scalar_type() == at::kDouble ? 0.1 : 0.5);
      const at::Tensor xx = at::where(small, at::ones_like(xs), xs);
      const at::Tensor fc = 3.0 * (at::sin(xx) - xx * at::cos(xx)) / (xx * xx * xx);
      const at::Tensor dc = 3.0 * at::sin(xx) / (xx * xx) - 3.0 * fc / xx;
      const at::Tensor x2 = xs * xs;
      const at::Tensor ds = xs * (-1.0 / 5.0 + x2 * (1.0 / 70.0 + x2 * (-1.0 / 2520.0 + x2 / 166320.0)));
      return {grad[0] * at::where(small, ds, dc)};
    }
    return {grad[0] * saved[1]};
  }
};

}  // namespace

at::Tensor sphere_amplitude(const at::Tensor& x) {
  if (x.device().is_cpu() && (x.scalar_type() == at::kFloat || x.scalar_type() == at::kDouble)) {
    return SphereAmplitudeOp::apply(x);
  }
  return sphere_amplitude_composite(x);
}

QuadratureRule parse_quadrature_rule(const std::string& s) {
  if (s == "inverse_cdf") return QuadratureRule::inverse_cdf;
  if (s == "log_radius") return QuadratureRule::log_radius;
  if (s == "fixed_log_radius") return QuadratureRule::fixed_log_radius;
  throw InputError("unknown quadrature rule '" + s + "' (inverse_cdf, log_radius, fixed_log_radius)");
}

std::string quadrature_rule_name(QuadratureRule r) {
  switch (r) {
    case QuadratureRule::log_radius:
      return "log_radius";
    case QuadratureRule::fixed_log_radius:
      return "fixed_log_radius";
    default:
      return "inverse_cdf";
  }
}

RadiusQuadrature truncated_lognormal_nodes(const at::Tensor& m_r, const at::Tensor& s_r, double lower,
                                           double upper, std::int64_t k, QuadratureRule rule) {
  const GaussLegendre gl = gauss_legendre_unit(k);
  const at::Tensor m = m_r.to(at::kDouble), s = s_r.to(at::kDouble);
  const auto o = opts(at::kDouble, m.device());
  const at::Tensor u = at::tensor(gl.node, at::TensorOptions().dtype(at::kDouble)).to(o).unsqueeze(0);
  const at::Tensor w = at::tensor(gl.weight, at::TensorOptions().dtype(at::kDouble)).to(o).unsqueeze(0);
  const at::Tensor s2 = at::log1p((s / m).pow(2));
  const at::Tensor sigma = at::sqrt(s2).unsqueeze(1);
  const at::Tensor mu = (at::log(m) - 0.5 * s2).unsqueeze(1);
  if (rule == QuadratureRule::fixed_log_radius) {
    const double lo = std::log(lower), hi = std::log(upper);
    const at::Tensor x = lo + (hi - lo) * u;  // [1, K], the same for every row
    const at::Tensor z = (x - mu) / sigma;
    const at::Tensor wk = w * at::exp(-0.5 * z * z);
    return {at::exp(x).expand({m.size(0), k}), wk / wk.sum(1, true)};
  }
  if (rule == QuadratureRule::log_radius) {
    const at::Tensor lo = at::clamp_min(mu - 8.0 * sigma, std::log(lower));
    const at::Tensor hi = at::clamp_max(mu + 8.0 * sigma, std::log(upper));
    const at::Tensor x = lo + (hi - lo) * u;
    const at::Tensor z = (x - mu) / sigma;
    const at::Tensor wk = w * at::exp(-0.5 * z * z);
    return {at::exp(x), wk / wk.sum(1, true)};
  }
  const double r2 = std::sqrt(2.0);
  const at::Tensor fa = 0.5 * at::erfc(-(std::log(lower) - mu) / (sigma * r2));
  const at::Tensor fb = 0.5 * at::erfc(-(std::log(upper) - mu) / (sigma * r2));
  const at::Tensor p = (fa + u * (fb - fa)).clamp(1e-15, 1.0 - 1e-15);
  const at::Tensor r = at::exp(mu + sigma * r2 * at::erfinv(2.0 * p - 1.0));
  return {r.clamp(lower, upper), w.expand({m.size(0), k})};
}

struct ForwardModel::Impl {
  ForwardSetup s;
  std::vector<std::string> names;
  std::vector<double> trap;  // trapezoid weights on the invariant window
  double q1 = 0;             // Σ c_i q_i²
  at::Tensor q;              // [n_q] in dtype on device
  at::Tensor log_cq2;        // ln(c_i q_i²) on the invariant window, dtype
  // surrogate input scaling (ParameterSpace order)
  std::vector<double> box_lower, box_span;
  // pinhole smearing: analytical models evaluate at q_node [n_q, J] and average with q_weight
  // [n_q, J]; the surrogate applies ln_smear [n_q, n_q] (ln of sasmodels' weight matrix, −inf = 0)
  at::Tensor q_node, q_weight, ln_smear;
  // sphere with fixed nodes: ln of (r_k/100)^6 f(q r_k)^2, smeared when q_width is set: [K, n_q]
  at::Tensor sphere_table;

  void build_resolution();
  at::Tensor analytic_intensity(const at::Tensor& p, const RadiusQuadrature& rq, const at::Tensor& qv) const;

  at::Tensor ln_mean(const at::Tensor& p, std::int64_t b, std::int64_t e) const;
};

ForwardModel::ForwardModel(ForwardSetup setup) {
  auto impl = std::make_shared<Impl>();
  impl->s = std::move(setup);
  ForwardSetup& s = impl->s;
  const auto n = static_cast<std::int64_t>(s.q.size());
  if (n < 2) throw InputError("forward model: the q grid needs at least 2 points");
  for (std::int64_t i = 1; i < n; ++i) {
    if (!(s.q[static_cast<std::size_t>(i)] > s.q[static_cast<std::size_t>(i - 1)]) || !(s.q[0] > 0)) {
      throw InputError("forward model: the q grid must be positive and strictly increasing");
    }
  }
  if (s.norm_begin < 0 || s.norm_end > n || s.norm_end - s.norm_begin < 2) {
    throw InputError("forward model: the invariant window [" + std::to_string(s.norm_begin) + ", " +
                     std::to_string(s.norm_end) + ") must hold at least 2 of the " + std::to_string(n) +
                     " grid points");
  }
  if (!(s.truncation_lower > 0) || !(s.truncation_upper > s.truncation_lower)) {
    throw InputError("forward model: truncation needs 0 < A < B");
  }
  if (s.nodes < 1) throw InputError("forward model: quadrature needs K >= 1 nodes");
  if (s.dtype != c10::kFloat && s.dtype != c10::kDouble)
    throw InputError("forward model: dtype must be float32 or float64");
  if (!(s.data_invariant > 0)) throw InputError("forward model: the data invariant must be > 0");
  if (s.model == Model::surrogate) {
    if (!s.surrogate) throw InputError("forward model: the surrogate model needs a loaded surrogate");
    const surrogate::Metadata& meta = s.surrogate->metadata();
    if (meta.q.size() != s.q.size()) {
      throw InputError("forward model: the surrogate's q grid has " + std::to_string(meta.q.size()) +
                       " points, the fit grid " + std::to_string(s.q.size()));
    }
    for (std::size_t i = 0; i < s.q.size(); ++i) {
      if (std::fabs(meta.q[i] - s.q[i]) > 1e-9 * std::max(1.0, std::fabs(s.q[i]))) {
        throw InputError("forward model: the surrogate's q grid differs from the fit grid at point " +
                         std::to_string(i));
      }
    }
    const ParameterInfo& rad = meta.box[ParameterSpace::radius];
    if (s.truncation_lower < rad.lower - 1e-9 || s.truncation_upper > rad.upper + 1e-9) {
      throw InputError("forward model: truncation [" + std::to_string(s.truncation_lower) + ", " +
                       std::to_string(s.truncation_upper) + "] Å lies outside the surrogate's radius box [" +
                       std::to_string(rad.lower) + ", " + std::to_string(rad.upper) + "] Å");
    }
    // The fit differentiates with respect to the inputs only: no gradients for the weights.
    for (const at::Tensor& w : s.surrogate->parameters()) {
      if (w.requires_grad()) at::Tensor(w).requires_grad_(false);
    }
    impl->box_lower = meta.box.lower();
    for (int j = 0; j < ParameterSpace::kDim; ++j)
      impl->box_span.push_back(std::max(meta.box[j].span(), 1e-12));
  }
  Boxes unused;
  impl->names = Layout(s.model, s.background, unused).names();
  impl->trap = trapezoid_weights(s.q, s.norm_begin, s.norm_end);
  std::vector<double> lcq2;
  for (std::int64_t i = s.norm_begin; i < s.norm_end; ++i) {
    const double qi = s.q[static_cast<std::size_t>(i)];
    const double c = impl->trap[static_cast<std::size_t>(i - s.norm_begin)];
    impl->q1 += c * qi * qi;
    lcq2.push_back(std::log(c) + 2.0 * std::log(qi));
  }
  impl->q = tensor_of(s.q, s.dtype, s.device);
  impl->log_cq2 = tensor_of(lcq2, s.dtype, s.device);
  if (!s.q_width.empty()) impl->build_resolution();
  if (s.model == Model::sphere && s.rule == QuadratureRule::fixed_log_radius) {
    // Fixed nodes: the form factors at every (node, q) once, in double (smeared if need be).
    c10::NoGradGuard ng;
    const at::Tensor one = at::full({1}, 0.5 * (s.truncation_lower + s.truncation_upper), at::kDouble);
    const RadiusQuadrature rq = truncated_lognormal_nodes(one * 1.0, one * 0.3, s.truncation_lower,
                                                          s.truncation_upper, s.nodes, s.rule);
    const at::Tensor r = rq.radius.select(0, 0).view({-1, 1});  // [K, 1] Å
    const bool smear = impl->q_node.defined();
    const at::Tensor qd = smear ? impl->q_node.to(at::kCPU, at::kDouble).reshape({1, -1})
                                : at::tensor(s.q, at::TensorOptions().dtype(at::kDouble)).view({1, -1});
    at::Tensor t = (r / kRadiusScale).pow(6) * sphere_amplitude_composite(qd * r).pow(2);  // [K, n]
    if (smear) {
      t = (t.view({s.nodes, n, -1}) * impl->q_weight.to(at::kCPU, at::kDouble).unsqueeze(0)).sum(2);
    }
    impl->sphere_table = t.to(opts(s.dtype, s.device)).contiguous();
  }
  impl_ = std::move(impl);
}

void ForwardModel::Impl::build_resolution() {
  const auto n = static_cast<std::int64_t>(s.q.size());
  if (static_cast<std::int64_t>(s.q_width.size()) != n)
    throw InputError("forward model: q_width must have one value per q point");
  for (double w : s.q_width) {
    if (!(w > 0) || !std::isfinite(w)) throw InputError("forward model: q_width must be finite and > 0");
  }
  constexpr double kLow = 2.5, kHigh = 3.0;  // sasmodels PINHOLE_N_SIGMA
  if (s.model == Model::surrogate) {
    // sasmodels.resolution.pinhole_resolution with q_calc = the grid: erf over bin edges.
    std::vector<double> edges(static_cast<std::size_t>(n + 1));
    for (std::int64_t i = 1; i < n; ++i)
      edges[static_cast<std::size_t>(i)] = 0.5 * (s.q[static_cast<std::size_t>(i - 1)] + s.q[static_cast<std::size_t>(i)]);
    edges[0] = s.q[0] - 0.5 * (s.q[1] - s.q[0]);
    edges[static_cast<std::size_t>(n)] =
        s.q[static_cast<std::size_t>(n - 1)] + 0.5 * (s.q[static_cast<std::size_t>(n - 1)] - s.q[static_cast<std::size_t>(n - 2)]);
    std::vector<double> lw(static_cast<std::size_t>(n * n), -INFINITY);
    for (std::int64_t i = 0; i < n; ++i) {
      const double qi = s.q[static_cast<std::size_t>(i)], wi = s.q_width[static_cast<std::size_t>(i)];
      std::vector<double> row(static_cast<std::size_t>(n), 0.0);
      double sum = 0;
      for (std::int64_t j = 0; j < n; ++j) {
        const double qj = s.q[static_cast<std::size_t>(j)];
        if (qj < qi - kLow * wi || qj > qi + kHigh * wi) continue;
        const double a = std::erf((edges[static_cast<std::size_t>(j)] - qi) / (std::sqrt(2.0) * wi));
        const double b = std::erf((edges[static_cast<std::size_t>(j + 1)] - qi) / (std::sqrt(2.0) * wi));
        row[static_cast<std::size_t>(j)] = b - a;
        sum += b - a;
      }
      for (std::int64_t j = 0; j < n; ++j) {
        const double v = row[static_cast<std::size_t>(j)];
        if (v > 0 && sum > 0) lw[static_cast<std::size_t>(i * n + j)] = std::log(v / sum);
      }
      if (!(sum > 0)) lw[static_cast<std::size_t>(i * n + i)] = 0.0;  // narrower than a bin: no smearing
    }
    ln_smear = at::tensor(lw, at::TensorOptions().dtype(at::kDouble)).view({n, n}).to(opts(s.dtype, s.device));
    return;
  }
  // Gauss–Legendre nodes t_j on [−2.5, 3] with weights ∝ w_j φ(t_j), normalised.
  const GaussLegendre gl = gauss_legendre_unit(s.resolution_nodes);
  std::vector<double> t, w;
  double sw = 0;
  for (std::size_t j = 0; j < gl.node.size(); ++j) {
    t.push_back(-kLow + (kLow + kHigh) * gl.node[j]);
    w.push_back(gl.weight[j] * std::exp(-0.5 * t.back() * t.back()));
    sw += w.back();
  }
  const auto nj = static_cast<std::int64_t>(t.size());
  std::vector<double> qn(static_cast<std::size_t>(n * nj)), qw(static_cast<std::size_t>(n * nj));
  for (std::int64_t i = 0; i < n; ++i) {
    for (std::int64_t j = 0; j < nj; ++j) {
      const double v = s.q[static_cast<std::size_t>(i)] + s.q_width[static_cast<std::size_t>(i)] * t[static_cast<std::size_t>(j)];
      qn[static_cast<std::size_t>(i * nj + j)] = std::max(std::fabs(v), 1e-6);  // sasmodels: |q|
      qw[static_cast<std::size_t>(i * nj + j)] = w[static_cast<std::size_t>(j)] / sw;
    }
  }
  q_node = at::tensor(qn, at::TensorOptions().dtype(at::kDouble)).view({n, nj}).to(opts(s.dtype, s.device));
  q_weight = at::tensor(qw, at::TensorOptions().dtype(at::kDouble)).view({n, nj}).to(opts(s.dtype, s.device));
}

at::Tensor ForwardModel::Impl::analytic_intensity(const at::Tensor& p, const RadiusQuadrature& rq,
                                                  const at::Tensor& qv) const {
  // qv [1, 1, n]; returns Σ_k w_k I(q; r_k) [R, n]
  const at::Tensor r = (rq.radius.to(s.device, s.dtype) / kRadiusScale).unsqueeze(2);  // [R, K, 1] in 100 Å
  const at::Tensor w = rq.weight.to(s.device, s.dtype).unsqueeze(2);
  at::Tensor intensity;
  if (s.model == Model::sphere) {
    const at::Tensor f = sphere_amplitude(qv * (r * kRadiusScale));
    intensity = (r.pow(3) * f).pow(2);
  } else {
    const at::Tensor d = p.select(1, 2).to(s.device, s.dtype).view({-1, 1, 1}) / kRadiusScale;
    const at::Tensor c = p.select(1, 3).to(s.device, s.dtype).view({-1, 1, 1});
    const at::Tensor rc = (r - d).clamp_min(1.0 / kRadiusScale);
    const at::Tensor amp = r.pow(3) * sphere_amplitude(qv * (r * kRadiusScale)) +
                           (c - 1.0) * rc.pow(3) * sphere_amplitude(qv * (rc * kRadiusScale));
    intensity = amp.pow(2);
  }
  return (intensity * w).sum(1);
}

const ForwardSetup& ForwardModel::setup() const { return impl_->s; }
std::int64_t ForwardModel::n_q() const { return static_cast<std::int64_t>(impl_->s.q.size()); }
std::int64_t ForwardModel::n_parameters() const { return static_cast<std::int64_t>(impl_->names.size()); }
std::vector<std::string> ForwardModel::parameter_names() const { return impl_->names; }

namespace {
/// Rows per surrogate call. BLAS picks its kernels (and so its rounding) by matrix shape, so a
/// restart's rows would round differently when it is alone in a batch (K rows) than when it shares
/// one; evaluating every batch in calls of exactly this many rows (the last one padded with copies
/// of the last row, whose outputs are dropped) makes each restart's result independent of the
/// batch, hence of the split over shards and ranks (issue 5: identical per-restart results).
/// lnpsaxs-bench-fit, 128 restarts x K = 64 on 2 cores: 1,024-row blocks cost 28-36 % of the
/// unblocked speed, 4,096-row blocks about 10 % (quick) and nothing measurable (paper width).
/// (The default of ForwardSetup::surrogate_block_rows.)

/// The surrogate's log10 I for `theta` [n, 9] in calls of `block` rows (0: one call): [n, n_q].
at::Tensor fixed_chunk_log10_intensity(const surrogate::Surrogate& net, const at::Tensor& theta, std::int64_t block) {
  if (block <= 0) return net.log10_intensity(theta);
  const std::int64_t n = theta.size(0);
  const std::int64_t padded = (n + block - 1) / block * block;
  const at::Tensor all =
      padded == n ? theta : at::cat({theta, theta.slice(0, n - 1, n).expand({padded - n, theta.size(1)})});
  std::vector<at::Tensor> parts;
  for (std::int64_t i = 0; i < padded; i += block) {
    parts.push_back(net.log10_intensity(all.slice(0, i, i + block)));
  }
  return at::cat(parts).slice(0, 0, n);
}
}  // namespace

at::Tensor ForwardModel::Impl::ln_mean(const at::Tensor& p, std::int64_t b, std::int64_t e) const {
  const RadiusQuadrature rq = truncated_lognormal_nodes(p.select(1, 0), p.select(1, 1), s.truncation_lower,
                                                        s.truncation_upper, s.nodes, s.rule);
  if (s.model == Model::surrogate) {
    const auto dev = s.surrogate->device();
    const at::Tensor lo = at::tensor(box_lower, at::TensorOptions().dtype(at::kDouble)).to(dev);
    const at::Tensor span = at::tensor(box_span, at::TensorOptions().dtype(at::kDouble)).to(dev);
    const std::int64_t r = p.size(0), k = s.nodes;
    // Structural columns in surrogate order without the radius: Δρ, w, m_q1, m_q2, s_q1, s_q2, d, ρ_rel.
    const at::Tensor pd = p.to(dev, at::kDouble);
    const at::Tensor structural = pd.slice(1, 2, 10);
    const at::Tensor rad = rq.radius.to(dev);
    const at::Tensor cols_lo = at::cat({lo.slice(0, 0, 1), lo.slice(0, 2, 9)});
    const at::Tensor cols_span = at::cat({span.slice(0, 0, 1), span.slice(0, 2, 9)});
    const at::Tensor su = ((structural - cols_lo) / cols_span).unsqueeze(1).expand({r, k, 8});
    const at::Tensor ru = ((rad - lo[ParameterSpace::radius]) / span[ParameterSpace::radius]).unsqueeze(2);
    const auto net_type = s.surrogate->dtype();  // float32, or float64 after Surrogate::convert
    const at::Tensor theta =
        at::cat({su.slice(2, 0, 1), ru, su.slice(2, 1, 8)}, 2).reshape({r * k, 9}).to(net_type);
    const at::Tensor lw = at::log(rq.weight).to(dev, net_type).unsqueeze(2);
    if (ln_smear.defined()) {  // smear on the whole grid, then take the columns
      const at::Tensor y = fixed_chunk_log10_intensity(*s.surrogate, theta, s.surrogate_block_rows).reshape({r, k, -1});
      const at::Tensor ln_i = at::logsumexp(y * kLn10 + lw, 1).to(s.device, s.dtype);  // [R, n_q]
      const at::Tensor lws = ln_smear.slice(0, b, e).unsqueeze(0);                       // [1, e-b, n_q]
      return at::logsumexp(ln_i.unsqueeze(1) + lws, 2);
    }
    const at::Tensor y = fixed_chunk_log10_intensity(*s.surrogate, theta, s.surrogate_block_rows).slice(1, b, e).reshape({r, k, e - b});
    return at::logsumexp(y * kLn10 + lw, 1).to(s.device, s.dtype);
  }
  if (sphere_table.defined()) {  // fixed nodes: Ī = w @ table
    return at::log(at::matmul(rq.weight.to(s.device, s.dtype), sphere_table.slice(1, b, e)));
  }
  if (!q_node.defined()) return at::log(analytic_intensity(p, rq, q.slice(0, b, e).view({1, 1, e - b})));
  // Pinhole smearing: one pass per resolution node j (memory as without smearing).
  const at::Tensor qn = q_node.slice(0, b, e), qw = q_weight.slice(0, b, e);
  at::Tensor acc;
  for (std::int64_t j = 0; j < qn.size(1); ++j) {
    const at::Tensor part = analytic_intensity(p, rq, qn.select(1, j).view({1, 1, e - b})) * qw.select(1, j).unsqueeze(0);
    acc = acc.defined() ? acc + part : part;
  }
  return at::log(acc);
}

at::Tensor ForwardModel::ln_mean_intensity(const at::Tensor& params, std::int64_t begin,
                                           std::int64_t end) const {
  const ForwardSetup& s = impl_->s;
  if (params.dim() != 2 || params.size(1) != n_parameters()) {
    throw InputError("forward model " + model_name(s.model) + ": parameters must be [R, " +
                     std::to_string(n_parameters()) + "]");
  }
  if (begin < 0 || end > n_q() || end <= begin) throw InputError("forward model: bad column range");
  return impl_->ln_mean(params, begin, end);
}

at::Tensor ForwardModel::ln_intensity(const at::Tensor& params, std::int64_t begin, std::int64_t end) const {
  const ForwardSetup& s = impl_->s;
  if (begin > s.norm_begin || end < s.norm_end) {
    throw InputError("forward model: columns [" + std::to_string(begin) + ", " + std::to_string(end) +
                     ") do not contain the invariant window");
  }
  const at::Tensor ln_i = ln_mean_intensity(params, begin, end);
  const at::Tensor win = ln_i.slice(1, s.norm_begin - begin, s.norm_end - begin);
  const at::Tensor ln_q = at::logsumexp(win + impl_->log_cq2.unsqueeze(0), 1, true);
  at::Tensor ln_pi = ln_i - ln_q;
  if (!s.background) return ln_pi;
  const at::Tensor bt =
      params.select(1, params.size(1) - 1).to(s.device, s.dtype).unsqueeze(1) / s.data_invariant;
  return at::log(at::exp(ln_pi) * (1.0 - bt * impl_->q1) + bt);
}

at::Tensor ForwardModel::log10_intensity(const at::Tensor& params) const {
  return ln_intensity(params, 0, n_q()) / kLn10;
}

at::Tensor quadrature_error(const ForwardSetup& setup, const at::Tensor& params, std::int64_t begin,
                            std::int64_t end) {
  c10::NoGradGuard ng;
  ForwardSetup s2 = setup;
  s2.nodes = 2 * setup.nodes;
  const ForwardModel a(setup), b(s2);
  const std::int64_t eb = std::min(begin, setup.norm_begin), ee = std::max(end, setup.norm_end);
  const at::Tensor d = (a.ln_intensity(params, eb, ee) - b.ln_intensity(params, eb, ee)).slice(1, begin - eb, end - eb);
  return (d.abs().to(at::kDouble) / kLn10).amax(1).to(at::kCPU);
}

QuadratureCheck check_quadrature(ForwardSetup setup, const at::Tensor& params, std::int64_t begin,
                                 std::int64_t end, double tolerance, std::int64_t max_nodes) {
  QuadratureCheck out;
  for (;;) {
    const at::Tensor e = quadrature_error(setup, params, begin, end);
    const at::Tensor finite = e.masked_select(at::isfinite(e));
    out.nodes = setup.nodes;
    out.error = finite.numel() ? finite.max().item<double>() : 0.0;
    if (out.error <= tolerance) return out;
    if (2 * setup.nodes > max_nodes) {
      out.capped = true;
      return out;
    }
    setup.nodes *= 2;
  }
}

ForwardModel ForwardModel::from_fit_output(const std::string& fits_h5, const std::string& run_dir,
                                           c10::Device device) {
  ForwardSetup s;
  try {
    io::File f = io::File::open(fits_h5, io::File::Mode::read);
    s.model = parse_model(io::attr_string(f, "model"));
    s.background = io::attr_int(f, "background") != 0;
    s.data_invariant = io::attr_double(f, "data_invariant");
    const std::vector<double> tr = io::attr_doubles(f, "truncation");
    if (tr.size() != 2) throw InputError(fits_h5 + ": attribute truncation must hold [A, B]");
    s.truncation_lower = tr[0];
    s.truncation_upper = tr[1];
    s.nodes = io::attr_int(f, "quadrature_nodes");
    s.rule = io::has_attr(f, "quadrature_rule") ? parse_quadrature_rule(io::attr_string(f, "quadrature_rule"))
                                                : QuadratureRule::inverse_cdf;
    s.dtype = io::attr_string(f, "dtype") == "float64" ? c10::kDouble : c10::kFloat;
    s.q = io::read_all<double>(io::open_dataset(f, "/q"));
    if (io::exists(f, "/target/q_width")) s.q_width = io::read_all<double>(io::open_dataset(f, "/target/q_width"));
    if (io::has_attr(f, "resolution_nodes")) s.resolution_nodes = io::attr_int(f, "resolution_nodes");
    const std::vector<std::uint8_t> nm = io::read_all<std::uint8_t>(io::open_dataset(f, "/target/norm_mask"));
    s.norm_begin = -1;
    for (std::size_t i = 0; i < nm.size(); ++i) {
      if (nm[i]) {
        if (s.norm_begin < 0) s.norm_begin = static_cast<std::int64_t>(i);
        s.norm_end = static_cast<std::int64_t>(i) + 1;
      }
    }
  } catch (const RuntimeFailure& e) {
    throw InputError(fits_h5 + ": not a fit output of lnpsaxs-fit (" + e.what() + ")");
  }
  s.device = device;
  if (s.model == Model::surrogate) {
    s.surrogate = std::make_shared<const surrogate::Surrogate>(surrogate::Surrogate::load(run_dir, device));
  }
  return ForwardModel(std::move(s));
}

}  // namespace lnpsaxs::fit
