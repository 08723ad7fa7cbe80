#include "posterior_stage.h"

#include <algorithm>
#include <cmath>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <numeric>
#include <sstream>

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "diagnostics.h"
#include "hmc.h"
#include "join.h"
#include "lnpsaxs/checkpoint.h"
#include "lnpsaxs/errors.h"
#include "lnpsaxs/join_lock.h"
#include "lnpsaxs/log.h"
#include "lnpsaxs/random_key.h"
#include "lnpsaxs/sha256.h"
#include "lnpsaxs/sharded_loop.h"
#include "lnpsaxs/stages.h"
#include "lnpsaxs/stop.h"
#include "lnpsaxs/torch_runtime.h"
#include "log_density.h"
#include "results_table.h"
#include "stage_output.h"
#include "stage_plan.h"
#include "summary.h"

namespace po = boost::program_options;
namespace fs = std::filesystem;

namespace lnpsaxs::posterior {
namespace {

using fit::Plan;

/// What one target's sampling needs besides the fit plan.
struct Job {
  const Plan* plan = nullptr;
  std::string name;
  std::string stage_sha;    ///< of this target's posterior outputs
  std::int64_t chains = 0;  ///< C
  std::vector<double> starts;  ///< [C, P] physical
  std::string start_source;
  fit::GlobalSplit split;
};

struct Settings {
  HmcSettings hmc;
  std::int64_t chains = 4;
  std::string start = "medoids";
  bool batch_chains = false;  ///< evaluate a rank's chains as one batch (faster; bits depend on the batch)
  std::string residual_correlation = "auto";  ///< posterior.residual_correlation: auto, ess or none
  /// Whether the likelihood of a target with this loss is tempered by N_eff/N.
  bool temper(fit::LossKind kind) const {
    return residual_correlation == "ess" || (residual_correlation == "auto" && kind != fit::LossKind::chi2);
  }
};

Settings settings_of(const config::Config& cfg) {
  Settings s;
  s.chains = cfg.integer("posterior.chains");
  s.hmc.warmup = cfg.integer("posterior.warmup");
  s.hmc.draws = cfg.integer("posterior.draws");
  s.hmc.leapfrog = cfg.integer("posterior.leapfrog_steps");
  s.hmc.target_accept = cfg.real("posterior.target_accept");
  s.hmc.initial_step = cfg.real("posterior.initial_step");
  s.start = cfg.string("posterior.start");
  s.hmc.dense_metric = cfg.string("posterior.metric") == "dense";
  s.hmc.laplace = cfg.boolean("posterior.laplace_start");
  s.batch_chains = cfg.boolean("posterior.batch_chains");
  s.residual_correlation = cfg.string("posterior.residual_correlation");
  return s;
}

std::string shard_path(const cli::StageContext& ctx, const std::string& name, int shard, int num_shards) {
  return ctx.path("posterior/" + name + "/" + io::shard_file_name(shard, num_shards));
}

std::uint64_t name_key(const std::string& name) { return std::stoull(sha256_hex(name).substr(0, 15), nullptr, 16); }

/// Chain starts: the medoids of analyze's groups (cycled over the chains) when RUN/analysis/<name>.h5
/// exists and posterior.start is `medoids`, else the C lowest-loss retained restarts of fits.h5.
void choose_starts(const cli::StageContext& ctx, const Settings& st, Job& job) {
  const std::size_t np = job.plan->layout.size();
  const std::string analysis = ctx.path("analysis/" + job.name + ".h5");
  if (st.start == "medoids" && io::inspect_output(analysis).state == io::OutputState::complete) {
    io::File f = io::File::open(analysis, io::File::Mode::read);
    if (io::exists(f.id(), "/groups/medoid_params")) {
      const auto mp = io::read_all<double>(io::open_dataset(f, "/groups/medoid_params"));
      const std::size_t groups = mp.size() / np;
      if (groups > 0) {
        for (std::int64_t c = 0; c < job.chains; ++c) {
          const std::size_t g = static_cast<std::size_t>(c) % groups;
          job.starts.insert(job.starts.end(), mp.begin() + static_cast<std::ptrdiff_t>(g * np),
                            mp.begin() + static_cast<std::ptrdiff_t>((g + 1) * np));
        }
        job.start_source = fmt::format("medoids of the {} group(s) of {} (cycled over the chains)", groups, analysis);
        return;
      }
    }
  }
  const std::string fits = ctx.path("fits/" + job.name + "/fits.h5");
  io::File f = io::File::open(fits, io::File::Mode::read);
  const auto rmse = io::read_all<double>(io::open_dataset(f, "/rmse_log"));
  const auto loss = io::read_all<double>(io::open_dataset(f, "/loss"));
  const auto par = io::read_all<double>(io::open_dataset(f, "/params"));
  std::vector<std::int64_t> keep = fit::retained(rmse);
  if (keep.empty()) throw InputError(fits + ": no restart ended with a finite loss: nothing to start chains from");
  std::stable_sort(keep.begin(), keep.end(), [&](std::int64_t a, std::int64_t b) {
    return loss[static_cast<std::size_t>(a)] < loss[static_cast<std::size_t>(b)];
  });
  for (std::int64_t c = 0; c < job.chains; ++c) {
    const auto r = static_cast<std::size_t>(keep[static_cast<std::size_t>(c) % keep.size()]);
    job.starts.insert(job.starts.end(), par.begin() + static_cast<std::ptrdiff_t>(r * np),
                      par.begin() + static_cast<std::ptrdiff_t>((r + 1) * np));
  }
  job.start_source = fmt::format("the {} lowest-loss retained restart(s) of {} (cycled over the chains)",
                                 std::min<std::size_t>(keep.size(), static_cast<std::size_t>(job.chains)), fits);
}

/// The physical parameters [P] of the fit's best restart (fits.h5 attribute best_restart), where
/// the residual correlation of the likelihood is measured.
std::vector<double> best_restart_params(const cli::StageContext& ctx, const Job& job) {
  const std::size_t np = job.plan->layout.size();
  const std::string fits = ctx.path("fits/" + job.name + "/fits.h5");
  io::File f = io::File::open(fits, io::File::Mode::read);
  const auto par = io::read_all<double>(io::open_dataset(f, "/params"));
  const std::int64_t best = io::attr_int(f.id(), "best_restart");
  if (best < 0 || static_cast<std::size_t>(best + 1) * np > par.size())
    throw InputError(fits + ": attribute best_restart " + std::to_string(best) + " is not a row of /params");
  return {par.begin() + static_cast<std::ptrdiff_t>(static_cast<std::size_t>(best) * np),
          par.begin() + static_cast<std::ptrdiff_t>(static_cast<std::size_t>(best + 1) * np)};
}

/// Warns where the likelihood's independence assumption is doubtful (docs/posterior.md §1).
void report_residual_correlation(const Job& j, const TargetPosterior& tp) {
  const auto n = static_cast<double>(tp.n_points);
  const auto np = static_cast<double>(tp.dim());
  if (tp.n_effective < n && tp.n_effective < 2 * np) {
    log::warn("{}: the residuals at the best fit carry about {:.3g} independent values (N_eff) for {} sampled parameters: "
              "the posterior will be close to the prior box in some directions (the model does not describe these data "
              "to within their noise)", j.name, tp.n_effective, tp.dim());
  } else if (tp.n_effective >= n && tp.residual_rho > 2.0 / std::sqrt(n)) {
    log::warn("{}: the residuals at the best fit are correlated along q (lag-1 autocorrelation {:.3f} > 2/sqrt(N) = {:.3f}) "
              "but the likelihood treats the {} points as independent: its credible intervals are too narrow for a model "
              "that misfits (posterior.residual_correlation: ess tempers it)", j.name, tp.residual_rho, 2.0 / std::sqrt(n),
              tp.n_points);
  }
}

io::Provenance provenance(const cli::StageContext& ctx, const Job& j) {
  return {ctx.info.name, ctx.cfg.sha256(), j.stage_sha, ctx.cfg.resolved_yaml()};
}

std::string attr_or_empty(const std::string& path, const char* name) { return fit::attr_or_empty(path, name); }

bool complete_for(const std::string& path, const Job& j) {
  const io::OutputInfo i = io::inspect_output(path);
  return i.state == io::OutputState::complete && i.stage_sha256 == j.stage_sha &&
         attr_or_empty(path, "target_sha256") == j.plan->target_sha;
}

void write_common_attrs(hid_t f, const Job& j, const Settings& st, const TargetPosterior& tp) {
  const Plan& p = *j.plan;
  io::set_attr(f, "target", j.name);
  io::set_attr(f, "model", fit::model_name(p.target.spec.model));
  io::set_attr(f, "source", p.target.spec.source());
  io::set_attr(f, "target_sha256", p.target_sha);
  io::set_attr(f, "parameter_names", p.layout.names());
  io::set_attr(f, "parameter_units", p.layout.units());
  io::set_attr(f, "parameter_lower", p.layout.lower());
  io::set_attr(f, "parameter_upper", p.layout.upper());
  if (p.target.spec.synth > 0) io::set_attr(f, "truth_values", p.target.truth_for(p.layout));
  io::set_attr(f, "likelihood", tp.likelihood);
  io::set_attr(f, "fitted_points", tp.n_points);
  io::set_attr(f, "residual_lag1_autocorrelation", tp.residual_rho);
  io::set_attr(f, "effective_points", tp.n_effective);
  io::set_attr(f, "likelihood_weight", tp.n_effective / static_cast<double>(tp.n_points));
  io::set_attr(f, "residual_correlation", st.residual_correlation + (st.temper(p.loss.kind) ? " (tempered)" : " (not tempered)"));
  if (p.loss.size_prior.active()) io::set_attr(f, "size_prior", p.loss.size_prior.describe());
  io::set_attr(f, "prior", std::string("uniform on each parameter's fit box (parameter_lower, parameter_upper)") +
                               (tp.sample_scale ? "; flat on ln_scale" : ""));
  io::set_attr(f, "sampler", std::string("HMC, static trajectories, diagonal metric and step size adapted in warm-up "
                                         "(docs/posterior.md)"));
  io::set_attr(f, "chains", j.chains);
  io::set_attr(f, "warmup", st.hmc.warmup);
  io::set_attr(f, "draws", st.hmc.draws);
  io::set_attr(f, "leapfrog_steps", st.hmc.leapfrog);
  io::set_attr(f, "target_accept", st.hmc.target_accept);
  io::set_attr(f, "metric", std::string(st.hmc.dense_metric ? "dense" : "diag"));
  io::set_attr(f, "batch_chains", std::int64_t{st.batch_chains ? 1 : 0});
  io::set_attr(f, "start_source", j.start_source);
  io::set_attr(f, "ln_scale_offset", tp.scale_offset);
}

/// Runs this (shard, rank)'s chains of one target and writes them into the shard file.
void sample_target(cli::StageContext& ctx, const Job& j, const Settings& st, const TargetPosterior& tp) {
  const MPI_Comm comm = ctx.mpi.comm();
  const std::string path = shard_path(ctx, j.name, ctx.opts.shard, ctx.opts.num_shards);
  ctx.lock_output(path);
  const mpi::Range shard = j.split.part(ctx.opts.shard, ctx.opts.num_shards);
  if (!ctx.opts.force && (complete_for(ctx.path("posterior/" + j.name + "/posterior.h5"), j) || complete_for(path, j))) {
    if (ctx.root()) log::info("{}: {} is complete for this config: nothing to do", j.name, path);
    return;
  }
  const io::OutputInfo existing = io::inspect_output(path);
  if (existing.state == io::OutputState::complete && !ctx.opts.force && !complete_for(path, j)) {
    throw InputError(path + " was made under a different config, fit or input data (target " + j.name +
                     "); use another --run-dir, or --force to overwrite it");
  }
  bool resume = !ctx.opts.force && fit::same_restarts(existing.path, shard);
  if (existing.state == io::OutputState::partial && attr_or_empty(existing.path, "target_sha256") != j.plan->target_sha)
    resume = false;
  if (ctx.root()) {
    std::error_code ec;
    fs::create_directories(ctx.path("posterior/" + j.name), ec);
  }
  MPI_Barrier(comm);
  const std::int64_t np = static_cast<std::int64_t>(j.plan->layout.size()), d = tp.dim(), s = st.hmc.draws;
  io::CheckpointWriter writer(path, provenance(ctx, j), comm, resume);
  if (!writer.resumed()) {
    write_common_attrs(writer.id(), j, st, tp);
    io::set_attr(writer.id(), "shard", std::int64_t{ctx.opts.shard});
    io::set_attr(writer.id(), "num_shards", std::int64_t{ctx.opts.num_shards});
    io::set_attr(writer.id(), "restart_begin", shard.begin);  // first and end chain (fit's attribute names)
    io::set_attr(writer.id(), "restart_end", shard.end);
  }
  const auto rows = static_cast<hsize_t>(shard.size());
  auto dataset = [&](const std::string& ds, hid_t type, std::int64_t cols) {
    if (io::exists(writer.id(), ds)) return io::open_dataset(writer.id(), ds);
    return io::create_dataset(writer.id(), ds, type, {rows, static_cast<hsize_t>(cols)});
  };
  io::H5Id d_raw = dataset("/raw", H5T_NATIVE_DOUBLE, s * d), d_lp = dataset("/log_density", H5T_NATIVE_DOUBLE, s),
           d_acc = dataset("/accept_stat", H5T_NATIVE_DOUBLE, s), d_div = dataset("/divergent", H5T_NATIVE_UINT8, s),
           d_eps = dataset("/step_size", H5T_NATIVE_DOUBLE, 1), d_metric = dataset("/inv_metric", H5T_NATIVE_DOUBLE, st.hmc.dense_metric ? d * d : d),
           d_start = dataset("/start", H5T_NATIVE_DOUBLE, np);
  io::DoneMask mask(writer.id(), "/done", shard.size());
  writer.expect_done("/done", shard.size());

  // This rank's chains not yet done: run them as one batch.
  const mpi::Range r = mpi::block_range(shard.size(), ctx.mpi.size(), ctx.mpi.rank());
  std::vector<std::int64_t> todo;
  for (std::int64_t i = r.begin; i < r.end; ++i) {
    if (!mask.done(i)) todo.push_back(i);
  }
  std::int64_t todo_all = static_cast<std::int64_t>(todo.size()), sum = 0;
  MPI_Allreduce(&todo_all, &sum, 1, MPI_INT64_T, MPI_SUM, comm);
  if (ctx.root()) {
    log::info("{}: {} chain(s) in shard {}/{} ({} to run), {} warm-up + {} draws, {} leapfrog steps; {}", j.name,
              shard.size(), ctx.opts.shard, ctx.opts.num_shards, sum, st.hmc.warmup, st.hmc.draws, st.hmc.leapfrog,
              tp.likelihood);
  }
  HmcResult res;
  std::vector<double> start_phys;
  if (!todo.empty()) {
    std::vector<std::uint64_t> keys;
    for (std::int64_t i : todo) {
      const std::int64_t own = shard.begin + i;  // the target's own chain index
      keys.push_back(rng::derive_key(static_cast<std::uint64_t>(ctx.cfg.integer("run.seed")), rng::Stream::posterior,
                                     name_key(j.name), static_cast<std::uint64_t>(own)));
      start_phys.insert(start_phys.end(), j.starts.begin() + static_cast<std::ptrdiff_t>(own * np),
                        j.starts.begin() + static_cast<std::ptrdiff_t>((own + 1) * np));
    }
    const std::vector<double> raw0 = tp.raw_starts(start_phys);
    log::Progress progress(j.name, st.hmc.warmup + st.hmc.draws, 0, 10.0, ctx.root());
    const LogDensity f = st.batch_chains ? tp.log_density : one_row_at_a_time(tp.log_density);
    const auto t0 = std::chrono::steady_clock::now();
    res = run_hmc(f, raw0, keys, st.hmc, [&](std::int64_t it, std::int64_t total) {
      progress.update(it + 1);
      // A stop signal (SLURM's --signal, scancel) ends this batch of chains unsaved: the chains
      // already done are on disk and a rerun runs the others (resume is per chain).
      if ((it + 1) % 25 == 0 && stop_requested(MPI_COMM_SELF))
        throw StopRequested(j.name + ": stopped by a signal during sampling; rerun to resume");
      if (progress.due()) {
        log::info("{}: iteration {}/{} ({}), {:.3g} iterations/s of {} chain(s), elapsed {}, ETA {}", j.name, it + 1, total,
                  it < st.hmc.warmup ? "warm-up" : "sampling", progress.rate(), todo.size(),
                  log::format_duration(progress.elapsed()), log::format_duration(progress.eta()));
      }
    });
    // Speed (docs/posterior.md, benchmark): iterations per second of this rank and the cost of one
    // log-density gradient (a forward + backward pass of the model over the chains evaluated together).
    const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const auto iters = static_cast<double>(st.hmc.warmup + st.hmc.draws);
    const auto evals = static_cast<double>(res.gradient_evaluations) * (st.batch_chains ? 1.0 : static_cast<double>(todo.size()));
    log::info("{}: rank {}: {} chain(s) x {} iterations in {:.3f} s: {:.4g} chain-iterations/s, {:.0f} gradient "
              "evaluations of {} row(s), {:.4g} ms each",
              j.name, ctx.mpi.rank(), todo.size(), st.hmc.warmup + st.hmc.draws, sec,
              static_cast<double>(todo.size()) * iters / sec, evals, st.batch_chains ? todo.size() : std::size_t{1},
              1e3 * sec / evals);
  }
  // Collective writes: every rank calls once per contiguous run of its chains (all of r here).
  const std::int64_t n = static_cast<std::int64_t>(todo.size());
  const std::int64_t row = todo.empty() ? 0 : todo.front();
  const bool contiguous = todo.empty() || todo.back() - todo.front() + 1 == n;
  if (!contiguous) throw RuntimeFailure(path + ": internal: the chains to run are not contiguous");
  static const double zd = 0;
  static const std::uint8_t zu = 0;
  io::write_rows<double>(d_raw, row, n, n ? res.position.data() : &zd, true);
  io::write_rows<double>(d_lp, row, n, n ? res.log_density.data() : &zd, true);
  io::write_rows<double>(d_acc, row, n, n ? res.accept_stat.data() : &zd, true);
  io::write_rows<std::uint8_t>(d_div, row, n, n ? res.divergent.data() : &zu, true);
  io::write_rows<double>(d_eps, row, n, n ? res.step_size.data() : &zd, true);
  io::write_rows<double>(d_metric, row, n, n ? res.inv_metric.data() : &zd, true);
  io::write_rows<double>(d_start, row, n, n ? start_phys.data() : &zd, true);
  mask.mark({row, row + n}, true);
  writer.file().flush();
  writer.commit();
  if (ctx.root()) log::info("{}: shard complete: {}", j.name, path);
}

std::string csv_number(double v) { return std::isfinite(v) ? fmt::format("{:.6g}", v) : "nan"; }

/// Joins the shards of one target into posterior.h5 (+ summary.csv) with the diagnostics. Serial.
bool join(const cli::StageContext& ctx, const Job& j, const Settings& st, const TargetPosterior& tp) {
  const std::string out = ctx.path("posterior/" + j.name + "/posterior.h5");
  if (complete_for(out, j) && !ctx.opts.force) return true;
  for (int s = 0; s < ctx.opts.num_shards; ++s) {
    if (j.split.part(s, ctx.opts.num_shards).size() == 0) continue;
    if (!complete_for(shard_path(ctx, j.name, s, ctx.opts.num_shards), j)) {
      log::info("{}: posterior.h5 not joined yet: {} is not complete", j.name, shard_path(ctx, j.name, s, ctx.opts.num_shards));
      return false;
    }
  }
  io::JoinLock lock(out);
  if (!lock.held()) {
    log::info("{}: another process ({}) is joining {}", j.name, lock.holder(), out);
    return false;
  }
  const std::int64_t np = static_cast<std::int64_t>(j.plan->layout.size()), d = tp.dim(), s = st.hmc.draws, c = j.chains;
  std::vector<double> raw, lp, acc, eps, metric, start;
  std::vector<std::uint8_t> div;
  for (int sh = 0; sh < ctx.opts.num_shards; ++sh) {
    if (j.split.part(sh, ctx.opts.num_shards).size() == 0) continue;
    io::File f = io::File::open(shard_path(ctx, j.name, sh, ctx.opts.num_shards), io::File::Mode::read);
    auto append = [&](std::vector<double>& v, const char* ds) {
      const auto x = io::read_all<double>(io::open_dataset(f, ds));
      v.insert(v.end(), x.begin(), x.end());
    };
    append(raw, "/raw");
    append(lp, "/log_density");
    append(acc, "/accept_stat");
    append(eps, "/step_size");
    append(metric, "/inv_metric");
    append(start, "/start");
    const auto dv = io::read_all<std::uint8_t>(io::open_dataset(f, "/divergent"));
    div.insert(div.end(), dv.begin(), dv.end());
  }
  if (static_cast<std::int64_t>(raw.size()) != c * s * d)
    throw RuntimeFailure(out + ": the shards hold " + std::to_string(raw.size()) + " values, expected C*S*D = " +
                         std::to_string(c * s * d));
  const std::vector<double> phys = tp.physical(raw);  // [C*S, P]
  std::vector<double> ln_scale;
  if (tp.sample_scale) {
    for (std::int64_t i = 0; i < c * s; ++i) ln_scale.push_back(raw[static_cast<std::size_t>(i * d + np)]);
  }
  const std::vector<std::string> names = j.plan->layout.names();
  std::vector<Summary> sum;
  for (std::int64_t p = 0; p < np; ++p) {
    Chains ch{c, s, {}};
    for (std::int64_t i = 0; i < c * s; ++i) ch.x.push_back(phys[static_cast<std::size_t>(i * np + p)]);
    sum.push_back(summarise(ch));
  }
  const std::int64_t n_div = std::accumulate(div.begin(), div.end(), std::int64_t{0});
  double rhat_max = 0, ess_bulk_min = INFINITY, ess_tail_min = INFINITY;
  std::string worst;
  for (std::int64_t p = 0; p < np; ++p) {
    const Summary& m = sum[static_cast<std::size_t>(p)];
    if (!(m.rhat <= rhat_max)) {
      rhat_max = std::isnan(m.rhat) ? rhat_max : m.rhat;
      worst = names[static_cast<std::size_t>(p)];
    }
    ess_bulk_min = std::min(ess_bulk_min, m.ess_bulk);
    ess_tail_min = std::min(ess_tail_min, m.ess_tail);
  }
  const bool converged = c >= 2 && rhat_max <= 1.01;
  {
    io::CheckpointWriter w(out, provenance(ctx, j), MPI_COMM_NULL, false);
    write_common_attrs(w.id(), j, st, tp);
    io::set_attr(w.id(), "n_divergent", n_div);
    io::set_attr(w.id(), "rhat_max", rhat_max);
    io::set_attr(w.id(), "ess_bulk_min", ess_bulk_min);
    io::set_attr(w.id(), "ess_tail_min", ess_tail_min);
    io::set_attr(w.id(), "converged", std::int64_t{converged ? 1 : 0});
    io::set_attr(w.id(), "convergence_rule", std::string("every rank-normalised split R-hat <= 1.01 (Vehtari et al. 2021), >= 2 chains"));
    const auto hc = static_cast<hsize_t>(c), hs = static_cast<hsize_t>(s);
    io::write_dataset<double>(w.id(), "/draws", {hc, hs, static_cast<hsize_t>(np)}, phys.data());
    if (tp.sample_scale) io::write_dataset<double>(w.id(), "/ln_scale", {hc, hs}, ln_scale.data());
    io::write_dataset<double>(w.id(), "/log_density", {hc, hs}, lp.data());
    io::write_dataset<double>(w.id(), "/accept_stat", {hc, hs}, acc.data());
    io::write_dataset<std::uint8_t>(w.id(), "/divergent", {hc, hs}, div.data());
    io::write_dataset<double>(w.id(), "/step_size", {hc}, eps.data());
    if (st.hmc.dense_metric) {
      io::write_dataset<double>(w.id(), "/inv_metric", {hc, static_cast<hsize_t>(d), static_cast<hsize_t>(d)}, metric.data());
    } else {
      io::write_dataset<double>(w.id(), "/inv_metric", {hc, static_cast<hsize_t>(d)}, metric.data());
    }
    io::write_dataset<double>(w.id(), "/start", {hc, static_cast<hsize_t>(np)}, start.data());
    auto column = [&](const char* ds, double Summary::*f) {
      std::vector<double> v;
      for (const Summary& m : sum) v.push_back(m.*f);
      io::write_dataset<double>(w.id(), std::string("/summary/") + ds, {static_cast<hsize_t>(np)}, v.data());
    };
    column("mean", &Summary::mean);
    column("sd", &Summary::sd);
    column("mcse_mean", &Summary::mcse_mean);
    column("mcse_sd", &Summary::mcse_sd);
    column("q05", &Summary::q05);
    column("q50", &Summary::q50);
    column("q95", &Summary::q95);
    column("rhat", &Summary::rhat);
    column("ess_bulk", &Summary::ess_bulk);
    column("ess_tail", &Summary::ess_tail);
    w.expect_rows("/draws", c);
    w.commit();
  }
  // summary.csv: one row per parameter, the 90 % central credible interval.
  std::ostringstream csv;
  csv << "parameter,unit,mean,sd,mcse_mean,mcse_sd,q05,q50,q95,rhat,ess_bulk,ess_tail\n";
  const std::vector<std::string> units = j.plan->layout.units();
  for (std::int64_t p = 0; p < np; ++p) {
    const Summary& m = sum[static_cast<std::size_t>(p)];
    csv << names[static_cast<std::size_t>(p)] << "," << units[static_cast<std::size_t>(p)] << "," << csv_number(m.mean) << ","
        << csv_number(m.sd) << "," << csv_number(m.mcse_mean) << "," << csv_number(m.mcse_sd) << "," << csv_number(m.q05) << "," << csv_number(m.q50) << ","
        << csv_number(m.q95) << "," << csv_number(m.rhat) << "," << csv_number(m.ess_bulk) << "," << csv_number(m.ess_tail) << "\n";
  }
  io::write_text_atomic(ctx.path("posterior/" + j.name + "/summary.csv"), csv.str());
  std::string text;
  for (std::int64_t p = 0; p < np; ++p) {
    const Summary& m = sum[static_cast<std::size_t>(p)];
    text += fmt::format("{}{} {:.5g} ± {:.2g} [90 % {:.5g}, {:.5g}] (R-hat {:.3f}, ESS {:.0f}/{:.0f})", text.empty() ? "" : "; ",
                        names[static_cast<std::size_t>(p)], m.mean, m.sd, m.q05, m.q95, m.rhat, m.ess_bulk, m.ess_tail);
  }
  log::info("{}: posterior of {} chain(s) x {} draws: {}", j.name, c, s, text);
  if (!converged) {
    log::warn("{}: NOT converged: R-hat of {} is {:.3f} > 1.01{} — run longer (posterior.warmup, posterior.draws) or "
              "check the chains' starts",
              j.name, worst.empty() ? "a parameter" : worst, rhat_max, c < 2 ? " (or fewer than 2 chains)" : "");
  }
  if (n_div > 0) log::warn("{}: {} divergent transition(s): the sampler may miss part of the posterior", j.name, n_div);
  log::info("{}: joined into {}", j.name, out);
  return true;
}

}  // namespace

const cli::StageInfo& stage_info() {
  static const cli::StageInfo info{
      "sample-posterior", "Hamiltonian Monte Carlo posterior of each fitted target (credible intervals, R-hat, ESS)",
      "Samples the posterior of every target of fit.targets and fit.batch (or --target NAME ...) whose fit is\n"
      "complete (RUN/fits/<name>/fits.h5), over the fit's unconstrained parameters with the same differentiable\n"
      "forward model (surrogate or analytical), a uniform prior on the fit boxes, and a likelihood from the\n"
      "target's loss: chi2 = Gaussian with the data's sigma (the scale sampled), log/composite = a Gaussian of\n"
      "unknown variance in the loss's residuals (docs/posterior.md). posterior.chains chains start from the\n"
      "medoids of analyze's groups (RUN/analysis/<name>.h5) or the best retained restarts; chains are split by\n"
      "(shard, rank) and each depends only on (run.seed, target, chain). Writes RUN/posterior/<name>/\n"
      "shard-IIII-of-NNNN.h5 and, once every shard is complete, posterior.h5 and summary.csv with split R-hat,\n"
      "bulk and tail ESS and divergences; a run with any R-hat > 1.01 is reported as not converged.\n"
      "Resumable per chain: rerun the same command after a kill.",
      stages::sections("posterior"), true};
  return info;
}

po::options_description stage_options() {
  po::options_description o("sample-posterior options");
  o.add_options()("target", po::value<std::vector<std::string>>()->multitoken(), "sample only these targets")(
      "join-only", "only join complete shards into posterior.h5");
  return o;
}

void run(cli::StageContext& ctx) {
  const config::Config& cfg = ctx.cfg;
  const Settings st = settings_of(cfg);
  const std::vector<fit::TargetSpec> specs = fit::targets_of_run(ctx);
  const c10::Device device = torchrt::select_device(cfg, ctx.mpi.local_rank());
  torchrt::configure_threads(cfg, ctx.mpi.local_size());
  const std::vector<Plan> plans = fit::plans_of_run(ctx, specs, device);  // not resized below: jobs point into it
  std::vector<Job> jobs;
  std::int64_t total = 0;
  for (const Plan& plan : plans) {
    const fit::TargetSpec& s = plan.target.spec;
    Job j;
    j.plan = &plan;
    j.name = s.name;
    if (!fit::joined_complete(ctx, *j.plan)) {
      throw InputError(ctx.path("fits/" + s.name + "/fits.h5") +
                       " is missing, incomplete or was made under another config or data: run lnpsaxs-fit first");
    }
    j.stage_sha = stages::posterior_fingerprint(cfg, j.plan->stage_sha);
    j.chains = st.chains;
    j.split = {total, j.chains, 0};
    total += j.chains;
    choose_starts(ctx, st, j);
    jobs.push_back(std::move(j));
  }
  for (Job& j : jobs) j.split.total = total;
  if (ctx.root()) {
    log::info("{} target(s), {} chain(s) in all, shard {}/{} on {} rank(s), device {}", jobs.size(), total, ctx.opts.shard,
              ctx.opts.num_shards, ctx.mpi.size(), device.str());
  }
  for (const Job& j : jobs) {
    // No padding to the fit's 4,096-row surrogate blocks (32x the work of one chain at K = 128):
    // one chain at a time (the default), every call has the same K rows, so a chain's draws stay
    // bit-identical whatever the split; batched chains do not promise that anyway.
    fit::ForwardSetup setup = j.plan->setup;
    setup.surrogate_block_rows = 0;
    const fit::ForwardModel model(setup);
    const fit::FitData data = fit::make_fit_data(j.plan->target);
    const TargetPosterior tp = make_target_posterior(j.plan->layout, model, data, j.plan->loss, {},
                                                     {st.temper(j.plan->loss.kind), best_restart_params(ctx, j)});
    if (ctx.root()) {
      log::info("{}: chains start from {}", j.name, j.start_source);
      report_residual_correlation(j, tp);
    }
    if (!ctx.opts.vm.count("join-only") && j.split.part(ctx.opts.shard, ctx.opts.num_shards).size() > 0)
      sample_target(ctx, j, st, tp);
    if (ctx.root()) {
      const bool joined = join(ctx, j, st, tp);
      if (!joined && ctx.opts.vm.count("join-only"))
        throw InputError("cannot join " + ctx.path("posterior/" + j.name + "/posterior.h5") + ": not every shard of " +
                         std::to_string(ctx.opts.num_shards) + " is complete (rerun the missing shards)");
    }
    MPI_Barrier(ctx.mpi.comm());
  }
  // results.csv gains the credible intervals (its rows come from the analysis files; a target
  // without one keeps its posterior in RUN/posterior/<name>/summary.csv only).
  if (ctx.root() && std::filesystem::exists(ctx.path("analysis"))) analysis::update_results(cfg, ctx.opts.run_dir);
}

}  // namespace lnpsaxs::posterior
