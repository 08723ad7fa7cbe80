// Residuals correlated along q (docs/posterior.md §1, posterior.residual_correlation): the effective
// number of independent residuals against analytic truth (white noise: N; AR(1): N(1 − φ)/(1 + φ)),
// the tempering of make_target_posterior's likelihood by N_eff/N, and calibration on known truth
// under correlated noise: the untempered likelihood's 90 % intervals cover the truth far too rarely,
// the tempered one's about 90 % of the time.
#include "doctest_torch.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>

#include "diagnostics.h"
#include "hmc.h"
#include "log_density.h"
#include "sphere_posterior_fixture.h"

using namespace lnpsaxs::posterior;
namespace testing = lnpsaxs::posterior::testing;
namespace fit = lnpsaxs::fit;

namespace {
std::vector<double> ar1_series(std::mt19937_64& g, int n, double phi, double marginal_sd) {
  std::normal_distribution<double> z;
  std::vector<double> e;
  double x = z(g);
  for (int i = 0; i < n; ++i) {
    x = phi * x + std::sqrt(1 - phi * phi) * z(g);
    e.push_back(marginal_sd * x);
  }
  return e;
}
}  // namespace

TEST_CASE("effective number of residuals: N for white noise, N(1 - phi)/(1 + phi) for AR(1)") {
  std::mt19937_64 g(7);
  int untouched = 0;
  for (int k = 0; k < 200; ++k) untouched += effective_points(ar1_series(g, 300, 0.0, 1.0)) == 300.0 ? 1 : 0;
  MESSAGE(untouched << " of 200 white series of 300 points keep N_eff = N");
  CHECK(untouched >= 190);  // Bartlett's one-sided 2/sqrt(N) bound: ~2.5 % are tempered by chance
  for (double phi : {0.5, 0.8, 0.95}) {
    double sum = 0;
    for (int k = 0; k < 20; ++k) sum += effective_points(ar1_series(g, 3000, phi, 1.0)) / 20;
    CAPTURE(phi);
    CHECK(sum == doctest::Approx(3000 * (1 - phi) / (1 + phi)).epsilon(0.15));
  }
  // A smooth systematic misfit (one slow oscillation) is a handful of independent values.
  std::vector<double> smooth;
  for (int i = 0; i < 300; ++i) smooth.push_back(std::sin(6.0 * i / 300));
  CHECK(effective_points(smooth) < 5);
  CHECK_THROWS_AS(effective_points({1, 2, 3}), std::invalid_argument);
}

TEST_CASE("make_target_posterior tempers the likelihood, not the prior, by N_eff/N of the residuals at the best fit") {
  constexpr int kQ = 120;
  const fit::ForwardSetup setup = testing::sphere_setup(0.004, 0.09, kQ, 20, 400, 24, fit::QuadratureRule::log_radius);
  const fit::ForwardModel model(setup);
  const fit::Layout layout = testing::sphere_layout({90, 140}, {8, 30});
  std::mt19937_64 g(11);
  fit::FitData d;
  d.eval_begin = d.fit_begin = d.support_begin = 0;
  d.eval_end = d.fit_end = d.support_end = kQ;
  {
    c10::NoGradGuard ng;
    const at::Tensor i = at::exp(model.ln_intensity(at::tensor(std::vector<double>{115, 18}, at::kDouble).view({1, 2}), 0, kQ)).squeeze(0);
    const std::vector<double> e = ar1_series(g, kQ, 0.9, 0.03);
    for (int j = 0; j < kQ; ++j) {
      d.data.push_back(i[j].item<double>() * std::exp(e[static_cast<std::size_t>(j)]));
      d.sigma.push_back(std::nan(""));
      d.w_log.push_back(1);
      d.w_lin.push_back(1);
    }
    d.data_full = d.data;
  }
  fit::LossSettings ls;
  ls.kind = fit::LossKind::log;
  const TargetPosterior plain = make_target_posterior(layout, model, d, ls);
  const TargetPosterior off = make_target_posterior(layout, model, d, ls, {}, {false, {115, 18}});
  const TargetPosterior on = make_target_posterior(layout, model, d, ls, {}, {true, {115, 18}});
  CHECK(std::isnan(plain.residual_rho));
  CHECK(plain.n_effective == kQ);
  CHECK(off.n_effective == kQ);
  CHECK(off.residual_rho > 0.7);  // the AR(1) noise's φ = 0.9, estimated from 120 points
  CHECK(on.residual_rho == off.residual_rho);
  CHECK(on.n_effective < 0.2 * kQ);
  CHECK(on.likelihood.find("tempered by N_eff/N") != std::string::npos);
  CHECK_THROWS(make_target_posterior(layout, model, d, ls, {}, {true, {115}}));
  c10::NoGradGuard ng;
  std::vector<double> phys{100, 12, 115, 18, 130, 25};
  const at::Tensor raw = at::tensor(on.raw_starts(phys), at::kDouble).view({3, 2});
  const at::Tensor prior = log_jacobian(layout, raw);
  const at::Tensor ratio = (on.log_density(raw) - prior) / (off.log_density(raw) - prior);
  for (int k = 0; k < 3; ++k) CHECK(ratio[k].item<double>() == doctest::Approx(on.n_effective / kQ).epsilon(1e-9));
}

