#pragma once
// Small dense statistics for the ensemble analysis (paper §2.2, §4.2.5; docs/method.md §6):
// ranks, loss weights, weighted Spearman correlation, standardisation, PCA, symmetric eigen-
// decomposition and SVD (Eigen3, behind this header), medoids and per-group summaries.
// Everything is float64 on the CPU and free of LibTorch, so its tests compile in seconds.
#include <cstdint>
#include <utility>
#include <vector>

namespace lnpsaxs::analysis {

/// Row-major dense matrix (rows × cols) of doubles.
struct Matrix {
  std::int64_t rows = 0;
  std::int64_t cols = 0;
  std::vector<double> data;

  Matrix() = default;
  Matrix(std::int64_t r, std::int64_t c, double fill = 0.0)
      : rows(r), cols(c), data(static_cast<std::size_t>(r * c), fill) {}
  double& operator()(std::int64_t r, std::int64_t c) { return data[static_cast<std::size_t>(r * cols + c)]; }
  double operator()(std::int64_t r, std::int64_t c) const { return data[static_cast<std::size_t>(r * cols + c)]; }
  const double* row(std::int64_t r) const { return data.data() + r * cols; }
  std::vector<double> column(std::int64_t c) const;
  /// The rows listed in `index`, in that order.
  Matrix select_rows(const std::vector<std::int64_t>& index) const;
};

/// Ranks 1..n of `x`, ties given the average of the ranks they span (scipy's "average").
std::vector<double> average_ranks(const std::vector<double>& x);

/// Loss weights w_i ∝ exp(−(L_i − min L)/s), s = population SD of L (docs/method.md §6),
/// normalised to sum 1. Equal weights when s = 0. Requires finite losses (std::invalid_argument).
std::vector<double> loss_weights(const std::vector<double>& loss);

/// Weighted Pearson correlation Σw(x−x̄)(y−ȳ)/√(Σw(x−x̄)² Σw(y−ȳ)²) with weighted means; NaN when
/// either vector is constant. Throws std::invalid_argument on length mismatch or Σw ≤ 0.
double weighted_pearson(const std::vector<double>& x, const std::vector<double>& y, const std::vector<double>& w);

/// Loss-weighted Spearman matrix [p, p] of the columns of `x` [n, p]: (unweighted) average ranks
/// per column, then the weighted Pearson correlation of the rank vectors. Unit diagonal for
/// non-constant columns, NaN rows/columns for constant ones. Invariant to strictly increasing
/// maps of any column (ranks are).
Matrix weighted_spearman(const Matrix& x, const std::vector<double>& w);

/// The `k` off-diagonal pairs (a < b) of a symmetric matrix with the largest |value|, strongest
/// first (ties: lower a, then lower b); NaN entries are skipped.
std::vector<std::pair<std::int64_t, std::int64_t>> top_pairs(const Matrix& m, std::int64_t k);

/// z-scores of each column over the rows (population SD; a constant column becomes 0).
struct Standardised {
  Matrix z;
  std::vector<double> mean;
  std::vector<double> sd;
};
Standardised standardise(const Matrix& x);

/// Symmetric eigen-decomposition (Eigen3's SelfAdjointEigenSolver; the lower triangle is read):
/// eigenvalues descending, eigenvectors as the COLUMNS of `vectors`, each with its largest-|·|
/// entry positive (a fixed sign). Throws std::invalid_argument for a non-square matrix.
struct Eigen {
  std::vector<double> values;
  Matrix vectors;
};
Eigen symmetric_eigen(const Matrix& a);

/// Singular values (p of them, descending, ≥ 0; a wide matrix's last p − m are 0) and right singular
/// vectors (columns of `v` [p, p], sign as symmetric_eigen) of a [m, p] matrix by Jacobi SVD
/// (Eigen3's JacobiSVD). The eigenvalues of AᵀA are the squared singular values: non-negative by
/// construction, accurate also for the sloppy directions.
struct Svd {
  std::vector<double> singular_values;
  Matrix v;
};
Svd jacobi_svd(const Matrix& a);

/// PCA of `x` [n, p] (columns centred, not scaled): the first k components.
struct Pca {
  Matrix components;                ///< [p, k], unit columns, sign as symmetric_eigen
  std::vector<double> variance;     ///< [k] variance along each component (population)
  std::vector<double> explained;    ///< [k] fraction of the total variance
  Matrix scores;                    ///< [n, k] projections of the centred rows
};
Pca pca(const Matrix& x, std::int64_t k);

/// Medoid of the rows `members` of `z`: the member with the smallest mean Euclidean distance to
/// the other members; among equal means (relative 1e-12) the one with the lower `loss`.
/// Returns an index into `z` (an element of members). Throws std::invalid_argument if empty.
std::int64_t medoid(const Matrix& z, const std::vector<std::int64_t>& members, const std::vector<double>& loss);

/// Quantile of `v` with linear interpolation between order statistics (numpy's default);
/// NaN for an empty vector.
double quantile(std::vector<double> v, double p);

}  // namespace lnpsaxs::analysis
