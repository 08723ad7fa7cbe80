// Ranks, loss weights, weighted Spearman, PCA, Jacobi eigen/SVD and medoids (docs/method.md §6).
#include <doctest/doctest.h>

#include <cmath>
#include <random>

#include "statistics.h"

using namespace lnpsaxs::analysis;

namespace {
Matrix from_columns(const std::vector<std::vector<double>>& cols) {
  Matrix m(static_cast<std::int64_t>(cols[0].size()), static_cast<std::int64_t>(cols.size()));
  for (std::size_t c = 0; c < cols.size(); ++c) {
    for (std::size_t r = 0; r < cols[c].size(); ++r) m(static_cast<std::int64_t>(r), static_cast<std::int64_t>(c)) = cols[c][r];
  }
  return m;
}
}  // namespace

TEST_CASE("average ranks give ties the mean of the ranks they span") {
  CHECK(average_ranks({3, 1, 1, 2, 5, 5, 5}) == std::vector<double>{4, 1.5, 1.5, 3, 6, 6, 6});
  CHECK(average_ranks({}).empty());
}

TEST_CASE("loss weights are exp(-(L - min L)/std L), normalised, std with ddof 0") {
  const auto w = loss_weights({0.1, 0.2, 0.4});
  const double sd = std::sqrt(((0.1 - 0.7 / 3) * (0.1 - 0.7 / 3) + (0.2 - 0.7 / 3) * (0.2 - 0.7 / 3) + (0.4 - 0.7 / 3) * (0.4 - 0.7 / 3)) / 3);
  const double a = 1, b = std::exp(-0.1 / sd), c = std::exp(-0.3 / sd);
  CHECK(w[0] == doctest::Approx(a / (a + b + c)));
  CHECK(w[1] == doctest::Approx(b / (a + b + c)));
  CHECK(w[2] == doctest::Approx(0.05864052).epsilon(1e-6));
  CHECK(loss_weights({2, 2}) == std::vector<double>{0.5, 0.5});
}

TEST_CASE("weighted Spearman matches a hand-computed case") {
  // Ranks x = (1,2,3,4), y = (1,3,2,4), weights (1,2,1,2)/6: weighted means 8/3 and 17/6,
  // Σw·dx·dy = 17/3, Σw·dx² = 22/3, Σw·dy² = 41/6 (unnormalised weights) → ρ = (17/3)/√(22/3 · 41/6).
  const Matrix x = from_columns({{10, 20, 30, 40}, {0.1, 0.3, 0.2, 0.4}});
  const Matrix m = weighted_spearman(x, {1.0 / 6, 2.0 / 6, 1.0 / 6, 2.0 / 6});
  const double expected = (17.0 / 3) / std::sqrt((22.0 / 3) * (41.0 / 6));
  CHECK(m(0, 1) == doctest::Approx(expected).epsilon(1e-12));
  CHECK(m(1, 0) == doctest::Approx(expected).epsilon(1e-12));
  CHECK(m(0, 0) == 1.0);
  // Equal weights reduce to the classical Spearman 1 − 6Σd²/(n(n²−1)) = 0.8.
  CHECK(weighted_spearman(x, {0.25, 0.25, 0.25, 0.25})(0, 1) == doctest::Approx(0.8));
}

TEST_CASE("weighted Spearman is invariant to strictly increasing transforms of each parameter") {
  std::mt19937_64 rng(3);
  std::normal_distribution<double> n01;
  std::vector<double> a, b, c, w;
  for (int i = 0; i < 200; ++i) {
    a.push_back(n01(rng));
    b.push_back(0.6 * a.back() + 0.8 * n01(rng));
    c.push_back(n01(rng) - 0.3 * b.back());
    w.push_back(std::exp(-std::abs(n01(rng))));
  }
  const Matrix x = from_columns({a, b, c});
  std::vector<double> ta, tb, tc;
  for (int i = 0; i < 200; ++i) {
    ta.push_back(std::exp(3 * a[static_cast<std::size_t>(i)]));
    tb.push_back(std::pow(b[static_cast<std::size_t>(i)], 3) + 7);
    tc.push_back(std::atan(c[static_cast<std::size_t>(i)]) * 100);
  }
  const Matrix m1 = weighted_spearman(x, w), m2 = weighted_spearman(from_columns({ta, tb, tc}), w);
  for (std::size_t k = 0; k < m1.data.size(); ++k) CHECK(m1.data[k] == doctest::Approx(m2.data[k]).epsilon(1e-12));
  CHECK(m1(0, 1) > 0.3);
  // A decreasing map flips the sign only.
  std::vector<double> na;
  for (double v : a) na.push_back(-v * v * v);
  CHECK(weighted_spearman(from_columns({na, b}), w)(0, 1) == doctest::Approx(-m1(0, 1)).epsilon(1e-12));
}

