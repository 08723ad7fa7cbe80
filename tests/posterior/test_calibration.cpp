// Calibration on known truth (issue 16 acceptance): the polydisperse sphere model of
// models/forward on 200 test-made noisy curves whose truth is drawn from the prior (uniform on
// the m_r and s_r boxes, ln s uniform on [−1, 1]); the 90 % central credible interval of the HMC
// posterior (stages/posterior/hmc.h, box prior by log_jacobian) must contain the truth for 85–95 %
// of the curves, per parameter. The curves share one q grid, so their chains run as one batch: row
// j of the log density is chain j, whose data are curve j / 2's.
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

TEST_CASE("sphere model, 200 noisy curves: 90 % credible intervals cover the truth 85-95 % of the time") {
  constexpr int kCurves = 200, kChainsPer = 2, kQ = 30;
  constexpr double kNoise = 0.05;  // sigma = 5 % of I
  const fit::ForwardSetup setup = testing::sphere_setup(0.004, 0.09, kQ, 20, 400, 24, fit::QuadratureRule::log_radius);
  const fit::ForwardModel model(setup);
  const fit::Layout layout = testing::sphere_layout({90, 140}, {8, 30});

  // Truth from the prior, data with Gaussian noise.
  std::mt19937_64 g(20261202);
  std::uniform_real_distribution<double> u01(0, 1);
  std::normal_distribution<double> z;
  std::vector<double> truth, data, sigma, start;
  {
    c10::NoGradGuard ng;
    for (int k = 0; k < kCurves; ++k) {
      const double m = 90 + 50 * u01(g), s = 8 + 22 * u01(g), ls = -1 + 2 * u01(g);
      truth.insert(truth.end(), {m, s, ls});
      const at::Tensor p = at::tensor(std::vector<double>{m, s}, at::kDouble).view({1, 2});
      const at::Tensor i = at::exp(model.ln_mean_intensity(p, 0, kQ).squeeze(0) + ls).contiguous();
      for (int c = 0; c < kChainsPer; ++c) {
        for (int j = 0; j < kQ; ++j) {
          if (c == 0) {
            const double v = i[j].item<double>();
            data.push_back(v * (1 + kNoise * z(g)));
            sigma.push_back(kNoise * v);
          }
        }
      }
      // Starts as the stage's: the stage starts chains from the medoids of the multi-start fit's
      // retained restarts, i.e. in the basin of the global mode; here a random point within ±10 %
      // of the box around the truth, ln s 0. (Starts anywhere in the box leave ~5 % of the curves
      // with a chain in a secondary mode of the sphere's oscillating form factor, which R-hat
      // flags: exactly why the fit is multi-start.)
      for (int c = 0; c < kChainsPer; ++c) {
        const double sm = std::clamp(m + 5 * (2 * u01(g) - 1), 91.0, 139.0),
                     ss = std::clamp(s + 2.2 * (2 * u01(g) - 1), 8.5, 29.5);
        std::vector<double> raw(2);
        const double phys[2] = {sm, ss};
        layout.raw_from_physical(phys, raw.data());
        start.insert(start.end(), {raw[0], raw[1], 0.0});
      }
    }
  }
  at::Tensor y = at::tensor(data, at::kDouble).view({kCurves, kQ}).repeat_interleave(kChainsPer, 0);
  at::Tensor w = at::pow(at::tensor(sigma, at::kDouble).view({kCurves, kQ}), -2).repeat_interleave(kChainsPer, 0);
  const LogDensity lp = [&](const at::Tensor& raw) {
    const at::Tensor phys = fit::physical_from_raw(layout, raw.slice(1, 0, 2));
    const at::Tensor i = at::exp(model.ln_mean_intensity(phys, 0, kQ) + raw.select(1, 2).unsqueeze(1));
    const at::Tensor r = i - y;
    return -0.5 * (w * r * r).sum(1) + log_jacobian(layout, raw.slice(1, 0, 2));
  };
  std::vector<std::uint64_t> keys;
  for (int j = 0; j < kCurves * kChainsPer; ++j) keys.push_back(0x5eed0000ULL + static_cast<std::uint64_t>(j));
  HmcSettings s;
  s.warmup = 500;  // the stage default (posterior.warmup)
  s.draws = 400;
  s.leapfrog = 8;
  const HmcResult res = run_hmc(lp, start, keys, s);

  int covered[3] = {0, 0, 0}, rhat_bad = 0;
  for (int k = 0; k < kCurves; ++k) {
    double rhat_curve = 0;
    for (int par = 0; par < 3; ++par) {
      const Summary sm = summarise(testing::chain_draws(res, layout, k * kChainsPer, kChainsPer, s.draws, 3, par));
      const double t = truth[static_cast<std::size_t>(3 * k + par)];
      covered[par] += (sm.q05 <= t && t <= sm.q95) ? 1 : 0;
      rhat_curve = std::max(rhat_curve, sm.rhat);
      if (sm.rhat > 1.05) MESSAGE("curve " << k << " parameter " << par << ": R-hat " << sm.rhat << ", bulk ESS " << sm.ess_bulk);
    }
    rhat_bad += rhat_curve > 1.05 ? 1 : 0;
  }
  for (int par = 0; par < 3; ++par) {
    const double frac = static_cast<double>(covered[par]) / kCurves;
    MESSAGE("parameter " << std::string(par == 0 ? "m_r" : par == 1 ? "s_r" : "ln s") << ": 90 % interval covers the truth in "
                         << covered[par] << "/" << kCurves << " curves (" << 100 * frac << " %)");
    CHECK(frac >= 0.85);
    CHECK(frac <= 0.95);
  }
  // Mixing floor: with 2 chains of 400 draws, about 5 % of the curves have a chain that barely moves
  // (bulk ESS ~3, R-hat 1.3-2.2; docs/posterior.md "Known limits"); R-hat flags every such curve,
  // and the stage would report it as not converged. More than 10 % would be a regression.
  MESSAGE(rhat_bad << " of " << kCurves << " curves with a parameter of R-hat > 1.05");
  CHECK(rhat_bad <= kCurves / 10);
}
