#include "lnpsaxs/physics/size_distribution.h"

#include <boost/math/distributions/normal.hpp>

#include <algorithm>
#include <cmath>
#include <string>

#include "lnpsaxs/errors.h"

namespace lnpsaxs::physics {
namespace {
const boost::math::normal_distribution<double> kStdNormal(0.0, 1.0);
double phi_cdf(double x) { return boost::math::cdf(kStdNormal, x); }
double phi_quantile(double p) { return boost::math::quantile(kStdNormal, std::clamp(p, 1e-300, 1.0 - 1e-16)); }
}  // namespace

TruncatedLogNormal::TruncatedLogNormal(double m, double s, double a, double b) : m_(m), s_(s), a_(a), b_(b) {
  if (!(m > 0) || !(s > 0) || !(a > 0) || !(b > a)) {
    throw InputError("truncated log-normal needs m > 0, s > 0 and 0 < A < B (got m = " + std::to_string(m) +
                     ", s = " + std::to_string(s) + ", A = " + std::to_string(a) + ", B = " + std::to_string(b) + ")");
  }
  sigma_ = std::sqrt(std::log1p((s * s) / (m * m)));
  mu_ = std::log(m) - 0.5 * sigma_ * sigma_;
  fa_ = phi_cdf((std::log(a) - mu_) / sigma_);
  fb_ = phi_cdf((std::log(b) - mu_) / sigma_);
  if (!(fb_ > fa_)) {
    throw InputError("truncated log-normal (m = " + std::to_string(m) + ", s = " + std::to_string(s) +
                     ") has no mass on [" + std::to_string(a) + ", " + std::to_string(b) + "]");
  }
}

double TruncatedLogNormal::pdf(double r) const {
  if (r < a_ || r > b_) return 0.0;
  const double z = (std::log(r) - mu_) / sigma_;
  return std::exp(-0.5 * z * z) / (r * sigma_ * std::sqrt(2.0 * M_PI)) / (fb_ - fa_);
}

double TruncatedLogNormal::cdf(double r) const {
  if (r <= a_) return 0.0;
  if (r >= b_) return 1.0;
  return (phi_cdf((std::log(r) - mu_) / sigma_) - fa_) / (fb_ - fa_);
}

double TruncatedLogNormal::quantile(double u) const {
  const double p = fa_ + std::clamp(u, 0.0, 1.0) * (fb_ - fa_);
  return std::clamp(std::exp(mu_ + sigma_ * phi_quantile(p)), a_, b_);
}

TruncatedNormal::TruncatedNormal(double mean, double sd, double a, double b) : mean_(mean), sd_(sd), a_(a), b_(b) {
  if (!(sd > 0) || !(b > a)) throw InputError("truncated normal needs sd > 0 and A < B");
  fa_ = phi_cdf((a - mean) / sd);
  fb_ = phi_cdf((b - mean) / sd);
  if (!(fb_ > fa_)) throw InputError("truncated normal has no mass on [A, B]");
}

double TruncatedNormal::pdf(double r) const {
  if (r < a_ || r > b_) return 0.0;
  const double z = (r - mean_) / sd_;
  return std::exp(-0.5 * z * z) / (sd_ * std::sqrt(2.0 * M_PI)) / (fb_ - fa_);
}

double TruncatedNormal::quantile(double u) const {
  return std::clamp(mean_ + sd_ * phi_quantile(fa_ + std::clamp(u, 0.0, 1.0) * (fb_ - fa_)), a_, b_);
}

}  // namespace lnpsaxs::physics
