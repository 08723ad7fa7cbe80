// The size prior in the posterior (issue 16): on a polydisperse sphere curve cut to low q, where the
// mean radius and the width trade off, the HMC posterior with and without a cryo-TEM-like prior
// (400 particles) agrees with brute-force integration of the same density on a fine (m_r, s_r)
// grid — an independent evaluation of likelihood × size likelihood — and the prior shrinks the
// posterior SDs of m_r and s_r.
#include "doctest_torch.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <cmath>
#include <random>
#include <string>

#include "diagnostics.h"
#include "hmc.h"
#include "log_density.h"
#include "sphere_posterior_fixture.h"
#include "lnpsaxs/config.h"
#include "target.h"

using namespace lnpsaxs::posterior;
namespace testing = lnpsaxs::posterior::testing;
namespace fit = lnpsaxs::fit;

namespace {

struct Moments {
  double mean[2], sd[2];
};

/// Posterior mean and SD of (m_r, s_r) on a fine grid of the physical box, density
/// exp(−(N/2) ln L − NLL) (uniform prior on the box).
Moments grid_moments(const fit::ForwardModel& model, const fit::FitData& d, const fit::LossSettings& ls,
                     std::pair<double, double> m_box, std::pair<double, double> s_box, int n) {
  c10::NoGradGuard ng;
  std::vector<double> pts;
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j < n; ++j) {
      pts.push_back(m_box.first + (m_box.second - m_box.first) * (i + 0.5) / n);
      pts.push_back(s_box.first + (s_box.second - s_box.first) * (j + 0.5) / n);
    }
  }
  const at::Tensor p = at::tensor(pts, at::kDouble).view({n * n, 2});
  fit::LossSettings data_only = ls;
  data_only.size_prior = {};
  at::Tensor lp = -0.5 * static_cast<double>(d.data.size()) * at::log(fit::composite_loss(model, d, data_only, p));
  if (ls.size_prior.active()) {
    lp = lp - ls.size_prior.nll(p.select(1, 0), p.select(1, 1), ls.truncation_lower, ls.truncation_upper);
  }
  const at::Tensor w = at::exp(lp - lp.max());
  const at::Tensor wn = w / w.sum();
  Moments m{};
  for (int k = 0; k < 2; ++k) {
    const at::Tensor x = p.select(1, k);
    m.mean[k] = (wn * x).sum().item<double>();
    m.sd[k] = std::sqrt((wn * (x - m.mean[k]).pow(2)).sum().item<double>());
  }
  return m;
}

}  // namespace

TEST_CASE("posterior with a size prior: HMC agrees with grid integration - the prior shrinks the SDs of m_r and s_r") {
  constexpr int kQ = 30;
  constexpr double kTruthM = 200, kTruthS = 40;
  const fit::ForwardSetup setup = testing::sphere_setup(0.003, 0.012, kQ, 20, 600, 48, fit::QuadratureRule::fixed_log_radius);
  const fit::ForwardModel model(setup);
  const fit::Layout layout = testing::sphere_layout({150, 250}, {10, 90});

  // Noisy curve (10 % noise; q R ≤ 2.4, nearly the Guinier regime: one size moment is measured), normalised like the fit's data (the loss compares normalised curves).
  fit::FitData d;
  d.eval_begin = d.fit_begin = d.support_begin = 0;
  d.eval_end = d.fit_end = d.support_end = kQ;
  {
    c10::NoGradGuard ng;
    const at::Tensor p = at::tensor(std::vector<double>{kTruthM, kTruthS}, at::kDouble).view({1, 2});
    const at::Tensor i = at::exp(model.ln_intensity(p, 0, kQ)).squeeze(0);
    std::mt19937_64 g(42);
    std::normal_distribution<double> z;
    for (int j = 0; j < kQ; ++j) {
      d.data.push_back(i[j].item<double>() * (1 + 0.10 * z(g)));
      d.sigma.push_back(std::nan(""));
      d.w_log.push_back(1);
      d.w_lin.push_back(1);
    }
    d.data_full = d.data;
  }
  fit::LossSettings plain;
  plain.kind = fit::LossKind::log;
  fit::LossSettings with = plain;
  with.truncation_lower = 20;
  with.truncation_upper = 600;
  {
    const lnpsaxs::config::Config c = lnpsaxs::config::Config::from_string(
        "fit:\n  targets:\n    - {name: a, synth: 1, model: sphere, size_prior: {mean: 200, sd: 40, n: 400}}\n", "p.yaml");
    with.size_prior = fit::targets_from_config(c).at(0).size_prior;
  }

  HmcSettings s;
  s.warmup = 500;
  s.draws = 1000;
  s.leapfrog = 16;  // the stage defaults (posterior.*)
  double hmc_sd[2][2];
  for (int run = 0; run < 2; ++run) {
    const fit::LossSettings& ls = run == 0 ? plain : with;
    const TargetPosterior tp = make_target_posterior(layout, model, d, ls);
    const Moments grid = grid_moments(model, d, ls, {150, 250}, {10, 90}, 400);
    std::vector<double> phys;
    for (int c = 0; c < 4; ++c) phys.insert(phys.end(), {kTruthM - 6 + 4 * c, kTruthS + 3 - 2 * c});
    const std::vector<std::uint64_t> keys{11, 12, 13, 14};
    const HmcResult res = run_hmc(tp.log_density, tp.raw_starts(phys), keys, s);
    for (int par = 0; par < 2; ++par) {
      const Summary sm = summarise(testing::chain_draws(res, layout, 0, 4, s.draws, 2, par));
      const std::string name = par == 0 ? "m_r" : "s_r";
      MESSAGE(std::string(run == 0 ? "without" : "with") << " size prior, " << name << ": HMC " << sm.mean << " +- " << sm.sd
                                              << " (MCSE " << sm.mcse_mean << ", R-hat " << sm.rhat << "); grid "
                                              << grid.mean[par] << " +- " << grid.sd[par]);
      CHECK(sm.rhat < 1.01);
      CHECK(std::abs(sm.mean - grid.mean[par]) < 3 * sm.mcse_mean + 0.02 * grid.sd[par]);
      CHECK(sm.sd == doctest::Approx(grid.sd[par]).epsilon(0.1));
      hmc_sd[run][par] = sm.sd;
    }
  }
  // The prior's standard errors are 2 Å (mean) and 1.4 Å (SD): well below the data-only SDs here.
  for (int par = 0; par < 2; ++par) {
    MESSAGE("posterior SD shrinks by a factor " << hmc_sd[0][par] / hmc_sd[1][par] << " for " << std::string(par == 0 ? "m_r" : "s_r"));
    CHECK(hmc_sd[1][par] < 0.7 * hmc_sd[0][par]);
  }
}
