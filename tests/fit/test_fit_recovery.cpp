// End-to-end recovery through the library: a synthetic polydisperse sphere curve with known
// (m_r, s_r), computed independently (common form factor, common truncated log-normal, Simpson
// over r) and written as a beamline-style ASCII file, is read, interpolated, normalised and fitted
// by the multi-start optimiser; the best restart recovers (m_r, s_r) within 1 %. Also the data
// preparation windows on the real gold file.
#include <ATen/ATen.h>
#include "doctest_torch.h"
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include "models/forward/forward_model.h"
#include "lnpsaxs/errors.h"
#include "lnpsaxs/physics/form_factor.h"
#include "lnpsaxs/physics/size_distribution.h"
#include "lnpsaxs/q_grid.h"
#include "multistart.h"
#include "models/forward/parameters.h"
#include "target.h"

#include "temp_dir.h"

namespace fs = std::filesystem;
namespace fit = lnpsaxs::fit;
namespace ph = lnpsaxs::physics;

namespace {
const std::string kGold = std::string(LNPSAXS_SOURCE_DIR) + "/tests/data/au_86116_cosaxs.dat";

using lnpsaxs::test::TempDir;
}  // namespace

TEST_CASE("data preparation: the gold file at its own q, fit and invariant windows") {
  const std::vector<double> grid = lnpsaxs::linear_q_grid(0.001, 0.2, 300);
  fit::TargetSpec spec;
  spec.name = "gold";
  spec.file = kGold;
  spec.model = fit::Model::sphere;
  spec.q_min = 0.002;
  spec.q_max = 0.06;
  spec.background = true;
  const fit::PreparedTarget t = fit::prepare_target(spec, grid, "");
  CHECK(t.rows_read == 1000);
  CHECK(t.rows_masked == 13);
  CHECK(t.fit_end - t.fit_begin == 816);  // measured points in [0.002, 0.06]
  CHECK(t.q.size() == 987);               // the model's q are the data's q
  CHECK(t.q[static_cast<std::size_t>(t.fit_begin)] >= 0.002);
  CHECK(t.q[static_cast<std::size_t>(t.fit_begin - 1)] < 0.002);
  CHECK(t.q[static_cast<std::size_t>(t.fit_end - 1)] <= 0.06);
  CHECK(t.q[static_cast<std::size_t>(t.fit_end)] > 0.06);
  CHECK(t.norm_begin == t.fit_begin);  // analytical model: invariant over the fit window
  CHECK(t.norm_end == t.fit_end);
  CHECK(t.q[static_cast<std::size_t>(t.support_end - 1)] == doctest::Approx(0.0709745));  // the data stop at 0.071
  CHECK(std::isfinite(t.intensity.back()));
  // The normalised data have unit invariant over the window.
  const auto c = fit::trapezoid_weights(t.q, t.norm_begin, t.norm_end);
  double inv = 0;
  for (std::int64_t i = t.norm_begin; i < t.norm_end; ++i) {
    inv += c[static_cast<std::size_t>(i - t.norm_begin)] * t.q[static_cast<std::size_t>(i)] *
           t.q[static_cast<std::size_t>(i)] * t.intensity[static_cast<std::size_t>(i)];
  }
  CHECK(inv == doctest::Approx(1.0).epsilon(1e-12));
  // The surrogate normalises over everything the data cover.
  spec.model = fit::Model::surrogate;
  const fit::PreparedTarget ts = fit::prepare_target(spec, grid, "");
  CHECK(ts.norm_begin == ts.support_begin);
  CHECK(ts.norm_end == ts.support_end);
  // σ weighting: log weights ∝ (D/σ)², linear weights ∝ 1/σ², each of mean 1 over the fitted points.
  spec.model = fit::Model::sphere;
  spec.sigma_weighting = true;
  const fit::PreparedTarget tw = fit::prepare_target(spec, grid, "");
  const fit::FitData dw = fit::make_fit_data(tw);
  REQUIRE(dw.w_log.size() == 816);
  double mean_log = 0, mean_lin = 0;
  for (std::size_t i = 0; i < 816; ++i) {
    mean_log += dw.w_log[i] / 816;
    mean_lin += dw.w_lin[i] / 816;
    const std::size_t g = static_cast<std::size_t>(tw.fit_begin) + i;
    CHECK(std::isfinite(tw.sigma[g]));
    CHECK(dw.w_log[i] / dw.w_log[0] ==
          doctest::Approx(std::pow(tw.intensity[g] / tw.sigma[g], 2) /
                          std::pow(tw.intensity[static_cast<std::size_t>(tw.fit_begin)] /
                                       tw.sigma[static_cast<std::size_t>(tw.fit_begin)],
                                   2)));
  }
  CHECK(mean_log == doctest::Approx(1.0));
  CHECK(mean_lin == doctest::Approx(1.0));
  spec.sigma_weighting = false;
  // A window without data, and σ weighting of a file without σ, are input errors.
  spec.q_min = 0.08;
  spec.q_max = 0.1;
  CHECK_THROWS_WITH_AS(fit::prepare_target(spec, grid, ""), doctest::Contains("need at least 3"),
                       lnpsaxs::InputError);
  TempDir d;
  const std::string two = (d.path / "two.dat").string();
  std::ofstream(two) << "q I\n0.01 5\n0.02 4\n0.03 3\n0.04 2\n";
  fit::TargetSpec s2;
  s2.name = "two";
  s2.file = two;
  s2.sigma_weighting = true;
  CHECK_THROWS_WITH_AS(fit::prepare_target(s2, grid, ""), doctest::Contains("needs a sigma column"),
                       lnpsaxs::InputError);
}

