// The batched HMC sampler (stages/posterior/hmc.h) and the box-prior Jacobian
// (log_density.h) against analytic truth: a correlated, badly scaled Gaussian (means, SDs and the
// correlation within Monte-Carlo error), determinism per chain whatever shares its batch, and
// log|det J| of the parameter maps against finite differences of Layout's own double maps.
#include "doctest_torch.h"

#include <ATen/ATen.h>

#include <cmath>
#include <numeric>

#include "diagnostics.h"
#include "hmc.h"
#include "log_density.h"

using namespace lnpsaxs::posterior;
namespace fit = lnpsaxs::fit;

namespace {
// N(mu, Sigma) in 2-D with SDs (1, 10) and correlation 0.9.
constexpr double kMu0 = 1.0, kMu1 = -3.0, kS0 = 1.0, kS1 = 10.0, kRho = 0.9;
at::Tensor gaussian(const at::Tensor& x) {
  const at::Tensor a = (x.select(1, 0) - kMu0) / kS0, b = (x.select(1, 1) - kMu1) / kS1;
  return -0.5 * (a * a - 2 * kRho * a * b + b * b) / (1 - kRho * kRho);
}
std::vector<std::uint64_t> keys(int n, std::uint64_t base = 100) {
  std::vector<std::uint64_t> k;
  for (int i = 0; i < n; ++i) k.push_back(base + static_cast<std::uint64_t>(i) * 7919);
  return k;
}
Chains column(const HmcResult& r, std::int64_t j) {
  Chains c{r.chains, r.draws, {}};
  for (std::int64_t i = 0; i < r.chains * r.draws; ++i) c.x.push_back(r.position[static_cast<std::size_t>(i * r.dim + j)]);
  return c;
}
}  // namespace

TEST_CASE("HMC samples a correlated, badly scaled Gaussian: moments within Monte-Carlo error") {
  for (const bool dense : {true, false}) {
  CAPTURE(dense);
  HmcSettings s;
  s.dense_metric = dense;
  s.warmup = 500;
  s.draws = 1000;
  s.leapfrog = 8;
  const std::vector<double> start{5, 20, -4, -30, 0, 0, 2, 10};  // 4 chains, spread out
  const HmcResult r = run_hmc(gaussian, start, keys(4), s);
  const Summary a = summarise(column(r, 0)), b = summarise(column(r, 1));
  CAPTURE(a.mean);
  CAPTURE(b.mean);
  CHECK(a.rhat < 1.01);
  CHECK(b.rhat < 1.01);
  CHECK(std::abs(a.mean - kMu0) < 4 * a.mcse_mean);
  CHECK(std::abs(b.mean - kMu1) < 4 * b.mcse_mean);
  CHECK(a.sd == doctest::Approx(kS0).epsilon(0.08));
  CHECK(b.sd == doctest::Approx(kS1).epsilon(0.08));
  // Correlation of the draws.
  double sab = 0;
  const Chains x = column(r, 0), y = column(r, 1);
  for (std::size_t i = 0; i < x.x.size(); ++i) sab += (x.x[i] - a.mean) * (y.x[i] - b.mean);
  CHECK(sab / static_cast<double>(x.x.size() - 1) / (a.sd * b.sd) == doctest::Approx(kRho).epsilon(0.04));
  CHECK(a.ess_bulk > 400);
  CHECK(std::accumulate(r.divergent.begin(), r.divergent.end(), 0) == 0);
  // The adapted metric follows the target's covariance (variances 1 and 100, covariance 9).
  if (dense) {
    CHECK(r.inv_metric[0] == doctest::Approx(1).epsilon(0.3));
    CHECK(r.inv_metric[3] == doctest::Approx(100).epsilon(0.3));
    CHECK(r.inv_metric[1] == doctest::Approx(9).epsilon(0.3));
  } else {
    CHECK(r.inv_metric[1] / r.inv_metric[0] == doctest::Approx(100).epsilon(0.5));
  }
  const double acc = std::accumulate(r.accept_stat.begin(), r.accept_stat.end(), 0.0) / static_cast<double>(r.accept_stat.size());
  CHECK(acc > 0.6);
  }
}

