#include "fit_stage.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <memory>
#include <optional>
#include <sstream>

#include <ATen/ATen.h>

#include "batch.h"
#include "models/forward/forward_model.h"
#include "lnpsaxs/batch.h"
#include "lnpsaxs/errors.h"
#include "lnpsaxs/join_lock.h"
#include "lnpsaxs/log.h"
#include "lnpsaxs/param_space.h"
#include "lnpsaxs/q_grid.h"
#include "lnpsaxs/random_key.h"
#include "lnpsaxs/saxs_data.h"
#include "lnpsaxs/sha256.h"
#include "lnpsaxs/sharded_loop.h"
#include "lnpsaxs/stages.h"
#include "lnpsaxs/torch_runtime.h"
#include "multistart.h"
#include "models/forward/parameters.h"
#include "summary.h"
#include "target.h"

#include "models/surrogate/surrogate.h"

namespace po = boost::program_options;
namespace fs = std::filesystem;

namespace lnpsaxs::fit {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

/// Everything needed to fit one target.
struct Plan {
  PreparedTarget target;
  Layout layout;
  ForwardSetup setup;
  std::int64_t restarts = 0;
  std::uint64_t seed = 0;
  std::string target_sha;  ///< identity of the target definition and of its input data
  std::string stage_sha;   ///< stage_sha256 of this target's outputs (stages::fingerprint per target)
  OptimiserSettings opt;
  LossSettings loss;
  StartSettings start;
  std::int64_t quadrature_configured = 0;  ///< fit.quadrature_nodes (the check's starting K)
  double quadrature_tolerance = 0;         ///< fit.quadrature_tolerance (0: unchecked)
  double quadrature_check_error = kNaN;    ///< K-vs-2K error at the check's start points
  bool quadrature_capped = false;
};

at::Tensor tensor_from(const std::vector<double>& v, std::int64_t rows, std::int64_t cols) {
  return at::tensor(v, at::TensorOptions().dtype(at::kDouble)).view({rows, cols});
}

/// A target's place in the batch's global restart index: the restarts of all targets of one run,
/// concatenated in target order, are split into contiguous blocks across array tasks (so 1,000
/// files x 64 restarts spread evenly over the tasks), and each task's part of a target across its
/// ranks. Which restarts a shard holds therefore depends on the target list; what a restart
/// computes does not (it depends on run.seed, the target's name and its own index only).
struct GlobalSplit {
  std::int64_t offset = 0;    ///< global index of this target's restart 0
  std::int64_t restarts = 0;  ///< this target's restarts
  std::int64_t total = 0;     ///< restarts of all targets of the run
  /// The target's restarts (its own indices) that fall into shard `shard` of `num_shards`.
  mpi::Range part(int shard, int num_shards) const {
    const mpi::Range s = mpi::block_range(total, num_shards, shard);
    const std::int64_t b = std::max(s.begin, offset), e = std::min(s.end, offset + restarts);
    return e > b ? mpi::Range{b - offset, e - offset} : mpi::Range{0, 0};
  }
};

std::pair<double, double> pair_or(const std::vector<double>& v, std::pair<double, double> d) {
  return v.size() == 2 ? std::make_pair(v[0], v[1]) : d;
}

std::uint64_t name_key(const std::string& name) {
  return std::stoull(sha256_hex(name).substr(0, 15), nullptr, 16);
}

/// A target given with --data/--synth on the command line.
std::optional<TargetSpec> command_line_target(const po::variables_map& vm) {
  if (!vm.count("data") && !vm.count("synth")) {
    for (const char* k : {"model", "name", "q-min", "q-max", "background", "weighting", "restarts", "steps",
                          "format", "q-unit", "loss", "resolution"}) {
      if (vm.count(k) && !vm[k].defaulted())
        throw InputError(std::string("--") + k + " needs --data FILE or --synth K");
    }
    return std::nullopt;
  }
  if (vm.count("data") && vm.count("synth")) throw InputError("give --data FILE or --synth K, not both");
  if (!vm.count("model"))
    throw InputError("--model (surrogate, sphere or core_shell) is required with --data/--synth");
  TargetSpec t;
  t.where = "command line";
  t.origin = TargetOrigin::command_line;
  t.model = parse_model(vm["model"].as<std::string>());
  if (vm.count("data")) {
    t.file = vm["data"].as<std::vector<std::string>>().front();
  } else {
    t.synth = vm["synth"].as<int>();
    if (t.synth < 1) throw InputError("--synth " + std::to_string(t.synth) + " must be >= 1");
  }
  std::string stem = t.synth > 0 ? "case-" + std::to_string(t.synth) : fs::path(t.file).stem().string();
  for (char& c : stem) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') c = '_';
  }
  t.name = vm.count("name") ? vm["name"].as<std::string>() : stem + "_" + model_name(t.model);
  if (t.name.empty() || t.name == "." || t.name == ".." ||
      !std::all_of(t.name.begin(), t.name.end(),
                   [](unsigned char c) { return std::isalnum(c) || c == '_' || c == '-' || c == '.'; })) {
    throw InputError("--name '" + t.name + "' is not a valid folder name (letters, digits, '.', '_', '-')");
  }
  t.format = vm["format"].as<std::string>();
  t.q_unit = vm["q-unit"].as<std::string>();
  io::parse_curve_format(t.format);
  io::parse_q_unit(t.q_unit);
  t.q_min = vm["q-min"].as<double>();
  t.q_max = vm["q-max"].as<double>();
  if (!(t.q_min >= 0) || !(t.q_min < t.q_max))
    throw InputError("--q-min and --q-max must satisfy 0 <= q-min < q-max");
  t.background = vm.count("background") && vm["background"].as<bool>();
  const std::string wt = vm["weighting"].as<std::string>();
  if (wt != "none" && wt != "sigma") throw InputError("--weighting must be none or sigma, got '" + wt + "'");
  t.sigma_weighting = wt == "sigma";
  t.loss = vm["loss"].as<std::string>();
  if (t.loss != "default" && t.loss != "auto" && t.loss != "log" && t.loss != "composite" && t.loss != "chi2")
    throw InputError("--loss must be auto, log, composite or chi2, got '" + t.loss + "'");
  const std::string res = vm["resolution"].as<std::string>();
  if (res != "auto" && res != "none") throw InputError("--resolution must be auto or none, got '" + res + "'");
  t.resolution = res == "auto";
  t.restarts = vm["restarts"].as<std::int64_t>();
  if (t.restarts < 0) throw InputError("--restarts must be >= 0");
  t.steps = vm["steps"].as<std::int64_t>();
  if (t.steps < 0) throw InputError("--steps must be >= 0");
  return t;
}

