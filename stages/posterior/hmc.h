#pragma once
// Batched Hamiltonian Monte Carlo (docs/posterior.md §2): C chains advanced in lockstep as one
// [C, D] tensor problem, each with its own step size (dual averaging, Hoffman & Gelman 2014, Alg. 5)
// and inverse metric, dense or diagonal (Stan's windowed warm-up: a fast initial buffer, slow windows of
// doubling length whose draws estimate the variance, a fast terminal buffer). Static trajectories
// of `leapfrog` steps with the step size jittered per iteration; an iteration whose energy error
// exceeds `max_energy_error` (or is not finite) is a divergence and is rejected.
// Every random number of chain c at iteration t is keyed by (keys[c], t): a chain's draws do not
// depend on which other chains share its batch (given a log density whose rows are independent).
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <vector>

namespace lnpsaxs::posterior {

/// Log density of unconstrained positions: [C, D] float64 (requires_grad) → [C] float64,
/// differentiable; row c depends on row c of the input only. −inf or NaN marks a point outside
/// the support (such a proposal is rejected and counted as divergent).
using LogDensity = std::function<at::Tensor(const at::Tensor&)>;

/// `f` evaluated one row at a time (then concatenated): each chain's values and gradients are then
/// bit-identical whatever else shares its batch, which a batched matrix product (BLAS rounds a
/// row differently with the number of rows) does not guarantee. Costs C calls per evaluation.
LogDensity one_row_at_a_time(LogDensity f);

struct HmcSettings {
  std::int64_t warmup = 500;       ///< adaptation iterations (discarded)
  std::int64_t draws = 1000;       ///< kept iterations per chain
  std::int64_t leapfrog = 16;      ///< leapfrog steps per trajectory
  double target_accept = 0.8;      ///< dual-averaging target of the mean acceptance statistic
  double initial_step = 0.5;       ///< ε₀ in the initial metric's units (each slow window restarts from the adapted value)
  double step_jitter = 0.2;        ///< ε·(1 + jitter·(2u − 1)) per iteration after warm-up
  double max_energy_error = 1000;  ///< |ΔH| beyond which an iteration is divergent (Stan's value)
  bool dense_metric = true;        ///< adapt a dense inverse metric (the windows' covariance), else diagonal
  /// Start each chain at its nearest mode with the Laplace covariance as the first inverse metric
  /// (laplace_start); the step size then starts at initial_step in those whitened units.
  bool laplace = true;
};

/// Draws and per-iteration statistics of C chains (row-major).
struct HmcResult {
  std::int64_t chains = 0, dim = 0, draws = 0;
  std::vector<double> position;     ///< [C, S, D] unconstrained draws
  std::vector<double> log_density;  ///< [C, S]
  std::vector<double> accept_stat;  ///< [C, S] min(1, exp(−ΔH))
  std::vector<std::uint8_t> divergent;  ///< [C, S]
  std::vector<double> step_size;    ///< [C] adapted ε
  std::vector<double> inv_metric;   ///< adapted inverse metric: [C, D, D] dense, [C, D] diagonal
  std::int64_t gradient_evaluations = 0;  ///< of the batch (each one covers every chain)
};

/// Where chains start and how they are scaled: each row of `start` moved to the nearest mode of the
/// log density (damped Newton ascent in the unconstrained coordinates, where the box prior's
/// Jacobian keeps a mode at a box edge finite), and the covariance of the Laplace approximation
/// there, (−∇² log p)⁻¹ with the eigenvalues of −∇² log p clamped to ≥ 0.01 (variances ≤ 100).
struct LaplaceStart {
  std::vector<double> position;    ///< [C, D] the modes
  std::vector<double> covariance;  ///< [C, D, D]
  std::vector<double> log_density; ///< [C] at the modes
  std::int64_t iterations = 0;     ///< Newton iterations used (the most of any chain)
};
/// Throws InputError when a start has a non-finite log density.
LaplaceStart laplace_start(const LogDensity& log_density, const std::vector<double>& start, std::int64_t dim,
                           std::int64_t max_iterations = 100);

/// Called after every iteration with (iteration index over warm-up + draws, total iterations).
using IterationCallback = std::function<void(std::int64_t, std::int64_t)>;

/// Runs C = keys.size() chains from `start` ([C, D] unconstrained, row-major). Throws
/// std::invalid_argument for inconsistent shapes or settings, InputError when a start has a
/// non-finite log density.
HmcResult run_hmc(const LogDensity& log_density, const std::vector<double>& start, const std::vector<std::uint64_t>& keys,
                  const HmcSettings& settings, const IterationCallback& on_iteration = {});

/// The counter-based draws HMC uses (exposed for tests): a uniform on (0, 1) and a standard normal
/// keyed by (key, iteration, index), independent of everything else.
double keyed_uniform(std::uint64_t key, std::uint64_t iteration, std::uint64_t index);
double keyed_normal(std::uint64_t key, std::uint64_t iteration, std::uint64_t index);

/// Stan's warm-up windows for `warmup` iterations: the iteration after which each slow window ends
/// (its draws estimate the metric) — initial buffer 15 %, terminal 10 % (75 and 50 at ≥ 1000… as
/// Stan: 75/25/50 when warmup ≥ 150), windows doubling from the base.
std::vector<std::int64_t> metric_window_ends(std::int64_t warmup);

}  // namespace lnpsaxs::posterior
