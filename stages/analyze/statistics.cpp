#include "statistics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>

#include <Eigen/Dense>

namespace lnpsaxs::analysis {
namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

/// A copy of `m` as an Eigen3 matrix (our Matrix is row-major, Eigen's default column-major).
::Eigen::MatrixXd as_eigen(const Matrix& m) {
  return ::Eigen::Map<const ::Eigen::Matrix<double, ::Eigen::Dynamic, ::Eigen::Dynamic, ::Eigen::RowMajor>>(
      m.data.data(), m.rows, m.cols);
}

/// Flips the sign of column c of `v` so that its largest-|·| entry is positive.
void fix_sign(Matrix& v, std::int64_t c) {
  std::int64_t best = 0;
  for (std::int64_t r = 1; r < v.rows; ++r) {
    if (std::abs(v(r, c)) > std::abs(v(best, c))) best = r;
  }
  if (v(best, c) < 0) {
    for (std::int64_t r = 0; r < v.rows; ++r) v(r, c) = -v(r, c);
  }
}
}  // namespace

std::vector<double> Matrix::column(std::int64_t c) const {
  std::vector<double> out(static_cast<std::size_t>(rows));
  for (std::int64_t r = 0; r < rows; ++r) out[static_cast<std::size_t>(r)] = (*this)(r, c);
  return out;
}

Matrix Matrix::select_rows(const std::vector<std::int64_t>& index) const {
  Matrix out(static_cast<std::int64_t>(index.size()), cols);
  for (std::size_t i = 0; i < index.size(); ++i) {
    std::copy(row(index[i]), row(index[i]) + cols, out.data.begin() + static_cast<std::ptrdiff_t>(i) * cols);
  }
  return out;
}

std::vector<double> average_ranks(const std::vector<double>& x) {
  const std::size_t n = x.size();
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return x[a] < x[b]; });
  std::vector<double> rank(n);
  for (std::size_t i = 0; i < n;) {
    std::size_t j = i + 1;
    while (j < n && x[order[j]] == x[order[i]]) ++j;
    const double avg = 0.5 * static_cast<double>(i + 1 + j);  // mean of ranks i+1 .. j
    for (std::size_t k = i; k < j; ++k) rank[order[k]] = avg;
    i = j;
  }
  return rank;
}

std::vector<double> loss_weights(const std::vector<double>& loss) {
  const std::size_t n = loss.size();
  if (n == 0) return {};
  double lo = loss[0], mean = 0;
  for (double l : loss) {
    if (!std::isfinite(l)) throw std::invalid_argument("loss_weights: non-finite loss");
    lo = std::min(lo, l);
    mean += l;
  }
  mean /= static_cast<double>(n);
  double var = 0;
  for (double l : loss) var += (l - mean) * (l - mean);
  const double sd = std::sqrt(var / static_cast<double>(n));
  std::vector<double> w(n, 1.0);
  if (sd > 0) {
    for (std::size_t i = 0; i < n; ++i) w[i] = std::exp(-(loss[i] - lo) / sd);
  }
  const double total = std::accumulate(w.begin(), w.end(), 0.0);
  for (double& v : w) v /= total;
  return w;
}

double weighted_pearson(const std::vector<double>& x, const std::vector<double>& y, const std::vector<double>& w) {
  if (x.size() != y.size() || x.size() != w.size()) throw std::invalid_argument("weighted_pearson: length mismatch");
  const double sw = std::accumulate(w.begin(), w.end(), 0.0);
  if (!(sw > 0)) throw std::invalid_argument("weighted_pearson: weights must have a positive sum");
  // A constant vector has no order to correlate (its weighted mean may differ from it by round-off).
  const auto constant = [](const std::vector<double>& v) {
    return std::all_of(v.begin(), v.end(), [&](double e) { return e == v.front(); });
  };
  if (x.empty() || constant(x) || constant(y)) return kNaN;
  double mx = 0, my = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    mx += w[i] * x[i];
    my += w[i] * y[i];
  }
  mx /= sw;
  my /= sw;
  double sxy = 0, sxx = 0, syy = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double dx = x[i] - mx, dy = y[i] - my;
    sxy += w[i] * dx * dy;
    sxx += w[i] * dx * dx;
    syy += w[i] * dy * dy;
  }
  if (!(sxx > 0) || !(syy > 0)) return kNaN;
  return std::clamp(sxy / std::sqrt(sxx * syy), -1.0, 1.0);
}

