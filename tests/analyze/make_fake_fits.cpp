// lnpsaxs-make-fake-fits: writes RUN/fits/<name>/fits.h5 in the fit stage's output contract, with a
// known ensemble structure, so that `analyze` and tools/report.py can be tested without running
// `fit`. The file carries the provenance of a `fit` output made under --config (stage "fit", its
// stage fingerprint), so lnpsaxs-analyze accepts it.
//
//   lnpsaxs-make-fake-fits --config FILE --run-dir DIR --case gold|lnp|nan|few --name NAME
//                          [--restarts N] [--partial] [--seed S]
// Cases:
//   gold  sphere model (m_r, s_r), 85 % of the restarts in one tight basin, the rest scattered;
//   lnp   surrogate model (10 parameters, Table S2 case 1 as ground truth): three basins of
//         about equal quality with a (m_r, shell_thickness) trade-off in one, plus scattered failures;
//   nan   as lnp with 10 % NaN losses;
//   few   as lnp with only 40 restarts (fewer retained than a min_cluster_size of 20).
// --partial leaves fits.h5.partial (an interrupted fit).
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "lnpsaxs/checkpoint.h"
#include "lnpsaxs/config.h"
#include "lnpsaxs/h5.h"
#include "lnpsaxs/physics/form_factor.h"
#include "lnpsaxs/stages.h"

