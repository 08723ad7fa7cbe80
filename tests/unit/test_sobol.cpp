// Sobol designs: (0,m,2)-net property of the plain and randomised sequences (issue 2 acceptance).
#include <doctest/doctest.h>

#include <set>
#include <vector>

#include "lnpsaxs/errors.h"
#include "lnpsaxs/sobol.h"

using lnpsaxs::SobolDesign;
using lnpsaxs::SobolRandomisation;

namespace {
/// True if the first 2^m points, projected on dims (a, b), put exactly one point in every
/// elementary interval [i/2^k, (i+1)/2^k) × [j/2^(m−k), (j+1)/2^(m−k)), k = 0..m.
bool is_0m2_net(const std::vector<std::uint32_t>& pts, unsigned dim, unsigned a, unsigned b, unsigned m) {
  const std::size_t n = std::size_t{1} << m;
  for (unsigned k = 0; k <= m; ++k) {
    std::vector<int> count(n, 0);
    for (std::size_t i = 0; i < n; ++i) {
      const std::uint32_t x = pts[i * dim + a], y = pts[i * dim + b];
      const std::size_t cx = k == 0 ? 0 : x >> (32 - k);
      const std::size_t cy = (m - k) == 0 ? 0 : y >> (32 - (m - k));
      ++count[(cx << (m - k)) | cy];
    }
    for (int c : count) {
      if (c != 1) return false;
    }
  }
  return true;
}
}  // namespace

TEST_CASE("plain Sobol: first 2^m points are (0,m,2)-nets in dims 1-2") {
  const SobolDesign d(9, SobolRandomisation::none, 0);
  for (unsigned m = 1; m <= 12; ++m) {
    CAPTURE(m);
    CHECK(is_0m2_net(d.integer_points(0, std::size_t{1} << m), 9, 0, 1, m));
  }
}

TEST_CASE("Owen-scrambled and digitally shifted Sobol keep the (0,m,2)-net property") {
  for (auto r : {SobolRandomisation::owen, SobolRandomisation::digital_shift}) {
    for (std::uint64_t seed : {1ULL, 42ULL, 0xdeadbeefULL}) {
      const SobolDesign d(9, r, seed);
      for (unsigned m : {4u, 8u, 10u, 12u}) {
        CAPTURE(m);
        CHECK(is_0m2_net(d.integer_points(0, std::size_t{1} << m), 9, 0, 1, m));
      }
    }
  }
}

TEST_CASE("the net test can fail: pseudo-random points are not a net") {
  std::vector<std::uint32_t> pts(2 * 256);
  std::uint64_t s = 1;
  for (auto& p : pts) p = static_cast<std::uint32_t>((s = s * 6364136223846793005ULL + 1442695040888963407ULL) >> 32);
  CHECK_FALSE(is_0m2_net(pts, 2, 0, 1, 8));
}

TEST_CASE("each randomised coordinate is one-per-cell stratified in 1-D for all 9 dims") {
  const SobolDesign d(9, SobolRandomisation::owen, 7);
  const unsigned m = 10;
  auto pts = d.integer_points(0, 1u << m);
  for (unsigned j = 0; j < 9; ++j) {
    std::set<std::uint32_t> cells;
    for (std::size_t i = 0; i < (1u << m); ++i) cells.insert(pts[i * 9 + j] >> (32 - m));
    CHECK(cells.size() == (1u << m));
  }
}

TEST_CASE("randomisation is seeded, reproducible and independent of the index range asked for") {
  const SobolDesign a(9, SobolRandomisation::owen, 11), a2(9, SobolRandomisation::owen, 11),
      b(9, SobolRandomisation::owen, 12);
  const auto pa = a.points(0, 64), pa2 = a2.points(0, 64), pb = b.points(0, 64);
  CHECK(pa == pa2);
  CHECK(pa != pb);
  const auto slice = a.points(37, 20);
  for (std::size_t i = 0; i < slice.size(); ++i) CHECK(slice[i] == pa[37 * 9 + i]);
  for (double x : pa) {
    CHECK(x > 0.0);
    CHECK(x < 1.0);
  }
}

TEST_CASE("bad Sobol arguments throw InputError") {
  CHECK_THROWS_AS(SobolDesign(0, SobolRandomisation::none, 0), lnpsaxs::InputError);
  CHECK_THROWS_AS(lnpsaxs::parse_sobol_randomisation("random"), lnpsaxs::InputError);
}
