#pragma once
// Accuracy of predicted curves against reference curves (paper §4.2.6; docs/method.md §4.6),
// per curve, in log10 intensity: Δ(q) = log10 I_pred − log10 I_ref on the n_q-point grid,
//   MALE_log   = mean_q |Δ|,
//   RMSE_log   = sqrt(mean_q Δ²),
//   RelErr_log = MALE_log / (max_q log10 I_ref − min_q log10 I_ref)   (the MEAN form, docs/method.md §4.6).
// A candidate for common/ once `analyze` needs the same numbers.
#include <cstdint>
#include <string>
#include <vector>

namespace lnpsaxs::train {

struct CurveAccuracy {
  std::vector<double> male_log, rmse_log, relerr_log;  ///< one value per curve
};

/// Metrics of `n` curves of `n_q` points each (row-major). A flat reference curve (range 0)
/// gets RelErr = +inf.
CurveAccuracy curve_accuracy(const float* pred_log10, const float* ref_log10, std::int64_t n, std::int64_t n_q);

/// Summary statistics of one metric over curves.
struct Summary {
  double mean = 0, std = 0, median = 0, p95 = 0, max = 0;
};
/// Mean, standard deviation (ddof 1; 0 for one value), median, 95th percentile (linear
/// interpolation between order statistics) and maximum. Empty input → all zero.
Summary summarise(std::vector<double> values);

}  // namespace lnpsaxs::train
