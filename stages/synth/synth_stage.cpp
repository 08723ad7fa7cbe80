#include "synth_stage.h"

#include <filesystem>

#include "lnpsaxs/errors.h"
#include "lnpsaxs/log.h"
#include "lnpsaxs/physics/size_distribution.h"
#include "lnpsaxs/q_grid.h"
#include "lnpsaxs/random_key.h"
#include "lnpsaxs/sharded_loop.h"
#include "lnpsaxs/stages.h"
#include "lnpsaxs/torch_runtime.h"
#include "models/simulator/from_config.h"

namespace lnpsaxs::synth {
namespace fs = std::filesystem;

const Case& table_s2_case(int id) {
  // Paper Table S2 (docs/method.md §3.9). Structure fields: radius (drawn), shell_thickness,
  // rho_rel, delta_rho_int, w (= w2), m_q1, m_q2, s_q1, s_q2.
  static const std::array<Case, 4> cases{{
      {1, {0, 60, 0.96, -0.1, 0.30, 0.100, 0.110, 0.015, 0.100}, 245, 30},
      {2, {0, 65, 1.05, -0.7, 0.20, 0.100, 0.140, 0.020, 0.020}, 190, 65},
      {3, {0, 65, 0.85, -0.1, 0.55, 0.100, 0.140, 0.015, 0.020}, 190, 25},
      {4, {0, 50, 0.98, -0.3, 0.45, 0.070, 0.075, 0.014, 0.100}, 260, 50},
  }};
  if (id < 1 || id > 4) throw InputError("synth.cases: no Table S2 case " + std::to_string(id) + " (1..4)");
  return cases[static_cast<std::size_t>(id - 1)];
}

std::vector<std::string> truth_names() {
  return {"m_r", "s_r", "delta_rho_int", "w", "m_q1", "m_q2", "s_q1", "s_q2", "shell_thickness", "rho_rel"};
}

std::vector<double> truth_values(const Case& c) {
  const sim::Structure& s = c.structure;
  return {c.m_r, c.s_r, s.delta_rho_int, s.w, s.m_q1, s.m_q2, s.s_q1, s.s_q2, s.shell_thickness, s.rho_rel};
}

const cli::StageInfo& stage_info() {
  static const cli::StageInfo info{
      "synth",
      "synthetic polydisperse LNP targets with known ground truth (paper Table S2)",
      "For each case of synth.cases: synth.particles particles with radii drawn from the truncated\n"
      "log-normal (m_r, s_r) on synth.truncation and one fresh GRF realisation each (simulator\n"
      "settings of section `simulate`); the target is the mean linear intensity on the q grid.\n"
      "Writes RUN/targets/shard-IIII-of-NNNN.h5 (particles split across shards and ranks; resumable)\n"
      "and RUN/targets/case-K.h5 with the ground truth as attributes.",
      stages::sections("synth"),
      true};
  return info;
}

namespace {

std::string shard_file(int shard, int num_shards) {
  return "targets/" + io::shard_file_name(shard, num_shards);
}

std::vector<int> cases_from_config(const config::Config& cfg) {
  std::vector<int> ids;
  for (double v : cfg.reals("synth.cases")) ids.push_back(static_cast<int>(v));
  return ids;
}

/// Uniform in [0, 1) from a key (53 random bits).
double uniform01(std::uint64_t key) { return static_cast<double>(rng::mix64(key) >> 11) * 0x1.0p-53; }

std::uint64_t particle_id(int case_id, std::int64_t particle) {
  return (static_cast<std::uint64_t>(case_id) << 40) | static_cast<std::uint64_t>(particle);
}

/// Radius of one particle: the inverse CDF at a uniform keyed by (seed, case, particle).
double draw_radius(const config::Config& cfg, const Case& c, std::uint64_t seed, std::int64_t particle) {
  const auto [a, b] = cfg.range("synth.truncation");
  const double u = uniform01(rng::derive_key(seed, rng::Stream::synth, particle_id(c.id, particle), 0));
  if (cfg.string("synth.distribution") == "normal") return physics::TruncatedNormal(c.m_r, c.s_r, a, b).quantile(u);
  return physics::TruncatedLogNormal(c.m_r, c.s_r, a, b).quantile(u);
}

/// Writes targets/case-K.h5 for every case once all shards are complete. Serial (rank 0).
bool join(const cli::StageContext& ctx) {
  const std::string sha = ctx.cfg.fingerprint(ctx.info.sections);
  std::vector<std::string> shards;
  for (int s = 0; s < ctx.opts.num_shards; ++s) {
    const std::string p = ctx.path(shard_file(s, ctx.opts.num_shards));
    const io::OutputInfo info = io::inspect_output(p);
    if (info.state != io::OutputState::complete || info.stage_sha256 != sha) {
      log::info("targets not joined yet: {} is not complete", p);
      return false;
    }
    shards.push_back(p);
  }
  const std::vector<double> q = q_grid_from_config(ctx.cfg);
  const std::int64_t n_q = static_cast<std::int64_t>(q.size());
  for (int id : cases_from_config(ctx.cfg)) {
    const std::string out = ctx.path("targets/case-" + std::to_string(id) + ".h5");
    const io::OutputInfo existing = io::inspect_output(out);
    if (existing.state == io::OutputState::complete && existing.stage_sha256 == sha && !ctx.opts.force) continue;
    io::JoinLock lock(out);
    if (!lock.held()) {
      log::info("another process ({}) is joining {}", lock.holder(), out);
      return false;
    }
    if (const io::OutputInfo again = io::inspect_output(out);
        again.state == io::OutputState::complete && again.stage_sha256 == sha && !ctx.opts.force) {
      continue;
    }
    const std::string group = "/case-" + std::to_string(id);
    std::vector<double> sum(static_cast<std::size_t>(n_q), 0.0), radii;
    for (const auto& p : shards) {  // shard order = particle order: a fixed summation order
      io::File f = io::File::open(p, io::File::Mode::read);
      io::H5Id ds = io::open_dataset(f, group + "/intensity");
      const auto rows = io::read_all<double>(ds);
      for (std::size_t i = 0; i < rows.size(); ++i) sum[i % static_cast<std::size_t>(n_q)] += rows[i];
      io::H5Id rd = io::open_dataset(f, group + "/radius");
      const auto r = io::read_all<double>(rd);
      radii.insert(radii.end(), r.begin(), r.end());
    }
    const Case& c = table_s2_case(id);
    for (double& v : sum) v /= static_cast<double>(radii.size());
    io::CheckpointWriter w(out, ctx.provenance(), MPI_COMM_NULL, false);
    io::write_dataset<double>(w.id(), "/q", {q.size()}, q.data());
    w.expect_values("/q", q);
    io::write_dataset<double>(w.id(), "/intensity", {sum.size()}, sum.data());
    io::write_dataset<double>(w.id(), "/radius", {radii.size()}, radii.data());
    io::set_attr(w.id(), "case", std::int64_t{id});
    io::set_attr(w.id(), "truth_names", truth_names());
    io::set_attr(w.id(), "truth_values", truth_values(c));
    io::set_attr(w.id(), "particles", static_cast<std::int64_t>(radii.size()));
    io::set_attr(w.id(), "distribution", ctx.cfg.string("synth.distribution"));
    const auto [a, b] = ctx.cfg.range("synth.truncation");
    io::set_attr(w.id(), "truncation", std::vector<double>{a, b});
    io::set_attr(w.id(), "description",
                 std::string("Table S2 case: mean over particles of the radially averaged |FFT2(projected contrast)|^2, "
                             "one GRF realisation per particle; w weights spectral component 2"));
    w.commit();
    log::info("wrote {} ({} particles, mean radius {:.1f} Å)", out, radii.size(),
              [&] {
                double m = 0;
                for (double r : radii) m += r;
                return m / static_cast<double>(radii.size());
              }());
  }
  return true;
}

}  // namespace

void run(cli::StageContext& ctx) {
  if (ctx.opts.vm.count("join-only")) {
    if (ctx.root() && !join(ctx)) {
      throw InputError("cannot join the targets: not every shard of " + std::to_string(ctx.opts.num_shards) +
                       " is complete (rerun the missing shards)");
    }
    return;
  }
  const std::vector<int> ids = cases_from_config(ctx.cfg);
  for (int id : ids) table_s2_case(id);  // unknown case → InputError before any work
  sim::validate_grid(ctx.cfg);
  const std::string shard_path = ctx.path(shard_file(ctx.opts.shard, ctx.opts.num_shards));
  if (ctx.needs_work(shard_path)) {
    const int threads = torchrt::configure_threads(ctx.cfg, ctx.mpi.local_size());
    const std::unique_ptr<sim::Simulator> sim_ptr = sim::simulator_from_config(
        ctx, sim::grid_from_config(ctx.cfg), q_grid_from_config(ctx.cfg), sim::Interior::grf, threads);
    const sim::Simulator& simulator = *sim_ptr;
    if (ctx.root()) log::info("simulator: {}", simulator.description());
    const auto trunc = ctx.cfg.range("synth.truncation");
    if (trunc.second > simulator.max_radius()) {
      throw ConfigError(ctx.cfg.where("synth.truncation") + "largest radius " + std::to_string(trunc.second) +
                        " Å does not fit the simulation grid (simulate.grid_n = " +
                        std::to_string(ctx.cfg.integer("simulate.grid_n")) + ", simulate.dx = " +
                        std::to_string(ctx.cfg.real("simulate.dx")) + " Å hold radii up to " +
                        std::to_string(simulator.max_radius()) + " Å)");
    }
    if (ctx.root()) {
      std::error_code ec;
      fs::create_directories(ctx.path("targets"), ec);
    }
    MPI_Barrier(ctx.mpi.comm());
    io::CheckpointWriter writer(shard_path, ctx.provenance(), ctx.mpi.comm(), !ctx.opts.force);
    const std::uint64_t seed = static_cast<std::uint64_t>(ctx.cfg.integer("run.seed"));
    const std::int64_t n_q = ctx.cfg.integer("q.n");
    for (int id : ids) {
      const Case& c = table_s2_case(id);
      io::ItemLoop loop;
      loop.group = "/case-" + std::to_string(id);
      loop.what = "case " + std::to_string(id) + " particles";
      loop.n_total = ctx.cfg.integer("synth.particles");
      loop.shard = ctx.opts.shard;
      loop.num_shards = ctx.opts.num_shards;
      loop.batch = ctx.cfg.integer("execution.checkpoint_items");
      loop.outputs = {{"intensity", n_q, false}, {"radius", 1, false}};
      io::run_item_loop(writer, ctx.mpi, loop, [&](const std::vector<std::int64_t>& items) {
        std::vector<double> rows, radii;
        for (std::int64_t p : items) {
          sim::Structure s = c.structure;
          s.radius = draw_radius(ctx.cfg, c, seed, p);
          const std::vector<double> y =
              simulator.realisation(s, rng::derive_key(seed, rng::Stream::synth, particle_id(id, p), 1));
          rows.insert(rows.end(), y.begin(), y.end());
          radii.push_back(s.radius);
        }
        return std::vector<std::vector<double>>{std::move(rows), std::move(radii)};
      });
    }
    writer.commit();
  }
  if (ctx.root()) join(ctx);
}

}  // namespace lnpsaxs::synth