Matrix weighted_spearman(const Matrix& x, const std::vector<double>& w) {
  if (static_cast<std::int64_t>(w.size()) != x.rows) throw std::invalid_argument("weighted_spearman: weights vs rows");
  std::vector<std::vector<double>> ranks;
  for (std::int64_t c = 0; c < x.cols; ++c) ranks.push_back(average_ranks(x.column(c)));
  Matrix m(x.cols, x.cols, kNaN);
  for (std::int64_t a = 0; a < x.cols; ++a) {
    for (std::int64_t b = a; b < x.cols; ++b) {
      const double r = weighted_pearson(ranks[static_cast<std::size_t>(a)], ranks[static_cast<std::size_t>(b)], w);
      m(a, b) = m(b, a) = (a == b && std::isfinite(r)) ? 1.0 : r;
    }
  }
  return m;
}

std::vector<std::pair<std::int64_t, std::int64_t>> top_pairs(const Matrix& m, std::int64_t k) {
  std::vector<std::pair<std::int64_t, std::int64_t>> pairs;
  for (std::int64_t a = 0; a < m.rows; ++a) {
    for (std::int64_t b = a + 1; b < m.cols; ++b) {
      if (std::isfinite(m(a, b))) pairs.emplace_back(a, b);
    }
  }
  std::stable_sort(pairs.begin(), pairs.end(), [&](const auto& p, const auto& q) {
    return std::abs(m(p.first, p.second)) > std::abs(m(q.first, q.second));
  });
  if (static_cast<std::int64_t>(pairs.size()) > k) pairs.resize(static_cast<std::size_t>(k));
  return pairs;
}

Standardised standardise(const Matrix& x) {
  Standardised s;
  s.z = Matrix(x.rows, x.cols);
  s.mean.assign(static_cast<std::size_t>(x.cols), 0.0);
  s.sd.assign(static_cast<std::size_t>(x.cols), 0.0);
  if (x.rows == 0) return s;
  for (std::int64_t c = 0; c < x.cols; ++c) {
    double mean = 0;
    for (std::int64_t r = 0; r < x.rows; ++r) mean += x(r, c);
    mean /= static_cast<double>(x.rows);
    double var = 0;
    for (std::int64_t r = 0; r < x.rows; ++r) var += (x(r, c) - mean) * (x(r, c) - mean);
    const double sd = std::sqrt(var / static_cast<double>(x.rows));
    s.mean[static_cast<std::size_t>(c)] = mean;
    s.sd[static_cast<std::size_t>(c)] = sd;
    // Below ~1e-12 of the mean's magnitude the spread is round-off, not information.
    const bool constant = !(sd > 1e-12 * std::max(1.0, std::abs(mean)));
    for (std::int64_t r = 0; r < x.rows; ++r) s.z(r, c) = constant ? 0.0 : (x(r, c) - mean) / sd;
  }
  return s;
}

Eigen symmetric_eigen(const Matrix& a_in) {
  if (a_in.rows != a_in.cols) throw std::invalid_argument("symmetric_eigen: matrix is not square");
  const std::int64_t n = a_in.rows;
  // Eigen3's self-adjoint solver (Householder tridiagonalisation + implicit symmetric QR) reads the
  // lower triangle; its eigenvalues come ascending.
  const ::Eigen::SelfAdjointEigenSolver<::Eigen::MatrixXd> solver(as_eigen(a_in));
  if (solver.info() != ::Eigen::Success) throw std::runtime_error("symmetric_eigen: no convergence");
  Eigen e;
  e.vectors = Matrix(n, n);
  for (std::int64_t c = 0; c < n; ++c) {
    const std::int64_t src = n - 1 - c;
    e.values.push_back(solver.eigenvalues()(src));
    for (std::int64_t r = 0; r < n; ++r) e.vectors(r, c) = solver.eigenvectors()(r, src);
    fix_sign(e.vectors, c);
  }
  return e;
}