Boxes boxes_for(const TargetSpec& t, const config::Config& cfg, const PreparedTarget& pt) {
  Boxes b;
  b.m_r = pair_or(t.m_r, cfg.range("size_distribution.m_r"));
  b.s_r = pair_or(t.s_r, cfg.range("size_distribution.s_r"));
  b.cv = cfg.range("fit.cv");
  b.size_as_cv = cfg.string("fit.size_parameters") == "m_r_cv";
  b.delta_rho_int = cfg.range("fit.box.delta_rho_int");
  b.w = cfg.range("fit.box.w");
  b.m_q1 = cfg.range("fit.box.m_q1");
  b.s_q1 = cfg.range("fit.box.s_q1");
  b.s_q2 = cfg.range("fit.box.s_q2");
  b.shell_thickness = cfg.range("fit.box.shell_thickness");
  b.rho_rel = cfg.range("fit.box.rho_rel");
  b.cs_shell_thickness = pair_or(t.shell_thickness, cfg.range("fit.core_shell.shell_thickness"));
  b.cs_contrast = pair_or(t.contrast, cfg.range("fit.core_shell.contrast"));
  // Background box: [0, background_max × smallest data intensity in the window], capped so that
  // the particle term keeps at least 5 % of the invariant (1 − b̃Q₁ ≥ 0.05).
  double q1 = 0;
  const std::vector<double> c = trapezoid_weights(pt.q, pt.norm_begin, pt.norm_end);
  for (std::int64_t i = pt.norm_begin; i < pt.norm_end; ++i) {
    const double qi = pt.q[static_cast<std::size_t>(i)];
    q1 += c[static_cast<std::size_t>(i - pt.norm_begin)] * qi * qi;
  }
  b.background_upper =
      std::min(cfg.real("fit.background_max") * pt.min_fit_intensity, 0.95 * pt.data_invariant / q1);
  return b;
}

Plan make_plan(const TargetSpec& spec_in, const config::Config& cfg, const std::string& run_dir,
               c10::Device device, const std::shared_ptr<const surrogate::Surrogate>& sur,
               const std::vector<double>& grid) {
  TargetSpec spec = spec_in;  // the loss resolved (default -> fit.loss, auto -> by model)
  const LossKind loss_kind = resolve_loss(spec.loss, spec.model, cfg.string("fit.loss"), spec.where + ".loss");
  spec.loss = loss_name(loss_kind);
  PreparedTarget pt = prepare_target(spec, grid, run_dir);
  const Boxes boxes = boxes_for(spec, cfg, pt);
  const auto trunc = pair_or(spec.truncation, cfg.range("size_distribution.truncation"));
  if (boxes.m_r.first < trunc.first || boxes.m_r.second > trunc.second) {
    throw InputError(spec.where + ": the m_r box [" + std::to_string(boxes.m_r.first) + ", " +
                     std::to_string(boxes.m_r.second) + "] Å must lie inside the truncation [" +
                     std::to_string(trunc.first) + ", " + std::to_string(trunc.second) + "] Å");
  }
  Plan p{std::move(pt), Layout(spec.model, spec.background, boxes), {}, 0, 0, "", "", {}, {}, {}};
  p.target.spec = spec;
  ForwardSetup& s = p.setup;
  s.model = spec.model;
  s.q = p.target.q;
  s.q_width = p.target.q_width;
  s.norm_begin = p.target.norm_begin;
  s.norm_end = p.target.norm_end;
  s.background = spec.background;
  s.data_invariant = p.target.data_invariant;
  s.truncation_lower = trunc.first;
  s.truncation_upper = trunc.second;
  s.nodes = cfg.integer("fit.quadrature_nodes");
  {
    const std::string rule = cfg.string("fit.quadrature_rule");
    s.rule = rule != "auto"                    ? parse_quadrature_rule(rule)
             : spec.model == Model::surrogate  ? QuadratureRule::inverse_cdf
             : spec.model == Model::sphere     ? QuadratureRule::fixed_log_radius
                                               : QuadratureRule::log_radius;
  }
  s.dtype = cfg.string("fit.dtype") == "float64" ? c10::kDouble : c10::kFloat;
  s.device = device;
  s.surrogate = sur;
  p.restarts = restarts_for(spec, cfg);
  p.seed = rng::derive_key(static_cast<std::uint64_t>(cfg.integer("run.seed")), rng::Stream::fit,
                           name_key(spec.name));
  const bool surrogate_model = spec.model == Model::surrogate;
  p.opt.steps = spec.steps > 0 ? spec.steps : cfg.integer("fit.steps");
  p.opt.lr = cfg.real("fit.lr");
  p.opt.weight_decay = cfg.real("fit.weight_decay");
  p.opt.beta1 = cfg.real("fit.adam_beta1");
  p.opt.beta2 = cfg.real(surrogate_model ? "fit.surrogate_adam_beta2" : "fit.analytic_adam_beta2");
  p.opt.clip_norm = cfg.real("fit.clip_norm");
  p.opt.warmup_steps =
      cfg.integer(surrogate_model ? "fit.surrogate_warmup_steps" : "fit.analytic_warmup_steps");
  p.opt.lr_final_fraction = cfg.real(surrogate_model ? "fit.surrogate_lr_final" : "fit.analytic_lr_final");
  p.loss.kind = loss_kind;
  p.loss.chi2_background = spec.background;
  p.loss.n_free = static_cast<std::int64_t>(p.layout.size()) + 1;  // + the scale s
  p.loss.log_weight = cfg.real("fit.loss_log_weight");
  p.loss.lin_weight = cfg.real("fit.loss_lin_weight");
  p.loss.lin_scale = cfg.real("fit.loss_lin_scale");
  p.start.margin = cfg.real("fit.start_margin");
  p.start.fixed_size = cfg.string("fit.size_start") == "fixed";
  p.start.fixed_m_r = cfg.reals("fit.fixed_size_start")[0];
  p.start.fixed_s_r = cfg.reals("fit.fixed_size_start")[1];
  p.start.m_q2_gap = cfg.real("fit.m_q2_start_gap");
  // Quadrature that checks itself: K doubles until K and 2K agree at the first Sobol starts.
  p.quadrature_configured = s.nodes;
  p.quadrature_tolerance = cfg.real("fit.quadrature_tolerance");
  if (p.quadrature_tolerance > 0) {
    const std::int64_t n = cfg.integer("fit.quadrature_check_starts");
    const std::vector<double> st = sobol_starts(p.layout, p.start, p.seed, 0, n);
    const at::Tensor params = tensor_from(st, n, static_cast<std::int64_t>(p.layout.size()));
    const QuadratureCheck qc = check_quadrature(s, params, p.target.fit_begin, p.target.fit_end,
                                                p.quadrature_tolerance, cfg.integer("fit.quadrature_max_nodes"));
    if (qc.capped) {
      log::warn("{}: quadrature check: K = {} still errs by {:.3g} in log10 I (> fit.quadrature_tolerance {:.3g}); "
                "raise fit.quadrature_max_nodes or use fit.quadrature_rule log_radius",
                spec.name, qc.nodes, qc.error, p.quadrature_tolerance);
    } else if (qc.nodes != s.nodes) {
      log::info("{}: quadrature check: K = {} -> {} (K vs 2K max |d log10 I| {:.3g} <= {:.3g})", spec.name, s.nodes,
                qc.nodes, qc.error, p.quadrature_tolerance);
    }
    s.nodes = qc.nodes;
    p.quadrature_check_error = qc.error;
    p.quadrature_capped = qc.capped;
  }
  std::string sur_id;
  if (surrogate_model) {
    const io::OutputInfo si = io::inspect_output(run_dir + "/surrogate/surrogate.h5");
    sur_id = si.stage_sha256 + " " + si.created_utc;
  }
  std::ostringstream grid_text;
  grid_text.precision(17);
  for (double q : grid) grid_text << q << ",";
  p.target_sha =
      sha256_hex(spec.canonical() + "|" + p.target.identity + "|" + sur_id + "|" + grid_text.str());
  // A config target's outputs carry the per-target fingerprint (shared sections, fit.* keys and its
  // own record), so editing another target leaves them valid; a command-line target has no record.
  p.stage_sha = spec.origin == TargetOrigin::command_line
                    ? stages::command_line_fit_fingerprint(cfg, spec.canonical())
                    : stages::fingerprint(cfg, "fit", spec.name);
  return p;
}

