// Fits of measured curves (issue 13): every measured point of the window is fitted (analytical
// models at the data's q, the surrogate's grid by binning with σ propagated), the three losses
// (log, composite, chi2 with its closed-form scale and background), σ that cannot be used is
// reported, dQ is read from every format, pinhole smearing equals SasView's sasmodels Pinhole1D,
// and the quadrature check raises K where the rule errs and reports the true K error.
#include <ATen/ATen.h>
#include "doctest_torch.h"
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "models/forward/forward_model.h"
#include "lnpsaxs/errors.h"
#include "lnpsaxs/h5.h"
#include "lnpsaxs/physics/form_factor.h"
#include "lnpsaxs/physics/size_distribution.h"
#include "lnpsaxs/q_grid.h"
#include "lnpsaxs/saxs_data.h"
#include "multistart.h"
#include "models/forward/parameters.h"
#include "target.h"

#include "temp_dir.h"
#include "test_python.h"

namespace fs = std::filesystem;
namespace fit = lnpsaxs::fit;
namespace ph = lnpsaxs::physics;

namespace {
const std::string kSrc = LNPSAXS_SOURCE_DIR;
const std::string kGold = kSrc + "/tests/data/au_86116_cosaxs.dat";

using lnpsaxs::test::TempDir;

at::Tensor rows(const std::vector<std::vector<double>>& r) {
  std::vector<double> flat;
  for (const auto& x : r) flat.insert(flat.end(), x.begin(), x.end());
  return at::tensor(flat, at::kDouble).view({static_cast<std::int64_t>(r.size()), static_cast<std::int64_t>(r[0].size())});
}

std::vector<double> to_vec(const at::Tensor& t) {
  const at::Tensor c = t.to(at::kDouble).contiguous();
  return std::vector<double>(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
}

fit::TargetSpec gold_spec(fit::Model m) {
  fit::TargetSpec s;
  s.name = "gold";
  s.file = kGold;
  s.model = m;
  s.q_min = 0.002;
  s.q_max = 0.06;
  s.background = true;
  return s;
}

/// Polydisperse sphere Ī(q) by Simpson over r (independent of the torch quadrature).
std::vector<double> dense_sphere(const std::vector<double>& q, double m, double s, double a, double b, int n = 40001) {
  const ph::TruncatedLogNormal d(m, s, a, b);
  std::vector<double> out(q.size(), 0.0);
  const double h = (b - a) / (n - 1);
  for (int i = 0; i < n; ++i) {
    const double r = a + i * h;
    const double w = (i == 0 || i == n - 1 ? 1.0 : (i % 2 ? 4.0 : 2.0)) * h / 3.0 * d.pdf(r);
    for (std::size_t j = 0; j < q.size(); ++j) out[j] += w * std::pow(ph::sphere_volume(r) * ph::sphere_amplitude(q[j] * r), 2);
  }
  return out;
}

/// Runs the sasmodels reference script; returns its stdout.
std::string sasmodels(const std::string& args, const fs::path& dir) {
  const std::string out = (dir / "sasmodels.json").string();
  const std::string cmd =
      lnpsaxs::test::python() + " " + kSrc + "/tests/fit/sasmodels_ref.py " + args + " > " + out;
  const int rc = std::system(cmd.c_str());
  REQUIRE_MESSAGE(rc == 0, "failed: " << cmd << " (python3-sasmodels installed? tools/install-deps.sh)");
  std::ifstream in(out);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

TEST_CASE("the gold curve is fitted at all 816 measured points of [0.002, 0.06] 1/A") {
  const std::vector<double> grid = lnpsaxs::linear_q_grid(0.001, 0.2, 300);
  const fit::PreparedTarget t = fit::prepare_target(gold_spec(fit::Model::sphere), grid, "");
  const lnpsaxs::io::Curve c = lnpsaxs::io::read_curve(kGold);
  std::int64_t in_window = 0;
  for (double q : c.q) in_window += q >= 0.002 && q <= 0.06;
  CHECK(in_window == 816);
  CHECK(t.window_points == 816);
  CHECK(t.fit_end - t.fit_begin == 816);
  REQUIRE(t.q.size() == c.q.size());  // the data's own q, every kept point
  for (std::size_t i = 0; i < c.q.size(); ++i) CHECK(t.q[i] == c.q[i]);
  CHECK(t.norm_begin == t.fit_begin);
  CHECK(t.norm_end == t.fit_end);
  // Normalised data times the invariant are the measured intensities, σ likewise.
  for (std::int64_t i = t.fit_begin; i < t.fit_end; i += 97) {
    const auto k = static_cast<std::size_t>(i);
    CHECK(t.intensity[k] * t.data_invariant == doctest::Approx(c.intensity[k]).epsilon(1e-12));
    CHECK(t.sigma[k] * t.data_invariant == doctest::Approx(c.sigma[k]).epsilon(1e-12));
  }
  // Surrogate: binned onto its grid; the window's bins hold exactly the window's 816 points.
  fit::PreparedTarget s = fit::prepare_target(gold_spec(fit::Model::surrogate), grid, "");
  std::int64_t binned = 0;
  for (std::int64_t i = s.fit_begin; i < s.fit_end; ++i) binned += s.bin_count[static_cast<std::size_t>(i)];
  CHECK(binned == 816);
  CHECK(s.q == grid);
  // A bin's value is the inverse-variance mean of its points and its σ is 1/sqrt(Σ 1/σ²).
  const std::size_t g = static_cast<std::size_t>(s.fit_begin + 20);
  double sw = 0, swi = 0;
  for (std::size_t i = 0; i < c.q.size(); ++i) {
    const bool nearest = std::fabs(c.q[i] - grid[g]) <= std::fabs(c.q[i] - grid[g - 1]) &&
                         std::fabs(c.q[i] - grid[g]) < std::fabs(c.q[i] - grid[g + 1]);
    if (nearest) {
      sw += 1 / (c.sigma[i] * c.sigma[i]);
      swi += c.intensity[i] / (c.sigma[i] * c.sigma[i]);
    }
  }
  CHECK(s.intensity[g] * s.data_invariant == doctest::Approx(swi / sw).epsilon(1e-10));
  CHECK(s.sigma[g] * s.data_invariant == doctest::Approx(1 / std::sqrt(sw)).epsilon(1e-10));
}

TEST_CASE("losses: log is the MSE of log10, chi2 solves its scale and background in closed form") {
  // Data = 3.7 x (the model at the truth) + 0.02 (normalised units), σ = 1 % of the data.
  std::vector<double> q;
  for (int i = 0; i < 200; ++i) q.push_back(0.003 + i * 0.0003);
  fit::ForwardSetup st;
  st.model = fit::Model::sphere;
  st.q = q;
  st.norm_end = static_cast<std::int64_t>(q.size());
  st.dtype = at::kDouble;
  st.background = true;
  st.rule = fit::QuadratureRule::log_radius;
  const fit::ForwardModel model(st);
  const at::Tensor truth = rows({{150.0, 20.0, 0.0}});
  const std::vector<double> ibar = to_vec(at::exp(model.ln_mean_intensity(truth, 0, st.norm_end)));
  fit::FitData d;
  d.eval_end = d.fit_end = d.support_end = st.norm_end;
  const double scale = 3.7, bg = 0.02 * ibar[100];
  for (double v : ibar) {
    d.data.push_back(scale * v + bg);
    d.sigma.push_back(0.01 * (scale * v + bg));
  }
  d.w_log.assign(q.size(), 1.0);
  d.w_lin.assign(q.size(), 1.0);
  d.data_full = d.data;
  fit::LossSettings chi2;
  chi2.kind = fit::LossKind::chi2;
  chi2.chi2_background = true;
  chi2.n_free = 4;
  const at::Tensor p = rows({{150.0, 20.0, 0.0}, {160.0, 20.0, 0.0}});
  const auto l = to_vec(fit::composite_loss(model, d, chi2, p));
  CHECK(l[0] < 1e-16);  // exact up to rounding: (s, b) recovered at the truth
  CHECK(l[1] > 1.0);
  // Against a brute-force χ²: (s, b) from the normal equations computed here, then Σ r²/σ²/(N − P).
  const std::vector<double> x = to_vec(at::exp(model.ln_mean_intensity(rows({{160.0, 20.0, 0.0}}), 0, st.norm_end)));
  double a11 = 0, a12 = 0, a22 = 0, b1 = 0, b2 = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double u = 1 / (d.sigma[i] * d.sigma[i]);
    a11 += u * x[i] * x[i], a12 += u * x[i], a22 += u, b1 += u * x[i] * d.data[i], b2 += u * d.data[i];
  }
  const double det = a11 * a22 - a12 * a12, s = (b1 * a22 - a12 * b2) / det, b = (a11 * b2 - a12 * b1) / det;
  double c2 = 0;
  for (std::size_t i = 0; i < x.size(); ++i) c2 += std::pow((s * x[i] + b - d.data[i]) / d.sigma[i], 2);
  CHECK(b >= 0);
  CHECK(l[1] == doctest::Approx(c2 / (static_cast<double>(x.size()) - 4)).epsilon(1e-9));
  // log: mean (log10 M − log10 D)² with M the Porod-normalised model.
  fit::LossSettings lg;
  lg.kind = fit::LossKind::log;
  const std::vector<double> m = to_vec(model.log10_intensity(p.slice(0, 1, 2)));
  double ref = 0;
  for (std::size_t i = 0; i < m.size(); ++i) ref += std::pow(m[i] - std::log10(d.data[i]), 2) / static_cast<double>(m.size());
  CHECK(to_vec(fit::composite_loss(model, d, lg, p))[1] == doctest::Approx(ref).epsilon(1e-10));
  // chi2 needs σ: a file without one is refused, naming the target's loss.
  TempDir dir;
  const std::string nos = (dir.path / "nosigma.dat").string();
  std::ofstream(nos) << "q I\n0.01 5\n0.02 4\n0.03 3\n0.04 2\n";
  fit::TargetSpec spec;
  spec.name = "nos";
  spec.file = nos;
  spec.loss = "chi2";
  spec.where = "t.yaml:3: fit.targets[0]";
  CHECK_THROWS_WITH_AS(fit::prepare_target(spec, {}, ""), doctest::Contains("fit.targets[0].loss: loss chi2 needs a sigma"),
                       lnpsaxs::InputError);
  CHECK(fit::resolve_loss("auto", fit::Model::surrogate, "auto", "x") == fit::LossKind::composite);
  CHECK(fit::resolve_loss("auto", fit::Model::sphere, "auto", "x") == fit::LossKind::log);
  CHECK(fit::resolve_loss("default", fit::Model::sphere, "chi2", "x") == fit::LossKind::chi2);
}

TEST_CASE("points whose sigma is unusable are reported: counted, and an error naming the row when sigma is used") {
  TempDir dir;
  const std::string f = (dir.path / "bad.dat").string();
  {
    std::ofstream o(f);
    o << "q I sigma\n";
    for (int i = 0; i < 20; ++i) o << 0.01 + 0.001 * i << " " << 100.0 / (1 + i) << " " << (i == 7 ? 0.0 : 0.5) << "\n";
  }
  fit::TargetSpec spec;
  spec.name = "bad";
  spec.file = f;
  spec.model = fit::Model::sphere;
  spec.where = "t.yaml:3: fit.targets[0]";
  const fit::PreparedTarget t = fit::prepare_target(spec, {}, "");
  CHECK(t.sigma_unusable == 1);
  CHECK(t.fit_end - t.fit_begin == 20);  // not dropped
  spec.loss = "chi2";
  const std::string row9 = f + ":9";
  CHECK_THROWS_WITH_AS(fit::prepare_target(spec, {}, ""), doctest::Contains(row9.c_str()), lnpsaxs::InputError);
  spec.loss = "log";
  spec.sigma_weighting = true;
  CHECK_THROWS_WITH_AS(fit::prepare_target(spec, {}, ""), doctest::Contains("1 of the 20 points"), lnpsaxs::InputError);
}

TEST_CASE("dQ is read from a 4th ASCII column, a CSV dQ column and NXcanSAS Qdev, and smears only with resolution auto") {
  TempDir dir;
  const std::string a = (dir.path / "a.dat").string(), c = (dir.path / "c.csv").string(), h = (dir.path / "h.h5").string();
  {
    std::ofstream o(a);
    o << "# q(1/A) I sigma dQ\n";
    for (int i = 0; i < 10; ++i) o << 0.01 * (i + 1) << " " << 10.0 - i << " 0.1 " << 0.0005 * (i + 1) << "\n";
  }
  {
    std::ofstream o(c);
    o << "q (1/nm),I,dI,dQ (1/nm)\n";
    for (int i = 0; i < 10; ++i) o << 0.1 * (i + 1) << "," << 10.0 - i << ",0.1," << 0.005 * (i + 1) << "\n";
  }
  {
    namespace io = lnpsaxs::io;
    io::File f = io::File::create(h);
    io::H5Id e = io::ensure_group(f.id(), "/sasentry01");
    io::set_attr(e, "canSAS_class", std::string("SASentry"));
    io::H5Id g = io::ensure_group(f.id(), "/sasentry01/sasdata01");
    io::set_attr(g, "canSAS_class", std::string("SASdata"));
    std::vector<double> q, i, s, dq;
    for (int k = 0; k < 10; ++k) q.push_back(0.01 * (k + 1)), i.push_back(10.0 - k), s.push_back(0.1), dq.push_back(0.0005 * (k + 1));
    io::write_dataset<double>(g, "Q", {10}, q.data());
    io::write_dataset<double>(g, "I", {10}, i.data());
    io::write_dataset<double>(g, "Idev", {10}, s.data());
    io::write_dataset<double>(g, "Qdev", {10}, dq.data());
    io::H5Id qd = io::open_dataset(g, "Q");
    io::set_attr(qd, "units", std::string("1/angstrom"));
  }
  for (const std::string& p : {a, c, h}) {
    CAPTURE(p);
    const lnpsaxs::io::Curve cv = lnpsaxs::io::read_curve(p);
    REQUIRE(cv.q_width.size() == 10);
    CHECK(cv.q_width[3] == doctest::Approx(0.002));  // 1/nm converted with q
    CHECK(cv.sigma[3] == doctest::Approx(0.1));
  }
  fit::TargetSpec spec;
  spec.name = "a";
  spec.file = a;
  spec.model = fit::Model::sphere;
  CHECK(fit::prepare_target(spec, {}, "").q_width.size() == 10);
  spec.resolution = false;
  CHECK(fit::prepare_target(spec, {}, "").q_width.empty());
}

TEST_CASE("pinhole smearing equals sasmodels' Pinhole1D (dQ/q = 5 %) to 1e-3 over the window") {
  TempDir dir;
  const std::string f = (dir.path / "smeared.dat").string();
  MESSAGE(sasmodels("sphere-curve " + f + " --m 180 --s 25 --dq-frac 0.05", dir.path));
  const lnpsaxs::io::Curve c = lnpsaxs::io::read_curve(f);
  REQUIRE(c.q_width.size() == c.q.size());
  fit::ForwardSetup st;
  st.model = fit::Model::sphere;
  st.q = c.q;
  st.q_width = c.q_width;
  st.norm_end = static_cast<std::int64_t>(c.q.size());
  st.truncation_lower = 20;
  st.truncation_upper = 1000;
  st.nodes = 256;
  st.rule = fit::QuadratureRule::log_radius;
  st.dtype = at::kDouble;
  const at::Tensor p = rows({{180.0, 25.0}});
  auto max_rel = [&](const fit::ForwardSetup& s) {
    const std::vector<double> ours = to_vec(at::exp(fit::ForwardModel(s).ln_mean_intensity(p, 0, st.norm_end)));
    double mean_ratio = 0;
    for (std::size_t i = 0; i < ours.size(); ++i) mean_ratio += std::log(c.intensity[i] / ours[i]) / static_cast<double>(ours.size());
    double worst = 0;
    for (std::size_t i = 0; i < ours.size(); ++i)
      worst = std::max(worst, std::fabs(ours[i] * std::exp(mean_ratio) / c.intensity[i] - 1));
    return worst;
  };
  const double smeared = max_rel(st);
  fit::ForwardSetup plain = st;
  plain.q_width.clear();
  const double unsmeared = max_rel(plain);
  MESSAGE("max relative difference to sasmodels: smeared " << smeared << ", without smearing " << unsmeared);
  CHECK(smeared <= 1e-3);
  CHECK(unsmeared > 0.05);  // the smearing matters at this dQ
  // The fixed-node fast path (form factors tabulated once) smears identically.
  fit::ForwardSetup fixed = st;
  fixed.rule = fit::QuadratureRule::fixed_log_radius;
  fixed.nodes = 512;
  CHECK(max_rel(fixed) <= 1e-3);
}

TEST_CASE("the quadrature check raises K for Table S2 case 2's wide distribution, keeps 64 for a narrow one, and reports the true error") {
  const std::vector<double> q = lnpsaxs::linear_q_grid(0.001, 0.2, 300);
  fit::ForwardSetup st;
  st.model = fit::Model::sphere;
  st.q = q;
  st.norm_end = static_cast<std::int64_t>(q.size());
  st.dtype = at::kDouble;
  st.nodes = 64;
  st.rule = fit::QuadratureRule::inverse_cdf;  // the design default
  const std::int64_t n = st.norm_end;
  // Start points around case 2 (m_r 190, s_r 65 on [100, 500]) and around a narrow distribution.
  const at::Tensor wide = rows({{190.0, 65.0}, {170.0, 55.0}, {210.0, 75.0}, {190.0, 80.0}});
  const at::Tensor narrow = rows({{245.0, 12.0}, {200.0, 10.0}, {280.0, 15.0}});
  const fit::QuadratureCheck w = fit::check_quadrature(st, wide, 0, n, 1e-3, 4096);
  const fit::QuadratureCheck k = fit::check_quadrature(st, narrow, 0, n, 1e-3, 4096);
  const double e64 = to_vec(fit::quadrature_error(st, wide, 0, n).amax())[0];
  MESSAGE("wide: K = 64 errs by " << e64 << " (K vs 2K); check chose K = " << w.nodes << " (error " << w.error
                                  << "); narrow: K = " << k.nodes << " (error " << k.error << ")");
  CHECK(e64 > 1e-2);
  CHECK(w.nodes > 64);
  CHECK(w.error <= 1e-3);
  CHECK_FALSE(w.capped);
  CHECK(k.nodes == 64);
  // The reported K-vs-2K error against the true error of K nodes (Simpson over 40,001 radii), at
  // the K the check passed through and at the one it chose.
  const auto cw = fit::trapezoid_weights(q, 0, n);
  for (std::int64_t kk = 64; kk <= w.nodes; kk *= 2) {
    fit::ForwardSetup at_k = st;
    at_k.nodes = kk;
    for (std::int64_t r = 0; r < wide.size(0); ++r) {
      const at::Tensor pr = wide.slice(0, r, r + 1);
      const double reported = to_vec(fit::quadrature_error(at_k, pr, 0, n))[0];
      const std::vector<double> ours = to_vec(fit::ForwardModel(at_k).log10_intensity(pr));
      const std::vector<double> ref = dense_sphere(q, to_vec(pr)[0], to_vec(pr)[1], 100, 500);
      double inv = 0, truth = 0;
      for (std::int64_t i = 0; i < n; ++i) {
        const auto j = static_cast<std::size_t>(i);
        inv += cw[j] * q[j] * q[j] * ref[j];
      }
      for (std::int64_t i = 0; i < n; ++i) {
        const auto j = static_cast<std::size_t>(i);
        truth = std::max(truth, std::fabs(ours[j] - std::log10(ref[j] / inv)));
      }
      MESSAGE("K = " << kk << ", row " << r << ": reported K-vs-2K " << reported << ", true error " << truth);
      if (truth > 1e-9) CHECK(reported == doctest::Approx(truth).epsilon(0.5));
      if (kk == w.nodes) CHECK(truth <= 1e-3);
    }
  }
}