namespace {

using namespace lnpsaxs;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

struct Case {
  std::string model;
  std::vector<std::string> names, units;
  std::vector<double> lower, upper, truth;
};

Case make_case(const std::string& name) {
  Case c;
  if (name == "gold") {
    c.model = "sphere";
    c.names = {"m_r", "s_r"};
    c.units = {"Å", "Å"};
    c.lower = {150, 15};
    c.upper = {270, 94.5};
    c.truth = {kNaN, kNaN};
  } else {
    c.model = "surrogate";
    c.names = {"m_r", "s_r", "delta_rho_int", "w", "m_q1", "m_q2", "s_q1", "s_q2", "shell_thickness", "rho_rel"};
    c.units = {"Å", "Å", "", "", "1/Å", "1/Å", "1/Å", "1/Å", "Å", ""};
    c.lower = {150, 15, -0.98, 0.01, 0.05, 0.05, 0.01, 0.01, 40, 0.7};
    c.upper = {320, 128, 0.98, 0.99, 0.15, 0.15, 0.15, 0.15, 70, 1.3};
    c.truth = {245, 30, -0.1, 0.3, 0.100, 0.110, 0.015, 0.100, 60, 0.96};
  }
  return c;
}

/// A plausible log10 Porod-normalised curve: polydisperse sphere (5-point average over ±1.5 s_r)
/// plus, for the surrogate case, a structure bump at m_q1 weighted by (1 − w).
std::vector<double> model_curve(const Case& c, const std::vector<double>& theta, const std::vector<double>& q) {
  std::vector<double> i(q.size(), 0.0);
  const double m = theta[0], s = theta[1];
  for (int k = -2; k <= 2; ++k) {
    const double r = std::max(m + 0.75 * s * k, 20.0), wk = std::exp(-0.5 * (0.75 * k) * (0.75 * k));
    for (std::size_t j = 0; j < q.size(); ++j) {
      const double f = physics::sphere_amplitude(q[j] * r);
      i[j] += wk * std::pow(r, 6) * f * f;
    }
  }
  if (c.model == "surrogate") {
    const double w = theta[3], mq = theta[4], sq = theta[6];
    for (std::size_t j = 0; j < q.size(); ++j) {
      i[j] += 1e-3 * std::pow(m, 6) * (1 - w) * std::exp(-0.5 * std::pow((q[j] - mq) / (sq + 0.01), 2)) *
              std::pow(theta[8] / 60.0, 2);
    }
  }
  double inv = 0;
  for (std::size_t j = 0; j + 1 < q.size(); ++j) {
    inv += 0.5 * (q[j + 1] - q[j]) * (q[j] * q[j] * i[j] + q[j + 1] * q[j + 1] * i[j + 1]);
  }
  std::vector<double> y(q.size());
  for (std::size_t j = 0; j < q.size(); ++j) y[j] = std::log10(i[j] / inv + 1e-30);
  return y;
}

int run(int argc, char** argv) {
  std::string config, run_dir, which, name;
  std::int64_t restarts = -1;
  bool partial = false;
  std::uint64_t seed = 1;
  for (int a = 1; a < argc; ++a) {
    const std::string arg = argv[a];
    auto next = [&]() -> std::string {
      if (a + 1 >= argc) throw std::runtime_error(arg + " needs a value");
      return argv[++a];
    };
    if (arg == "--config") config = next();
    else if (arg == "--run-dir") run_dir = next();
    else if (arg == "--case") which = next();
    else if (arg == "--name") name = next();
    else if (arg == "--restarts") restarts = std::stoll(next());
    else if (arg == "--seed") seed = std::stoull(next());
    else if (arg == "--partial") partial = true;
    else throw std::runtime_error("unknown argument " + arg);
  }
  if (config.empty() || run_dir.empty() || name.empty() ||
      (which != "gold" && which != "lnp" && which != "nan" && which != "few")) {
    throw std::runtime_error("usage: --config FILE --run-dir DIR --case gold|lnp|nan|few --name NAME [--restarts N] [--partial]");
  }
  const config::Config cfg = config::Config::load(config);
  const Case c = make_case(which);
  const std::size_t p = c.names.size();
  if (restarts < 0) restarts = which == "few" ? 40 : which == "gold" ? 400 : 1000;
  const std::size_t nr = static_cast<std::size_t>(restarts);
  std::vector<double> q;
  const std::int64_t nq = cfg.integer("q.n");
  for (std::int64_t j = 0; j < nq; ++j) q.push_back(cfg.real("q.min") + (cfg.real("q.max") - cfg.real("q.min")) * j / (nq - 1));
  const double q_max = which == "gold" ? 0.06 : cfg.real("q.max");

  std::mt19937_64 rng(seed);
  std::normal_distribution<double> n01;
  std::uniform_real_distribution<double> u01;
  // Basin centres in scaled units and their loss levels.
  std::vector<std::vector<double>> centres;
  std::vector<double> base_loss;
  std::vector<double> centre_truth(p);
  for (std::size_t k = 0; k < p; ++k) {
    const double t = std::isfinite(c.truth[k]) ? c.truth[k] : (k == 0 ? 205.0 : 28.0);
    centre_truth[k] = (t - c.lower[k]) / (c.upper[k] - c.lower[k]);
  }
  centres.push_back(centre_truth);
  base_loss.push_back(which == "gold" ? 0.020 : 0.030);
  if (which != "gold") {
    std::vector<double> b = centre_truth, d = centre_truth;
    for (std::size_t k = 2; k < p; ++k) {
      b[k] = std::fmod(centre_truth[k] + 0.35, 0.9) + 0.05;
      d[k] = std::fmod(centre_truth[k] + 0.6, 0.9) + 0.05;
    }
    centres.push_back(b);
    base_loss.push_back(0.030);
    centres.push_back(d);
    base_loss.push_back(0.031);
  }
  std::vector<double> start(nr * p), params(nr * p), loss(nr), rmse(nr), rmse_full(nr);
  std::vector<float> curve(nr * static_cast<std::size_t>(nq));
  std::vector<std::int64_t> steps(nr, 1000);
  for (std::size_t r = 0; r < nr; ++r) {
    const double pick = u01(rng);
    const bool failed = pick > (which == "gold" ? 0.85 : 0.75);
    const std::size_t basin = failed ? 0 : static_cast<std::size_t>(u01(rng) * static_cast<double>(centres.size()));
    const double spread = which == "gold" ? 0.004 : 0.03;
    const double tradeoff = n01(rng);
    for (std::size_t k = 0; k < p; ++k) {
      start[r * p + k] = c.lower[k] + (0.05 + 0.9 * u01(rng)) * (c.upper[k] - c.lower[k]);
      double s = failed ? 0.05 + 0.9 * u01(rng) : centres[basin][k] + spread * n01(rng);
      if (!failed && basin == 0 && which != "gold" && (k == 0 || k == 8)) s += (k == 0 ? 1.5 : -1.5) * spread * tradeoff;
      s = std::clamp(s, 0.001, 0.999);
      params[r * p + k] = c.lower[k] + s * (c.upper[k] - c.lower[k]);
    }
    const double dev = std::abs(n01(rng));
    rmse[r] = failed ? 0.15 + 0.5 * u01(rng) : base_loss[basin] * (1.0 + 0.12 * dev);
    rmse_full[r] = rmse[r] * 1.3;
    loss[r] = 0.53 * std::pow(rmse[r] * std::log(10.0), 2) + 1e-3 * u01(rng);
    if (which == "nan" && r % 10 == 3) loss[r] = rmse[r] = kNaN;
    const std::vector<double> y = model_curve(c, std::vector<double>(params.begin() + static_cast<std::ptrdiff_t>(r * p),
                                                                     params.begin() + static_cast<std::ptrdiff_t>((r + 1) * p)), q);
    for (std::int64_t j = 0; j < nq; ++j) curve[r * static_cast<std::size_t>(nq) + static_cast<std::size_t>(j)] = static_cast<float>(y[static_cast<std::size_t>(j)]);
  }
  std::vector<double> truth_theta(p);
  for (std::size_t k = 0; k < p; ++k) truth_theta[k] = c.lower[k] + centre_truth[k] * (c.upper[k] - c.lower[k]);
  const std::vector<double> y_true = model_curve(c, truth_theta, q);
  std::vector<double> target(q.size()), sigma(q.size());
  std::vector<std::uint8_t> mask(q.size());
  for (std::size_t j = 0; j < q.size(); ++j) {
    const double noise = 0.02 + 0.1 * q[j] / q.back();
    target[j] = std::pow(10.0, y_true[j]) * (1.0 + noise * n01(rng));
    sigma[j] = noise * std::pow(10.0, y_true[j]);
    mask[j] = q[j] <= q_max + 1e-12;
  }

  const std::filesystem::path dir = std::filesystem::path(run_dir) / "fits" / name;
  std::filesystem::create_directories(dir);
  const io::Provenance prov{"fit", cfg.sha256(), cfg.fingerprint(stages::sections("fit")), cfg.resolved_yaml()};
  io::CheckpointWriter w((dir / "fits.h5").string(), prov, MPI_COMM_NULL, false);
  const hid_t f = w.id();
  io::set_attr(f, "target", name);
  io::set_attr(f, "model", c.model);
  io::set_attr(f, "source", which == "gold" ? std::string("tests/data/au_86116_cosaxs.dat (fake ensemble)") : std::string("synth:1 (fake ensemble)"));
  io::set_attr(f, "q_min", q.front());
  io::set_attr(f, "q_max", q_max);
  io::set_attr(f, "background", std::int64_t{0});
  io::set_attr(f, "n_restarts", restarts);
  io::set_attr(f, "parameter_names", c.names);
  io::set_attr(f, "parameter_units", c.units);
  io::set_attr(f, "parameter_lower", c.lower);
  io::set_attr(f, "parameter_upper", c.upper);
  io::set_attr(f, "truth_values", c.truth);
  io::write_dataset<double>(f, "/q", {q.size()}, q.data());
  io::write_dataset<double>(f, "/target/intensity", {q.size()}, target.data());
  io::write_dataset<std::uint8_t>(f, "/target/mask", {q.size()}, mask.data());
  io::write_dataset<double>(f, "/target/sigma", {q.size()}, sigma.data());
  io::write_dataset<double>(f, "/start", {nr, p}, start.data());
  io::write_dataset<double>(f, "/params", {nr, p}, params.data());
  io::write_dataset<double>(f, "/loss", {nr}, loss.data());
  io::write_dataset<double>(f, "/rmse_log", {nr}, rmse.data());
  io::write_dataset<double>(f, "/rmse_log_full", {nr}, rmse_full.data());
  io::write_dataset<float>(f, "/curve", {nr, q.size()}, curve.data());
  io::write_dataset<std::int64_t>(f, "/steps", {nr}, steps.data());
  w.commit();
  if (partial) {
    // What an interrupted fit leaves: fits.h5.partial with complete = 0. (A writer destroyed
    // without commit removes a partial holding nothing resumable, so build it from the whole file.)
    const std::string final_path = (dir / "fits.h5").string();
    io::atomic_rename(final_path, io::partial_path(final_path));
    io::File pf = io::File::open(io::partial_path(final_path), io::File::Mode::readwrite);
    io::set_attr(pf, "complete", std::int64_t{0});
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rc = 0;
  try {
    rc = run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "lnpsaxs-make-fake-fits: " << e.what() << "\n";
    rc = 2;
  }
  MPI_Finalize();
  return rc;
}
