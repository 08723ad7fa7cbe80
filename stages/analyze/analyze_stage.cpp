#include "analyze_stage.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <set>

#include "export.h"
#include "jacobian.h"
#include "models/simulator/from_config.h"
#include "lnpsaxs/batch.h"
#include "lnpsaxs/checkpoint.h"
#include "results_table.h"
#include "lnpsaxs/errors.h"
#include "lnpsaxs/h5.h"
#include "lnpsaxs/log.h"
#include "lnpsaxs/random_key.h"
#include "lnpsaxs/stages.h"
#include "lnpsaxs/torch_runtime.h"
#include "sensitivity.h"

namespace lnpsaxs::analysis {
namespace fs = std::filesystem;

const cli::StageInfo& stage_info() {
  static const cli::StageInfo info{
      "analyze",
      "retention, weighted Spearman, HDBSCAN, PCA, medoids and Jacobian sensitivity of each fitted ensemble",
      "Reads RUN/fits/<name>/fits.h5 for every fitted target (analyze.targets, or --target, or every folder\n"
      "under RUN/fits) and writes RUN/analysis/<name>.h5: the retained restarts (L* = mean of the best\n"
      "10 %, keep RMSE_log <= 1.2 L*, 5-30 % of the restarts), loss-weighted Spearman correlations and\n"
      "their strongest pairs, HDBSCAN clusters of the z-scored parameters with a 2-D PCA, cluster medoids\n"
      "and marginals, the Jacobian of log10 I_PI w.r.t. the min-max scaled parameters at every retained\n"
      "solution (median, global sensitivity, coupling, Gauss-Newton eigenvalues), and per medoid the\n"
      "radius distribution, the length-scale spectral mass and a slice of one realised density field.\n"
      "Render the report with: /usr/bin/python3 tools/report.py RUN (or $LNPSAXS_PYTHON, README \"Python\")",
      stages::sections("analyze"),
      false};
  return info;
}

AnalysisOptions options_from_config(const config::Config& cfg) {
  AnalysisOptions o;
  o.retention.p_best = cfg.real("analyze.retention.p_best");
  o.retention.alpha = cfg.real("analyze.retention.alpha");
  o.retention.min_fraction = cfg.real("analyze.retention.min_fraction");
  o.retention.max_fraction = cfg.real("analyze.retention.max_fraction");
  o.top_pairs = cfg.integer("analyze.top_pairs");
  o.clustering.min_cluster_size = cfg.integer("analyze.clustering.min_cluster_size");
  o.clustering.min_samples = cfg.integer("analyze.clustering.min_samples");
  o.clustering.allow_single_cluster = cfg.boolean("analyze.clustering.allow_single_cluster");
  o.lengthscale_points = static_cast<int>(cfg.integer("analyze.lengthscale_points"));
  o.radius_points = static_cast<int>(cfg.integer("analyze.radius_points"));
  const auto t = cfg.range("size_distribution.truncation");
  o.truncation_lower = t.first;
  o.truncation_upper = t.second;
  return o;
}

std::vector<std::string> target_names(const cli::StageContext& ctx) {
  std::vector<std::string> names;
  if (ctx.opts.vm.count("target")) {
    names = ctx.opts.vm["target"].as<std::vector<std::string>>();
  } else {
    names = ctx.cfg.strings("analyze.targets");
  }
  if (names.empty()) {
    const fs::path dir = ctx.path("fits");
    std::error_code ec;
    if (fs::is_directory(dir, ec)) {
      for (const auto& entry : fs::directory_iterator(dir, ec)) {
        if (!entry.is_directory()) continue;
        if (fs::exists(entry.path() / "fits.h5") || fs::exists(entry.path() / "fits.h5.partial")) {
          names.push_back(entry.path().filename().string());
        }
      }
    }
    std::sort(names.begin(), names.end());
    if (names.empty()) {
      throw InputError(ctx.path("fits") + " holds no fitted target (no <name>/fits.h5): run lnpsaxs-fit first "
                       "(same --config and --run-dir)");
    }
  }
  for (const auto& n : names) {
    if (n.empty() || n.find('/') != std::string::npos || n == "." || n == "..") {
      throw InputError("target name '" + n + "' is not a folder name (analyze.targets or --target)");
    }
  }
  return names;
}

namespace {

/// A smooth, twice-differentiable stand-in for the forward model (--debug-forward-model): it lets
/// the sensitivity path and its report figures be exercised before/without the fit library. Not physics.
ForwardFn debug_forward_model(const FitEnsemble& fits) {
  const at::Tensor q = at::tensor(fits.q, at::kDouble);
  const at::Tensor lo = at::tensor(fits.lower, at::kDouble), hi = at::tensor(fits.upper, at::kDouble);
  return [q, lo, hi](const at::Tensor& theta) {
    const at::Tensor t = ((theta.to(at::kDouble) - lo) / (hi - lo));                      // [R, P] in [0, 1]
    const at::Tensor scale = 20.0 + 400.0 * at::arange(1, t.size(1) + 1, at::kDouble) / t.size(1);  // [P] Å
    const at::Tensor arg = q.reshape({1, -1, 1}) * scale.reshape({1, 1, -1}) * (0.5 + t.unsqueeze(1));
    return at::log10((1.0 + t.unsqueeze(1)) * at::exp(-arg.pow(2) / 10.0) + 1e-6).sum(2);
  };
}

std::uint64_t name_hash(const std::string& s) {
  std::uint64_t h = 1469598103934665603ULL;  // FNV-1a
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ULL;
  return h;
}

void write_matrix(hid_t loc, const std::string& path, const Matrix& m) {
  static const double dummy = 0;
  io::write_dataset<double>(loc, path, {static_cast<hsize_t>(m.rows), static_cast<hsize_t>(m.cols)},
                            m.data.empty() ? &dummy : m.data.data());
}

/// Jacobians at the retained solutions and their summaries → /sensitivity.
void write_sensitivity(const cli::StageContext& ctx, hid_t file, const FitEnsemble& fits, const EnsembleAnalysis& a) {
  io::H5Id g = io::ensure_group(file, "/sensitivity");
  io::set_attr(g, "definition", std::string("J[r, i, j] = d log10 I_PI(q_i) / d theta~_j, theta~ = (theta - lower)/(upper - lower) "
                                            "with parameter_lower/upper; median over the retained solutions"));
  std::string why;
  std::optional<ForwardFn> f;
  if (ctx.opts.vm.count("debug-forward-model")) {
    f = debug_forward_model(fits);
    io::set_attr(g, "forward_model", std::string("debug (synthetic smooth model, not physics)"));
  } else {
    f = forward_model_for(ctx, fits, why);
    io::set_attr(g, "forward_model", fits.model);
  }
  if (a.kept.empty() || !f) {
    const std::string reason = a.kept.empty() ? std::string("no retained solution") : why;
    io::set_attr(g, "status", "skipped: " + reason);
    log::warn("{}: no sensitivity analysis: {}", fits.target, reason);
    return;
  }
  const auto t0 = std::chrono::steady_clock::now();
  const std::int64_t k = static_cast<std::int64_t>(a.kept.size()), p = fits.n_params();
  const at::Tensor theta =
      at::from_blob(const_cast<double*>(a.params.data.data()), {k, p}, at::kDouble).clone();
  const at::Tensor lo = at::tensor(fits.lower, at::kDouble), hi = at::tensor(fits.upper, at::kDouble);
  JacobianMode used = JacobianMode::forward;
  const at::Tensor jac = scaled_jacobian(*f, theta, lo, hi, jacobian_mode_from_string(ctx.cfg.string("analyze.jacobian.mode")),
                                         ctx.cfg.integer("analyze.jacobian.chunk"), &used).contiguous();
  if (jac.size(1) != fits.n_q()) {
    throw RuntimeFailure("forward model of " + fits.target + " returns " + std::to_string(jac.size(1)) + " q points, the fit has " +
                         std::to_string(fits.n_q()));
  }
  JacobianStack stack{k, fits.n_q(), p, std::vector<double>(jac.data_ptr<double>(), jac.data_ptr<double>() + jac.numel())};
  for (double v : stack.data) {
    if (!std::isfinite(v)) throw RuntimeFailure(fits.target + ": the forward model's Jacobian has non-finite entries");
  }
  // Everything below is on the fitted points only (/target/mask): what the loss sees (issue 13).
  std::vector<std::int64_t> rows;
  std::vector<double> q_fit;
  for (std::int64_t i = 0; i < fits.n_q(); ++i) {
    if (fits.target_mask[static_cast<std::size_t>(i)]) {
      rows.push_back(i);
      q_fit.push_back(fits.q[static_cast<std::size_t>(i)]);
    }
  }
  const Matrix med_fit = elementwise_median(stack).select_rows(rows);
  Matrix eig(k, p);
  for (std::int64_t r = 0; r < k; ++r) {
    const Eigen e = gauss_newton_eigen(stack.solution(r, fits.target_mask));
    for (std::int64_t j = 0; j < p; ++j) eig(r, j) = e.values[static_cast<std::size_t>(j)];
  }
  const Eigen med_eig = gauss_newton_eigen(med_fit);
  const std::vector<double> global = global_sensitivity(med_fit);
  io::set_attr(g, "status", std::string("ok"));
  io::set_attr(g, "jacobian_mode", std::string(used == JacobianMode::forward ? "forward" : "reverse"));
  io::set_attr(g, "window", std::string("fitted points (/target/mask), q in /sensitivity/q"));
  io::set_attr(g, "gauss_newton_window", std::string("fitted points (/target/mask)"));
  io::write_dataset<double>(file, "/sensitivity/q", {q_fit.size()}, q_fit.data());
  write_matrix(file, "/sensitivity/jacobian_median", med_fit);
  write_matrix(file, "/sensitivity/jacobian_median_rownorm", normalise_rows(med_fit));
  io::write_dataset<double>(file, "/sensitivity/global", {static_cast<hsize_t>(p)}, global.data());
  write_matrix(file, "/sensitivity/coupling", coupling(med_fit));
  write_matrix(file, "/sensitivity/gauss_newton_eigenvalues", eig);
  write_matrix(file, "/sensitivity/gauss_newton_median", gauss_newton(med_fit));
  io::write_dataset<double>(file, "/sensitivity/gauss_newton_median_eigenvalues", {static_cast<hsize_t>(p)}, med_eig.values.data());
  write_matrix(file, "/sensitivity/gauss_newton_median_eigenvectors", med_eig.vectors);
  // Per group: the median Jacobian of its members (cluster-resolved sensitivity).
  std::vector<double> per_group;
  for (const Group& gr : a.groups) {
    JacobianStack sub{static_cast<std::int64_t>(gr.members.size()), stack.n_q, p, {}};
    for (std::int64_t m : gr.members) {
      const auto* src = stack.data.data() + static_cast<std::size_t>(m * stack.n_q * p);
      sub.data.insert(sub.data.end(), src, src + stack.n_q * p);
    }
    const std::vector<double> s = global_sensitivity(elementwise_median(sub).select_rows(rows));
    per_group.insert(per_group.end(), s.begin(), s.end());
  }
  io::write_dataset<double>(file, "/sensitivity/global_per_group", {a.groups.size(), static_cast<hsize_t>(p)}, per_group.data());
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  io::set_attr(g, "seconds", secs);
  log::info("{}: Jacobians of {} solutions ({} mode) in {}", fits.target, k, used == JacobianMode::forward ? "forward" : "reverse",
            log::format_duration(secs));
}

/// Central slice (z = 0) of one realised density field per group medoid → /profiles/slice.
void write_slices(const cli::StageContext& ctx, hid_t file, const FitEnsemble& fits, const EnsembleAnalysis& a) {
  io::H5Id g = io::ensure_group(file, "/profiles");
  const char* needed[] = {"m_r", "shell_thickness", "rho_rel", "delta_rho_int", "w", "m_q1", "m_q2", "s_q1", "s_q2"};
  for (const char* n : needed) {
    if (fits.index_of(n) < 0 || a.groups.empty()) {
      io::set_attr(g, "slice_status", std::string("skipped: the ") + fits.model + " model has no realised GRF interior");
      return;
    }
  }
  sim::GridSpec grid;
  grid.n = ctx.cfg.integer("analyze.slice_grid_n") > 0 ? ctx.cfg.integer("analyze.slice_grid_n") : ctx.cfg.integer("simulate.grid_n");
  grid.dx = ctx.cfg.real("simulate.dx");
  grid.n_fft = grid.n;
  grid.smooth_sigma_px = ctx.cfg.real("simulate.smooth_sigma_px");
  grid.radial_sigma = ctx.cfg.real("simulate.radial_sigma");
  // The run's simulator backend (simulate.backend), on the slice grid; one q point is enough.
  const std::unique_ptr<sim::Simulator> sim_ptr = sim::simulator_from_config(
      ctx, grid, {M_PI / grid.dx}, sim::Interior::grf, torchrt::configure_threads(ctx.cfg, ctx.mpi.local_size()));
  const sim::Simulator& simulator = *sim_ptr;
  const std::int64_t n = grid.n;
  std::vector<float> slices;
  std::vector<double> radii, cores;
  const std::uint64_t seed = static_cast<std::uint64_t>(ctx.cfg.integer("run.seed"));
  for (std::size_t gi = 0; gi < a.groups.size(); ++gi) {
    const double* m = a.params.row(a.groups[gi].medoid);
    auto val = [&](const char* name) { return m[fits.index_of(name)]; };
    sim::Structure s;
    s.radius = std::min(val("m_r"), simulator.max_radius());
    s.shell_thickness = std::min(val("shell_thickness"), s.radius);
    s.rho_rel = val("rho_rel");
    s.delta_rho_int = val("delta_rho_int");
    s.w = val("w");
    s.m_q1 = val("m_q1");
    s.m_q2 = val("m_q2");
    s.s_q1 = val("s_q1");
    s.s_q2 = val("s_q2");
    if (s.radius < val("m_r")) {
      log::warn("{}: {}: medoid radius {} Å exceeds the slice grid ({} voxels of {} Å); drawn at {} Å", fits.target,
                a.groups[gi].name, val("m_r"), n, grid.dx, s.radius);
    }
    const std::uint64_t key = rng::derive_key(seed, rng::Stream::analyze, name_hash(fits.target), gi);
    const std::vector<double> interior = simulator.interior_slice(s, key);
    const double* in = interior.data();
    const double r_core = std::max(s.radius - s.shell_thickness, 0.0);
    for (std::int64_t i = 0; i < n; ++i) {
      for (std::int64_t j = 0; j < n; ++j) {
        const double x = static_cast<double>(i - n / 2) * grid.dx, y = static_cast<double>(j - n / 2) * grid.dx;
        const double d2 = x * x + y * y;
        double rho = 1.0;  // solvent
        if (d2 <= r_core * r_core) {
          rho = in[i * n + j];
        } else if (d2 <= s.radius * s.radius) {
          rho = s.rho_rel * (1.0 + s.delta_rho_int);
        }
        slices.push_back(static_cast<float>(rho));
      }
    }
    radii.push_back(s.radius);
    cores.push_back(r_core);
  }
  io::set_attr(g, "slice_status", std::string("ok"));
  io::set_attr(g, "slice_dx", grid.dx);
  io::set_attr(g, "slice_description",
               std::string("central z = 0 slice of one realised density field rho (solvent 1) at each group medoid: core = "
                           "sigmoid(G) - mean + 1 + delta_rho_int, shell = rho_rel (1 + delta_rho_int); voxel centres (i - N/2) dx"));
  io::write_dataset<float>(file, "/profiles/slice", {a.groups.size(), static_cast<hsize_t>(n), static_cast<hsize_t>(n)}, slices.data());
  io::write_dataset<double>(file, "/profiles/slice_radius", {radii.size()}, radii.data());
  io::write_dataset<double>(file, "/profiles/slice_core_radius", {cores.size()}, cores.data());
}

/// The fit's loss and quadrature record (issue 13), copied from fits.h5 for the report; absent
/// attributes (fits of earlier versions) are skipped.
void copy_fit_record(const std::string& fits_h5, hid_t out) {
  io::File f = io::File::open(fits_h5, io::File::Mode::read);
  for (const char* a : {"loss", "loss_definition", "quadrature_rule", "resolution", "size_prior", "size_prior_weighting"}) {
    if (io::has_attr(f, a)) io::set_attr(out, a, io::attr_string(f, a));
  }
  if (io::has_attr(f, "loss_term_names")) io::set_attr(out, "loss_term_names", io::attr_strings(f, "loss_term_names"));
  if (io::has_attr(f, "loss_term_shares")) io::set_attr(out, "loss_term_shares", io::attr_doubles(f, "loss_term_shares"));
  for (const char* a : {"quadrature_error_best", "quadrature_check_error", "quadrature_tolerance"}) {
    if (io::has_attr(f, a)) io::set_attr(out, a, io::attr_double(f, a));
  }
  for (const char* a : {"quadrature_nodes", "quadrature_nodes_configured", "fitted_points", "window_points", "sigma_unusable"}) {
    if (io::has_attr(f, a)) io::set_attr(out, a, io::attr_int(f, a));
  }
}

/// analysis/<name>/fit.csv and fit.h5 (export.h), and the results-table facts of this target as
/// attributes of the analysis file: loss_name, quadrature_nodes, chi2_per_n.
void write_target_exports(const cli::StageContext& ctx, hid_t file, const std::string& name, const FitEnsemble& fits,
                          const EnsembleAnalysis& a) {
  io::File f = io::File::open(fits.path, io::File::Mode::read);
  if (!io::has_attr(f, "data_invariant")) {  // not written by lnpsaxs-fit (e.g. a hand-made ensemble)
    log::warn("{}: {} has no data_invariant attribute: no fit.csv / fit.h5 exports", name, fits.path);
    return;
  }
  const double q_data = io::attr_double(f, "data_invariant");
  ExportInfo info;
  info.target = name;
  info.source = fits.source;
  info.model = fits.model;
  info.loss = io::has_attr(f, "loss") ? io::attr_string(f, "loss") : "composite";
  info.quadrature_nodes = io::has_attr(f, "quadrature_nodes") ? io::attr_int(f, "quadrature_nodes") : 0;
  info.names = fits.names;
  info.units = fits.units;
  if (!a.kept.empty()) info.best.assign(a.params.row(0), a.params.row(0) + fits.n_params());
  const std::vector<double> q_width = io::exists(f, "/target/q_width")
                                          ? io::read_all<double>(io::open_dataset(f, "/target/q_width"))
                                          : std::vector<double>{};
  const FitCurves c = fit_curves(fits, a, q_data, q_width);
  info.q_min = c.q.empty() ? fits.q_min : c.q.front();
  info.q_max = c.q.empty() ? fits.q_max : c.q.back();
  write_exports(ctx.path("analysis/" + name), c, info);
  // chi^2/N of the best fit where the data have sigma (data units; NaN without sigma).
  double chi2 = 0;
  std::int64_t n = 0;
  for (std::size_t i = 0; i < c.q.size(); ++i) {
    if (!std::isfinite(c.sigma[i]) || !(c.sigma[i] > 0) || !std::isfinite(c.best[i])) continue;
    const double r = (c.intensity[i] - c.best[i]) / c.sigma[i];
    chi2 += r * r;
    ++n;
  }
  io::set_attr(file, "loss_name", info.loss);
  io::set_attr(file, "quadrature_nodes", info.quadrature_nodes);
  io::set_attr(file, "chi2_per_n", n > 0 ? chi2 / static_cast<double>(n) : std::nan(""));
  io::set_attr(file, "exports", std::string("analysis/" + name + "/fit.csv, analysis/" + name + "/fit.h5"));
}

void analyse_target(cli::StageContext& ctx, const std::string& name, const std::string& input, const AnalysisOptions& opts) {
  const std::string out = ctx.path("analysis/" + name + ".h5");
  const io::OutputInfo in_info = io::inspect_output(input);
  if (!ctx.needs_work(out, name, /*collective=*/false)) {  // one rank per target
    io::File f = io::File::open(out, io::File::Mode::read);
    if (io::has_attr(f, "fits_created_utc") && io::attr_string(f, "fits_created_utc") == in_info.created_utc) return;
    log::info("{}: {} was remade since the analysis: redoing it", name, input);
  }
  const auto t0 = std::chrono::steady_clock::now();
  const FitEnsemble fits = read_fits(input);
  if (fits.target != name) log::warn("{}: fits.h5 names its target '{}'", name, fits.target);
  const EnsembleAnalysis a = analyse_ensemble(fits, opts);
  for (const auto& w : a.warnings) log::warn("{}: {}", name, w);
  const Retention& r = a.retention;
  log::info("{} ({} model): {} restarts, {} valid; L* = {:.4g}, kept {} (accepted {}, bounds [{}, {}]{}); clustering: {}", name,
            fits.model, r.n_total, r.n_valid, r.l_star, a.kept.size(), r.n_accepted, r.k_min, r.k_max,
            r.bound == "none" ? "" : ", " + r.bound + " bound active", a.clustering_message);
  std::error_code ec;
  fs::create_directories(ctx.path("analysis"), ec);
  io::CheckpointWriter w(out, ctx.provenance(name), MPI_COMM_NULL, false);
  io::set_attr(w.id(), "fits_created_utc", in_info.created_utc);
  io::set_attr(w.id(), "fits_stage_sha256", in_info.stage_sha256);
  copy_fit_record(input, w.id());
  write_ensemble(w.id(), fits, a, opts);
  write_sensitivity(ctx, w.id(), fits, a);
  write_slices(ctx, w.id(), fits, a);
  write_target_exports(ctx, w.id(), name, fits, a);
  w.commit();
  log::info("{}: wrote {} in {}", name, out,
            log::format_duration(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()));
}

}  // namespace

void run(cli::StageContext& ctx) {
  const AnalysisOptions opts = options_from_config(ctx.cfg);
  const std::vector<std::string> names = target_names(ctx);
  std::vector<std::string> inputs;  // every input is checked before any work: a bad one is exit 2 at once
  for (const auto& n : names) inputs.push_back(ctx.require_input("fits/" + n + "/fits.h5", "fit", n));
  torchrt::configure_threads(ctx.cfg, ctx.mpi.local_size());
  for (std::size_t t = 0; t < names.size(); ++t) {
    if (static_cast<int>(t % static_cast<std::size_t>(ctx.mpi.size())) != ctx.mpi.rank()) continue;
    analyse_target(ctx, names[t], inputs[t], opts);
  }
  MPI_Barrier(ctx.mpi.comm());
  if (ctx.root()) update_results(ctx.cfg, ctx.opts.run_dir);
}

}  // namespace lnpsaxs::analysis