std::string loss_definition(const Plan& p) {
  switch (p.loss.kind) {
    case LossKind::log:
      return "per restart: mean(w (log10 M - log10 D)^2) over the fitted points; M, D Porod-normalised, w = 1 "
             "(or (D/sigma)^2 scaled to mean 1 with weighting: sigma)";
    case LossKind::chi2:
      return "per restart: sum(((s I_mean + b - D)/sigma)^2)/(N - P) over the N fitted points, s (and b >= 0 with "
             "a background) solved by weighted linear least squares at every step; P = " +
             std::to_string(p.loss.n_free);
    default:
      return "per restart: fit.loss_log_weight * mean((ln M - ln D)^2) + fit.loss_lin_weight * "
             "mean(((M - D)/fit.loss_lin_scale)^2) over the fitted points; M, D Porod-normalised";
  }
}

void write_target_attrs(hid_t f, const Plan& p, const config::Config& cfg) {
  const PreparedTarget& t = p.target;
  io::set_attr(f, "target", t.spec.name);
  io::set_attr(f, "model", model_name(t.spec.model));
  io::set_attr(f, "source", t.spec.source());
  io::set_attr(f, "q_min", t.spec.q_min);
  io::set_attr(f, "q_max", t.spec.q_max);
  io::set_attr(f, "fit_q_range",
               std::vector<double>{t.q[static_cast<std::size_t>(t.fit_begin)],
                                   t.q[static_cast<std::size_t>(t.fit_end - 1)]});
  io::set_attr(f, "background", std::int64_t{t.spec.background ? 1 : 0});
  io::set_attr(f, "weighting", std::string(t.spec.sigma_weighting ? "sigma" : "none"));
  io::set_attr(f, "n_restarts", p.restarts);
  io::set_attr(f, "parameter_names", p.layout.names());
  io::set_attr(f, "parameter_units", p.layout.units());
  io::set_attr(f, "parameter_lower", p.layout.lower());
  io::set_attr(f, "parameter_upper", p.layout.upper());
  if (t.spec.synth > 0) io::set_attr(f, "truth_values", t.truth_for(p.layout));
  io::set_attr(f, "target_sha256", p.target_sha);
  // A command-line target has no fit.targets record: keep its definition so that analyze can check
  // this file's stage_sha256 (stages::command_line_fit_fingerprint).
  if (t.spec.origin == TargetOrigin::command_line) io::set_attr(f, "command_line_target", t.spec.canonical());
  io::set_attr(f, "quadrature_nodes", p.setup.nodes);
  io::set_attr(f, "quadrature_rule", quadrature_rule_name(p.setup.rule));
  io::set_attr(f, "truncation", std::vector<double>{p.setup.truncation_lower, p.setup.truncation_upper});
  io::set_attr(f, "data_invariant", t.data_invariant);
  io::set_attr(f, "dtype", std::string(p.setup.dtype == c10::kDouble ? "float64" : "float32"));
  io::set_attr(f, "steps", p.opt.steps);
  io::set_attr(f, "seed_key", static_cast<std::int64_t>(p.seed >> 1));
  io::set_attr(f, "rows_read", t.rows_read);
  if (!t.q_unit.empty()) {  // a measured curve: its unit of q and where it came from (or that it was assumed)
    io::set_attr(f, "q_unit", t.q_unit);
    io::set_attr(f, "q_unit_source", t.q_unit_source);
  }
  io::set_attr(f, "rows_masked", t.rows_masked);
  io::set_attr(f, "loss", loss_name(p.loss.kind));
  io::set_attr(f, "loss_definition", loss_definition(p));
  io::set_attr(f, "loss_term_names", p.loss.kind == LossKind::composite
                                         ? std::vector<std::string>{"log", "linear"}
                                         : std::vector<std::string>{loss_name(p.loss.kind), "-"});
  if (p.loss.kind == LossKind::composite) {
    io::set_attr(f, "loss_weights", std::vector<double>{p.loss.log_weight, p.loss.lin_weight, p.loss.lin_scale});
  }
  io::set_attr(f, "fitted_points", t.fit_end - t.fit_begin);
  io::set_attr(f, "window_points", t.window_points);
  io::set_attr(f, "sigma_unusable", t.sigma_unusable);
  io::set_attr(f, "resolution", std::string(p.setup.q_width.empty() ? "none" : "pinhole"));
  if (!p.setup.q_width.empty()) io::set_attr(f, "resolution_nodes", p.setup.resolution_nodes);
  io::set_attr(f, "quadrature_nodes_configured", p.quadrature_configured);
  io::set_attr(f, "quadrature_tolerance", p.quadrature_tolerance);
  io::set_attr(f, "quadrature_check_error", p.quadrature_check_error);
  io::set_attr(f, "quadrature_capped", std::int64_t{p.quadrature_capped ? 1 : 0});
  io::set_attr(f, "curve",
               std::string(p.loss.kind == LossKind::chi2
                               ? "log10 (scale * I_mean(q) + background / data_invariant) on /q (chi2 fit, /scale)"
                               : "log10 M(q): Porod-normalised polydisperse model (+ background) on /q"));
  (void)cfg;
}

