#include "stage_plan.h"

#include <algorithm>
#include <sstream>
#include <utility>

#include <ATen/ATen.h>

#include "batch.h"
#include "command_line.h"
#include "lnpsaxs/checkpoint.h"
#include "lnpsaxs/errors.h"
#include "lnpsaxs/log.h"
#include "lnpsaxs/q_grid.h"
#include "lnpsaxs/random_key.h"
#include "lnpsaxs/sha256.h"
#include "lnpsaxs/stages.h"
#include "models/forward/quadrature.h"
#include "models/surrogate/surrogate.h"

namespace lnpsaxs::fit {

at::Tensor tensor_from(const std::vector<double>& v, std::int64_t rows, std::int64_t cols) {
  return at::tensor(v, at::TensorOptions().dtype(at::kDouble)).view({rows, cols});
}

namespace {

std::pair<double, double> pair_or(const std::vector<double>& v, std::pair<double, double> d) {
  return v.size() == 2 ? std::make_pair(v[0], v[1]) : d;
}

std::uint64_t name_key(const std::string& name) {
  return std::stoull(sha256_hex(name).substr(0, 15), nullptr, 16);
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

}  // namespace

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
  spec.size_prior.check_support(trunc.first, trunc.second, spec.where);
  p.loss.size_prior = spec.size_prior;
  p.loss.truncation_lower = trunc.first;
  p.loss.truncation_upper = trunc.second;
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

std::vector<Plan> plans_of_run(cli::StageContext& ctx, const std::vector<TargetSpec>& specs, c10::Device device) {
  for (const TargetSpec& s : specs) {
    if (s.synth > 0) ctx.require_input("targets/case-" + std::to_string(s.synth) + ".h5", "synth");
  }
  const bool need_surrogate =
      std::any_of(specs.begin(), specs.end(), [](const TargetSpec& s) { return s.model == Model::surrogate; });
  std::shared_ptr<const surrogate::Surrogate> sur;
  std::vector<double> sur_grid;
  if (need_surrogate) {
    ctx.require_input("surrogate/surrogate.h5", "train");
    sur = std::make_shared<const surrogate::Surrogate>(surrogate::Surrogate::load(ctx.opts.run_dir, device));
    sur_grid = sur->metadata().q;
  }
  const std::vector<double> grid = q_grid_from_config(ctx.cfg);
  std::vector<Plan> plans;
  for (const TargetSpec& s : specs) {
    const bool is_sur = s.model == Model::surrogate;
    plans.push_back(make_plan(s, ctx.cfg, ctx.opts.run_dir, device, is_sur ? sur : nullptr, is_sur ? sur_grid : grid));
    ForwardModel check(plans.back().setup);  // configuration errors before any work
  }
  return plans;
}

std::vector<TargetSpec> targets_of_run(const cli::StageContext& ctx) {
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
  return specs;
}

}  // namespace lnpsaxs::fit
