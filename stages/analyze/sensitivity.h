#pragma once
// Aggregation of the per-solution Jacobians J_r[i, j] = ∂ log10 I_PI(q_i)/∂θ̃_j (θ̃ = min–max
// scaled parameters; docs/method.md §6, paper §4.2.5) into the identifiability summaries:
// elementwise median, global sensitivity (RMS over q), coupling (cosine similarity of columns)
// and the Gauss–Newton matrices F_r = J_rᵀ J_r with their eigenvalues. Torch-free (float64).
#include <cstdint>
#include <vector>

#include "statistics.h"

namespace lnpsaxs::analysis {

/// Jacobians of R solutions, row-major [R, n_q, P].
struct JacobianStack {
  std::int64_t n_solutions = 0;
  std::int64_t n_q = 0;
  std::int64_t n_params = 0;
  std::vector<double> data;
  double at(std::int64_t r, std::int64_t i, std::int64_t j) const {
    return data[static_cast<std::size_t>((r * n_q + i) * n_params + j)];
  }
  /// J of solution r as a [n_q, P] matrix, restricted to the rows where `mask` is non-zero
  /// (all rows when mask is empty).
  Matrix solution(std::int64_t r, const std::vector<std::uint8_t>& mask = {}) const;
};

/// Elementwise (signed) median over solutions, [n_q, P]; an even count averages the two middle
/// values. Throws std::invalid_argument when there is no solution.
Matrix elementwise_median(const JacobianStack& j);

/// Global sensitivity of each parameter: √(mean_q J[q, p]²), [P].
std::vector<double> global_sensitivity(const Matrix& j);

/// Coupling C_ab = ⟨J_a, J_b⟩/(‖J_a‖‖J_b‖) of the columns, [P, P]: symmetric, unit diagonal; a
/// zero column couples to nothing (0 off the diagonal).
Matrix coupling(const Matrix& j);

/// Gauss–Newton matrix JᵀJ [P, P].
Matrix gauss_newton(const Matrix& j);

/// Eigen-decomposition of JᵀJ through the SVD of J: eigenvalues σ² (descending, ≥ 0) and
/// eigenvectors as columns — the stiff (first) and sloppy (last) parameter combinations.
Eigen gauss_newton_eigen(const Matrix& j);

/// Rows of J whose L2 norm is scaled to 1 (zero rows stay zero): the heatmap display of docs/method.md §6.
Matrix normalise_rows(const Matrix& j);

}  // namespace lnpsaxs::analysis
