// The size prior of a fit target (issue 16; docs/fit.md "Size prior"): the truncated log-normal's
// moments against brute-force quadrature and the untruncated closed form, the NLL of a radius list
// against a direct evaluation of the density, a histogram's NLL recovering the distribution it was
// drawn from, gradients against finite differences, the loss weighting, and the config checks.
#include "doctest_torch.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/autograd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <random>
#include <string>

#include "lnpsaxs/config.h"
#include "lnpsaxs/errors.h"
#include "multistart.h"
#include "size_prior.h"
#include "target.h"

using lnpsaxs::config::Config;
namespace fit = lnpsaxs::fit;

namespace {

at::Tensor col(std::vector<double> v) { return at::tensor(v, at::kDouble); }

/// Number- or r⁶-weighted mean and SD of LN(m, s) truncated to [a, b] by a fine trapezoid in r.
std::pair<double, double> brute_moments(double m, double s, double a, double b, bool intensity) {
  const double s2 = std::log1p((s / m) * (s / m)), mu = std::log(m) - 0.5 * s2, sig = std::sqrt(s2);
  const int n = 400000;
  double w0 = 0, w1 = 0, w2 = 0;
  for (int i = 0; i <= n; ++i) {
    const double r = a + (b - a) * i / n;
    const double z = (std::log(r) - mu) / sig;
    double p = std::exp(-0.5 * z * z) / r * ((i == 0 || i == n) ? 0.5 : 1.0);
    if (intensity) p *= std::pow(r / 100.0, 6);
    w0 += p;
    w1 += p * r;
    w2 += p * r * r;
  }
  const double mean = w1 / w0;
  return {mean, std::sqrt(w2 / w0 - mean * mean)};
}

double normal_cdf(double z) { return 0.5 * std::erfc(-z / std::sqrt(2.0)); }

fit::SizePrior from_yaml(const std::string& mapping) {
  const Config c = Config::from_string(
      "fit:\n  targets:\n    - {name: a, synth: 1, model: sphere, size_prior: " + mapping + "}\n", "p.yaml");
  return fit::targets_from_config(c).at(0).size_prior;
}

std::string config_error(const std::string& mapping) {
  try {
    from_yaml(mapping);
  } catch (const lnpsaxs::ConfigError& e) {
    return e.what();
  }
  return "";
}

std::string temp_file(const std::string& name, const std::string& text) {
  const std::string path = "/tmp/lnpsaxs-test-size-prior-" + name;
  std::ofstream(path) << text;
  return path;
}

}  // namespace

TEST_CASE("truncated log-normal moments: untruncated closed form and brute-force quadrature") {
  // Untruncated: the mean and SD are m_r and s_r by definition.
  {
    const auto [mean, sd] = fit::truncated_lognormal_moments(col({250, 346}), col({50, 62}), 1e-3, 1e7, false);
    CHECK(mean[0].item<double>() == doctest::Approx(250).epsilon(1e-12));
    CHECK(sd[0].item<double>() == doctest::Approx(50).epsilon(1e-10));
    CHECK(mean[1].item<double>() == doctest::Approx(346).epsilon(1e-12));
    CHECK(sd[1].item<double>() == doctest::Approx(62).epsilon(1e-10));
  }
  // Truncated (both ends biting), number- and intensity-weighted.
  for (bool intensity : {false, true}) {
    for (const auto& [m, s] : {std::pair{150.0, 60.0}, std::pair{300.0, 90.0}, std::pair{120.0, 10.0}}) {
      const auto [mean, sd] = fit::truncated_lognormal_moments(col({m}), col({s}), 100, 400, intensity);
      const auto [bm, bs] = brute_moments(m, s, 100, 400, intensity);
      INFO("m_r " << m << " s_r " << s << (intensity ? " intensity" : " number"));
      CHECK(mean[0].item<double>() == doctest::Approx(bm).epsilon(1e-7));
      CHECK(sd[0].item<double>() == doctest::Approx(bs).epsilon(1e-6));
    }
  }
}

TEST_CASE("size prior from mean, SD and n: errors sd/sqrt(n), sd/sqrt(2(n-1)) - NLL zero at the measurement") {
  const fit::SizePrior p = from_yaml("{mean: 346, sd: 62, n: 400}");
  REQUIRE(p.kind == fit::SizePrior::Kind::moments);
  CHECK(p.mean_error == doctest::Approx(62.0 / 20.0));
  CHECK(p.sd_error == doctest::Approx(62.0 / std::sqrt(798.0)));
  // Wide truncation: the fitted distribution's moments are (m_r, s_r).
  const at::Tensor nll = p.nll(col({346, 346 + 3.1, 346}), col({62, 62, 62 + 62 / std::sqrt(798.0)}), 1, 1e6);
  CHECK(nll[0].item<double>() == doctest::Approx(0).epsilon(1e-9));
  CHECK(nll[1].item<double>() == doctest::Approx(0.5).epsilon(1e-6));  // one standard error off in the mean
  CHECK(nll[2].item<double>() == doctest::Approx(0.5).epsilon(1e-6));  // one standard error off in the SD
  // The offset: measured = model radius + offset.
  const fit::SizePrior q = from_yaml("{mean: 346, sd: 62, mean_error: 5, sd_error: 4, offset: 20}");
  CHECK(q.nll(col({326}), col({62}), 1, 1e6)[0].item<double>() == doctest::Approx(0).epsilon(1e-9));
  CHECK(q.describe().find("offset 20") != std::string::npos);
}

