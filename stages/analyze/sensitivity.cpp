#include "sensitivity.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace lnpsaxs::analysis {

Matrix JacobianStack::solution(std::int64_t r, const std::vector<std::uint8_t>& mask) const {
  std::vector<std::int64_t> rows;
  for (std::int64_t i = 0; i < n_q; ++i) {
    if (mask.empty() || mask[static_cast<std::size_t>(i)] != 0) rows.push_back(i);
  }
  Matrix m(static_cast<std::int64_t>(rows.size()), n_params);
  for (std::size_t k = 0; k < rows.size(); ++k) {
    for (std::int64_t j = 0; j < n_params; ++j) m(static_cast<std::int64_t>(k), j) = at(r, rows[k], j);
  }
  return m;
}

Matrix elementwise_median(const JacobianStack& j) {
  if (j.n_solutions == 0) throw std::invalid_argument("elementwise_median: no solutions");
  Matrix out(j.n_q, j.n_params);
  std::vector<double> v(static_cast<std::size_t>(j.n_solutions));
  const std::size_t mid = v.size() / 2;
  for (std::int64_t i = 0; i < j.n_q; ++i) {
    for (std::int64_t p = 0; p < j.n_params; ++p) {
      for (std::int64_t r = 0; r < j.n_solutions; ++r) v[static_cast<std::size_t>(r)] = j.at(r, i, p);
      std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid), v.end());
      double m = v[mid];
      if (v.size() % 2 == 0) m = 0.5 * (m + *std::max_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid)));
      out(i, p) = m;
    }
  }
  return out;
}

std::vector<double> global_sensitivity(const Matrix& j) {
  std::vector<double> s(static_cast<std::size_t>(j.cols), 0.0);
  if (j.rows == 0) return s;
  for (std::int64_t p = 0; p < j.cols; ++p) {
    double sum = 0;
    for (std::int64_t i = 0; i < j.rows; ++i) sum += j(i, p) * j(i, p);
    s[static_cast<std::size_t>(p)] = std::sqrt(sum / static_cast<double>(j.rows));
  }
  return s;
}

Matrix coupling(const Matrix& j) {
  const Matrix f = gauss_newton(j);
  Matrix c(j.cols, j.cols);
  for (std::int64_t a = 0; a < j.cols; ++a) {
    for (std::int64_t b = 0; b < j.cols; ++b) {
      const double den = std::sqrt(f(a, a) * f(b, b));
      c(a, b) = a == b ? 1.0 : den > 0 ? std::clamp(f(a, b) / den, -1.0, 1.0) : 0.0;
    }
  }
  return c;
}

Matrix gauss_newton(const Matrix& j) {
  Matrix f(j.cols, j.cols);
  for (std::int64_t a = 0; a < j.cols; ++a) {
    for (std::int64_t b = a; b < j.cols; ++b) {
      double s = 0;
      for (std::int64_t i = 0; i < j.rows; ++i) s += j(i, a) * j(i, b);
      f(a, b) = f(b, a) = s;
    }
  }
  return f;
}

Eigen gauss_newton_eigen(const Matrix& j) {
  const Svd svd = jacobi_svd(j);
  Eigen e;
  for (double s : svd.singular_values) e.values.push_back(s * s);
  e.vectors = svd.v;
  return e;
}

Matrix normalise_rows(const Matrix& j) {
  Matrix out = j;
  for (std::int64_t i = 0; i < j.rows; ++i) {
    double s = 0;
    for (std::int64_t p = 0; p < j.cols; ++p) s += j(i, p) * j(i, p);
    if (s > 0) {
      const double inv = 1.0 / std::sqrt(s);
      for (std::int64_t p = 0; p < j.cols; ++p) out(i, p) *= inv;
    }
  }
  return out;
}

}  // namespace lnpsaxs::analysis
