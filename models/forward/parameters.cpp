#include "models/forward/parameters.h"

#include <algorithm>
#include <cmath>

#include "lnpsaxs/errors.h"
#include "lnpsaxs/param_space.h"
#include "lnpsaxs/sobol.h"

namespace lnpsaxs::fit {
namespace {

double sigmoid(double x) { return x >= 0 ? 1.0 / (1.0 + std::exp(-x)) : std::exp(x) / (1.0 + std::exp(x)); }
double logit(double p) {
  p = std::clamp(p, 1e-6, 1.0 - 1e-6);
  return std::log(p) - std::log1p(-p);
}

ParamSpec box(const std::string& name, const std::string& unit, std::pair<double, double> b, Transform t) {
  ParamSpec p;
  p.name = name;
  p.unit = unit;
  p.lower = b.first;
  p.upper = b.second;
  p.transform = t;
  return p;
}

}  // namespace

Model parse_model(const std::string& s) {
  if (s == "surrogate") return Model::surrogate;
  if (s == "sphere") return Model::sphere;
  if (s == "core_shell") return Model::core_shell;
  throw InputError("unknown model '" + s + "' (surrogate, sphere, core_shell)");
}

std::string model_name(Model m) {
  switch (m) {
    case Model::surrogate:
      return "surrogate";
    case Model::sphere:
      return "sphere";
    case Model::core_shell:
      return "core_shell";
  }
  return "?";
}

Layout::Layout(Model model, bool background, const Boxes& b) : model_(model), background_(background) {
  params_.push_back(box("m_r", "Å", b.m_r, Transform::sigmoid));
  if (b.size_as_cv) {
    ParamSpec s = box("s_r", "Å", {b.cv.first * b.m_r.first, b.cv.second * b.m_r.second}, Transform::cv);
    s.t_lower = b.cv.first;
    s.t_upper = b.cv.second;
    s.ref = 0;
    params_.push_back(s);
  } else {
    params_.push_back(box("s_r", "Å", b.s_r, Transform::sigmoid));
  }
  if (model == Model::surrogate) {
    params_.push_back(box("delta_rho_int", "1", b.delta_rho_int, Transform::tanh));
    params_.push_back(box("w", "1", b.w, Transform::tanh));
    params_.push_back(box("m_q1", "Å^-1", b.m_q1, Transform::tanh));
    ParamSpec m2 = box("m_q2", "Å^-1", b.m_q1, Transform::eta);  // m_q2 ∈ (m_q1, h]
    m2.ref = 4;
    params_.push_back(m2);
    params_.push_back(box("s_q1", "Å^-1", b.s_q1, Transform::tanh));
    params_.push_back(box("s_q2", "Å^-1", b.s_q2, Transform::tanh));
    params_.push_back(box("shell_thickness", "Å", b.shell_thickness, Transform::tanh));
    params_.push_back(box("rho_rel", "1", b.rho_rel, Transform::tanh));
  } else if (model == Model::core_shell) {
    params_.push_back(box("shell_thickness", "Å", b.cs_shell_thickness, Transform::tanh));
    params_.push_back(box("contrast", "1", b.cs_contrast, Transform::tanh));
  }
  if (background)
    params_.push_back(
        box("background", "data intensity unit", {0.0, b.background_upper}, Transform::sigmoid));
  for (const auto& p : params_) {
    if (!(p.upper > p.lower)) throw InputError("parameter " + p.name + ": empty box");
  }
}

std::vector<std::string> Layout::names() const {
  std::vector<std::string> v;
  for (const auto& p : params_) v.push_back(p.name);
  return v;
}
std::vector<std::string> Layout::units() const {
  std::vector<std::string> v;
  for (const auto& p : params_) v.push_back(p.unit);
  return v;
}
std::vector<double> Layout::lower() const {
  std::vector<double> v;
  for (const auto& p : params_) v.push_back(p.lower);
  return v;
}
std::vector<double> Layout::upper() const {
  std::vector<double> v;
  for (const auto& p : params_) v.push_back(p.upper);
  return v;
}
int Layout::index(const std::string& name) const {
  for (std::size_t j = 0; j < params_.size(); ++j) {
    if (params_[j].name == name) return static_cast<int>(j);
  }
  return -1;
}

void Layout::physical_from_raw(const double* raw, double* x) const {
  for (std::size_t j = 0; j < params_.size(); ++j) {
    const ParamSpec& p = params_[j];
    switch (p.transform) {
      case Transform::sigmoid:
        x[j] = p.lower + (p.upper - p.lower) * sigmoid(raw[j]);
        break;
      case Transform::tanh:
        x[j] = 0.5 * (p.lower + p.upper) + 0.5 * (p.upper - p.lower) * std::tanh(raw[j]);
        break;
      case Transform::eta: {
        const double m1 = x[p.ref];
        x[j] = eta::m_q2_from_eta(m1, eta::from_raw(raw[j]), p.upper);
        break;
      }
      case Transform::cv:
        x[j] = x[p.ref] * (p.t_lower + (p.t_upper - p.t_lower) * sigmoid(raw[j]));
        break;
    }
  }
}

void Layout::raw_from_physical(const double* x, double* raw) const {
  for (std::size_t j = 0; j < params_.size(); ++j) {
    const ParamSpec& p = params_[j];
    switch (p.transform) {
      case Transform::sigmoid:
        raw[j] = logit((x[j] - p.lower) / (p.upper - p.lower));
        break;
      case Transform::tanh: {
        const double mid = 0.5 * (p.lower + p.upper), half = 0.5 * (p.upper - p.lower);
        raw[j] = std::atanh(std::clamp((x[j] - mid) / half, -0.999999, 0.999999));
        break;
      }
      case Transform::eta: {
        const double m1 = x[p.ref];
        const double e =
            std::clamp(eta::eta_from_m_q2(m1, x[j], p.upper), eta::kEpsilon, 1.0 - eta::kEpsilon);
        raw[j] = eta::to_raw(e);
        break;
      }
      case Transform::cv:
        raw[j] = logit((x[j] / x[p.ref] - p.t_lower) / (p.t_upper - p.t_lower));
        break;
    }
  }
}

std::vector<double> sobol_starts(const Layout& layout, const StartSettings& s, std::uint64_t seed,
                                 std::int64_t first, std::int64_t count) {
  const std::size_t dim = layout.size();
  const SobolDesign design(static_cast<unsigned>(dim), SobolRandomisation::owen, seed);
  const std::vector<double> u =
      design.points(static_cast<std::uint64_t>(first), static_cast<std::uint64_t>(count));
  std::vector<double> out(u.size());
  for (std::int64_t r = 0; r < count; ++r) {
    const double* ur = &u[static_cast<std::size_t>(r) * dim];
    double* x = &out[static_cast<std::size_t>(r) * dim];
    for (std::size_t j = 0; j < dim; ++j) {
      const ParamSpec& p = layout[j];
      const double v = s.margin + (1.0 - 2.0 * s.margin) * ur[j];
      switch (p.transform) {
        case Transform::sigmoid:
        case Transform::tanh:
          x[j] = p.lower + (p.upper - p.lower) * v;
          break;
        case Transform::cv:
          x[j] = x[p.ref] * (p.t_lower + (p.t_upper - p.t_lower) * v);
          break;
        case Transform::eta: {
          // m_q2 above m_q1 by at least the gap (docs/method.md §5.5): shrink m_q1 if it leaves no room.
          const double h = p.upper, gap = s.m_q2_gap * (p.upper - p.lower);
          double& m1 = x[p.ref];
          m1 = std::min(m1, h - gap);
          const double avail = h - m1;
          const double m2 = m1 + std::min(gap, avail) + v * std::max(avail - gap, 0.0);
          // Keep η inside [ε, 1 − ε] as the raw map does, so the start is exactly representable.
          const double lim = eta::kEpsilon + 2e-6;  // inside what eta::to_raw inverts exactly
          const double e = std::clamp((m2 - m1) / avail, lim, 1.0 - lim);
          x[j] = eta::m_q2_from_eta(m1, e, h);
          break;
        }
      }
    }
    if (s.fixed_size) {
      const ParamSpec& pm = layout[0];
      const ParamSpec& ps = layout[1];
      auto inside = [](double v, double lo, double hi) {
        const double m = 1e-3 * (hi - lo);
        return std::clamp(v, lo + m, hi - m);
      };
      x[0] = inside(s.fixed_m_r, pm.lower, pm.upper);
      x[1] = ps.transform == Transform::cv ? x[0] * inside(s.fixed_s_r / x[0], ps.t_lower, ps.t_upper)
                                           : inside(s.fixed_s_r, ps.lower, ps.upper);
    }
  }
  return out;
}

}  // namespace lnpsaxs::fit
