#pragma once
// The posterior of one fit target over the fit's unconstrained coordinates (docs/posterior.md §1):
// the same differentiable forward model, boxes and data as the fit (fit::Plan), a uniform prior on
// each parameter's box (the log-Jacobian of the box maps of models/forward/parameters.h enters the
// density of the raw coordinates) and a likelihood chosen by the fit's loss:
//   chi2 (σ known)     D_i ~ N(s·Ī_i(θ) + b̃, σ_i²) on the fitted points, with the scale s sampled as
//                      t = ln s + c (flat prior on ln s; c a per-target constant) and the
//                      background b (box prior, b̃ = b/Q_data) when the target fits one;
//   log / composite    the loss L(θ) read as a Gaussian with unknown variance σ² in the loss's
//   (σ unknown)        residuals, σ marginalised under p(σ) ∝ 1/σ: log p(D|θ) = −(N/2)·ln L(θ) + const.
// Plus, when the target has one, −NLL of the size prior (orthogonal size data).
// Correlated residuals (posterior.residual_correlation: ess): when the residuals at the fit's best
// restart are autocorrelated in q (lag-1 autocorrelation above Bartlett's 2/√N), the likelihood is
// tempered by N_eff/N, N_eff the effective number of independent residuals (docs/posterior.md §1).
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "hmc.h"
#include "models/forward/forward_model.h"
#include "models/forward/parameters.h"
#include "multistart.h"

namespace lnpsaxs::posterior {

/// An extra −log prior term of physical parameters [C, P] → [C] float64 (e.g. a size prior's NLL).
using ExtraNll = std::function<at::Tensor(const at::Tensor&)>;

/// Lag-1 autocorrelation of a series (mean removed): Σ(r_i − r̄)(r_i+1 − r̄)/Σ(r_i − r̄)². NaN for
/// fewer than 3 values or a constant series.
double lag1_autocorrelation(const std::vector<double>& r);

/// The effective number of independent values of a residual series r over q (docs/posterior.md
/// §1): N when its lag-1 autocorrelation is not above 2/√N (Bartlett's 95 % bound for white noise),
/// else min(N, N/τ) with τ the integrated autocorrelation time of Geyer's initial monotone sequence
/// (the ESS estimator of diagnostics.h applied along q). For AR(1) residuals N_eff → N(1 − φ)/(1 + φ).
/// Throws std::invalid_argument for fewer than 4 values.
double effective_points(const std::vector<double>& r);

/// How the likelihood accounts for residuals correlated along q (posterior.residual_correlation).
struct ResidualCorrelation {
  bool temper = false;     ///< true (`ess`): temper the likelihood by N_eff/N; false (`none`): N_eff = N
  std::vector<double> at;  ///< [P] physical parameters where the residuals are taken (the fit's best restart)
};

/// The sampled density of one target and the maps between its coordinates.
struct TargetPosterior {
  fit::Layout layout;
  bool sample_scale = false;  ///< chi2: one more coordinate, t = ln s + c
  double scale_offset = 0;    ///< c
  std::string likelihood;     ///< how the likelihood was built, in words (output attribute)
  std::int64_t n_points = 0;  ///< N, fitted points
  double residual_rho = 0;    ///< lag-1 autocorrelation of the residuals at ResidualCorrelation::at (NaN: not taken)
  double n_effective = 0;     ///< N_eff; the likelihood is tempered by N_eff/N (= N without tempering)
  LogDensity log_density;     ///< raw [C, D] → [C]

  std::int64_t dim() const { return static_cast<std::int64_t>(layout.size()) + (sample_scale ? 1 : 0); }
  /// Physical parameters [C, P] of raw coordinates [C, D] (row-major vectors).
  std::vector<double> physical(const std::vector<double>& raw) const;
  /// Raw coordinates [C, D] of physical starts [C, P]: the box maps inverted, and for chi2 t at the
  /// scale's least-squares value given the start.
  std::vector<double> raw_starts(const std::vector<double>& physical) const;
  std::function<std::vector<double>(const std::vector<double>&)> scale_start;  ///< chi2: t per start row
};

/// log |det ∂x/∂ρ| of the layout's box maps at raw rows [C, P] → [C] float64 (differentiable): the
/// log density of ρ under a uniform prior on the boxes (up to a constant).
at::Tensor log_jacobian(const fit::Layout& layout, const at::Tensor& raw);

/// The posterior of a target: `model` and `data` as the fit built them, `loss` its loss settings.
/// A size prior in `loss` (loss.size_prior) adds −NLL to the log density once, in either likelihood
/// (the fit's L·exp(2·NLL/N) is not used here); `extra` adds a further −log prior term.
/// `corr` tempers the likelihood (never the priors) by N_eff/N of the residuals at corr.at.
/// chi2 needs σ on every fitted point (the fit enforces it). Throws InputError otherwise, and for
/// corr.at of the wrong size.
TargetPosterior make_target_posterior(const fit::Layout& layout, const fit::ForwardModel& model, const fit::FitData& data,
                                      const fit::LossSettings& loss, const ExtraNll& extra = {},
                                      const ResidualCorrelation& corr = {});

}  // namespace lnpsaxs::posterior
