// Convergence diagnostics (stages/posterior/diagnostics.h) against analytic truth: i.i.d. draws
// (R-hat 1, ESS = number of draws), AR(1) chains (ESS = N(1 − φ)/(1 + φ)), chains stuck in
// different places (R-hat ≫ 1.01) and Stan's warm-up windows.
#include "doctest_torch.h"

#include <cmath>
#include <random>

#include "diagnostics.h"
#include "hmc.h"

using namespace lnpsaxs::posterior;

namespace {
Chains ar1(std::int64_t m, std::int64_t n, double phi, unsigned seed, double shift_per_chain = 0) {
  std::mt19937_64 g(seed);
  std::normal_distribution<double> z;
  Chains c{m, n, {}};
  for (std::int64_t k = 0; k < m; ++k) {
    double x = z(g) / std::sqrt(1 - phi * phi);  // stationary start
    for (std::int64_t i = 0; i < n; ++i) {
      x = phi * x + z(g);
      c.x.push_back(x + shift_per_chain * static_cast<double>(k));
    }
  }
  return c;
}
}  // namespace

TEST_CASE("i.i.d. normal draws: R-hat ~ 1, bulk and tail ESS ~ the number of draws") {
  const Chains c = ar1(4, 2000, 0.0, 1);
  const Summary s = summarise(c);
  CHECK(s.rhat < 1.01);
  CHECK(s.rhat > 0.99);
  CHECK(s.ess_bulk == doctest::Approx(8000).epsilon(0.12));
  CHECK(s.ess_tail == doctest::Approx(8000).epsilon(0.2));
  CHECK(s.mean == doctest::Approx(0).epsilon(0.05).scale(1));
  CHECK(std::abs(s.mean) < 4 * s.mcse_mean);
  CHECK(s.sd == doctest::Approx(1).epsilon(0.03));
  CHECK(s.q05 == doctest::Approx(-1.645).epsilon(0.05));
  CHECK(s.q95 == doctest::Approx(1.645).epsilon(0.05));
}

TEST_CASE("AR(1) chains: ESS = N (1 - phi) / (1 + phi)") {
  for (double phi : {0.5, 0.9}) {
    const Chains c = ar1(4, 25000, phi, 7);
    const double truth = 100000 * (1 - phi) / (1 + phi);
    CAPTURE(phi);
    CHECK(basic_ess(c) == doctest::Approx(truth).epsilon(0.1));
    CHECK(summarise(c).ess_bulk == doctest::Approx(truth).epsilon(0.1));
    // MCSE of the mean: sd(x)/sqrt(ESS), sd(x) = 1/sqrt(1 - phi^2).
    CHECK(summarise(c).mcse_mean == doctest::Approx(1 / std::sqrt((1 - phi * phi) * truth)).epsilon(0.1));
  }
}

TEST_CASE("MCSE of the SD: the spread of the SD over independent replicates") {
  // Truth by brute force: the SD of the sample SD over 400 independent replicates of 4 chains x
  // 500 draws, against the mean reported mcse_sd: normal i.i.d. draws (theory sd/sqrt(2N)), AR(1)
  // draws (phi 0.6) and exponential draws (kurtosis 9: twice the normal-theory value, the case of
  // a skewed marginal such as a background cut at 0).
  for (int kind = 0; kind < 3; ++kind) {
    std::mt19937_64 g(100 + static_cast<unsigned>(kind));
    std::normal_distribution<double> z;
    std::exponential_distribution<double> e(1.0);
    std::vector<double> sds, mcses;
    for (int rep = 0; rep < 400; ++rep) {
      Chains c{4, 500, {}};
      for (int k = 0; k < 4; ++k) {
        double x = z(g) / 0.8;
        for (int i = 0; i < 500; ++i) {
          if (kind == 1) {
            x = 0.6 * x + z(g);
            c.x.push_back(x);
          } else {
            c.x.push_back(kind == 0 ? z(g) : e(g));
          }
        }
      }
      const Summary s = summarise(c);
      sds.push_back(s.sd);
      mcses.push_back(s.mcse_sd);
    }
    double m = 0, v = 0, mc = 0;
    for (double x : sds) m += x / 400;
    for (double x : sds) v += (x - m) * (x - m) / 399;
    for (double x : mcses) mc += x / 400;
    CAPTURE(kind);
    CHECK(mc == doctest::Approx(std::sqrt(v)).epsilon(0.15));
    if (kind == 0) CHECK(mc == doctest::Approx(1 / std::sqrt(2.0 * 2000)).epsilon(0.1));
    if (kind == 2) CHECK(mc == doctest::Approx(std::sqrt(2.0 / 2000)).epsilon(0.15));  // 2x the normal theory
  }
}

TEST_CASE("chains in different places, or one chain drifting, give R-hat > 1.01") {
  CHECK(summarise(ar1(4, 1000, 0.5, 3, 0.5)).rhat > 1.05);
  // A single chain whose halves disagree (a trend): split R-hat catches what plain R-hat cannot.
  Chains trend{1, 1000, {}};
  for (int i = 0; i < 1000; ++i) trend.x.push_back(0.003 * i + std::sin(i * 0.7));
  CHECK(std::isnan(basic_rhat(trend)) == false);
  CHECK(summarise(trend).rhat > 1.05);
  // Same location, different scale: only the folded R-hat sees it.
  Chains scale = ar1(4, 2000, 0.0, 11);
  for (std::int64_t i = 0; i < 2000; ++i) scale.x[static_cast<std::size_t>(i)] *= 3;
  CHECK(basic_rhat(rank_normalise(split_chains(scale))) < 1.02);
  CHECK(summarise(scale).rhat > 1.05);
}

TEST_CASE("rank normalisation and quantiles") {
  Chains c{1, 4, {3.0, 1.0, 2.0, 2.0}};
  const Chains z = rank_normalise(c);
  CHECK(z.x[1] < z.x[2]);
  CHECK(z.x[2] == z.x[3]);  // ties share their average rank
  CHECK(z.x[0] > z.x[2]);
  CHECK(z.x[2] == doctest::Approx(0.0).scale(1));  // average rank 2.5 of 4: the median
  CHECK(quantile({1, 2, 3, 4, 5}, 0.5) == 3);
  CHECK(quantile({1, 2, 3, 4}, 0.25) == doctest::Approx(1.75));
  CHECK_THROWS_AS(summarise(Chains{2, 3, {1, 2, 3, 4, 5, 6}}), std::invalid_argument);
}

TEST_CASE("warm-up windows are Stan's: 75 fast, slow windows 25, 50, 100, 200, 50 fast") {
  CHECK(metric_window_ends(1000) == std::vector<std::int64_t>{100, 150, 250, 450, 950});
  CHECK(metric_window_ends(500) == std::vector<std::int64_t>{100, 150, 250, 450});
  const auto small = metric_window_ends(100);  // 15 % / 75 % / 10 %
  REQUIRE(!small.empty());
  CHECK(small.back() == 90);
}
