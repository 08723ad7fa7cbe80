#include "lnpsaxs/cli.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <optional>

#include "lnpsaxs/errors.h"
#include "lnpsaxs/h5.h"
#include "lnpsaxs/h5_failure.h"
#include "lnpsaxs/log.h"
#include "lnpsaxs/stages.h"
#include "lnpsaxs/stop.h"
#include "lnpsaxs/version.h"

namespace po = boost::program_options;
namespace fs = std::filesystem;

namespace lnpsaxs::cli {
namespace {

std::string one_line(std::string s) {
  for (char& c : s) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return s;
}

std::optional<int> env_int(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) return std::nullopt;
  try {
    return std::stoi(v);
  } catch (const std::exception&) {
    throw InputError(std::string("environment variable ") + name + "='" + v + "' is not an integer");
  }
}

void prepare_run_dir(const std::string& dir, bool root, MPI_Comm comm) {
  std::string err;
  if (root) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec) {
      err = "run directory " + dir + ": cannot create it (" + ec.message() + ")";
    } else if (::access(dir.c_str(), W_OK | X_OK) != 0) {
      err = "run directory " + dir + " is not writable";
    }
  }
  // Every rank must learn about a rank-0 failure to exit the same way.
  int bad = err.empty() ? 0 : 1;
  MPI_Bcast(&bad, 1, MPI_INT, 0, comm);
  if (bad) throw InputError(root ? err : "run directory " + dir + " is not usable");
}

}  // namespace

void reject_positional(const boost::program_options::parsed_options& parsed) {
  const std::vector<std::string> stray = po::collect_unrecognized(parsed.options, po::include_positional);
  for (const std::string& a : stray) {
    if (a.rfind("-", 0) == 0) continue;  // unknown options are reported by the parser itself
    throw InputError("command line: unexpected argument '" + a +
                     "': every argument belongs to an option (a data file is given as --data FILE; see --help)");
  }
}

std::string StageContext::path(const std::string& rel) const { return (fs::path(opts.run_dir) / rel).string(); }

io::Provenance StageContext::provenance(const std::string& target) const {
  const std::string sha = target.empty() ? cfg.fingerprint(info.sections) : stages::fingerprint(cfg, info.name, target);
  return {info.name, cfg.sha256(), sha, cfg.resolved_yaml()};
}

void StageContext::lock_output(const std::string& output_path, bool collective) const {
  auto lock = std::make_shared<io::OutputLock>(output_path, collective ? mpi.comm() : MPI_COMM_NULL);
  lock->require();
  locks.push_back(std::move(lock));
}

bool StageContext::needs_work(const std::string& output_path, const std::string& target, bool collective) const {
  // Decide under the lock: a copy of this job that finished a moment ago is seen as complete.
  lock_output(output_path, collective);
  const bool decide = collective ? root() : true;  // rank 0 decides for all ranks
  int verdict = 1;                                 // 0 nothing to do, 1 work, 2 refused (message)
  std::string refusal;
  if (decide) {
    const io::OutputInfo out = io::inspect_output(output_path);
    const std::string sha = provenance(target).stage_sha256;
    if (out.state == io::OutputState::damaged) {
      log::warn("{} {}: remaking it", output_path, out.problem);
    } else if (out.state != io::OutputState::complete) {
      // missing or partial: work to do
    } else if (opts.force) {
      log::info("{} is complete; --force: remaking it", output_path);
    } else if (out.stage_sha256 == sha) {
      log::info("{} is complete for this config (made {}): nothing to do", output_path, out.created_utc);
      verdict = 0;
    } else {
      verdict = 2;
      std::string s;
      for (const auto& x : info.sections) s += (s.empty() ? "" : ", ") + x;
      refusal = output_path + " was made under a different config (sections " + s +
                " differ); use another --run-dir, or --force to overwrite it";
    }
  }
  if (collective && mpi.size() > 1) {
    MPI_Bcast(&verdict, 1, MPI_INT, 0, mpi.comm());
    int len = static_cast<int>(refusal.size());
    MPI_Bcast(&len, 1, MPI_INT, 0, mpi.comm());
    refusal.resize(static_cast<std::size_t>(len));
    if (len > 0) MPI_Bcast(refusal.data(), len, MPI_CHAR, 0, mpi.comm());
  }
  if (verdict == 2) throw InputError(refusal);
  if (verdict == 0) locks.pop_back();  // nothing will be written: let the next writer in
  return verdict == 1;
}

