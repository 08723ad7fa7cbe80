#pragma once
// Convergence diagnostics of MCMC draws (docs/posterior.md §3), after Vehtari, Gelman, Simpson,
// Carpenter & Bürkner (2021), "Rank-normalization, folding, and localization: an improved R-hat for
// assessing convergence of MCMC", Bayesian Analysis 16(2) — the definitions Stan and ArviZ use:
//   split chains        each chain's first and second halves become two chains (M → 2M, N → ⌊N/2⌋)
//   rank normalisation  z = Φ⁻¹((r − 3/8)/(S + 1/4)), r the average rank of a draw among all S draws
//   R-hat               √(var⁺/W), var⁺ = (N − 1)/N·W + B/N, W the mean within-chain variance and
//                       B/N the variance of the chain means; reported: max(R-hat of the
//                       rank-normalised split chains, R-hat of the rank-normalised folded draws
//                       |θ − median|)
//   ESS                 M·N/τ, τ = −1 + 2·Σ_k P_k over Geyer's initial monotone sequence of
//                       P_k = ρ̂_2k + ρ̂_2k+1, ρ̂_t = 1 − (W − mean_m s²_m ρ̂_t,m)/var⁺ (capped at
//                       M·N·log10(M·N)); bulk ESS on the rank-normalised split chains, tail ESS the
//                       minimum of the ESS of the indicators θ ≤ q05 and θ ≤ q95.
// Plain C++; draws of one parameter are given as `chains` rows of `draws` values each.
#include <cstdint>
#include <vector>

namespace lnpsaxs::posterior {

/// Draws of one scalar: chain c's draw i is x[c·n + i]. Throws std::invalid_argument unless
/// m ≥ 1, n ≥ 4 and x.size() == m·n.
struct Chains {
  std::int64_t m = 0;  ///< chains
  std::int64_t n = 0;  ///< draws per chain
  std::vector<double> x;
  double at(std::int64_t c, std::int64_t i) const { return x[static_cast<std::size_t>(c * n + i)]; }
};

/// Plain (not rank-normalised) R-hat of `ch` as given (no splitting): √(var⁺/W). NaN if W = 0.
double basic_rhat(const Chains& ch);
/// Effective sample size of `ch` as given (no splitting, no rank normalisation), Geyer's initial
/// monotone sequence over the multi-chain autocorrelation. Constant draws: NaN.
double basic_ess(const Chains& ch);
/// Each chain split into its halves (a middle draw of an odd-length chain is dropped).
Chains split_chains(const Chains& ch);
/// Rank-normalised draws (average ranks for ties), same shape.
Chains rank_normalise(const Chains& ch);

/// The summary of one parameter.
struct Summary {
  double mean = 0, sd = 0;
  double mcse_mean = 0;            ///< sd/√ESS_bulk-of-the-plain-split-draws
  double mcse_sd = 0;              ///< √(var((θ − mean)²)/ESS((θ − mean)²))/(2 sd): the delta method
  double q05 = 0, q50 = 0, q95 = 0;  ///< quantiles (linear interpolation, type 7)
  double rhat = 0;                 ///< rank-normalised split R-hat, max with the folded one
  double ess_bulk = 0, ess_tail = 0;
};
/// All of the above for one parameter. Throws std::invalid_argument for bad shapes.
Summary summarise(const Chains& ch);

/// Quantile p ∈ [0, 1] of the values (type 7: linear interpolation between order statistics).
double quantile(std::vector<double> v, double p);

}  // namespace lnpsaxs::posterior