TEST_CASE("weighted Spearman: a constant column gives NaN, top_pairs skips it and orders by |rho|") {
  const Matrix x = from_columns({{1, 2, 3, 4, 5}, {5, 4, 3, 2, 1}, {7, 7, 7, 7, 7}, {1, 3, 2, 5, 4}});
  const Matrix m = weighted_spearman(x, {0.2, 0.2, 0.2, 0.2, 0.2});
  CHECK(std::isnan(m(2, 0)));
  CHECK(std::isnan(m(2, 2)));
  const auto top = top_pairs(m, 2);
  REQUIRE(top.size() == 2);
  CHECK(top[0] == std::pair<std::int64_t, std::int64_t>{0, 1});
  CHECK(m(0, 1) == doctest::Approx(-1.0));
  CHECK(std::abs(m(top[1].first, top[1].second)) == doctest::Approx(0.8));
}

TEST_CASE("standardise: population z-scores, constant columns become zero") {
  const Standardised s = standardise(from_columns({{1, 2, 3, 4}, {5, 5, 5, 5}}));
  CHECK(s.mean[0] == 2.5);
  CHECK(s.sd[0] == doctest::Approx(std::sqrt(1.25)));
  CHECK(s.z(0, 0) == doctest::Approx(-1.5 / std::sqrt(1.25)));
  CHECK(s.z(3, 1) == 0.0);
}

TEST_CASE("symmetric eigen-decomposition reconstructs A v = lambda v with sorted eigenvalues") {
  Matrix a(4, 4);
  const double vals[16] = {4, 1, -2, 2, 1, 2, 0, 1, -2, 0, 3, -2, 2, 1, -2, -1};
  std::copy(vals, vals + 16, a.data.begin());
  const Eigen e = symmetric_eigen(a);
  for (std::size_t k = 1; k < e.values.size(); ++k) CHECK(e.values[k - 1] >= e.values[k]);
  double trace = 0;
  for (double v : e.values) trace += v;
  CHECK(trace == doctest::Approx(8.0));
  for (std::int64_t c = 0; c < 4; ++c) {
    for (std::int64_t r = 0; r < 4; ++r) {
      double av = 0;
      for (std::int64_t j = 0; j < 4; ++j) av += a(r, j) * e.vectors(j, c);
      CHECK(av == doctest::Approx(e.values[static_cast<std::size_t>(c)] * e.vectors(r, c)).epsilon(1e-10));
    }
  }
}

TEST_CASE("one-sided Jacobi SVD: singular values of a known matrix and non-negative, sorted") {
  // A = U diag(5, 2, 0) Vᵀ with orthonormal U (4×3) and V (3×3) built from rotations.
  Matrix a(4, 3);
  const double s2 = std::sqrt(0.5);
  const double u[4][3] = {{s2, 0, 0}, {s2, 0, 0}, {0, 0.6, 0.8}, {0, 0.8, -0.6}};
  const double v[3][3] = {{0.6, 0, 0.8}, {0, 1, 0}, {-0.8, 0, 0.6}};
  const double sv[3] = {5, 2, 0};
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 3; ++k) a(i, j) += u[i][k] * sv[k] * v[j][k];
  const Svd s = jacobi_svd(a);
  CHECK(s.singular_values[0] == doctest::Approx(5.0));
  CHECK(s.singular_values[1] == doctest::Approx(2.0));
  CHECK(s.singular_values[2] == doctest::Approx(0.0).epsilon(1e-12));
  CHECK(std::abs(s.v(0, 0)) == doctest::Approx(0.6));
  CHECK(std::abs(s.v(2, 0)) == doctest::Approx(0.8));
}

TEST_CASE("symmetric eigen-decomposition of a known spectrum: values and vectors (fixed sign)") {
  // A = Q diag(7, 3, -1, -4) Qᵀ with Q the Householder reflection I − u uᵀ/15, u = (1, 2, 3, 4)
  // (orthonormal, symmetric). Eigenvector k is column k of Q, signed so that its largest-|·| entry
  // (unique in every column) is positive.
  const double lambda[4] = {7, 3, -1, -4};
  const double u[4] = {1, 2, 3, 4};
  auto q = [&u](int r, int k) { return (r == k ? 1.0 : 0.0) - u[r] * u[k] / 15.0; };
  Matrix a(4, 4);
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 4; ++c)
      for (int k = 0; k < 4; ++k) a(r, c) += q(r, k) * lambda[k] * q(c, k);
  const Eigen e = symmetric_eigen(a);
  REQUIRE(e.values.size() == 4);
  for (int k = 0; k < 4; ++k) {
    CHECK(e.values[static_cast<std::size_t>(k)] == doctest::Approx(lambda[k]).epsilon(1e-13));
    int big = 0;
    for (int r = 1; r < 4; ++r) big = std::abs(q(r, k)) > std::abs(q(big, k)) ? r : big;
    const double sign = q(big, k) > 0 ? 1.0 : -1.0;
    for (int r = 0; r < 4; ++r) CHECK(e.vectors(r, k) == doctest::Approx(sign * q(r, k)).epsilon(1e-12));
  }
}

