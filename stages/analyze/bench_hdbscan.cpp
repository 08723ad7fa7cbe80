// HDBSCAN at the paper's experimental ensemble size: 8,000 points in 10 dimensions (five Gaussian
// clusters plus 10 % uniform noise), min_cluster_size 100, min_samples 30. Prints the time of each
// step; asserts nothing (timings are machine-dependent). Usage: lnpsaxs-bench-hdbscan [n] [d]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>

#include "hdbscan.h"

int main(int argc, char** argv) {
  using namespace lnpsaxs::analysis;
  const std::int64_t n = argc > 1 ? std::atoll(argv[1]) : 8000;
  const std::int64_t d = argc > 2 ? std::atoll(argv[2]) : 10;
  std::mt19937_64 rng(20260521);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::uniform_real_distribution<double> uniform(-12.0, 12.0);
  Matrix x(n, d);
  const std::int64_t n_noise = n / 10;
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t c = i % 5;
    for (std::int64_t j = 0; j < d; ++j) {
      x(i, j) = i < n_noise ? uniform(rng) : (c == j ? 10.0 : 0.0) + normal(rng);
    }
  }
  using clock = std::chrono::steady_clock;
  auto secs = [](clock::time_point a, clock::time_point b) { return std::chrono::duration<double>(b - a).count(); };
  const HdbscanParams p{100, 30, true};
  const auto t0 = clock::now();
  const auto core = core_distances(x, p.min_samples);
  const auto t1 = clock::now();
  const auto mst = mutual_reachability_mst(x, core);
  const auto t2 = clock::now();
  const HdbscanResult r = hdbscan(x, p);
  const auto t3 = clock::now();
  std::int64_t noise = 0;
  for (auto l : r.labels) noise += l < 0;
  std::printf("hdbscan %lld x %lld: core distances %.3f s, MST %.3f s, full hdbscan %.3f s; %lld clusters, %lld noise\n",
              static_cast<long long>(n), static_cast<long long>(d), secs(t0, t1), secs(t1, t2), secs(t2, t3),
              static_cast<long long>(r.n_clusters), static_cast<long long>(noise));
  return mst.size() == static_cast<std::size_t>(n - 1) ? 0 : 1;
}
