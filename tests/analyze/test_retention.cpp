// Retention rule (docs/method.md §5.7) on hand-made loss lists: each bound active, NaN
// exclusion, and ⌈p·N⌉ without floating-point surprises.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

#include "retention.h"

using namespace lnpsaxs::analysis;

TEST_CASE("retention: the lower bound keeps ceil(0.05 N) restarts when too few are within 1.2 L*") {
  // N = 100: four restarts at 1, the rest at 100 + i. Best ceil(0.1 N) = 10 → L* = (4 + 6·100…)/10.
  std::vector<double> loss;
  for (int i = 0; i < 96; ++i) loss.push_back(100.0 + i);
  for (int i = 0; i < 4; ++i) loss.insert(loss.begin() + 10 * i + 3, 1.0);  // scattered positions
  const Retention r = retain(loss);
  CHECK(r.n_valid == 100);
  CHECK(r.n_best == 10);
  CHECK(r.l_star == doctest::Approx((4.0 + 100 + 101 + 102 + 103 + 104 + 105) / 10.0));
  CHECK(r.n_accepted == 4);  // only the four 1's are ≤ 1.2 L* ≈ 72.5
  CHECK(r.k_min == 5);
  CHECK(r.k_max == 30);
  CHECK(r.bound == "min");
  REQUIRE(r.kept.size() == 5);
  CHECK(r.kept[0] == 3);  // the four 1's, in index order, then the best of the rest (100)
  CHECK(r.kept[1] == 13);
  CHECK(r.kept[2] == 23);
  CHECK(r.kept[3] == 33);
  CHECK(loss[static_cast<std::size_t>(r.kept[4])] == 100.0);
}

TEST_CASE("retention: the upper bound keeps ceil(0.30 N) restarts when almost all are within 1.2 L*") {
  std::vector<double> loss;
  for (int i = 0; i < 100; ++i) loss.push_back(1.0 + 0.001 * ((i * 37) % 100));  // a permutation of 1.000..1.099
  const Retention r = retain(loss);
  CHECK(r.n_accepted == 100);
  CHECK(r.bound == "max");
  REQUIRE(r.kept.size() == 30);
  for (std::size_t i = 1; i < r.kept.size(); ++i) CHECK(loss[static_cast<std::size_t>(r.kept[i - 1])] < loss[static_cast<std::size_t>(r.kept[i])]);
  CHECK(loss[static_cast<std::size_t>(r.kept.back())] == doctest::Approx(1.029));
}

TEST_CASE("retention: between the bounds the accepted set is kept as is") {
  // N = 20: L* = mean(1.0, 1.1) = 1.05, threshold 1.26 → 1.0, 1.1, 1.2, 1.25 accepted; k_min 1, k_max 6.
  std::vector<double> loss{5, 1.25, 1.0, 3, 1.2, 1.1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 9};
  const Retention r = retain(loss);
  CHECK(r.n_best == 2);
  CHECK(r.threshold == doctest::Approx(1.26));
  CHECK(r.bound == "none");
  CHECK(r.kept == std::vector<std::int64_t>{2, 5, 4, 1});
}

TEST_CASE("retention: NaN and infinite losses are excluded and counted, N counts only finite ones") {
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  std::vector<double> loss{nan, 0.5, inf, 0.4, nan, 0.45, 3.0, 2.0, 1.9, 2.2, 2.4, 2.5};
  const Retention r = retain(loss);
  CHECK(r.n_total == 12);
  CHECK(r.n_invalid == 3);
  CHECK(r.n_valid == 9);
  CHECK(r.n_best == 1);  // ceil(0.9)
  CHECK(r.l_star == doctest::Approx(0.4));
  CHECK(r.kept == std::vector<std::int64_t>{3, 5});  // 0.4, 0.45 ≤ 0.48; k_max = ceil(2.7) = 3
  for (auto i : r.kept) CHECK(std::isfinite(loss[static_cast<std::size_t>(i)]));
  const Retention none = retain({nan, nan});
  CHECK(none.kept.empty());
  CHECK(none.n_invalid == 2);
}

TEST_CASE("retention: ceil of p N is exact for products that round up in floating point") {
  CHECK(ceil_count(0.1 * 30) == 3);  // 3.0000000000000004 in binary floating point
  CHECK(ceil_count(0.3 * 10) == 3);
  CHECK(ceil_count(0.05 * 8000) == 400);
  CHECK(ceil_count(2.5) == 3);
  std::vector<double> loss;
  for (int i = 0; i < 30; ++i) loss.push_back(1.0 + i);
  CHECK(retain(loss).n_best == 3);
  CHECK(retain(loss).k_max == 9);
}

TEST_CASE("retention: a rule out of range is rejected") {
  CHECK_THROWS_AS(retain({1.0}, RetentionRule{0.0, 1.2, 0.05, 0.3}), std::invalid_argument);
  CHECK_THROWS_AS(retain({1.0}, RetentionRule{0.1, 0.9, 0.05, 0.3}), std::invalid_argument);
  CHECK_THROWS_AS(retain({1.0}, RetentionRule{0.1, 1.2, 0.5, 0.3}), std::invalid_argument);
}
