#include "lnpsaxs/param_space.h"

#include <algorithm>
#include <cmath>

#include "lnpsaxs/config.h"

namespace lnpsaxs {

ParameterSpace ParameterSpace::defaults() {
  return ParameterSpace({{
      {"delta_rho_int", "1", "mean interior density offset (interior mean = 1 + delta_rho_int)", -1.0, 1.0},
      {"radius", "Å", "outer particle radius", 100.0, 500.0},
      {"w", "1", "weight of log-normal spectral component 2", 0.0, 1.0},
      {"m_q1", "Å^-1", "real-space mean of spectral component 1", 0.05, 0.15},
      {"m_q2", "Å^-1", "real-space mean of spectral component 2", 0.05, 0.15},
      {"s_q1", "Å^-1", "real-space standard deviation of spectral component 1", 0.01, 0.15},
      {"s_q2", "Å^-1", "real-space standard deviation of spectral component 2", 0.01, 0.15},
      {"shell_thickness", "Å", "uniform shell thickness", 40.0, 70.0},
      {"rho_rel", "1", "shell density relative to the mean interior density", 0.7, 1.3},
  }});
}

ParameterSpace ParameterSpace::from_config(const config::Config& cfg) {
  auto params = defaults().params_;
  for (auto& p : params) {
    auto [lo, hi] = cfg.range("parameters." + p.name);
    p.lower = lo;
    p.upper = hi;
  }
  return ParameterSpace(params);
}

std::vector<std::string> ParameterSpace::names() const {
  std::vector<std::string> v;
  for (const auto& p : params_) v.push_back(p.name);
  return v;
}
std::vector<std::string> ParameterSpace::units() const {
  std::vector<std::string> v;
  for (const auto& p : params_) v.push_back(p.unit);
  return v;
}
std::vector<double> ParameterSpace::lower() const {
  std::vector<double> v;
  for (const auto& p : params_) v.push_back(p.lower);
  return v;
}
std::vector<double> ParameterSpace::upper() const {
  std::vector<double> v;
  for (const auto& p : params_) v.push_back(p.upper);
  return v;
}

void ParameterSpace::to_unit(const double* physical, double* unit, std::size_t rows) const {
  for (std::size_t r = 0; r < rows; ++r) {
    for (int j = 0; j < kDim; ++j) {
      const auto& p = params_[static_cast<std::size_t>(j)];
      unit[r * kDim + j] = (physical[r * kDim + j] - p.lower) / p.span();
    }
  }
}

void ParameterSpace::to_physical(const double* unit, double* physical, std::size_t rows) const {
  for (std::size_t r = 0; r < rows; ++r) {
    for (int j = 0; j < kDim; ++j) {
      const auto& p = params_[static_cast<std::size_t>(j)];
      physical[r * kDim + j] = p.lower + unit[r * kDim + j] * p.span();
    }
  }
}

SizeDistributionBox SizeDistributionBox::from_config(const config::Config& cfg) {
  SizeDistributionBox b;
  std::tie(b.m_r.lower, b.m_r.upper) = cfg.range("size_distribution.m_r");
  std::tie(b.s_r.lower, b.s_r.upper) = cfg.range("size_distribution.s_r");
  std::tie(b.truncation_lower, b.truncation_upper) = cfg.range("size_distribution.truncation");
  return b;
}

namespace eta {
double from_raw(double raw) {
  const double s = raw >= 0 ? 1.0 / (1.0 + std::exp(-raw)) : std::exp(raw) / (1.0 + std::exp(raw));
  return kEpsilon + (1.0 - 2.0 * kEpsilon) * s;
}
double to_raw(double e) {
  const double p = std::clamp((e - kEpsilon) / (1.0 - 2.0 * kEpsilon), 1e-6, 1.0 - 1e-6);
  return std::log(p) - std::log1p(-p);
}
double m_q2_from_eta(double m_q1, double e, double h) { return m_q1 + e * (h - m_q1); }
double eta_from_m_q2(double m_q1, double m_q2, double h) { return (m_q2 - m_q1) / (h - m_q1); }
}  // namespace eta

}  // namespace lnpsaxs
