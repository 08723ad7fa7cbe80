#include "stage_output.h"

#include <cstdint>
#include <exception>
#include <iterator>
#include <vector>

#include "lnpsaxs/saxs_data.h"
#include "models/forward/quadrature.h"

namespace lnpsaxs::fit {

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

std::vector<std::string> row_sets(const Plan& p) {
  std::vector<std::string> out(std::begin(kRowSets), std::end(kRowSets));
  if (p.loss.size_prior.active()) out.emplace_back("size_prior_nll");
  return out;
}

void write_target_attrs(hid_t f, const Plan& p) {
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
  if (p.loss.size_prior.active()) {  // present only when used: /size_prior_nll holds each restart's NLL
    io::set_attr(f, "size_prior", p.loss.size_prior.describe());
    io::set_attr(f, "size_prior_particles", p.loss.size_prior.particles);
    io::set_attr(f, "size_prior_weighting",
                 std::string(p.loss.kind == LossKind::chi2 ? "loss = (chi2 + 2 NLL)/(N - P)" : "loss = L exp(2 NLL/N)"));
  }
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

io::Provenance provenance(const cli::StageContext& ctx, const Plan& p) {
  return {ctx.info.name, ctx.cfg.sha256(), p.stage_sha, ctx.cfg.resolved_yaml()};
}


std::string attr_or_empty(const std::string& path, const char* name) {
  try {
    io::File f = io::File::open(path, io::File::Mode::read);
    return io::has_attr(f, name) ? io::attr_string(f, name) : "";
  } catch (const std::exception&) {
    return "";
  }
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

}  // namespace lnpsaxs::fit