std::string StageContext::require_input(const std::string& rel, const std::string& producer,
                                        const std::string& target) const {
  const std::string p = path(rel);
  const io::OutputInfo in = io::inspect_output(p);
  if (in.state == io::OutputState::missing) {
    throw InputError(p + " is missing: run lnpsaxs-" + producer + " first (same --config and --run-dir)");
  }
  if (in.state == io::OutputState::partial) {
    throw InputError(p + " is incomplete (" + in.path + " exists): rerun lnpsaxs-" + producer + " to finish it");
  }
  if (in.state == io::OutputState::damaged) {
    throw InputError(p + " " + in.problem + ": rerun lnpsaxs-" + producer +
                     " (same --config and --run-dir) to remake it");
  }
  std::string expected = stages::fingerprint(cfg, producer, target);
  if (producer == "fit" && !target.empty() && !stages::is_configured_target(cfg, target)) {
    // A fit of a target given on the command line carries its own definition.
    io::File f = io::File::open(p, io::File::Mode::read);
    if (io::has_attr(f, "command_line_target")) {
      expected = stages::command_line_fit_fingerprint(cfg, io::attr_string(f, "command_line_target"));
    }
  }
  if (in.stage != producer || in.stage_sha256 != expected) {
    std::string s;
    for (const auto& x : stages::sections(producer)) s += (s.empty() ? "" : ", ") + x;
    throw InputError(p + " was made under a different config (sections " + s +
                     " differ): rerun lnpsaxs-" + producer + " --force, or use the config it was made with");
  }
  return p;
}

namespace {
int run_stage_in(mpi::Environment& env, int argc, char** argv, const StageInfo& info,
                 const po::options_description& extra, const std::function<void(StageContext&)>& body);
}  // namespace

int run_stage(int argc, char** argv, const StageInfo& info, const po::options_description& extra,
              const std::function<void(StageContext&)>& body) {
  mpi::Environment env(argc, argv);
  const int rc = run_stage_in(env, argc, argv, info, extra, body);
  if (io::files_left_open()) {
    // A write failed (disk full, quota, file size limit) and HDF5 could not close that file: its
    // exit-time cleanup would crash on the dangling id (exit 139). The error is reported, the
    // partial file handled; end after MPI_Finalize without that cleanup.
    std::cout.flush();
    std::cerr.flush();
    if (auto logger = spdlog::default_logger()) logger->flush();
    int finalised = 0;
    MPI_Finalized(&finalised);
    if (!finalised) MPI_Finalize();
    std::_Exit(rc);
  }
  return rc;
}