void write_target_data(hid_t f, const Plan& p, MPI_Comm comm) {
  const PreparedTarget& t = p.target;
  const hsize_t n = t.q.size();
  io::write_dataset<double>(f, "/q", {n}, t.q.data(), comm);
  io::write_dataset<double>(f, "/target/intensity", {n}, t.intensity.data(), comm);
  io::write_dataset<double>(f, "/target/sigma", {n}, t.sigma.data(), comm);
  io::write_dataset<std::uint8_t>(f, "/target/mask", {n}, t.fit_mask.data(), comm);
  io::write_dataset<std::uint8_t>(f, "/target/norm_mask", {n}, t.norm_mask.data(), comm);
  io::write_dataset<std::int64_t>(f, "/target/bin_count", {n}, t.bin_count.data(), comm);
  if (!p.setup.q_width.empty())
    io::write_dataset<double>(f, "/target/q_width", {n}, p.setup.q_width.data(), comm);
}

const char* kRowSets[] = {"start", "params", "loss", "loss_terms", "scale", "rmse_log", "rmse_log_full", "curve", "steps"};


std::string attr_or_empty(const std::string& path, const char* name) {
  try {
    io::File f = io::File::open(path, io::File::Mode::read);
    return io::has_attr(f, name) ? io::attr_string(f, name) : "";
  } catch (const std::exception&) {
    return "";
  }
}

/// Logs the retained ensemble of a joined fit (docs/method.md §5.7: retention on RMSE_log).
void log_summary(const std::string& fits, const Plan& p) {
  io::File f = io::File::open(fits, io::File::Mode::read);
  const auto rmse = io::read_all<double>(io::open_dataset(f, "/rmse_log"));
  const auto par = io::read_all<double>(io::open_dataset(f, "/params"));
  const std::vector<std::int64_t> keep = retained(rmse);
  if (keep.empty()) {
    log::warn("{}: no restart ended with a finite loss", p.target.spec.name);
    return;
  }
  std::string text;
  const std::size_t np = p.layout.size();
  const auto truth = p.target.truth_for(p.layout);
  for (std::size_t j = 0; j < np; ++j) {
    double mean = 0, sd = 0;
    column_stats(par, np, j, keep, mean, sd);
    char buf[160];
    std::snprintf(buf, sizeof buf, "%s%s %.5g ± %.2g", text.empty() ? "" : ", ", p.layout[j].name.c_str(),
                  mean, sd);
    text += buf;
    if (std::isfinite(truth[j])) {
      std::snprintf(buf, sizeof buf, " (truth %.5g)", truth[j]);
      text += buf;
    }
  }
  log::info("{}: best RMSE_log {:.4g}; retained {}/{} restarts (RMSE_log <= {:.4g}): {}", p.target.spec.name,
            rmse[static_cast<std::size_t>(keep.front())], keep.size(), rmse.size(),
            rmse[static_cast<std::size_t>(keep.back())], text);
  const std::vector<double> shares = io::attr_doubles(f, "loss_term_shares");
  const std::vector<std::string> tn = io::attr_strings(f, "loss_term_names");
  log::info("{}: loss {} over {} fitted points{}; quadrature K = {} ({}), K vs 2K at the best restart {:.3g} in log10",
            p.target.spec.name, loss_name(p.loss.kind), p.target.fit_end - p.target.fit_begin,
            p.loss.kind == LossKind::composite
                ? fmt::format(" (best restart: {} term {:.1f} %, {} term {:.1f} %)", tn[0], 100 * shares[0], tn[1],
                              100 * shares[1])
                : std::string(),
            p.setup.nodes, quadrature_rule_name(p.setup.rule), io::attr_double(f, "quadrature_error_best"));
}

/// Joins the complete shards of one target into fits/<name>/fits.h5. Serial (one process).
io::Provenance provenance(const cli::StageContext& ctx, const Plan& p) {
  return {ctx.info.name, ctx.cfg.sha256(), p.stage_sha, ctx.cfg.resolved_yaml()};
}

/// The best restart of the joined shards (lowest finite loss) and what fits.h5 records about it.
struct BestRestart {
  std::int64_t index = -1;
  double quadrature_error = kNaN;      ///< its K-vs-2K max |Δ log10 M| over the fitted points
  std::vector<double> shares{kNaN, kNaN};  ///< each loss term's share of its loss
};

