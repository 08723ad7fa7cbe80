// Aggregation of Jacobians: median, global sensitivity, coupling (symmetric, unit diagonal) and
// Gauss–Newton eigenvalues (≥ 0, matching JᵀJ).
#include <doctest/doctest.h>

#include <cmath>
#include <random>

#include "sensitivity.h"

using namespace lnpsaxs::analysis;

namespace {
Matrix random_matrix(std::int64_t r, std::int64_t c, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> n01;
  Matrix m(r, c);
  for (double& v : m.data) v = n01(rng);
  return m;
}
}  // namespace

TEST_CASE("elementwise median of a Jacobian stack, odd and even counts") {
  JacobianStack s{3, 2, 1, {1, 10, 5, -10, 3, 0}};  // J_r = (1,10), (5,-10), (3,0)
  const Matrix m = elementwise_median(s);
  CHECK(m(0, 0) == 3);
  CHECK(m(1, 0) == 0);
  JacobianStack e{2, 1, 2, {1, 4, 3, 8}};
  const Matrix me = elementwise_median(e);
  CHECK(me(0, 0) == 2);
  CHECK(me(0, 1) == 6);
  CHECK_THROWS(elementwise_median(JacobianStack{}));
}

TEST_CASE("global sensitivity is the RMS over q of each column") {
  Matrix j(4, 2);
  for (int i = 0; i < 4; ++i) {
    j(i, 0) = 2.0;
    j(i, 1) = i % 2 ? 3.0 : -3.0;
  }
  CHECK(global_sensitivity(j) == std::vector<double>{2.0, 3.0});
}

TEST_CASE("coupling matrix is symmetric with unit diagonal and entries in [-1, 1]") {
  Matrix j = random_matrix(300, 6, 17);
  for (int i = 0; i < 300; ++i) {
    j(i, 3) = 2.5 * j(i, 1);  // perfectly coupled
    j(i, 4) = -j(i, 0);       // perfectly anti-coupled
    j(i, 5) = 0.0;            // insensitive parameter
  }
  const Matrix c = coupling(j);
  for (std::int64_t a = 0; a < 6; ++a) {
    CHECK(c(a, a) == 1.0);
    for (std::int64_t b = 0; b < 6; ++b) {
      CHECK(c(a, b) == c(b, a));
      CHECK(std::abs(c(a, b)) <= 1.0);
    }
  }
  CHECK(c(1, 3) == doctest::Approx(1.0));
  CHECK(c(0, 4) == doctest::Approx(-1.0));
  CHECK(c(5, 2) == 0.0);
  CHECK(std::abs(c(0, 1)) < 0.3);
}

TEST_CASE("Gauss-Newton eigenvalues are non-negative and are those of J^T J") {
  for (std::uint64_t seed : {1u, 2u, 3u}) {
    Matrix j = random_matrix(300, 10, seed);
    for (int i = 0; i < 300; ++i) j(i, 9) = j(i, 0) + 1e-7 * j(i, 9);  // a sloppy direction
    const Eigen e = gauss_newton_eigen(j);
    const Matrix f = gauss_newton(j);
    REQUIRE(e.values.size() == 10);
    for (std::size_t k = 0; k < 10; ++k) {
      CHECK(e.values[k] >= 0.0);
      if (k > 0) CHECK(e.values[k - 1] >= e.values[k]);
    }
    CHECK(e.values[9] < 1e-10 * e.values[0]);
    for (std::int64_t c = 0; c < 10; ++c) {  // F v = λ v
      for (std::int64_t r = 0; r < 10; ++r) {
        double fv = 0;
        for (std::int64_t k = 0; k < 10; ++k) fv += f(r, k) * e.vectors(k, c);
        CHECK(fv == doctest::Approx(e.values[static_cast<std::size_t>(c)] * e.vectors(r, c)).epsilon(1e-8).scale(e.values[0]));
      }
    }
    const Eigen ref = symmetric_eigen(f);
    for (std::size_t k = 0; k < 10; ++k) CHECK(e.values[k] == doctest::Approx(ref.values[k]).epsilon(1e-9).scale(e.values[0]));
  }
}

TEST_CASE("row normalisation scales each q row to unit length") {
  Matrix j(2, 2);
  j(0, 0) = 3;
  j(0, 1) = 4;
  const Matrix n = normalise_rows(j);
  CHECK(n(0, 0) == doctest::Approx(0.6));
  CHECK(n(0, 1) == doctest::Approx(0.8));
  CHECK(n(1, 0) == 0.0);
}
