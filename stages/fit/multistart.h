#pragma once
// Batched multi-start optimisation (paper §4.2.3; docs/method.md §5.3–5.4):
// B restarts of one target optimised together as one tensor problem, each
// restart in its own unconstrained coordinates (parameters.h), AdamW with warm-up + cosine
// schedule, the gradient-norm clip applied to each restart separately. The loss is the SUM of
// the per-restart losses, so a restart's trajectory does not depend on which other restarts share
// its batch: results depend only on (seed, target, restart index).
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <vector>

#include "models/forward/forward_model.h"
#include "models/forward/parameters.h"
#include "target.h"

namespace lnpsaxs::fit {

struct OptimiserSettings {
  std::int64_t steps = 1000;
  double lr = 1e-2;
  double weight_decay = 0.0;
  double beta1 = 0.9, beta2 = 0.9, eps = 1e-8;  ///< β2: fit.analytic_adam_beta2 / fit.surrogate_adam_beta2
  double clip_norm = 5.0;                       ///< per restart; 0 = off
  std::int64_t warmup_steps = 0;
  double lr_final_fraction = 0.1;
};
/// Learning-rate multiplier at step s (0-based): (s + 1)/warmup during the warm-up, then
/// f + (1 − f)·½(1 + cos πt), t = (s − warmup)/(steps − warmup) clamped to [0, 1].
double lr_factor(const OptimiserSettings& o, std::int64_t step);

/// Loss per restart over the N fitted points (docs/method.md §5.3; target.h LossKind):
///   composite  L = λ_log·mean(w_log·(ln M − ln D)²) + λ_lin·mean(w_lin·((M − D)/scale)²)
///   log        L = mean(w_log·(log10 M − log10 D)²)
///   chi2       L = Σ ((s·Ī + b − D)/σ)² / (N − P), Ī the model before normalisation and (s, b) the
///              σ-weighted linear least-squares solution at the current parameters (b = 0 without
///              a background, or when the unconstrained b would be negative); P = n_free.
/// w ≡ 1 without σ weighting; with it w_log ∝ (D/σ)² and w_lin ∝ 1/σ², each scaled to mean 1.
/// D, σ are the Porod-normalised data, so χ² equals that of the raw intensities.
struct LossSettings {
  LossKind kind = LossKind::composite;
  double log_weight = 0.1;
  double lin_weight = 1.0;
  double lin_scale = 1e5;
  bool chi2_background = false;  ///< chi2: solve for a background b too
  std::int64_t n_free = 0;       ///< chi2: P, free parameters incl. the scale (and b)
  /// The target's size prior (orthogonal size data; size_prior.h), none by default. With one the
  /// loss becomes (χ² + 2·NLL)/(N − P) for chi2 and L·exp(2·NLL/N) for log and composite: the
  /// minimum of −ln(likelihood × size likelihood) in both readings of docs/posterior.md §1.
  SizePrior size_prior;
  double truncation_lower = 0, truncation_upper = 0;  ///< [A, B] of the size distribution [Å] (the prior's)
};

/// A prepared target as the loss sees it (columns are grid indices).
struct FitData {
  std::int64_t eval_begin = 0, eval_end = 0;  ///< columns evaluated while optimising
  std::int64_t fit_begin = 0, fit_end = 0;
  std::int64_t support_begin = 0, support_end = 0;
  std::vector<double> data;   ///< normalised data D on the fit columns
  std::vector<double> w_log;  ///< weights on the fit columns (mean 1)
  std::vector<double> w_lin;  ///< weights of the linear-intensity term on the fit columns
  std::vector<double> sigma;  ///< σ of D on the fit columns (NaN where unknown; chi2 needs it)
  std::vector<double> data_full;  ///< D on the whole grid (NaN off the data's range)
};
/// The loss's view of a prepared target: Porod-normalised data and weights on the fit columns
/// (docs/method.md §5 composite loss). Pure; no errors beyond those of target preparation.
FitData make_fit_data(const PreparedTarget& t);

/// Per-restart outcome, row-major over the batch.
struct BatchResult {
  std::vector<double> start;          ///< [B, P] physical start (after the raw round trip)
  std::vector<double> params;         ///< [B, P] physical final
  std::vector<double> loss;           ///< [B] final loss
  std::vector<double> loss_terms;     ///< [B, 2] the loss's terms (composite: log, linear; else L, 0), size prior aside
  std::vector<double> size_prior_nll; ///< [B] the size prior's NLL (0 without one)
  std::vector<double> scale;          ///< [B] chi2: s with M = s·Ī + b̃ (normalised units); else NaN
  std::vector<double> rmse_log;       ///< [B] log10 RMSE over the fit window
  std::vector<double> rmse_log_full;  ///< [B] log10 RMSE over every grid point with data
  std::vector<float> curve;           ///< [B, n_q] final log10 M on the full grid
  std::vector<std::int64_t> steps;    ///< [B] optimiser steps applied (< steps if it hit a non-finite loss)
};

/// Called after every step with (step index, best loss of the batch at that step).
using StepCallback = std::function<void(std::int64_t, double)>;

/// Optimises B restarts from `starts` ([B, P] physical, inside the layout's boxes).
BatchResult fit_batch(const ForwardModel& model, const Layout& layout, const FitData& data,
                      const OptimiserSettings& opt, const LossSettings& loss,
                      const std::vector<double>& starts, const StepCallback& on_step = {});

/// Physical parameters from raw ones, [R, P] → [R, P] (same maps as Layout, on tensors).
at::Tensor physical_from_raw(const Layout& layout, const at::Tensor& raw);
/// The loss (LossSettings::kind) per restart [R] of physical parameters [R, P]; differentiable.
at::Tensor composite_loss(const ForwardModel& model, const FitData& data, const LossSettings& loss,
                          const at::Tensor& params);

}  // namespace lnpsaxs::fit
