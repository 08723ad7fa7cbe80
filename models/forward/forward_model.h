#pragma once
// Differentiable polydisperse forward models used by `fit` and `analyze` (paper §4.2.3, S8;
// docs/method.md §5.1–5.2, §7, §9). The public API that `analyze`
// calls for Jacobians: from PHYSICAL parameters to log10 of the Porod-normalised polydisperse
// intensity on the full q grid, differentiable with respect to the parameters (LibTorch
// autograd), on CPU or CUDA tensors. This header includes no <torch/torch.h>.
//
// Models and their parameter rows (physical units, the order of fits.h5 /params):
//   surrogate  [m_r, s_r, delta_rho_int, w, m_q1, m_q2, s_q1, s_q2, shell_thickness, rho_rel]
//   sphere     [m_r, s_r]
//   core_shell [m_r, s_r, shell_thickness, contrast]
// each followed by `background` when the setup has one. m_r, s_r: real-space mean and SD of the
// untruncated log-normal radius distribution [Å] (σ² = ln(1 + s²/m²), μ = ln m − σ²/2), truncated
// to [A, B]; m_q2 is a plain input here (the η ordering lives in the optimiser); background is in
// the data's intensity unit.
//
// The polydisperse intensity is Ī(q) = Σ_k w_k I(q; r_k) with K Gauss–Legendre nodes u_k mapped
// through the truncated inverse CDF (r_k = F⁻¹(F_A + u_k(F_B − F_A)), w_k the GL weights on
// [0, 1]; or the log_radius rule below); intensities, not logs, are averaged. I(q; r): the surrogate's 10^y(θ
// with radius r); the sphere (r/100 Å)⁶ f(qr)²; the core–shell [(r/100)³ f(qr) + (c − 1)(r_c/100)³ f(q r_c)]²
// with r_c = max(r − d, 1 Å) and f(x) = 3(sin x − x cos x)/x³ (series below x = 0.1, or 0.5 in
// float32). The absolute scale is irrelevant: the curve is Porod-normalised,
//   I_PI(q) = Ī(q)/Q,   Q = Σ_i c_i q_i² Ī(q_i) over the invariant window (trapezoid weights c_i),
// and with a background b the model of the normalised data is
//   M(q) = (1 − b̃·Q₁)·I_PI(q) + b̃,   b̃ = b/Q_data,   Q₁ = Σ_i c_i q_i²,
// which is exactly the normalised curve of (scale·Ī + b) when Q_data is the data's invariant
// over the same window. Without a background M = I_PI. Units of M: Å³ (1/Å⁻³).
#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "models/forward/parameters.h"

namespace lnpsaxs::surrogate {
class Surrogate;
}

namespace lnpsaxs::fit {

/// How the size distribution is integrated with K Gauss–Legendre nodes u_k, weights w_k on [0, 1]:
///   inverse_cdf  r_k = F⁻¹(F_A + u_k(F_B − F_A)), weights w_k (docs/method.md §5.1, the paper's rule). Its
///                integrand I(q, F⁻¹(u)) oscillates ever faster in the distribution's tails, so at
///                high q (sharp sphere minima) it converges only algebraically in K;
///   log_radius   nodes x_k = lo + (hi − lo)u_k uniform in ln r on [lo, hi] = [ln A, ln B] ∩
///                [μ − 8σ, μ + 8σ], weights ∝ w_k·φ((x_k − μ)/σ), normalised: spectral accuracy;
///   fixed_log_radius  the same with [lo, hi] = [ln A, ln B] whatever (μ, σ): the nodes do not move
///                with the parameters, so a sphere's form factors at them are computed once (fast),
///                at the price of more nodes for a narrow distribution in a wide truncation (the
///                quadrature check of check_quadrature() chooses K).
enum class QuadratureRule { inverse_cdf, log_radius, fixed_log_radius };
/// "inverse_cdf" | "log_radius" | "fixed_log_radius"; InputError otherwise.
QuadratureRule parse_quadrature_rule(const std::string& s);
std::string quadrature_rule_name(QuadratureRule r);

/// What a (model, target) pair needs besides the parameters.
struct ForwardSetup {
  Model model = Model::sphere;
  std::vector<double> q;        ///< model q grid [n_q] (Å⁻¹); for the surrogate its own grid
  std::int64_t norm_begin = 0;  ///< invariant window: grid indices [norm_begin, norm_end)
  std::int64_t norm_end = 0;
  bool background = false;          ///< parameter rows end with a background b
  double data_invariant = 1.0;      ///< Q_data over the invariant window (data unit · Å⁻³)
  double truncation_lower = 100.0;  ///< A [Å]
  double truncation_upper = 500.0;  ///< B [Å]
  std::int64_t nodes = 64;          ///< K
  QuadratureRule rule = QuadratureRule::inverse_cdf;
  /// Pinhole resolution σ_q per point of `q` [Å⁻¹] (empty: no smearing). The model at q_i is the
  /// average of I over a Gaussian of that width truncated to [−2.5σ, +3σ] and renormalised
  /// (sasmodels' Pinhole1D): for sphere/core_shell with `resolution_nodes` Gauss–Legendre nodes in
  /// q per point; for the surrogate with sasmodels' bin-integrated weight matrix on its own grid.
  std::vector<double> q_width;
  std::int64_t resolution_nodes = 12;
  c10::ScalarType dtype =
      c10::kFloat;  ///< output type (kFloat or kDouble); the surrogate net runs in its own dtype
  c10::Device device = c10::Device(c10::kCPU);
  std::shared_ptr<const surrogate::Surrogate> surrogate;  ///< required for Model::surrogate
  /// Rows per surrogate call (the last call padded with copies of the last row): a fixed call
  /// shape makes a restart's result independent of which restarts share its batch (docs/fit.md,
  /// Known limits). 0: one call of exactly the rows asked for — for callers whose calls always
  /// have the same shape, as the posterior's one-chain-at-a-time evaluation (K rows per call),
  /// where 4,096-row padding would cost 4096/K times the work.
  std::int64_t surrogate_block_rows = 4096;
};

/// The forward map of one setup. Cheap to copy (shared state). Thread-compatible.
class ForwardModel {
 public:
  /// Validates the setup (grid ≥ 2 increasing points, window of ≥ 2 points inside the grid,
  /// 0 < A < B, K ≥ 1; for the surrogate: a model whose q grid equals `q` and whose radius box
  /// holds [A, B]). Throws InputError; NotCompiled for the surrogate when stages/train was not built.
  explicit ForwardModel(ForwardSetup setup);