BestRestart best_restart(const cli::StageContext& ctx, const Plan& p, const GlobalSplit& split, int num_shards) {
  BestRestart b;
  double best = INFINITY;
  std::vector<double> params, terms;
  const std::size_t np = p.layout.size();
  for (int s = 0; s < num_shards; ++s) {
    const mpi::Range r = split.part(s, num_shards);
    if (r.size() == 0) continue;
    io::File f = io::File::open(ctx.path(shard_file(p.target.spec.name, s, num_shards)), io::File::Mode::read);
    const auto loss = io::read_all<double>(io::open_dataset(f, "/loss"));
    for (std::size_t i = 0; i < loss.size(); ++i) {
      if (std::isfinite(loss[i]) && loss[i] < best) {
        best = loss[i];
        b.index = r.begin + static_cast<std::int64_t>(i);
        const auto par = io::read_all<double>(io::open_dataset(f, "/params"));
        const auto tr = io::read_all<double>(io::open_dataset(f, "/loss_terms"));
        params.assign(par.begin() + static_cast<std::ptrdiff_t>(i * np), par.begin() + static_cast<std::ptrdiff_t>((i + 1) * np));
        terms.assign(tr.begin() + static_cast<std::ptrdiff_t>(2 * i), tr.begin() + static_cast<std::ptrdiff_t>(2 * i + 2));
      }
    }
  }
  if (b.index < 0) return b;
  const double sum = terms[0] + terms[1];
  if (sum > 0) b.shares = {terms[0] / sum, terms[1] / sum};
  b.quadrature_error = quadrature_error(p.setup, tensor_from(params, 1, static_cast<std::int64_t>(np)),
                                        p.target.fit_begin, p.target.fit_end)
                           .item<double>();
  return b;
}


/// Whether RUN/fits/<name>/fits.h5 is complete for this target's definition, config and data.
bool joined_complete(const cli::StageContext& ctx, const Plan& p) {
  const std::string out = ctx.path("fits/" + p.target.spec.name + "/fits.h5");
  const io::OutputInfo existing = io::inspect_output(out);
  return existing.state == io::OutputState::complete && existing.stage_sha256 == p.stage_sha &&
         attr_or_empty(out, "target_sha256") == p.target_sha;
}

/// Whether the shard file at `path` holds exactly the restarts `r` (its restart_begin/_end).
bool same_restarts(const std::string& path, const mpi::Range& r) {
  try {
    io::File f = io::File::open(path, io::File::Mode::read);
    return io::has_attr(f, "restart_begin") && io::attr_int(f, "restart_begin") == r.begin &&
           io::attr_int(f, "restart_end") == r.end;
  } catch (const std::exception&) {
    return false;
  }
}

bool join_target(const cli::StageContext& ctx, const Plan& p, const GlobalSplit& split, int num_shards) {
  const std::string name = p.target.spec.name;
  const std::string out = ctx.path("fits/" + name + "/fits.h5");
  const std::string& sha = p.stage_sha;
  if (joined_complete(ctx, p) && !ctx.opts.force) return true;
  for (int s = 0; s < num_shards; ++s) {
    if (split.part(s, num_shards).size() == 0) continue;  // this shard holds none of the target's restarts
    const std::string sp = ctx.path(shard_file(name, s, num_shards));
    const io::OutputInfo info = io::inspect_output(sp);
    if (info.state != io::OutputState::complete || info.stage_sha256 != sha ||
        attr_or_empty(sp, "target_sha256") != p.target_sha) {
      log::info("{}: fits.h5 not joined yet: {} is not complete", name, sp);
      return false;
    }
  }
  io::JoinLock lock(out);
  if (!lock.held()) {
    log::info("{}: another process ({}) is joining {}", name, lock.holder(), out);
    return false;
  }
  // Decided again under the lock: a process that held it a moment ago may have joined already.
  if (const io::OutputInfo again = io::inspect_output(out);
      again.state == io::OutputState::complete && again.stage_sha256 == sha &&
      attr_or_empty(out, "target_sha256") == p.target_sha && !ctx.opts.force) {
    return true;
  }
  const BestRestart best = best_restart(ctx, p, split, num_shards);
  {
    io::CheckpointWriter w(out, provenance(ctx, p), MPI_COMM_NULL, false);
    write_target_attrs(w.id(), p, ctx.cfg);
    io::set_attr(w.id(), "best_restart", best.index);
    io::set_attr(w.id(), "quadrature_error_best", best.quadrature_error);
    io::set_attr(w.id(), "loss_term_shares", best.shares);
    io::set_attr(w.id(), "num_shards", std::int64_t{num_shards});
    write_target_data(w.id(), p, MPI_COMM_NULL);
    const std::int64_t np = static_cast<std::int64_t>(p.layout.size());
    const std::int64_t nq = static_cast<std::int64_t>(p.target.q.size());
    for (const char* ds : kRowSets) {
      std::vector<io::VdsSource> sources;
      for (int s = 0; s < num_shards; ++s) {
        const mpi::Range r = split.part(s, num_shards);
        if (r.size() > 0)
          sources.push_back({fs::path(shard_file(name, s, num_shards)).filename().string(),
                             std::string("/") + ds, r.begin, r.size()});
      }
      const std::string d = ds;
      const hid_t type = d == "curve"   ? H5T_NATIVE_FLOAT
                         : d == "steps" ? H5T_NATIVE_INT64
                                        : H5T_NATIVE_DOUBLE;
      const std::int64_t cols = (d == "start" || d == "params") ? np : d == "curve" ? nq : d == "loss_terms" ? 2 : 0;
      io::create_virtual_dataset(w.id(), "/" + d, type, p.restarts, cols, sources);
      w.expect_rows("/" + d, p.restarts);
    }
    w.expect_values("/q", p.target.q);
    w.commit();
  }
  log::info("{}: joined {} shard(s) into {}", name, num_shards, out);
  log_summary(out, p);
  return true;
}

std::int64_t allreduce(std::int64_t v, MPI_Op op, MPI_Comm comm) {
  std::int64_t out = 0;
  MPI_Allreduce(&v, &out, 1, MPI_INT64_T, op, comm);
  return out;
}
double allreduce_min(double v, MPI_Comm comm) {
  double out = 0;
  MPI_Allreduce(&v, &out, 1, MPI_DOUBLE, MPI_MIN, comm);
  return out;
}