TEST_CASE("size prior from a radius list: NLL = -sum ln p(r_i) of the truncated log-normal, less the ML reference") {
  const std::string path = temp_file("radii.txt", "# radius [A]\n250\n310\n275.5\n330\n205\n290\n");
  const fit::SizePrior p = from_yaml("{histogram: " + path + "}");
  REQUIRE(p.kind == fit::SizePrior::Kind::radii);
  CHECK(p.particles == 6);
  const double m = 280, s = 45, a = 100, b = 500;
  const double s2 = std::log1p((s / m) * (s / m)), mu = std::log(m) - 0.5 * s2, sig = std::sqrt(s2);
  const double z_mass = normal_cdf((std::log(b) - mu) / sig) - normal_cdf((std::log(a) - mu) / sig);
  double direct = 0;
  for (double r : {250.0, 310.0, 275.5, 330.0, 205.0, 290.0}) {
    const double z = (std::log(r) - mu) / sig;
    direct -= std::log(std::exp(-0.5 * z * z) / (r * sig * std::sqrt(2 * M_PI)) / z_mass);
  }
  CHECK(p.nll(col({m}), col({s}), a, b)[0].item<double>() + p.reference_nll == doctest::Approx(direct).epsilon(1e-12));
  // A radius outside the truncation is refused, naming the particle.
  CHECK_THROWS_WITH_AS(p.check_support(210, 500, "t"), doctest::Contains("particle 5"), lnpsaxs::InputError);
  CHECK_NOTHROW(p.check_support(100, 500, "t"));
}

TEST_CASE("size prior from a histogram of 4000 log-normal radii: its NLL is smallest near the truth - gradients") {
  std::mt19937_64 g(7);
  const double m = 320, s = 70;
  const double s2 = std::log1p((s / m) * (s / m));
  std::lognormal_distribution<double> ln(std::log(m) - 0.5 * s2, std::sqrt(s2));
  std::vector<double> counts(40, 0.0);
  for (int i = 0; i < 4000; ++i) {
    const double r = ln(g);
    const int k = static_cast<int>((r - 100) / 10);
    if (k >= 0 && k < 40) counts[static_cast<std::size_t>(k)] += 1;
  }
  std::string text = "centre,count\n";
  for (int k = 0; k < 40; ++k) text += std::to_string(105 + 10 * k) + "," + std::to_string(counts[static_cast<std::size_t>(k)]) + "\n";
  const fit::SizePrior p = from_yaml("{histogram: " + temp_file("hist.csv", text) + "}");
  REQUIRE(p.kind == fit::SizePrior::Kind::binned);
  CHECK(p.edges.front() == doctest::Approx(100));
  CHECK(p.edges.back() == doctest::Approx(500));
  // Grid search for the minimum: within 3 standard errors of (m, s) (SE of the mean 70/√4000 ≈ 1.1 Å).
  double best = INFINITY, bm = 0, bs = 0;
  std::vector<double> ms, ss;
  for (double x = 300; x <= 340; x += 0.5) {
    for (double y = 55; y <= 85; y += 0.5) {
      ms.push_back(x);
      ss.push_back(y);
    }
  }
  const at::Tensor nll = p.nll(col(ms), col(ss), 100, 500);
  for (std::size_t i = 0; i < ms.size(); ++i) {
    const double v = nll[static_cast<std::int64_t>(i)].item<double>();
    if (v < best) {
      best = v;
      bm = ms[i];
      bs = ss[i];
    }
  }
  MESSAGE("histogram NLL minimum at m_r " << bm << ", s_r " << bs << " (truth 320, 70); NLL - reference " << best);
  CHECK(std::abs(bm - m) < 3 * 70 / std::sqrt(4000.0) + 0.5);
  CHECK(std::abs(bs - s) < 3 * 70 / std::sqrt(8000.0) + 0.5);
  CHECK(best >= 0);  // the saturated reference bounds it below
  CHECK(best < 40);  // ~ chi2 with 38 degrees of freedom / 2
  // Gradient against central differences, for all three kinds.
  const fit::SizePrior mom = from_yaml("{mean: 346, sd: 62, n: 400, quantity: intensity}");
  for (const fit::SizePrior* q : {&p, &mom}) {
    const at::Tensor mr = col({310.0}).requires_grad_(true), sr = col({66.0}).requires_grad_(true);
    const auto gr = torch::autograd::grad({q->nll(mr, sr, 100, 500).sum()}, {mr, sr});
    const double h = 1e-4;
    auto f = [&](double a, double b) { return q->nll(col({a}), col({b}), 100, 500)[0].item<double>(); };
    CHECK(gr[0].item<double>() == doctest::Approx((f(310 + h, 66) - f(310 - h, 66)) / (2 * h)).epsilon(1e-5));
    CHECK(gr[1].item<double>() == doctest::Approx((f(310, 66 + h) - f(310, 66 - h)) / (2 * h)).epsilon(1e-5));
  }
}