  /// The setup of a finished fit: reads RUN/fits/<name>/fits.h5 (model, q, invariant window,
  /// background, data invariant, truncation, K, dtype) and, for a surrogate fit, loads the trained
  /// surrogate from `run_dir` onto `device`. Throws InputError if the file lacks them.
  static ForwardModel from_fit_output(const std::string& fits_h5, const std::string& run_dir,
                                      c10::Device device);

  const ForwardSetup& setup() const;
  std::int64_t n_q() const;
  std::int64_t n_parameters() const;
  /// Names of the parameter columns (see the table above).
  std::vector<std::string> parameter_names() const;

  /// log10 M(q) on the full grid: params [R, P] (physical units, any floating type/device) →
  /// [R, n_q] in setup().dtype on setup().device. Differentiable with respect to `params`.
  at::Tensor log10_intensity(const at::Tensor& params) const;

  /// ln M(q) on grid columns [begin, end) only: [R, P] → [R, end − begin]. The invariant window must
  /// lie inside [begin, end) (InputError otherwise). The analytical models evaluate only these
  /// columns, which is what the optimiser uses.
  at::Tensor ln_intensity(const at::Tensor& params, std::int64_t begin, std::int64_t end) const;

  /// ln Ī(q) before normalisation on columns [begin, end), in the model's arbitrary scale (tests).
  at::Tensor ln_mean_intensity(const at::Tensor& params, std::int64_t begin, std::int64_t end) const;

 private:
  struct Impl;
  std::shared_ptr<const Impl> impl_;
};

// --- building blocks (exposed for tests and for `synth`/`analyze` checks) ----------------------

/// f(x) = 3(sin x − x cos x)/x³ elementwise (f(0) = 1), with the series 1 − x²/10 + x⁴/280 − x⁶/15120
/// + x⁸/1330560 below |x| = 0.1 (float64) or 0.5 (float32), where the closed form cancels.
/// Differentiable (no NaN gradient at 0).
at::Tensor sphere_amplitude(const at::Tensor& x);

/// The quadrature self-check (issue 13): K-vs-2K error of a setup at some parameter rows.
struct QuadratureCheck {
  std::int64_t nodes = 0;  ///< K chosen
  double error = 0;        ///< max over rows and columns of |log10 M_K − log10 M_2K| at that K
  bool capped = false;     ///< the cap stopped the doubling before the tolerance was met
};
/// Per-row max |log10 M_K − log10 M_2K| over columns [begin, end) (the fit window), [R] float64,
/// with K = setup.nodes. `params` [R, P] physical.
at::Tensor quadrature_error(const ForwardSetup& setup, const at::Tensor& params, std::int64_t begin,
                            std::int64_t end);
/// Doubles setup.nodes until the max K-vs-2K error at `params` is ≤ `tolerance` or 2K would exceed
/// `max_nodes`. Columns [eval_begin, eval_end) are evaluated (they must hold the invariant window)
/// and the error is taken over [begin, end) within them.
QuadratureCheck check_quadrature(ForwardSetup setup, const at::Tensor& params, std::int64_t begin,
                                 std::int64_t end, double tolerance, std::int64_t max_nodes);

/// Nodes of the truncated log-normal quadrature: m_r, s_r [R] (Å) → radius [R, K] (float64, Å)
/// and weights [R, K] (float64, each row sums to 1), differentiable in m_r and s_r.
struct RadiusQuadrature {
  at::Tensor radius;
  at::Tensor weight;
};
RadiusQuadrature truncated_lognormal_nodes(const at::Tensor& m_r, const at::Tensor& s_r, double lower,
                                           double upper, std::int64_t k,
                                           QuadratureRule rule = QuadratureRule::inverse_cdf);

}  // namespace lnpsaxs::fit
