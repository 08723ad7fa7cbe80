// Splitting items by (shard, rank): cover, disjointness, balance.
#include <doctest/doctest.h>

#include <vector>

#include "lnpsaxs/errors.h"
#include "lnpsaxs/mpi_env.h"

using lnpsaxs::mpi::block_range;
using lnpsaxs::mpi::item_range;

TEST_CASE("block ranges cover all n items exactly once with sizes differing by at most one") {
  for (std::int64_t n : {0, 1, 7, 64, 1000, 32768}) {
    for (std::int64_t parts : {1, 2, 3, 7, 64}) {
      std::int64_t next = 0, lo = n, hi = 0;
      for (std::int64_t p = 0; p < parts; ++p) {
        auto r = block_range(n, parts, p);
        CHECK(r.begin == next);
        next = r.end;
        lo = std::min(lo, r.size());
        hi = std::max(hi, r.size());
      }
      CHECK(next == n);
      CHECK(hi - lo <= 1);
    }
  }
  CHECK_THROWS_AS(block_range(10, 3, 3), lnpsaxs::InputError);
}

TEST_CASE("item ranges over shards and ranks partition the items") {
  const std::int64_t n = 1031;
  std::vector<int> seen(n, 0);
  for (int s = 0; s < 3; ++s) {
    for (int r = 0; r < 4; ++r) {
      auto range = item_range(n, s, 3, r, 4);
      for (std::int64_t i = range.begin; i < range.end; ++i) ++seen[static_cast<std::size_t>(i)];
    }
  }
  for (int c : seen) CHECK(c == 1);
}