TEST_CASE("the size prior joins the loss: (chi2 + 2 NLL)/(N - P) and L exp(2 NLL/N)") {
  fit::ForwardSetup setup;
  setup.model = fit::Model::sphere;
  for (int i = 0; i < 20; ++i) setup.q.push_back(0.005 + 0.002 * i);
  setup.norm_begin = 0;
  setup.norm_end = 20;
  setup.truncation_lower = 20;
  setup.truncation_upper = 600;
  setup.nodes = 32;
  setup.dtype = c10::kDouble;
  const fit::ForwardModel model(setup);
  fit::FitData d;
  d.eval_begin = d.fit_begin = d.support_begin = 0;
  d.eval_end = d.fit_end = d.support_end = 20;
  for (int i = 0; i < 20; ++i) {
    d.data.push_back(1e-3 / (1 + i));
    d.sigma.push_back(1e-5);
    d.w_log.push_back(1);
    d.w_lin.push_back(1);
  }
  d.data_full = d.data;
  const at::Tensor params = at::tensor(std::vector<double>{150, 30, 200, 40}, at::kDouble).view({2, 2});
  for (fit::LossKind kind : {fit::LossKind::chi2, fit::LossKind::log}) {
    fit::LossSettings plain;
    plain.kind = kind;
    plain.n_free = 3;
    fit::LossSettings with = plain;
    with.size_prior = from_yaml("{mean: 180, sd: 35, n: 100}");
    with.truncation_lower = 20;
    with.truncation_upper = 600;
    const at::Tensor l0 = fit::composite_loss(model, d, plain, params), l1 = fit::composite_loss(model, d, with, params);
    const at::Tensor nll = with.size_prior.nll(params.select(1, 0), params.select(1, 1), 20, 600);
    const at::Tensor expect = kind == fit::LossKind::chi2 ? l0 + 2 * nll / 17.0 : l0 * at::exp(2 * nll / 20.0);
    CHECK(at::allclose(l1, expect, 1e-12, 0));
    CHECK((l1 > l0).all().item<bool>());
  }
}

TEST_CASE("size_prior config: one of mean/sd or histogram, the uncertainty once, unknown fields named") {
  CHECK(from_yaml("{}").kind == fit::SizePrior::Kind::none);
  CHECK(config_error("{mean: 300, sd: 50}").find("give the uncertainty once") != std::string::npos);
  CHECK(config_error("{mean: 300, sd: 50, n: 10, mean_error: 3, sd_error: 2}").find("give the uncertainty once") !=
        std::string::npos);
  CHECK(config_error("{mean: 300, n: 10}").find("size_prior.sd") != std::string::npos);
  CHECK(config_error("{mean: 300, sd: 50, n: 10, histogram: x.txt}").find("not both") != std::string::npos);
  CHECK(config_error("{mean: 300, sd: 50, nn: 10}").find("did you mean 'n'") != std::string::npos);
  CHECK(config_error("{sd: 50}").find("needs mean") != std::string::npos);
  CHECK(config_error("{histogram: x.txt, quantity: intensity}").find("number only") != std::string::npos);
  CHECK_THROWS_WITH_AS(from_yaml("{histogram: /nonexistent/radii.txt}"), doctest::Contains("/nonexistent/radii.txt"),
                       lnpsaxs::InputError);
  const std::string bad = temp_file("bad.txt", "250\n260 3\n");
  const std::string want = bad + ":2:";
  CHECK_THROWS_WITH_AS(from_yaml("{histogram: " + bad + "}"), doctest::Contains(want.c_str()), lnpsaxs::InputError);
  // The target's identity changes with the prior (a fit made without it is not reused).
  const Config c = Config::from_string(
      "fit:\n  targets:\n    - {name: a, synth: 1, model: sphere}\n    - {name: b, synth: 1, model: sphere, "
      "size_prior: {mean: 300, sd: 50, n: 10}}\n",
      "p.yaml");
  const auto t = fit::targets_from_config(c);
  CHECK(t[0].canonical().find("size_prior") == std::string::npos);
  CHECK(t[1].canonical().find("size_prior=") != std::string::npos);
}
