#pragma once
// Parameter-only views of one solution (docs/method.md §3.10):
// the truncated log-normal radius distribution and the length-scale spectral mass of the GRF
// interior. Torch-free.
#include <vector>

namespace lnpsaxs::analysis {

/// Truncated log-normal radius pdf with real-space mean m_r and SD s_r [Å] (σ² = ln(1 + s²/m²),
/// μ = ln m − σ²/2) on [a, b], normalised to integrate to 1 over [a, b], at each r [Å⁻¹ values].
/// Throws lnpsaxs::InputError unless m_r, s_r > 0 and 0 < a < b.
std::vector<double> truncated_lognormal_pdf(const std::vector<double>& r, double m_r, double s_r, double a, double b);

/// Length-scale spectral mass of docs/method.md §3.10 on q = linspace(2π/250, 0.2, n_points) Å⁻¹:
/// M(q) = q²·P(q), P = (1 − w)·LN1 + w·LN2 (docs/method.md §3.3: w weights component 2), normalised by its
/// trapezoid area over q; reported against ℓ = 2π/q sorted ascending.
struct LengthScaleMass {
  std::vector<double> length;  ///< ℓ [Å], ascending
  std::vector<double> mass;    ///< M at each ℓ [Å] (area over q is 1)
  double peak_length = 0;      ///< ℓ at the maximum of M [Å]
};
/// Throws lnpsaxs::InputError unless 0 ≤ w ≤ 1, m, s > 0 and n_points ≥ 2.
LengthScaleMass lengthscale_mass(double w, double m_q1, double s_q1, double m_q2, double s_q2, int n_points = 500);

}  // namespace lnpsaxs::analysis
