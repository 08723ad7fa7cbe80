#pragma once
// Retention of the multi-start ensemble (docs/method.md §5.7) and a
// one-paragraph summary of a finished fit for the log. Plain C++.
#include <cstdint>
#include <string>
#include <vector>

namespace lnpsaxs::fit {

/// Indices kept by the retention rule on per-restart losses L (non-finite L never kept):
/// L* = mean of the ⌈p_best·N⌉ smallest (at least 1); keep L ≤ alpha·L*, then at least
/// max(⌈min_fraction·N⌉, 1) and at most max(⌈max_fraction·N⌉, K_min) restarts, best first.
/// Returned in ascending order of L.
std::vector<std::int64_t> retained(const std::vector<double>& loss, double p_best = 0.10, double alpha = 1.2,
                                   double min_fraction = 0.05, double max_fraction = 0.30);

/// Mean and population standard deviation of column j of row-major [n, p] values over `rows`.
void column_stats(const std::vector<double>& values, std::size_t p, std::size_t j,
                  const std::vector<std::int64_t>& rows, double& mean, double& sd);

}  // namespace lnpsaxs::fit
