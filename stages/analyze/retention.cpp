#include "retention.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

namespace lnpsaxs::analysis {

std::int64_t ceil_count(double x) {
  const double r = std::round(x);
  if (std::abs(x - r) <= 1e-9 * std::max(1.0, std::abs(x))) return static_cast<std::int64_t>(r);
  return static_cast<std::int64_t>(std::ceil(x));
}

Retention retain(const std::vector<double>& loss, const RetentionRule& rule) {
  if (!(rule.p_best > 0 && rule.p_best <= 1)) throw std::invalid_argument("retention: p_best must be in (0, 1]");
  if (!(rule.alpha >= 1)) throw std::invalid_argument("retention: alpha must be >= 1");
  if (!(rule.min_fraction > 0 && rule.max_fraction <= 1 && rule.min_fraction <= rule.max_fraction)) {
    throw std::invalid_argument("retention: need 0 < min_fraction <= max_fraction <= 1");
  }
  Retention r;
  r.n_total = static_cast<std::int64_t>(loss.size());
  std::vector<std::int64_t> order;
  order.reserve(loss.size());
  for (std::size_t i = 0; i < loss.size(); ++i) {
    if (std::isfinite(loss[i])) order.push_back(static_cast<std::int64_t>(i));
  }
  r.n_valid = static_cast<std::int64_t>(order.size());
  r.n_invalid = r.n_total - r.n_valid;
  if (r.n_valid == 0) {
    r.l_star = r.threshold = std::nan("");
    return r;
  }
  std::stable_sort(order.begin(), order.end(),
                   [&](std::int64_t a, std::int64_t b) { return loss[static_cast<std::size_t>(a)] < loss[static_cast<std::size_t>(b)]; });
  const double n = static_cast<double>(r.n_valid);
  r.n_best = std::max<std::int64_t>(ceil_count(rule.p_best * n), 1);
  double sum = 0;
  for (std::int64_t i = 0; i < r.n_best; ++i) sum += loss[static_cast<std::size_t>(order[static_cast<std::size_t>(i)])];
  r.l_star = sum / static_cast<double>(r.n_best);
  r.threshold = rule.alpha * r.l_star;
  r.k_min = std::max<std::int64_t>(ceil_count(rule.min_fraction * n), 1);
  r.k_max = std::max<std::int64_t>(ceil_count(rule.max_fraction * n), r.k_min);
  for (std::int64_t i : order) {
    if (loss[static_cast<std::size_t>(i)] <= r.threshold) ++r.n_accepted;  // sorted: a prefix
  }
  std::int64_t keep = r.n_accepted;
  if (keep < r.k_min) {
    keep = r.k_min;
    r.bound = "min";
  } else if (keep > r.k_max) {
    keep = r.k_max;
    r.bound = "max";
  }
  r.kept.assign(order.begin(), order.begin() + keep);
  return r;
}

}  // namespace lnpsaxs::analysis
