#pragma once
// Retention of the multi-start ensemble (paper §2.2; docs/method.md §5.7):
// the robust reference loss L* is the MEAN of the best ⌈p_best·N⌉ losses; restarts
// with L ≤ α·L* are kept, bounded to the ⌈f_min·N⌉ … ⌈f_max·N⌉ lowest-loss restarts.
// Losses that are NaN or infinite are excluded before anything else and counted; N is the number
// of finite losses.
#include <cstdint>
#include <string>
#include <vector>

namespace lnpsaxs::analysis {

struct RetentionRule {
  double p_best = 0.10;       ///< fraction of restarts averaged into L*
  double alpha = 1.2;         ///< acceptance factor: keep L ≤ alpha·L*
  double min_fraction = 0.05; ///< lower bound on the kept count, as a fraction of N
  double max_fraction = 0.30; ///< upper bound on the kept count
};

struct Retention {
  std::vector<std::int64_t> kept;  ///< indices into the input, sorted by loss (ascending; ties by index)
  std::int64_t n_total = 0;        ///< input size
  std::int64_t n_valid = 0;        ///< finite losses (N)
  std::int64_t n_invalid = 0;      ///< NaN / infinite losses, excluded
  std::int64_t n_best = 0;         ///< ⌈p_best·N⌉ (≥ 1)
  std::int64_t k_min = 0;          ///< max(⌈min_fraction·N⌉, 1)
  std::int64_t k_max = 0;          ///< max(⌈max_fraction·N⌉, k_min)
  std::int64_t n_accepted = 0;     ///< |{L ≤ alpha·L*}| before the bounds
  double l_star = 0;               ///< reference loss L* (NaN when N = 0)
  double threshold = 0;            ///< alpha·L*
  std::string bound = "none";      ///< "none", "min" (k_min kept) or "max" (k_max kept)
};

/// ⌈x⌉ that ignores floating-point noise in a product such as 0.1·30 = 3.0000000000000004
/// (the intended value is the exact ⌈p·N⌉). Assumes |x| < 2^50.
std::int64_t ceil_count(double x);

/// Applies the rule to `loss` (one value per restart; any order). With no finite loss the result
/// keeps nothing (n_valid = 0). Throws std::invalid_argument for a rule outside its ranges
/// (p_best ∉ (0,1], alpha < 1, fractions ∉ (0,1] or min > max).
Retention retain(const std::vector<double>& loss, const RetentionRule& rule = {});

}  // namespace lnpsaxs::analysis
