// HDBSCAN (scikit-learn semantics): core distances, the MST against brute force, three blobs with
// uniform noise, one blob, and degenerate inputs.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <numeric>
#include <random>
#include <stdexcept>
#include <set>
#include <tuple>

#include "hdbscan.h"

using namespace lnpsaxs::analysis;

namespace {

double dist(const Matrix& x, std::int64_t a, std::int64_t b) {
  double s = 0;
  for (std::int64_t c = 0; c < x.cols; ++c) s += (x(a, c) - x(b, c)) * (x(a, c) - x(b, c));
  return std::sqrt(s);
}

/// Total MST weight of the mutual-reachability graph by Kruskal on all pairs (reference).
double kruskal_weight(const Matrix& x, const std::vector<double>& core) {
  const std::int64_t n = x.rows;
  std::vector<std::tuple<double, std::int64_t, std::int64_t>> e;
  for (std::int64_t a = 0; a < n; ++a)
    for (std::int64_t b = a + 1; b < n; ++b)
      e.emplace_back(std::max({dist(x, a, b), core[static_cast<std::size_t>(a)], core[static_cast<std::size_t>(b)]}), a, b);
  std::sort(e.begin(), e.end());
  std::vector<std::int64_t> parent(static_cast<std::size_t>(n));
  std::iota(parent.begin(), parent.end(), 0);
  std::function<std::int64_t(std::int64_t)> find = [&](std::int64_t v) {
    return parent[static_cast<std::size_t>(v)] == v ? v : parent[static_cast<std::size_t>(v)] = find(parent[static_cast<std::size_t>(v)]);
  };
  double total = 0;
  for (const auto& [w, a, b] : e) {
    const auto ra = find(a), rb = find(b);
    if (ra != rb) {
      parent[static_cast<std::size_t>(ra)] = rb;
      total += w;
    }
  }
  return total;
}

struct Blobs {
  Matrix x;
  std::vector<int> truth;  // blob index, or −1 for a noise point
};

Blobs three_blobs_with_noise(std::uint64_t seed, int per_blob, int n_noise) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> n01;
  std::uniform_real_distribution<double> ux(-6.0, 16.0), uy(-6.0, 14.0);
  const double centre[3][2] = {{0, 0}, {10, 0}, {5, 8}};
  Blobs b;
  b.x = Matrix(3 * per_blob + n_noise, 2);
  std::int64_t r = 0;
  for (int k = 0; k < 3; ++k) {
    for (int i = 0; i < per_blob; ++i, ++r) {
      b.x(r, 0) = centre[k][0] + 0.7 * n01(rng);
      b.x(r, 1) = centre[k][1] + 0.7 * n01(rng);
      b.truth.push_back(k);
    }
  }
  for (int i = 0; i < n_noise; ++i, ++r) {
    b.x(r, 0) = ux(rng);
    b.x(r, 1) = uy(rng);
    double dmin = 1e9;
    for (const auto& c : centre) dmin = std::min(dmin, std::hypot(b.x(r, 0) - c[0], b.x(r, 1) - c[1]));
    b.truth.push_back(dmin > 3.5 ? -1 : -2);  // −2: a "noise" draw that landed inside a blob
  }
  return b;
}

}  // namespace

TEST_CASE("hdbscan core distance counts the point itself among its min_samples neighbours") {
  Matrix x(4, 1);
  x(0, 0) = 0;
  x(1, 0) = 1;
  x(2, 0) = 3;
  x(3, 0) = 7;
  CHECK(core_distances(x, 1) == std::vector<double>{0, 0, 0, 0});
  CHECK(core_distances(x, 2) == std::vector<double>{1, 1, 2, 4});
  CHECK(core_distances(x, 3) == std::vector<double>{3, 2, 3, 6});
  CHECK(core_distances(x, 99) == std::vector<double>{7, 6, 4, 7});  // clamped to n
}

