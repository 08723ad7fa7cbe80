// Radius distribution and length-scale spectral mass (docs/method.md §3.10).
#include <doctest/doctest.h>

#include <cmath>

#include "lnpsaxs/errors.h"
#include "profiles.h"

using namespace lnpsaxs::analysis;

TEST_CASE("truncated log-normal radius pdf integrates to 1 on [A, B] with the given mean") {
  std::vector<double> r;
  for (int i = 0; i <= 4000; ++i) r.push_back(100.0 + 400.0 * i / 4000);
  const auto pdf = truncated_lognormal_pdf(r, 245.0, 30.0, 100.0, 500.0);
  double area = 0, mean = 0;
  for (std::size_t i = 0; i + 1 < r.size(); ++i) {
    area += 0.5 * (r[i + 1] - r[i]) * (pdf[i] + pdf[i + 1]);
    mean += 0.5 * (r[i + 1] - r[i]) * (r[i] * pdf[i] + r[i + 1] * pdf[i + 1]);
  }
  CHECK(area == doctest::Approx(1.0).epsilon(1e-6));
  CHECK(mean == doctest::Approx(245.0).epsilon(1e-4));  // truncation removes a negligible tail here
  // A wide distribution is renormalised over [A, B].
  const auto wide = truncated_lognormal_pdf(r, 200.0, 150.0, 100.0, 500.0);
  double a2 = 0;
  for (std::size_t i = 0; i + 1 < r.size(); ++i) a2 += 0.5 * (r[i + 1] - r[i]) * (wide[i] + wide[i + 1]);
  CHECK(a2 == doctest::Approx(1.0).epsilon(1e-5));
  CHECK_THROWS_AS(truncated_lognormal_pdf(r, -1, 30, 100, 500), lnpsaxs::InputError);
}

TEST_CASE("length-scale mass peaks near 2 pi / q of a narrow spectral component") {
  // One narrow component (w = 0 → component 1 only) at m_q = 0.1: q² P(q) peaks close to 0.1.
  const LengthScaleMass m = lengthscale_mass(0.0, 0.1, 0.002, 0.05, 0.01, 2000);
  CHECK(m.peak_length == doctest::Approx(2 * M_PI / 0.1).epsilon(0.01));
  for (std::size_t i = 1; i < m.length.size(); ++i) CHECK(m.length[i] > m.length[i - 1]);
  CHECK(m.length.front() == doctest::Approx(2 * M_PI / 0.2));
  CHECK(m.length.back() == doctest::Approx(250.0));
  // Weight w moves the mass to component 2 (docs/method.md §3.3: P = (1 − w) LN1 + w LN2).
  const LengthScaleMass m2 = lengthscale_mass(1.0, 0.1, 0.002, 0.05, 0.002, 2000);
  CHECK(m2.peak_length == doctest::Approx(2 * M_PI / 0.05).epsilon(0.01));
  // Normalised by the trapezoid area over q.
  double area = 0;
  for (std::size_t i = 0; i + 1 < m.length.size(); ++i) {
    const double qa = 2 * M_PI / m.length[i], qb = 2 * M_PI / m.length[i + 1];
    area += 0.5 * (qa - qb) * (m.mass[i] + m.mass[i + 1]);
  }
  CHECK(area == doctest::Approx(1.0).epsilon(1e-9));
}