TEST_CASE("a chain's draws depend on its key, not on the chains sharing its batch") {
  HmcSettings s;
  s.warmup = 60;
  s.draws = 40;
  s.leapfrog = 5;
  const std::vector<double> start{5, 20, -4, -30, 0, 0};
  const HmcResult all = run_hmc(gaussian, start, keys(3), s);
  const HmcResult one = run_hmc(gaussian, {-4, -30}, {keys(3)[1]}, s);
  for (std::int64_t i = 0; i < s.draws * 2; ++i)
    CHECK(one.position[static_cast<std::size_t>(i)] == all.position[static_cast<std::size_t>(s.draws * 2 + i)]);
  CHECK(one.step_size[0] == all.step_size[1]);
  // A different key gives a different chain.
  const HmcResult other = run_hmc(gaussian, {-4, -30}, {999}, s);
  CHECK(other.position.back() != one.position.back());
}

TEST_CASE("a start outside the support is refused") {
  auto bounded = [](const at::Tensor& x) {
    return at::where(x.select(1, 0) > 0, -x.select(1, 0), at::full_like(x.select(1, 0), -INFINITY));
  };
  HmcSettings s;
  s.warmup = 10;
  s.draws = 10;
  CHECK_THROWS(run_hmc(bounded, {-1.0}, {1}, s));
  const HmcResult r = run_hmc(bounded, {1.0}, {1}, s);  // proposals outside are rejected (divergent)
  for (std::size_t i = 0; i < r.position.size(); ++i) CHECK(r.position[i] > 0);
}

TEST_CASE("keyed draws: uniform on (0, 1) and standard normal") {
  double m = 0, v = 0, mu = 0;
  const int n = 20000;
  for (int i = 0; i < n; ++i) {
    const double z = keyed_normal(42, 3, static_cast<std::uint64_t>(i));
    m += z;
    v += z * z;
    mu += keyed_uniform(42, 3, static_cast<std::uint64_t>(i));
  }
  CHECK(m / n == doctest::Approx(0).scale(1).epsilon(0.03));
  CHECK(v / n == doctest::Approx(1).epsilon(0.03));
  CHECK(mu / n == doctest::Approx(0.5).epsilon(0.01));
  CHECK(keyed_normal(42, 3, 5) == keyed_normal(42, 3, 5));
  CHECK(keyed_normal(42, 3, 5) != keyed_normal(42, 4, 5));
}

TEST_CASE("log|det J| of the box maps equals finite differences of Layout's maps") {
  fit::Boxes b;
  b.background_upper = 0.3;
  for (const auto& layout : {fit::Layout(fit::Model::surrogate, true, b), fit::Layout(fit::Model::core_shell, false, b),
                             [&] { fit::Boxes c = b; c.size_as_cv = true; return fit::Layout(fit::Model::sphere, true, c); }()}) {
    const std::size_t p = layout.size();
    std::vector<double> raw(p);
    for (std::size_t j = 0; j < p; ++j) raw[j] = 0.3 * std::sin(1.7 * static_cast<double>(j) + 0.4);
    const at::Tensor t = at::tensor(raw, at::kDouble).view({1, static_cast<std::int64_t>(p)});
    const double got = log_jacobian(layout, t).item<double>();
    // Numerical Jacobian (central differences) and its log|det| by Gaussian elimination.
    std::vector<double> jac(p * p), xp(p), xm(p);
    const double h = 1e-6;
    for (std::size_t k = 0; k < p; ++k) {
      std::vector<double> rp = raw, rm = raw;
      rp[k] += h;
      rm[k] -= h;
      layout.physical_from_raw(rp.data(), xp.data());
      layout.physical_from_raw(rm.data(), xm.data());
      for (std::size_t i = 0; i < p; ++i) jac[i * p + k] = (xp[i] - xm[i]) / (2 * h);
    }
    double logdet = 0;
    for (std::size_t c = 0; c < p; ++c) {
      std::size_t piv = c;
      for (std::size_t r = c + 1; r < p; ++r)
        if (std::abs(jac[r * p + c]) > std::abs(jac[piv * p + c])) piv = r;
      for (std::size_t k = 0; k < p; ++k) std::swap(jac[c * p + k], jac[piv * p + k]);
      logdet += std::log(std::abs(jac[c * p + c]));
      for (std::size_t r = c + 1; r < p; ++r) {
        const double f = jac[r * p + c] / jac[c * p + c];
        for (std::size_t k = c; k < p; ++k) jac[r * p + k] -= f * jac[c * p + k];
      }
    }
    CAPTURE(p);
    CHECK(got == doctest::Approx(logdet).epsilon(1e-6));
  }
}
