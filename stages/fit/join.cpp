#include "join.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "fit_stage.h"
#include "lnpsaxs/join_lock.h"
#include "lnpsaxs/log.h"
#include "stage_output.h"
#include "summary.h"

namespace fs = std::filesystem;

namespace lnpsaxs::fit {
namespace {

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



}  // namespace

/// Whether RUN/fits/<name>/fits.h5 is complete for this target's definition, config and data.
bool joined_complete(const cli::StageContext& ctx, const Plan& p) {
  const std::string out = ctx.path("fits/" + p.target.spec.name + "/fits.h5");
  const io::OutputInfo existing = io::inspect_output(out);
  return existing.state == io::OutputState::complete && existing.stage_sha256 == p.stage_sha &&
         attr_or_empty(out, "target_sha256") == p.target_sha;
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
    write_target_attrs(w.id(), p);
    io::set_attr(w.id(), "best_restart", best.index);
    io::set_attr(w.id(), "quadrature_error_best", best.quadrature_error);
    io::set_attr(w.id(), "loss_term_shares", best.shares);
    io::set_attr(w.id(), "num_shards", std::int64_t{num_shards});
    write_target_data(w.id(), p, MPI_COMM_NULL);
    const std::int64_t np = static_cast<std::int64_t>(p.layout.size());
    const std::int64_t nq = static_cast<std::int64_t>(p.target.q.size());
    for (const std::string& ds : row_sets(p)) {
      std::vector<io::VdsSource> sources;
      for (int s = 0; s < num_shards; ++s) {
        const mpi::Range r = split.part(s, num_shards);
        if (r.size() > 0)
          sources.push_back({fs::path(shard_file(name, s, num_shards)).filename().string(),
                             "/" + ds, r.begin, r.size()});
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

}  // namespace lnpsaxs::fit