/// Fits this (shard, rank)'s restarts of one target into its shard file.
void fit_target(cli::StageContext& ctx, const Plan& p, const GlobalSplit& split) {
  const MPI_Comm comm = ctx.mpi.comm();
  const std::string name = p.target.spec.name;
  const std::string path = ctx.path(shard_file(name, ctx.opts.shard, ctx.opts.num_shards));
  const std::string& sha = p.stage_sha;
  ctx.lock_output(path);  // decide and write under the shard's lock: a second copy exits 2
  const mpi::Range shard = split.part(ctx.opts.shard, ctx.opts.num_shards);
  const io::OutputInfo existing = io::inspect_output(path);
  const bool other_split = existing.state != io::OutputState::missing && !same_restarts(existing.path, shard);
  const bool same_def = existing.state == io::OutputState::complete && existing.stage_sha256 == sha &&
                        attr_or_empty(path, "target_sha256") == p.target_sha;
  if (!ctx.opts.force && (joined_complete(ctx, p) || (same_def && !other_split))) {
    if (ctx.root()) {
      log::info("{}: {} is complete for this config: nothing to do", name,
                same_def && !other_split ? path : ctx.path("fits/" + name + "/fits.h5"));
    }
    return;
  }
  if (existing.state == io::OutputState::complete && !same_def && !ctx.opts.force) {
    throw InputError(path + " was made under a different config, target definition or input data (target " +
                     name + "); use another --run-dir, or --force to overwrite it");
  }
  if (existing.state == io::OutputState::complete && other_split && ctx.root()) {
    // Same target and config, another split of the batch's restarts (a file was added or removed):
    // each restart depends on its index alone, so refitting this shard's range loses nothing.
    log::info("{}: {} holds another split of the restarts: refitting its range", name, path);
  }
  bool resume = !ctx.opts.force && !other_split;
  if (existing.state == io::OutputState::partial &&
      attr_or_empty(existing.path, "target_sha256") != p.target_sha) {
    if (ctx.root())
      log::info("{}: {} belongs to another target definition: starting afresh", name, existing.path);
    resume = false;
  }
  if (ctx.root()) {
    std::error_code ec;
    fs::create_directories(ctx.path("fits/" + name), ec);
  }
  MPI_Barrier(comm);
  const ForwardModel model(p.setup);
  const FitData data = make_fit_data(p.target);
  const std::int64_t np = static_cast<std::int64_t>(p.layout.size());
  const std::int64_t nq = static_cast<std::int64_t>(p.target.q.size());
  const mpi::Range mine = [&] {
    const mpi::Range r = mpi::block_range(shard.size(), ctx.mpi.size(), ctx.mpi.rank());
    return mpi::Range{shard.begin + r.begin, shard.begin + r.end};
  }();

  io::CheckpointWriter writer(path, provenance(ctx, p), comm, resume);
  if (!writer.resumed()) {
    write_target_attrs(writer.id(), p, ctx.cfg);
    io::set_attr(writer.id(), "shard", std::int64_t{ctx.opts.shard});
    io::set_attr(writer.id(), "num_shards", std::int64_t{ctx.opts.num_shards});
    io::set_attr(writer.id(), "restart_begin", shard.begin);
    io::set_attr(writer.id(), "restart_end", shard.end);
    write_target_data(writer.id(), p, comm);
  }
  const auto rows = static_cast<hsize_t>(shard.size());
  auto dataset = [&](const std::string& ds, hid_t type, std::int64_t cols) {
    if (io::exists(writer.id(), ds)) return io::open_dataset(writer.id(), ds);
    std::vector<hsize_t> d{rows};
    if (cols > 0) d.push_back(static_cast<hsize_t>(cols));
    return io::create_dataset(writer.id(), ds, type, d);
  };
  io::H5Id d_start = dataset("/start", H5T_NATIVE_DOUBLE, np),
           d_params = dataset("/params", H5T_NATIVE_DOUBLE, np),
           d_loss = dataset("/loss", H5T_NATIVE_DOUBLE, 0),
           d_terms = dataset("/loss_terms", H5T_NATIVE_DOUBLE, 2),
           d_scale = dataset("/scale", H5T_NATIVE_DOUBLE, 0),
           d_rmse = dataset("/rmse_log", H5T_NATIVE_DOUBLE, 0),
           d_rmse_full = dataset("/rmse_log_full", H5T_NATIVE_DOUBLE, 0),
           d_curve = dataset("/curve", H5T_NATIVE_FLOAT, nq),
           d_steps = dataset("/steps", H5T_NATIVE_INT64, 0);
  io::DoneMask mask(writer.id(), "/done", shard.size());
  writer.expect_done("/done", shard.size());
  writer.expect_values("/q", p.target.q);

  // This rank's remaining restarts in batches of contiguous global indices.
  std::vector<mpi::Range> batches;
  const std::int64_t cap = ctx.cfg.integer("fit.batch_restarts");
  for (std::int64_t i = mine.begin; i < mine.end;) {
    if (mask.done(i - shard.begin)) {
      ++i;
      continue;
    }
    std::int64_t j = i;
    while (j < mine.end && j - i < cap && !mask.done(j - shard.begin)) ++j;
    batches.push_back({i, j});
    i = j;
  }
  std::int64_t my_todo = 0;
  for (const auto& b : batches) my_todo += b.size();
  const std::int64_t rounds = allreduce(static_cast<std::int64_t>(batches.size()), MPI_MAX, comm);
  const std::int64_t done_before = allreduce(mine.size() - my_todo, MPI_SUM, comm);
  if (ctx.root()) {
    log::info(
        "{}: {} model, {} restarts ({} in shard {}/{}, {} on rank 0), {} parameters, {} fitted points "
        "(q {:.4g} to {:.4g} 1/A), invariant over q {:.4g} to {:.4g} 1/A, K = {}, {} steps",
        name, model_name(p.target.spec.model), p.restarts, shard.size(), ctx.opts.shard, ctx.opts.num_shards,
        mine.size(), np, p.target.fit_end - p.target.fit_begin,
        p.target.q[static_cast<std::size_t>(p.target.fit_begin)],
        p.target.q[static_cast<std::size_t>(p.target.fit_end - 1)],
        p.target.q[static_cast<std::size_t>(p.target.norm_begin)],
        p.target.q[static_cast<std::size_t>(p.target.norm_end - 1)], p.setup.nodes, p.opt.steps);
    if (done_before > 0 && done_before < shard.size()) {
      log::info("{}: resuming shard {}: {} of {} restarts already done (rank 0 continues at restart {})",
                name, ctx.opts.shard, done_before, shard.size(),
                batches.empty() ? mine.end : batches.front().begin);
    }
  }
  // Rank-0 progress of this target: restarts done, best loss, and rank 0's restart-steps/s and ETA
  // (its work counted in restart-steps), at most every 10 s.
  log::Progress progress(name, my_todo * p.opt.steps, 0, 10.0, ctx.root());
  std::int64_t done = done_before, my_steps_done = 0;
  double best_all = INFINITY;
  for (std::int64_t round = 0; round < rounds; ++round) {
    const bool has = round < static_cast<std::int64_t>(batches.size());
    const mpi::Range b = has ? batches[static_cast<std::size_t>(round)] : mpi::Range{0, 0};
    BatchResult res;
    if (has) {
      const std::vector<double> starts = sobol_starts(p.layout, p.start, p.seed, b.begin, b.size());
      res = fit_batch(model, p.layout, data, p.opt, p.loss, starts, [&](std::int64_t step, double best) {
        progress.update(my_steps_done + b.size() * (step + 1));
        if (!progress.due()) return;
        log::info(
            "{}: {}/{} restarts done, batch of {} at step {}/{}, best loss {:.4g} (batch) {:.4g} "
            "(so far), {:.3g} restart-steps/s, elapsed {}, ETA {}",
            name, done, shard.size(), b.size(), step + 1, p.opt.steps, best, std::min(best, best_all),
            progress.rate(), log::format_duration(progress.elapsed()), log::format_duration(progress.eta()));
      });
    }
    const std::int64_t row = has ? b.begin - shard.begin : 0;
    const std::int64_t n = b.size();
    static const double zero_d = 0;
    static const float zero_f = 0;
    static const std::int64_t zero_i = 0;
    io::write_rows<double>(d_start, row, n, has ? res.start.data() : &zero_d, true);
    io::write_rows<double>(d_params, row, n, has ? res.params.data() : &zero_d, true);
    io::write_rows<double>(d_loss, row, n, has ? res.loss.data() : &zero_d, true);
    io::write_rows<double>(d_terms, row, n, has ? res.loss_terms.data() : &zero_d, true);
    io::write_rows<double>(d_scale, row, n, has ? res.scale.data() : &zero_d, true);
    io::write_rows<double>(d_rmse, row, n, has ? res.rmse_log.data() : &zero_d, true);
    io::write_rows<double>(d_rmse_full, row, n, has ? res.rmse_log_full.data() : &zero_d, true);
    io::write_rows<float>(d_curve, row, n, has ? res.curve.data() : &zero_f, true);
    io::write_rows<std::int64_t>(d_steps, row, n, has ? res.steps.data() : &zero_i, true);
    mask.mark({row, row + n}, true);
    writer.file().flush();  // the batch is on disk: a kill from here on loses nothing before it
    double best = INFINITY;
    for (double l : res.loss) {
      if (std::isfinite(l)) best = std::min(best, l);
    }
    done = allreduce(mask.count_done({mine.begin - shard.begin, mine.end - shard.begin}), MPI_SUM, comm);
    best_all = std::min(best_all, allreduce_min(best, comm));
    my_steps_done += n * p.opt.steps;
    progress.update(my_steps_done);
  }
  done = allreduce(mask.count_done({mine.begin - shard.begin, mine.end - shard.begin}), MPI_SUM, comm);
  if (progress.enabled()) {
    log::info("{}: {}/{} restarts done in {} ({:.3g} restart-steps/s on rank 0), best loss {:.4g}", name,
              done, shard.size(), log::format_duration(progress.elapsed()), progress.rate(), best_all);
  }
  writer.commit();
  if (ctx.root()) log::info("{}: shard complete: {}", name, path);
}

}  // namespace

