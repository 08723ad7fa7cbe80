#include "lnpsaxs/physics/interpolate.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "lnpsaxs/errors.h"

namespace lnpsaxs::physics {
namespace {

void check_nodes(const std::vector<double>& x, const std::vector<double>& y) {
  if (x.size() != y.size()) {
    throw InputError("monotone cubic interpolation: " + std::to_string(x.size()) + " nodes but " +
                     std::to_string(y.size()) + " values");
  }
  if (x.size() < 2) throw InputError("monotone cubic interpolation needs at least 2 nodes");
  for (std::size_t i = 1; i < x.size(); ++i) {
    if (!(x[i] > x[i - 1])) {
      throw InputError("monotone cubic interpolation: nodes must be strictly increasing (node " +
                       std::to_string(i) + ")");
    }
  }
}

}  // namespace

std::vector<double> monotone_cubic_slopes(const std::vector<double>& x, const std::vector<double>& y) {
  check_nodes(x, y);
  const std::size_t n = x.size();
  std::vector<double> delta(n - 1);
  for (std::size_t i = 0; i + 1 < n; ++i) delta[i] = (y[i + 1] - y[i]) / (x[i + 1] - x[i]);
  // Initial node slopes: one-sided at the ends, mean of the secants inside, flat at extrema.
  std::vector<double> m(n);
  m[0] = delta[0];
  m[n - 1] = delta[n - 2];
  for (std::size_t i = 1; i + 1 < n; ++i) {
    m[i] = delta[i - 1] * delta[i] <= 0.0 ? 0.0 : 0.5 * (delta[i - 1] + delta[i]);
  }
  // Per-interval limited slopes (left end, right end).
  std::vector<double> left(n - 1), right(n - 1);
  for (std::size_t i = 0; i + 1 < n; ++i) {
    const double d = delta[i];
    if (std::fabs(d) < 1e-30) {
      left[i] = right[i] = 0.0;
      continue;
    }
    double a = m[i] / d, b = m[i + 1] / d;
    if (a < 0.0) a = 0.0;
    if (b < 0.0) b = 0.0;
    const double s2 = a * a + b * b;
    if (s2 > 9.0) {
      const double tau = 3.0 / std::sqrt(s2);
      a *= tau;
      b *= tau;
    }
    left[i] = a * d;
    right[i] = b * d;
  }
  std::vector<double> s(n);
  s[0] = left[0];
  s[n - 1] = right[n - 2];
  for (std::size_t i = 1; i + 1 < n; ++i) s[i] = 0.5 * (right[i - 1] + left[i]);
  return s;
}

std::vector<double> monotone_cubic_interpolate(const std::vector<double>& x, const std::vector<double>& y,
                                               const std::vector<double>& x_new) {
  const std::vector<double> s = monotone_cubic_slopes(x, y);
  const std::size_t n = x.size();
  std::vector<double> out;
  out.reserve(x_new.size());
  for (const double xv : x_new) {
    if (xv <= x[0]) {
      out.push_back(y[0] + s[0] * (xv - x[0]));
      continue;
    }
    if (xv >= x[n - 1]) {
      out.push_back(y[n - 1] + s[n - 1] * (xv - x[n - 1]));
      continue;
    }
    // Interval i with x[i] <= xv < x[i+1].
    const std::size_t i = static_cast<std::size_t>(std::upper_bound(x.begin(), x.end(), xv) - x.begin()) - 1;
    const double h = x[i + 1] - x[i];
    const double t = std::clamp((xv - x[i]) / h, 0.0, 1.0);
    const double t2 = t * t, t3 = t2 * t;
    const double h00 = 2 * t3 - 3 * t2 + 1, h10 = t3 - 2 * t2 + t, h01 = -2 * t3 + 3 * t2, h11 = t3 - t2;
    out.push_back(h00 * y[i] + h10 * h * s[i] + h01 * y[i + 1] + h11 * h * s[i + 1]);
  }
  return out;
}

}  // namespace lnpsaxs::physics
