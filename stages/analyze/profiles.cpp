#include "profiles.h"

#include <algorithm>
#include <cmath>

#include "lnpsaxs/errors.h"
#include "lnpsaxs/physics/form_factor.h"

namespace lnpsaxs::analysis {

std::vector<double> truncated_lognormal_pdf(const std::vector<double>& r, double m_r, double s_r, double a, double b) {
  if (!(m_r > 0 && s_r > 0)) throw InputError("radius distribution: m_r and s_r must be > 0");
  if (!(a > 0 && a < b)) throw InputError("radius distribution: truncation needs 0 < A < B");
  const physics::LogNormal ln = physics::lognormal_from_mean_sd(m_r, s_r);
  auto cdf = [&](double x) { return 0.5 * std::erfc(-(std::log(x) - ln.mu) / (ln.sigma * std::sqrt(2.0))); };
  const double mass = cdf(b) - cdf(a);
  std::vector<double> out(r.size(), 0.0);
  if (!(mass > 0)) return out;  // the whole distribution lies outside [a, b]
  for (std::size_t i = 0; i < r.size(); ++i) {
    if (r[i] >= a && r[i] <= b) out[i] = physics::lognormal_pdf(r[i], ln) / mass;
  }
  return out;
}

LengthScaleMass lengthscale_mass(double w, double m_q1, double s_q1, double m_q2, double s_q2, int n_points) {
  if (n_points < 2) throw InputError("length-scale mass: need at least 2 points");
  const double q0 = 2.0 * M_PI / 250.0, q1 = 0.2;
  std::vector<double> q(static_cast<std::size_t>(n_points)), m(q.size());
  for (int i = 0; i < n_points; ++i) {
    q[static_cast<std::size_t>(i)] = q0 + (q1 - q0) * i / (n_points - 1);
    const double qi = q[static_cast<std::size_t>(i)];
    m[static_cast<std::size_t>(i)] = qi * qi * physics::grf_power_spectrum(qi, w, m_q1, s_q1, m_q2, s_q2);
  }
  double area = 0;
  for (std::size_t i = 0; i + 1 < q.size(); ++i) area += 0.5 * (q[i + 1] - q[i]) * (m[i] + m[i + 1]);
  LengthScaleMass out;
  const std::size_t peak = static_cast<std::size_t>(std::max_element(m.begin(), m.end()) - m.begin());
  out.peak_length = 2.0 * M_PI / q[peak];
  for (std::size_t k = q.size(); k-- > 0;) {  // descending q = ascending ℓ
    out.length.push_back(2.0 * M_PI / q[k]);
    out.mass.push_back(area > 0 ? m[k] / area : 0.0);
  }
  return out;
}

}  // namespace lnpsaxs::analysis