namespace {
int run_stage_in(mpi::Environment& env, int argc, char** argv, const StageInfo& info,
                 const po::options_description& extra, const std::function<void(StageContext&)>& body) {
  const std::string exe = "lnpsaxs-" + info.name;
  bool setup = true;  // errors before the body are identical on every rank: report once
  try {
    Options opts;
    po::options_description common("Common options");
    common.add_options()
      ("help,h", "show this help and exit")
      ("version", "show the version and exit")
      ("config,c", po::value<std::string>(&opts.config_path), "YAML config file (configs/*.yaml)")
      ("run-dir", po::value<std::string>(&opts.run_dir), "run directory (default: the config's run.dir)")
      ("force", po::bool_switch(&opts.force), "remake outputs even if complete under another config")
      ("log-level", po::value<std::string>(&opts.log_level)->default_value("info"),
       "trace, debug, info, warn, error or off");
    if (info.sharded) {
      common.add_options()
        ("shard", po::value<int>(), "this shard's index (default: SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN, else 0)")
        ("num-shards", po::value<int>(), "number of shards (default: SLURM_ARRAY_TASK_COUNT, else 1)");
    }
    po::options_description all;
    all.add(common).add(extra);
    try {
      const po::parsed_options parsed = po::command_line_parser(argc, argv).options(all).run();
      reject_positional(parsed);
      po::store(parsed, opts.vm);
      po::notify(opts.vm);
    } catch (const po::error& e) {
      throw InputError(std::string("command line: ") + e.what() + " (see --help)");
    }
    if (opts.vm.count("help")) {
      if (env.rank() == 0) {
        std::cout << exe << " — " << info.summary << "\n\nUsage: " << exe << " --config FILE [options]\n\n"
                  << info.description << "\n\n" << all << "\nExit codes: 0 ok, 2 bad input or config, 1 runtime failure, 3 stopped by a signal (rerun to resume).\n";
      }
      return 0;
    }
    if (opts.vm.count("version")) {
      if (env.rank() == 0) std::cout << exe << " " << version_string() << (LNPSAXS_HAVE_CUDA ? " +cuda" : "") << "\n";
      return 0;
    }
    if (opts.config_path.empty()) throw InputError("--config FILE is required (see --help)");
    log::init(info.name, env.rank(), opts.log_level);

    if (info.sharded) {
      const auto task_id = env_int("SLURM_ARRAY_TASK_ID");
      const auto task_min = env_int("SLURM_ARRAY_TASK_MIN");
      const auto task_count = env_int("SLURM_ARRAY_TASK_COUNT");
      opts.shard = opts.vm.count("shard") ? opts.vm["shard"].as<int>() : task_id ? *task_id - task_min.value_or(0) : 0;
      opts.num_shards = opts.vm.count("num-shards") ? opts.vm["num-shards"].as<int>() : task_count.value_or(1);
      if (opts.num_shards < 1) throw InputError("--num-shards " + std::to_string(opts.num_shards) + " must be >= 1");
      if (opts.shard < 0 || opts.shard >= opts.num_shards) {
        throw InputError("--shard " + std::to_string(opts.shard) + " must be in [0, --num-shards " +
                         std::to_string(opts.num_shards) + ")");
      }
    }

    config::Config cfg = config::Config::load(opts.config_path);
    if (opts.run_dir.empty()) opts.run_dir = cfg.string("run.dir");
    prepare_run_dir(opts.run_dir, env.rank() == 0, env.comm());
    StageContext ctx{info, env, opts, cfg, {}};
    if (ctx.root()) io::write_text_atomic(ctx.path("config.resolved.yaml"), cfg.resolved_yaml());
    log::debug("config {} (sha256 {}), run directory {}", opts.config_path, cfg.sha256(), opts.run_dir);
    setup = false;
    install_stop_handlers();
    body(ctx);
    MPI_Barrier(env.comm());
    return 0;
  } catch (const StopRequested& e) {
    // Every rank stopped together at a checkpoint boundary: no abort needed.
    if (env.rank() == 0) std::cerr << exe << ": interrupted: " << one_line(e.what()) << std::endl;
    return kExitInterrupted;
  } catch (const InputError& e) {
    if (!setup || env.rank() == 0) std::cerr << exe << ": error: " << one_line(e.what()) << std::endl;
    if (!setup && env.size() > 1) MPI_Abort(env.comm(), 2);
    return 2;
  } catch (const std::exception& e) {
    std::cerr << exe << ": runtime failure" << (env.size() > 1 ? " on rank " + std::to_string(env.rank()) : "")
              << ": " << one_line(e.what()) << std::endl;
    if (env.size() > 1) MPI_Abort(env.comm(), 1);
    return 1;
  }
}

}  // namespace

}  // namespace lnpsaxs::cli