Svd jacobi_svd(const Matrix& a_in) {
  const std::int64_t p = a_in.cols;
  // Eigen3's two-sided Jacobi SVD (QR-preconditioned): accurate small singular values. It gives
  // min(m, p) of them, descending; a wide matrix's remaining p − m are exactly 0 and their right
  // singular vectors complete V (ComputeFullV).
  const ::Eigen::JacobiSVD<::Eigen::MatrixXd> svd(as_eigen(a_in), ::Eigen::ComputeFullV);
  Svd out;
  out.v = Matrix(p, p);
  for (std::int64_t c = 0; c < p; ++c) {
    out.singular_values.push_back(c < svd.singularValues().size() ? svd.singularValues()(c) : 0.0);
    for (std::int64_t r = 0; r < p; ++r) out.v(r, c) = svd.matrixV()(r, c);
    fix_sign(out.v, c);
  }
  return out;
}

Pca pca(const Matrix& x, std::int64_t k) {
  const std::int64_t n = x.rows, p = x.cols;
  k = std::min(k, p);
  Matrix centred = x;
  for (std::int64_t c = 0; c < p; ++c) {
    double mean = 0;
    for (std::int64_t r = 0; r < n; ++r) mean += x(r, c);
    mean /= std::max<std::int64_t>(n, 1);
    for (std::int64_t r = 0; r < n; ++r) centred(r, c) -= mean;
  }
  Matrix cov(p, p);
  for (std::int64_t a = 0; a < p; ++a) {
    for (std::int64_t b = a; b < p; ++b) {
      double s = 0;
      for (std::int64_t r = 0; r < n; ++r) s += centred(r, a) * centred(r, b);
      cov(a, b) = cov(b, a) = s / static_cast<double>(std::max<std::int64_t>(n, 1));
    }
  }
  const Eigen e = symmetric_eigen(cov);
  double total = 0;
  for (double l : e.values) total += std::max(l, 0.0);
  Pca out;
  out.components = Matrix(p, k);
  out.scores = Matrix(n, k);
  for (std::int64_t c = 0; c < k; ++c) {
    const double var = std::max(e.values[static_cast<std::size_t>(c)], 0.0);
    out.variance.push_back(var);
    out.explained.push_back(total > 0 ? var / total : 0.0);
    for (std::int64_t r = 0; r < p; ++r) out.components(r, c) = e.vectors(r, c);
  }
  for (std::int64_t r = 0; r < n; ++r) {
    for (std::int64_t c = 0; c < k; ++c) {
      double s = 0;
      for (std::int64_t j = 0; j < p; ++j) s += centred(r, j) * out.components(j, c);
      out.scores(r, c) = s;
    }
  }
  return out;
}

std::int64_t medoid(const Matrix& z, const std::vector<std::int64_t>& members, const std::vector<double>& loss) {
  if (members.empty()) throw std::invalid_argument("medoid: no members");
  const std::size_t m = members.size();
  std::vector<double> mean_dist(m, 0.0);
  for (std::size_t a = 0; a < m; ++a) {
    const double* za = z.row(members[a]);
    for (std::size_t b = a + 1; b < m; ++b) {
      const double* zb = z.row(members[b]);
      double d2 = 0;
      for (std::int64_t c = 0; c < z.cols; ++c) d2 += (za[c] - zb[c]) * (za[c] - zb[c]);
      const double d = std::sqrt(d2);
      mean_dist[a] += d;
      mean_dist[b] += d;
    }
  }
  std::size_t best = 0;
  for (std::size_t a = 1; a < m; ++a) {
    const double tol = 1e-12 * std::max(mean_dist[best], 1e-300);
    const bool lower = mean_dist[a] < mean_dist[best] - tol;
    const bool tie = std::abs(mean_dist[a] - mean_dist[best]) <= tol;
    if (lower || (tie && loss[static_cast<std::size_t>(members[a])] < loss[static_cast<std::size_t>(members[best])])) best = a;
  }
  return members[best];
}

double quantile(std::vector<double> v, double p) {
  if (v.empty()) return kNaN;
  std::sort(v.begin(), v.end());
  const double pos = p * static_cast<double>(v.size() - 1);
  const std::size_t lo = static_cast<std::size_t>(std::floor(pos));
  const std::size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (pos - static_cast<double>(lo)) * (v[hi] - v[lo]);
}

}  // namespace lnpsaxs::analysis