const cli::StageInfo& stage_info() {
  static const cli::StageInfo info{
      "fit", "multi-start polydisperse fits of SAXS curves (surrogate, sphere or core-shell model)",
      "Fits every target of fit.targets and every file of fit.batch (or --target NAME ..., or --data FILE ...\n"
      "/ --synth K given here; a fit.batch record or several --data files give one target per file)\n"
      "with the polydisperse forward model named by the target: the surrogate of RUN/surrogate/ (GRF\n"
      "core-shell LNP model) or the analytical sphere / core-shell baselines, integrated over a truncated\n"
      "log-normal radius distribution. Measured curves (ASCII, CSV, NXcanSAS) are fitted at every point of\n"
      "the window: sphere/core_shell at the data's own q, the surrogate on its grid with the data binned\n"
      "(sigma propagated); smeared by the data's pinhole dQ when present; loss per target (log, composite,\n"
      "chi2; docs/fit.md); the quadrature K doubles until K and 2K agree to fit.quadrature_tolerance.\n"
      "Synthetic targets come from RUN/targets/case-K.h5 (lnpsaxs-synth). Restarts start from a\n"
      "scrambled Sobol design; the restarts of all targets, concatenated, are split by (shard, rank) on\n"
      "this global index; each restart\n"
      "depends only on (run.seed, target name, restart index). Writes RUN/fits/<name>/shard-IIII-of-NNNN.h5\n"
      "and, once every shard is complete, RUN/fits/<name>/fits.h5 joining them (virtual datasets).\n"
      "Resumable: rerun the same command after a kill and it continues with the next batch.",
      stages::sections("fit"), true};
  return info;
}