TEST_CASE("correlated noise, 100 sphere curves: tempered 90 % intervals cover the truth, untempered ones do not") {
  // Truth from the prior (uniform boxes, ln s uniform on [-1, 1]), data I·exp(ε) with ε AR(1)
  // along q (φ = 0.8, 3 % marginal SD): a smooth error like a surrogate's or a misfit's. The
  // likelihood is the stage's σ-unknown reading, −(N_w/2)·ln L with L the mean squared log residual
  // (free ln s), N_w = N (untempered) or N_eff = effective_points of the residuals at the truth.
  constexpr int kCurves = 100, kChainsPer = 2, kQ = 120;
  const fit::ForwardSetup setup = testing::sphere_setup(0.004, 0.09, kQ, 20, 400, 24, fit::QuadratureRule::log_radius);
  const fit::ForwardModel model(setup);
  const fit::Layout layout = testing::sphere_layout({90, 140}, {8, 30});

  std::mt19937_64 g(20261203);
  std::uniform_real_distribution<double> u01(0, 1);
  std::vector<double> truth, ln_data, n_eff, start;
  {
    c10::NoGradGuard ng;
    for (int k = 0; k < kCurves; ++k) {
      const double m = 90 + 50 * u01(g), s = 8 + 22 * u01(g), ls = -1 + 2 * u01(g);
      truth.insert(truth.end(), {m, s, ls});
      const at::Tensor p = at::tensor(std::vector<double>{m, s}, at::kDouble).view({1, 2});
      const at::Tensor li = (model.ln_mean_intensity(p, 0, kQ).squeeze(0) + ls).contiguous();
      const std::vector<double> e = ar1_series(g, kQ, 0.8, 0.03);
      for (int j = 0; j < kQ; ++j) ln_data.push_back(li[j].item<double>() + e[static_cast<std::size_t>(j)]);
      n_eff.push_back(effective_points(e));
      for (int c = 0; c < kChainsPer; ++c) {
        const double sm = std::clamp(m + 3 * (2 * u01(g) - 1), 91.0, 139.0),
                     ss = std::clamp(s + 1.5 * (2 * u01(g) - 1), 8.5, 29.5);
        std::vector<double> raw(2);
        const double phys[2] = {sm, ss};
        layout.raw_from_physical(phys, raw.data());
        start.insert(start.end(), {raw[0], raw[1], ls});
      }
    }
  }
  const at::Tensor y = at::tensor(ln_data, at::kDouble).view({kCurves, kQ}).repeat_interleave(kChainsPer, 0);
  double mean_n_eff = 0;
  for (double v : n_eff) mean_n_eff += v / kCurves;
  MESSAGE("mean N_eff of the residuals " << mean_n_eff << " of " << kQ << " points (AR(1) theory " << kQ * 0.2 / 1.8 << ")");
  HmcSettings s;
  s.warmup = 300;
  s.draws = 300;
  s.leapfrog = 8;
  std::vector<std::uint64_t> keys;
  for (int j = 0; j < kCurves * kChainsPer; ++j) keys.push_back(0xc0de0000ULL + static_cast<std::uint64_t>(j));
  double coverage[2][3];
  for (int tempered = 0; tempered < 2; ++tempered) {
    std::vector<double> wv;
    for (int k = 0; k < kCurves * kChainsPer; ++k) wv.push_back(tempered ? n_eff[static_cast<std::size_t>(k / kChainsPer)] : kQ);
    const at::Tensor nw = at::tensor(wv, at::kDouble);
    const LogDensity lp = [&](const at::Tensor& raw) {
      const at::Tensor phys = fit::physical_from_raw(layout, raw.slice(1, 0, 2));
      const at::Tensor r = model.ln_mean_intensity(phys, 0, kQ) + raw.select(1, 2).unsqueeze(1) - y;
      return -0.5 * nw * at::log((r * r).mean(1)) + log_jacobian(layout, raw.slice(1, 0, 2));
    };
    const HmcResult res = run_hmc(lp, start, keys, s);
    int covered[3] = {0, 0, 0};
    for (int k = 0; k < kCurves; ++k) {
      for (int par = 0; par < 3; ++par) {
        const Summary sm = summarise(testing::chain_draws(res, layout, k * kChainsPer, kChainsPer, s.draws, 3, par));
        const double t = truth[static_cast<std::size_t>(3 * k + par)];
        covered[par] += (sm.q05 <= t && t <= sm.q95) ? 1 : 0;
      }
    }
    for (int par = 0; par < 3; ++par) {
      coverage[tempered][par] = static_cast<double>(covered[par]) / kCurves;
      MESSAGE(std::string(tempered ? "tempered" : "untempered") << ", parameter " << std::string(par == 0 ? "m_r" : par == 1 ? "s_r" : "ln s") << ": 90 % interval covers the truth in "
                                                     << covered[par] << "/" << kCurves << " curves");
    }
  }
  for (int par = 0; par < 3; ++par) {
    CHECK(coverage[0][par] < 0.7);   // independent-point likelihood: intervals ~3x too narrow
    CHECK(coverage[1][par] >= 0.82);  // 100 curves: the binomial SD of a 90 % coverage is 3 %
    CHECK(coverage[1][par] <= 0.97);
  }
}
