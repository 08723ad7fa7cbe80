#pragma once
// Reader of the `fit` stage's output RUN/fits/<name>/fits.h5 (the contract between `fit` and
// `analyze`): root attributes target, model, source, q_min, q_max, background, n_restarts,
// parameter_names, parameter_units, parameter_lower, parameter_upper, truth_values; datasets /q,
// /target/{intensity,mask,sigma}, and per restart /start, /params [R, P] (physical), /loss,
// /rmse_log, /rmse_log_full [R], /curve [R, n_q] (float32 log10 I_PI), /steps [R], and with a
// size prior the attribute size_prior and /size_prior_nll [R].
#include <cstdint>
#include <string>
#include <vector>

#include "statistics.h"

namespace lnpsaxs::analysis {

struct FitEnsemble {
  std::string path;
  std::string target;
  std::string model;   ///< "surrogate" | "sphere" | "core_shell"
  std::string source;  ///< data file or "synth:K"
  double q_min = 0, q_max = 0;
  bool background = false;
  std::vector<std::string> names, units;
  std::vector<double> lower, upper;  ///< the fit box of each parameter (min–max scaling)
  std::vector<double> truth;         ///< ground truth (NaN where unknown; all NaN for real data)
  std::vector<double> truncation;    ///< [A, B] of the radius distribution if the fit recorded it, else empty
  std::vector<double> q;             ///< [n_q] Å⁻¹
  std::vector<double> target_intensity;   ///< [n_q] linear, Porod-normalised
  std::vector<std::uint8_t> target_mask;  ///< [n_q] fitted points
  std::vector<double> target_sigma;       ///< [n_q] NaN if none
  Matrix start;                      ///< [R, P] physical (empty if the file has none)
  Matrix params;                     ///< [R, P] physical, final
  std::vector<double> loss;          ///< [R] final composite loss
  std::vector<double> rmse_log;      ///< [R] log10, fit window: the retention loss
  std::vector<double> rmse_log_full; ///< [R] full grid (NaN if absent)
  std::vector<float> curve;          ///< [R, n_q] final model log10 I_PI
  std::vector<std::int64_t> steps;   ///< [R] (empty if absent)
  /// [R] the size prior's NLL per restart (/size_prior_nll; empty when the fit had no size prior)
  std::vector<double> size_prior_nll;
  std::string size_prior;            ///< the size prior in words (attribute size_prior), "" if none
  std::int64_t fitted_points = 0;    ///< N, fitted points (/target/mask)

  /// The retention criterion of restart r: RMSE_log, or with a size prior RMSE_log·exp(NLL/N) (the
  /// square root of the fit's L·exp(2·NLL/N), docs/fit.md "Size prior").
  double criterion(std::int64_t r) const;

  std::int64_t n_restarts() const { return params.rows; }
  std::int64_t n_params() const { return params.cols; }
  std::int64_t n_q() const { return static_cast<std::int64_t>(q.size()); }
  /// Column of `name`, or −1.
  std::int64_t index_of(const std::string& name) const;
  /// True if the restart has a finite loss, RMSE_log and parameter vector.
  bool valid(std::int64_t r) const;
  /// Parameters min–max scaled with [lower, upper].
  Matrix scaled(const Matrix& physical) const;
};

/// Reads `path`. Throws InputError naming the file and the attribute or dataset that is missing
/// or has the wrong shape.
FitEnsemble read_fits(const std::string& path);

}  // namespace lnpsaxs::analysis
