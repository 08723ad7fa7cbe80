#include "simulate_stage.h"

#include <cmath>
#include <filesystem>
#include <algorithm>
#include <cstdlib>
#include <memory>

#include "models/simulator/from_config.h"
#include "lnpsaxs/errors.h"
#include "lnpsaxs/join_lock.h"
#include "lnpsaxs/log.h"
#include "lnpsaxs/param_space.h"
#include "lnpsaxs/q_grid.h"
#include "lnpsaxs/random_key.h"
#include "lnpsaxs/sharded_loop.h"
#include "lnpsaxs/stages.h"
#include "lnpsaxs/torch_runtime.h"

namespace lnpsaxs::simulate {
namespace fs = std::filesystem;

const cli::StageInfo& stage_info() {
  static const cli::StageInfo info{
      "simulate",
      "GRF core–shell SAXS curves for every θ of params.h5 (training set and test set)",
      "Reads RUN/params.h5 and computes log10 I(q) on the config's q grid for this shard's items of\n"
      "the train and test splits: each curve is the mean of simulate.realisations GRF realisations\n"
      "(docs/method.md §3). Writes RUN/curves/shard-IIII-of-NNNN.h5 (ranks of a shard write\n"
      "collectively) and, once every shard is complete, RUN/curves.h5 joining them with virtual\n"
      "datasets.\n"
      "Resumable: rerun the same command after a kill and it continues where it stopped.\n"
      "Noise is keyed by (run.seed, split, item, realisation): results do not depend on ranks/shards.",
      stages::sections("simulate"),
      true};
  return info;
}

namespace {

sim::Interior interior_from_config(const config::Config& cfg) {
  return cfg.string("simulate.interior") == "homogeneous" ? sim::Interior::homogeneous : sim::Interior::grf;
}

sim::Structure structure_from_theta(const double* t) {
  sim::Structure s;
  s.delta_rho_int = t[ParameterSpace::delta_rho_int];
  s.radius = t[ParameterSpace::radius];
  s.w = t[ParameterSpace::w];
  s.m_q1 = t[ParameterSpace::m_q1];
  s.m_q2 = t[ParameterSpace::m_q2];
  s.s_q1 = t[ParameterSpace::s_q1];
  s.s_q2 = t[ParameterSpace::s_q2];
  s.shell_thickness = t[ParameterSpace::shell_thickness];
  s.rho_rel = t[ParameterSpace::rho_rel];
  return s;
}

void write_settings(hid_t obj, const config::Config& cfg) {
  io::set_attr(obj, "grid_n", cfg.integer("simulate.grid_n"));
  io::set_attr(obj, "dx_angstrom", cfg.real("simulate.dx"));
  io::set_attr(obj, "n_fft", cfg.integer("simulate.n_fft"));
  io::set_attr(obj, "smooth_sigma_px", cfg.real("simulate.smooth_sigma_px"));
  io::set_attr(obj, "radial_sigma_dq2d", cfg.real("simulate.radial_sigma"));
  io::set_attr(obj, "realisations", cfg.integer("simulate.realisations"));
  io::set_attr(obj, "common_random_numbers", std::int64_t{cfg.boolean("simulate.common_random_numbers")});
  io::set_attr(obj, "interior", cfg.string("simulate.interior"));
  io::set_attr(obj, "intensity",
               std::string("log10 of the mean over realisations of the radially averaged |FFT2(projected contrast)|^2"));
}

const char* kSplits[] = {"train", "test"};

/// Rows [r.begin, r.end) of params.h5 /<split>/theta, row-major [r.size(), 9].
std::vector<double> read_theta(const std::string& params, const std::string& split, const mpi::Range& r) {
  io::File f = io::File::open(params, io::File::Mode::read);
  io::H5Id ds = io::open_dataset(f, "/" + split + "/theta");
  return io::read_rows<double>(ds, r.begin, r.size());
}

std::int64_t split_size(const std::string& params, const std::string& split) {
  io::File f = io::File::open(params, io::File::Mode::read);
  io::H5Id ds = io::open_dataset(f, "/" + split + "/theta");
  const auto d = io::dims(ds);
  if (d.size() != 2 || d[1] != ParameterSpace::kDim) {
    throw InputError(params + ": /" + split + "/theta has the wrong shape (expected [n, 9])");
  }
  return static_cast<std::int64_t>(d[0]);
}

/// Computes this rank's items of one split (sharded, resumable, collective: io::run_item_loop).
void simulate_split(cli::StageContext& ctx, io::CheckpointWriter& writer, const sim::Simulator& simulator,
                    std::int64_t n_q, const std::string& params, const std::string& split) {
  const config::Config& cfg = ctx.cfg;
  io::ItemLoop loop;
  loop.group = "/" + split;
  loop.what = split + " curves";
  loop.n_total = split_size(params, split);
  loop.shard = ctx.opts.shard;
  loop.num_shards = ctx.opts.num_shards;
  loop.batch = cfg.integer("execution.checkpoint_items");
  loop.outputs = {{"log10_intensity", n_q, true}};

  const mpi::Range mine = mpi::item_range(loop.n_total, loop.shard, loop.num_shards, ctx.mpi.rank(), ctx.mpi.size());
  const std::vector<double> theta = read_theta(params, split, mine);
  const std::uint64_t seed = static_cast<std::uint64_t>(cfg.integer("run.seed"));
  const std::int64_t n_real = cfg.integer("simulate.realisations");
  const bool crn = cfg.boolean("simulate.common_random_numbers");
  const bool test_split = split == "test";

  io::run_item_loop(writer, ctx.mpi, loop, [&](const std::vector<std::int64_t>& items) {
    std::vector<double> rows;
    rows.reserve(items.size() * static_cast<std::size_t>(n_q));
    for (std::int64_t item : items) {
      const sim::Structure s =
          structure_from_theta(&theta[static_cast<std::size_t>((item - mine.begin) * ParameterSpace::kDim)]);
      std::vector<std::uint64_t> keys;
      for (std::int64_t r = 0; r < n_real; ++r) keys.push_back(realisation_key(seed, test_split, item, r, crn));
      std::vector<double> y = simulator.mean_intensity(s, keys);
      // float32 is what is stored: round here so the finiteness check sees the stored values.
      for (double& v : y) v = static_cast<double>(static_cast<float>(std::log10(v)));
      const double* p = y.data();
      for (std::int64_t j = 0; j < n_q; ++j) {
        if (!std::isfinite(p[j])) {
          throw RuntimeFailure(split + " item " + std::to_string(item) + ": non-finite log10 I(q) at q index " +
                               std::to_string(j) + " (radius " + std::to_string(s.radius) + " Å)");
        }
      }
      rows.insert(rows.end(), p, p + n_q);
    }
    return std::vector<std::vector<double>>{std::move(rows)};
  });
}


}  // namespace

std::string shard_file(int shard, int num_shards) {
  return "curves/" + io::shard_file_name(shard, num_shards);
}

std::uint64_t realisation_key(std::uint64_t seed, bool test_split, std::int64_t item, std::int64_t realisation,
                              bool common_random_numbers) {
  if (common_random_numbers) return rng::derive_key(seed, rng::Stream::simulate, ~std::uint64_t{0}, static_cast<std::uint64_t>(realisation));
  const std::uint64_t global = static_cast<std::uint64_t>(item) | (test_split ? (std::uint64_t{1} << 62) : 0);
  return rng::derive_key(seed, rng::Stream::simulate, global, static_cast<std::uint64_t>(realisation));
}

bool join_shards(const cli::StageContext& ctx, int num_shards) {
  const std::string out = ctx.path("curves.h5");
  const std::string sha = ctx.cfg.fingerprint(ctx.info.sections);
  const io::OutputInfo existing = io::inspect_output(out);
  if (existing.state == io::OutputState::complete && existing.stage_sha256 == sha && !ctx.opts.force) return true;
  std::vector<std::string> shards;
  for (int s = 0; s < num_shards; ++s) {
    const std::string p = ctx.path(shard_file(s, num_shards));
    const io::OutputInfo info = io::inspect_output(p);
    if (info.state != io::OutputState::complete || info.stage_sha256 != sha) {
      log::info("curves.h5 not joined yet: {} is not complete", p);
      return false;
    }
    shards.push_back(p);
  }
  io::JoinLock lock(out);
  if (!lock.held()) {
    log::info("another process ({}) is joining {}", lock.holder(), out);
    return false;
  }
  // Decided again under the lock: a process that held it a moment ago may have joined already.
  if (const io::OutputInfo again = io::inspect_output(out);
      again.state == io::OutputState::complete && again.stage_sha256 == sha && !ctx.opts.force) {
    return true;
  }
  const std::string params = ctx.path("params.h5");
  io::CheckpointWriter w(out, ctx.provenance(), MPI_COMM_NULL, false);
  io::set_attr(w.id(), "num_shards", std::int64_t{num_shards});
  write_settings(w.id(), ctx.cfg);
  io::File pf = io::File::open(params, io::File::Mode::read);
  {
    io::File s0 = io::File::open(shards.front(), io::File::Mode::read);
    io::H5Id q = io::open_dataset(s0, "/q");
    const auto qv = io::read_all<double>(q);
    io::write_dataset<double>(w.id(), "/q", {qv.size()}, qv.data());
    w.expect_values("/q", qv);
  }
  const std::int64_t n_q = ctx.cfg.integer("q.n");
  for (const char* split : kSplits) {
    io::H5Id pt = io::open_dataset(pf, std::string("/") + split + "/theta");
    const std::int64_t n = static_cast<std::int64_t>(io::dims(pt)[0]);
    for (const char* name : {"theta", "theta_unit"}) {
      io::H5Id src = io::open_dataset(pf, std::string("/") + split + "/" + name);
      const auto v = io::read_all<double>(src);
      io::write_dataset<double>(w.id(), std::string("/") + split + "/" + name, {static_cast<hsize_t>(n), ParameterSpace::kDim}, v.data());
      io::H5Id dst = io::open_dataset(w.id(), std::string("/") + split + "/" + name);
      io::set_attr(dst, "parameter_names", io::attr_strings(src, "parameter_names"));
      io::set_attr(dst, "units", io::attr_strings(src, "units"));
    }
    std::vector<io::VdsSource> sources;
    for (int s = 0; s < num_shards; ++s) {
      const mpi::Range r = mpi::block_range(n, num_shards, s);
      if (r.size() > 0) sources.push_back({shard_file(s, num_shards), std::string("/") + split + "/log10_intensity", r.begin, r.size()});
    }
    io::create_virtual_dataset(w.id(), std::string("/") + split + "/log10_intensity", H5T_NATIVE_FLOAT, n, n_q, sources);
    w.expect_rows(std::string("/") + split + "/log10_intensity", n);
    io::H5Id v = io::open_dataset(w.id(), std::string("/") + split + "/log10_intensity");
    io::set_attr(v, "description", std::string("log10 I(q): rows = items of /") + split + "/theta, columns = /q");
  }
  w.commit();
  log::info("joined {} shard(s) into {}", num_shards, out);
  return true;
}

void run(cli::StageContext& ctx) {
  if (ctx.opts.vm.count("join-only")) {
    if (ctx.root() && !join_shards(ctx, ctx.opts.num_shards)) {
      throw InputError("cannot join " + ctx.path("curves.h5") + ": not every shard of " +
                       std::to_string(ctx.opts.num_shards) + " is complete (rerun the missing shards)");
    }
    return;
  }
  sim::validate_grid(ctx.cfg);  // config errors first: they need no input
  const std::string params = ctx.require_input("params.h5", "sample");
  const std::string shard_path = ctx.path(shard_file(ctx.opts.shard, ctx.opts.num_shards));
  if (ctx.needs_work(shard_path)) {
    const int threads = torchrt::configure_threads(ctx.cfg, ctx.mpi.local_size());
    const std::unique_ptr<sim::Simulator> simulator =
        sim::simulator_from_config(ctx, sim::grid_from_config(ctx.cfg), q_grid_from_config(ctx.cfg),
                                   interior_from_config(ctx.cfg), threads);
    sim::validate_grid(ctx.cfg, simulator->max_radius());
    const std::string backend = sim::backend_name(simulator->backend());
    const std::vector<double> q = q_grid_from_config(ctx.cfg);
    if (ctx.root()) {
      std::error_code ec;
      fs::create_directories(ctx.path("curves"), ec);
      log::info("shard {}/{} on {} rank(s), {} thread(s) each, device {}: N = {}, Δx = {} Å, N_f = {}, n = {} realisations, {} q points",
                ctx.opts.shard, ctx.opts.num_shards, ctx.mpi.size(), threads, simulator->description(), ctx.cfg.integer("simulate.grid_n"),
                ctx.cfg.real("simulate.dx"), ctx.cfg.integer("simulate.n_fft"), ctx.cfg.integer("simulate.realisations"),
                ctx.cfg.integer("q.n"));
    }
    MPI_Barrier(ctx.mpi.comm());
    io::CheckpointWriter writer(shard_path, ctx.provenance(), ctx.mpi.comm(), /*allow_resume=*/!ctx.opts.force);
    writer.expect_values("/q", q);  // a resumed partial must carry this config's grid
    if (!writer.resumed()) {
      io::write_dataset<double>(writer.id(), "/q", {q.size()}, q.data(), ctx.mpi.comm());
      io::set_attr(writer.id(), "shard", std::int64_t{ctx.opts.shard});
      io::set_attr(writer.id(), "num_shards", std::int64_t{ctx.opts.num_shards});
      write_settings(writer.id(), ctx.cfg);
      io::set_attr(writer.id(), "backend", backend);
    } else {
      // Curves of different backends differ in their noise: a shard is finished by the backend that began it.
      const std::string begun = io::has_attr(writer.id(), "backend") ? io::attr_string(writer.id(), "backend") : backend;
      if (begun != backend)
        throw InputError(shard_path + ".partial was begun with the " + begun + " simulator backend, this run uses " +
                         backend + " (simulate.backend / --backend): rerun with --backend " + begun +
                         " or --force to start the shard again");
    }
    for (const char* split : kSplits)
      simulate_split(ctx, writer, *simulator, static_cast<std::int64_t>(q.size()), params, split);
    writer.commit();
    if (ctx.root()) log::info("shard complete: {}", shard_path);
  }
  if (ctx.root()) join_shards(ctx, ctx.opts.num_shards);
}

}  // namespace lnpsaxs::simulate
