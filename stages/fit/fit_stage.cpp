#include "fit_stage.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>
#include <optional>

#include "batch.h"
#include "command_line.h"
#include "join.h"
#include "lnpsaxs/errors.h"
#include "lnpsaxs/log.h"
#include "lnpsaxs/sharded_loop.h"
#include "lnpsaxs/stages.h"
#include "lnpsaxs/torch_runtime.h"
#include "multistart.h"
#include "stage_output.h"
#include "stage_plan.h"

namespace po = boost::program_options;
namespace fs = std::filesystem;

namespace lnpsaxs::fit {
namespace {

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
    write_target_attrs(writer.id(), p);
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
  const bool prior = p.loss.size_prior.active();
  io::H5Id d_prior;
  if (prior) d_prior = dataset("/size_prior_nll", H5T_NATIVE_DOUBLE, 0);
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
    if (prior) io::write_rows<double>(d_prior, row, n, has ? res.size_prior_nll.data() : &zero_d, true);
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
  const std::vector<TargetSpec> specs = targets_of_run(ctx);
  const c10::Device device = torchrt::select_device(cfg, ctx.mpi.local_rank());
  const int threads = torchrt::configure_threads(cfg, ctx.mpi.local_size());
  // Inputs and plans first (bad data files and settings are reported before any work).
  const std::vector<Plan> plans = plans_of_run(ctx, specs, device);
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

