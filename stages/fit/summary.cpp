#include "summary.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace lnpsaxs::fit {

std::vector<std::int64_t> retained(const std::vector<double>& loss, double p_best, double alpha,
                                   double min_fraction, double max_fraction) {
  std::vector<std::int64_t> order;
  for (std::size_t i = 0; i < loss.size(); ++i) {
    if (std::isfinite(loss[i])) order.push_back(static_cast<std::int64_t>(i));
  }
  if (order.empty()) return order;
  std::stable_sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) {
    return loss[static_cast<std::size_t>(a)] < loss[static_cast<std::size_t>(b)];
  });
  const double n = static_cast<double>(order.size());
  const auto n_best = std::max<std::size_t>(static_cast<std::size_t>(std::ceil(p_best * n)), 1);
  double l_star = 0;
  for (std::size_t k = 0; k < n_best; ++k) l_star += loss[static_cast<std::size_t>(order[k])];
  l_star /= static_cast<double>(n_best);
  std::size_t accepted = 0;
  while (accepted < order.size() && loss[static_cast<std::size_t>(order[accepted])] <= alpha * l_star)
    ++accepted;
  const auto k_min = std::max<std::size_t>(static_cast<std::size_t>(std::ceil(min_fraction * n)), 1);
  const auto k_max = std::max<std::size_t>(static_cast<std::size_t>(std::ceil(max_fraction * n)), k_min);
  const std::size_t keep = std::min(std::max(accepted, k_min), std::min(k_max, order.size()));
  order.resize(keep);
  return order;
}

void column_stats(const std::vector<double>& values, std::size_t p, std::size_t j,
                  const std::vector<std::int64_t>& rows, double& mean, double& sd) {
  mean = 0;
  sd = 0;
  if (rows.empty()) return;
  for (auto r : rows) mean += values[static_cast<std::size_t>(r) * p + j];
  mean /= static_cast<double>(rows.size());
  for (auto r : rows) {
    const double d = values[static_cast<std::size_t>(r) * p + j] - mean;
    sd += d * d;
  }
  sd = std::sqrt(sd / static_cast<double>(rows.size()));
}

}  // namespace lnpsaxs::fit