TEST_CASE("hdbscan mutual-reachability MST has the minimum total weight (Kruskal reference)") {
  std::mt19937_64 rng(5);
  std::normal_distribution<double> n01;
  Matrix x(150, 3);
  for (double& v : x.data) v = n01(rng);
  const auto core = core_distances(x, 5);
  const auto mst = mutual_reachability_mst(x, core);
  REQUIRE(mst.size() == 149);
  double total = 0;
  for (const auto& e : mst) {
    total += e.weight;
    CHECK(e.weight == doctest::Approx(std::max({dist(x, e.a, e.b), core[static_cast<std::size_t>(e.a)], core[static_cast<std::size_t>(e.b)]})));
  }
  CHECK(total == doctest::Approx(kruskal_weight(x, core)).epsilon(1e-12));
}

TEST_CASE("hdbscan finds three separated Gaussian blobs and labels the uniform noise") {
  const Blobs b = three_blobs_with_noise(42, 300, 150);
  for (bool single : {false, true}) {
    const HdbscanResult r = hdbscan(b.x, {100, 30, single});
    CHECK(r.n_clusters == 3);
    // Each blob maps to one label, different blobs to different labels.
    std::set<std::int64_t> blob_labels;
    for (int k = 0; k < 3; ++k) {
      std::map<std::int64_t, int> count;
      int members = 0;
      for (std::size_t i = 0; i < b.truth.size(); ++i) {
        if (b.truth[i] == k) {
          ++count[r.labels[i]];
          ++members;
        }
      }
      const auto best = std::max_element(count.begin(), count.end(), [](auto& p, auto& q) { return p.second < q.second; });
      CHECK(best->first >= 0);
      CHECK(best->second >= 0.9 * members);
      blob_labels.insert(best->first);
    }
    CHECK(blob_labels.size() == 3);
    int far_noise = 0, far_noise_labelled = 0;
    for (std::size_t i = 0; i < b.truth.size(); ++i) {
      if (b.truth[i] == -1) {
        ++far_noise;
        far_noise_labelled += r.labels[i] == -1;
      }
    }
    CHECK(far_noise > 100);
    CHECK(far_noise_labelled >= 0.9 * far_noise);
    CHECK(r.cluster_ids.size() == 3);
  }
}

TEST_CASE("hdbscan finds one cluster in one Gaussian blob when a single cluster is allowed") {
  std::mt19937_64 rng(8);
  std::normal_distribution<double> n01;
  Matrix x(600, 4);
  for (double& v : x.data) v = n01(rng);
  const HdbscanResult r = hdbscan(x, {100, 30, true});
  CHECK(r.n_clusters == 1);
  std::int64_t members = 0;
  for (auto l : r.labels) {
    CHECK((l == 0 || l == -1));
    members += l == 0;
  }
  CHECK(members == 600);  // the root cluster holds every point (Campello et al.; see hdbscan.h)
  // Without allow_single_cluster (scikit-learn's default) a unimodal blob is not one cluster.
  CHECK(hdbscan(x, {100, 30, false}).n_clusters != 1);
}

TEST_CASE("hdbscan handles duplicated points and tiny inputs without NaN or crash") {
  Matrix same(200, 2, 1.5);
  const HdbscanResult r = hdbscan(same, {50, 10, true});
  CHECK(r.n_clusters == 1);
  CHECK(hdbscan(Matrix(1, 3), {2, 1, true}).labels == std::vector<std::int64_t>{-1});
  CHECK(hdbscan(Matrix(0, 3), {2, 1, true}).labels.empty());
  CHECK_THROWS_AS(hdbscan(same, {1, 10, true}), std::invalid_argument);
}

TEST_CASE("hdbscan timing on 8000 x 10 points (printed, not asserted)") {
  std::mt19937_64 rng(20260521);
  std::normal_distribution<double> n01;
  Matrix x(8000, 10);
  for (std::int64_t i = 0; i < x.rows; ++i)
    for (std::int64_t j = 0; j < x.cols; ++j) x(i, j) = (i % 5 == j ? 10.0 : 0.0) + n01(rng);
  const auto t0 = std::chrono::steady_clock::now();
  const HdbscanResult r = hdbscan(x, {100, 30, true});
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("HDBSCAN 8000 x 10: %.2f s, %lld clusters\n", s, static_cast<long long>(r.n_clusters));
  CHECK(r.n_clusters == 5);
}