TEST_CASE("SVD of a wide matrix: p singular values, the last p - m zero, V orthonormal") {
  // A [2, 3] = diag(4, 1) on the first two coordinates of a rotation about the third axis.
  const double c = 0.6, s = 0.8;
  Matrix a(2, 3);
  a(0, 0) = 4 * c;
  a(0, 1) = -4 * s;
  a(1, 0) = s;
  a(1, 1) = c;
  const Svd d = jacobi_svd(a);
  REQUIRE(d.singular_values.size() == 3);
  CHECK(d.singular_values[0] == doctest::Approx(4.0).epsilon(1e-14));
  CHECK(d.singular_values[1] == doctest::Approx(1.0).epsilon(1e-14));
  CHECK(d.singular_values[2] == 0.0);
  // First right singular vector ±(0.6, -0.8, 0) → sign fixed so that its largest-|·| entry is > 0.
  CHECK(d.v(0, 0) == doctest::Approx(-0.6).epsilon(1e-13));
  CHECK(d.v(1, 0) == doctest::Approx(0.8).epsilon(1e-13));
  CHECK(std::abs(d.v(2, 2)) == doctest::Approx(1.0).epsilon(1e-13));
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 3; ++j) {
      double dot = 0;
      for (int r = 0; r < 3; ++r) dot += d.v(r, i) * d.v(r, j);
      CHECK(dot == doctest::Approx(i == j ? 1.0 : 0.0).scale(1.0).epsilon(1e-13));
    }
  }
}

TEST_CASE("PCA of a known rank-2 cloud: two components hold all the variance and span its plane") {
  // x = a·u + b·v + offset with orthonormal u, v in 5-D, var(a) = 9, var(b) = 1.
  std::mt19937_64 rng(11);
  std::normal_distribution<double> n01;
  const double u[5] = {0.5, 0.5, 0.5, 0.5, 0};
  const double v[5] = {0.5, -0.5, 0.5, -0.5, 0};
  const int n = 2000;
  Matrix x(n, 5);
  for (int i = 0; i < n; ++i) {
    const double a = 3 * n01(rng), b = n01(rng);
    for (int j = 0; j < 5; ++j) x(i, j) = a * u[j] + b * v[j] + 10.0 * j;
  }
  const Pca p = pca(x, 2);
  CHECK(p.explained[0] + p.explained[1] == doctest::Approx(1.0).epsilon(1e-10));
  CHECK(p.variance[0] == doctest::Approx(9.0).epsilon(0.1));
  CHECK(p.variance[1] == doctest::Approx(1.0).epsilon(0.1));
  double dot_u = 0, dot_v = 0;
  for (int j = 0; j < 5; ++j) {
    dot_u += p.components(j, 0) * u[j];
    dot_v += p.components(j, 1) * v[j];
  }
  CHECK(std::abs(dot_u) == doctest::Approx(1.0).epsilon(1e-3));
  CHECK(std::abs(dot_v) == doctest::Approx(1.0).epsilon(1e-3));
  // Scores are the centred coordinates: their variance matches the eigenvalues.
  double s0 = 0;
  for (int i = 0; i < n; ++i) s0 += p.scores(i, 0) * p.scores(i, 0);
  CHECK(s0 / n == doctest::Approx(p.variance[0]).epsilon(1e-9));
}

TEST_CASE("medoid minimises the mean distance, ties go to the lower loss") {
  const Matrix z = from_columns({{0, 1, 2, 10}, {0, 0, 0, 0}});
  CHECK(medoid(z, {0, 1, 2}, {5, 5, 5, 5}) == 1);
  // Points 0 and 2 of {0, 2} are symmetric: equal mean distances → lower loss wins.
  CHECK(medoid(z, {0, 2}, {3, 9, 1, 9}) == 2);
  CHECK(medoid(z, {0, 2}, {1, 9, 3, 9}) == 0);
  CHECK_THROWS(medoid(z, {}, {}));
}

TEST_CASE("quantile interpolates linearly like numpy") {
  CHECK(quantile({1, 2, 3, 4}, 0.5) == 2.5);
  CHECK(quantile({4, 1, 3, 2}, 0.25) == doctest::Approx(1.75));
  CHECK(std::isnan(quantile({}, 0.5)));
}