po::options_description stage_options() {
  po::options_description o("fit options");
  o.add_options()("target", po::value<std::vector<std::string>>()->multitoken(),
                  "fit only these targets of fit.targets")(
      "data", po::value<std::vector<std::string>>()->multitoken(),
      "fit these measured curves (ASCII, CSV or NXcanSAS; files or quoted globs), one target each, instead "
      "of fit.targets")(
      "synth", po::value<int>(), "fit synthetic target K (RUN/targets/case-K.h5) instead of fit.targets")(
      "model", po::value<std::string>(), "with --data/--synth: surrogate, sphere or core_shell")(
      "name", po::value<std::string>(), "with --data/--synth: output name (default: file stem + model)")(
      "q-min", po::value<double>()->default_value(0.0), "with --data/--synth: fit window start [1/A]")(
      "q-max", po::value<double>()->default_value(1.0), "with --data/--synth: fit window end [1/A]")(
      "background", po::value<bool>()->implicit_value(true),
      "with --data/--synth: fit a constant background")(
      "weighting", po::value<std::string>()->default_value("none"), "with --data: none or sigma")(
      "loss", po::value<std::string>()->default_value("default"),
      "with --data/--synth: auto, log, composite or chi2 (default: fit.loss)")(
      "resolution", po::value<std::string>()->default_value("auto"),
      "with --data: auto (smear by the file's dQ column when present) or none")(
      "restarts", po::value<std::int64_t>()->default_value(0),
      "with --data/--synth: restarts (0: config default)")(
      "steps", po::value<std::int64_t>()->default_value(0),
      "with --data/--synth: optimiser steps (0: fit.steps)")(
      "format", po::value<std::string>()->default_value("auto"), "with --data: auto, ascii, csv or nxcansas")(
      "q-unit", po::value<std::string>()->default_value("auto"), "with --data: auto, 1/A, 1/nm or 1/m (overrides the file's unit)")(
      "join-only", "only join complete shards into fits.h5 (the SLURM join step)");
  return o;
}

std::string shard_file(const std::string& target, int shard, int num_shards) {
  return "fits/" + target + "/" + io::shard_file_name(shard, num_shards);
}

void run(cli::StageContext& ctx) {
  const config::Config& cfg = ctx.cfg;
  std::vector<TargetSpec> specs;
  if (auto t = command_line_target(ctx.opts.vm)) {
    if (ctx.opts.vm.count("target"))
      throw InputError("--target selects config targets; it cannot be combined with --data/--synth");
    specs = command_line_targets(*t,
                                 t->synth > 0 ? std::vector<std::string>{}
                                              : ctx.opts.vm["data"].as<std::vector<std::string>>(),
                                 ctx.opts.vm.count("name") ? ctx.opts.vm["name"].as<std::string>() : "");
  } else {
    specs = targets_from_config(cfg);
    std::vector<batch::Member> skipped;
    for (TargetSpec& b : batch_targets(cfg, &skipped)) specs.push_back(std::move(b));
    if (ctx.root()) {
      for (const batch::Member& m : skipped) {
        log::warn("{}: skipped (fit.batch_skip_bad): {}", m.name, m.problem);
      }
    }
    if (ctx.opts.vm.count("target")) {
      std::vector<TargetSpec> chosen;
      for (const std::string& n : ctx.opts.vm["target"].as<std::vector<std::string>>()) {
        auto it = std::find_if(specs.begin(), specs.end(), [&](const TargetSpec& s) { return s.name == n; });
        if (it == specs.end())
          throw InputError("--target " + n + ": no such target in fit.targets of " + cfg.source());
        chosen.push_back(*it);
      }
      specs = chosen;
    }
  }
  if (specs.empty()) {
    throw InputError(cfg.source() +
                     ": fit.targets and fit.batch are empty: list targets in the config or give --data FILE --model M");
  }
  // Inputs first (bad data files are reported before any work).
  for (const TargetSpec& s : specs) {
    if (s.synth > 0) ctx.require_input("targets/case-" + std::to_string(s.synth) + ".h5", "synth");
  }
  const bool need_surrogate = std::any_of(specs.begin(), specs.end(),
                                          [](const TargetSpec& s) { return s.model == Model::surrogate; });
  const c10::Device device = torchrt::select_device(cfg, ctx.mpi.local_rank());
  const int threads = torchrt::configure_threads(cfg, ctx.mpi.local_size());
  std::shared_ptr<const surrogate::Surrogate> sur;
  std::vector<double> sur_grid;
  if (need_surrogate) {
    ctx.require_input("surrogate/surrogate.h5", "train");
    sur = std::make_shared<const surrogate::Surrogate>(surrogate::Surrogate::load(ctx.opts.run_dir, device));
    sur_grid = sur->metadata().q;
  }
  const std::vector<double> grid = q_grid_from_config(cfg);
  std::vector<Plan> plans;
  for (const TargetSpec& s : specs) {
    plans.push_back(make_plan(s, cfg, ctx.opts.run_dir, device, s.model == Model::surrogate ? sur : nullptr,
                              s.model == Model::surrogate ? sur_grid : grid));
    ForwardModel check(plans.back().setup);  // configuration errors before any work
  }
  if (ctx.root()) {
    log::info("{} target(s), shard {}/{} on {} rank(s), {} thread(s) each, device {}", plans.size(),
              ctx.opts.shard, ctx.opts.num_shards, ctx.mpi.size(), threads, device.str());
  }
  std::vector<GlobalSplit> splits;
  std::int64_t total = 0;
  for (const Plan& p : plans) {
    splits.push_back({total, p.restarts, 0});
    total += p.restarts;
  }
  for (GlobalSplit& g : splits) g.total = total;
  if (ctx.root() && plans.size() > 1) {
    const mpi::Range mine = mpi::block_range(total, ctx.opts.num_shards, ctx.opts.shard);
    log::info("{} restarts of {} target(s) in all; shard {}/{} holds global restarts {} to {}", total, plans.size(),
              ctx.opts.shard, ctx.opts.num_shards, mine.begin, mine.end);
  }
  for (std::size_t i = 0; i < plans.size(); ++i) {
    const Plan& p = plans[i];
    if (!ctx.opts.vm.count("join-only") && splits[i].part(ctx.opts.shard, ctx.opts.num_shards).size() > 0) {
      fit_target(ctx, p, splits[i]);
    }
    if (ctx.root()) {
      const bool joined = join_target(ctx, p, splits[i], ctx.opts.num_shards);
      if (!joined && ctx.opts.vm.count("join-only")) {
        throw InputError("cannot join " + ctx.path("fits/" + p.target.spec.name + "/fits.h5") +
                         ": not every shard of " + std::to_string(ctx.opts.num_shards) +
                         " is complete (rerun the missing shards)");
      }
    }
    MPI_Barrier(ctx.mpi.comm());
  }
}

}  // namespace lnpsaxs::fit
