#include "accuracy.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace lnpsaxs::train {

CurveAccuracy curve_accuracy(const float* pred, const float* ref, std::int64_t n, std::int64_t n_q) {
  CurveAccuracy a;
  for (std::int64_t i = 0; i < n; ++i) {
    double abs_sum = 0, sq_sum = 0;
    double lo = std::numeric_limits<double>::infinity(), hi = -lo;
    for (std::int64_t j = 0; j < n_q; ++j) {
      const double r = ref[i * n_q + j];
      const double d = static_cast<double>(pred[i * n_q + j]) - r;
      abs_sum += std::abs(d);
      sq_sum += d * d;
      lo = std::min(lo, r);
      hi = std::max(hi, r);
    }
    const double male = abs_sum / static_cast<double>(n_q);
    a.male_log.push_back(male);
    a.rmse_log.push_back(std::sqrt(sq_sum / static_cast<double>(n_q)));
    a.relerr_log.push_back(hi > lo ? male / (hi - lo) : std::numeric_limits<double>::infinity());
  }
  return a;
}

Summary summarise(std::vector<double> v) {
  Summary s;
  if (v.empty()) return s;
  const double n = static_cast<double>(v.size());
  double sum = 0;
  for (double x : v) sum += x;
  s.mean = sum / n;
  double ss = 0;
  for (double x : v) ss += (x - s.mean) * (x - s.mean);
  s.std = v.size() > 1 ? std::sqrt(ss / (n - 1)) : 0.0;
  std::sort(v.begin(), v.end());
  const auto quantile = [&](double p) {
    const double pos = p * (n - 1);
    const auto i = static_cast<std::size_t>(std::floor(pos));
    const double f = pos - static_cast<double>(i);
    return i + 1 < v.size() ? v[i] * (1 - f) + v[i + 1] * f : v[i];
  };
  s.median = quantile(0.5);
  s.p95 = quantile(0.95);
  s.max = v.back();
  return s;
}

}  // namespace lnpsaxs::train