TEST_CASE("a synthetic polydisperse sphere curve with known (m_r, s_r) is recovered within 1 %") {
  const double m_true = 180.0, s_true = 25.0, a = 100.0, b = 500.0;
  TempDir dir;
  const std::string file = (dir.path / "sphere.dat").string();
  {
    // Independent truth: Simpson over r of pdf(r)·(V f(qr))², on a finer q grid than the model's.
    const ph::TruncatedLogNormal d(m_true, s_true, a, b);
    const int n = 8001;
    const double h = (b - a) / (n - 1);
    std::ofstream out(file);
    out << "synthetic sphere\nm_r 180 s_r 25\nq(1/A) I sigma\n";
    for (int j = 0; j < 800; ++j) {
      const double q = 0.0015 + j * (0.1 - 0.0015) / 799;
      double sum = 0;
      for (int i = 0; i < n; ++i) {
        const double r = a + i * h;
        const double w = (i == 0 || i == n - 1 ? 1.0 : (i % 2 ? 4.0 : 2.0)) * h / 3.0;
        sum += w * d.pdf(r) * std::pow(ph::sphere_volume(r) * ph::sphere_amplitude(q * r), 2);
      }
      out.precision(12);
      out << q << " " << sum * 1e-12 << " " << sum * 1e-14 << "\n";
    }
    out << "creator: test\n";
  }
  // The design default (inverse-CDF nodes, K = 64) on the headline window, and the log-radius rule
  // on a wider one: both must recover the truth within 1 %.
  struct Case {
    fit::QuadratureRule rule;
    double q_max;
  };
  for (const Case& k :
       {Case{fit::QuadratureRule::inverse_cdf, 0.06}, Case{fit::QuadratureRule::log_radius, 0.1}}) {
    CAPTURE(fit::quadrature_rule_name(k.rule));
    fit::TargetSpec spec;
    spec.name = "sphere";
    spec.file = file;
    spec.model = fit::Model::sphere;
    spec.q_min = 0.002;
    spec.q_max = k.q_max;
    const std::vector<double> grid = lnpsaxs::linear_q_grid(0.001, 0.2, 300);
    const fit::PreparedTarget t = fit::prepare_target(spec, grid, "");
    fit::Boxes boxes;  // m_r ∈ [120, 350], s_r ∈ [10, 100]
    const fit::Layout layout(fit::Model::sphere, false, boxes);
    fit::ForwardSetup s;
    s.model = fit::Model::sphere;
    s.q = t.q;  // the file's own q
    s.norm_begin = t.norm_begin;
    s.norm_end = t.norm_end;
    s.data_invariant = t.data_invariant;
    s.rule = k.rule;
    const fit::ForwardModel model(s);
    const fit::FitData data = fit::make_fit_data(t);
    fit::OptimiserSettings opt;  // analytical defaults: 1000 steps, cosine to 0.1 lr, β2 = 0.9
    const auto starts = fit::sobol_starts(layout, fit::StartSettings{}, 2026, 0, 8);
    const fit::BatchResult r = fit::fit_batch(model, layout, data, opt, fit::LossSettings{}, starts);
    std::size_t best = 0;
    for (std::size_t i = 1; i < r.loss.size(); ++i) {
      if (r.loss[i] < r.loss[best]) best = i;
    }
    const double m = r.params[2 * best], sd = r.params[2 * best + 1];
    MESSAGE(fit::quadrature_rule_name(k.rule)
            << ", q <= " << k.q_max << ": recovered m_r = " << m << " Å (truth 180), s_r = " << sd
            << " Å (truth 25), RMSE_log " << r.rmse_log[best] << ", loss " << r.loss[best]);
    CHECK(std::fabs(m / m_true - 1) < 0.01);
    CHECK(std::fabs(sd / s_true - 1) < 0.01);
    CHECK(r.rmse_log[best] < 0.002);
    // Not just the best one: most restarts reach the same solution.
    int near = 0;
    for (std::size_t i = 0; i < r.loss.size(); ++i) {
      near += std::fabs(r.params[2 * i] / m_true - 1) < 0.01 &&
              std::fabs(r.params[2 * i + 1] / s_true - 1) < 0.01;
    }
    CHECK(near >= 5);
    CHECK(r.steps[best] == 1000);
  }
}
