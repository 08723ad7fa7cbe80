#pragma once
// The command line every stage shares (docs/architecture.md §3) and the one place where
// errors become exit codes:
//   lnpsaxs-<stage> --config FILE [--run-dir DIR] [--shard I --num-shards N] [--force]
//                   [--log-level L] [stage options]   plus --help and --version.
// Exit 0 ok, 2 bad input or config (InputError), 1 runtime failure, 3 stopped cleanly by a signal
// (rerun to resume). The message is one line naming the file, key or value at fault.
#include <boost/program_options.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "lnpsaxs/checkpoint.h"
#include "lnpsaxs/config.h"
#include "lnpsaxs/mpi_env.h"

namespace lnpsaxs::cli {

/// Static description of a stage for --help and provenance.
struct StageInfo {
  std::string name;                  ///< "sample" → executable lnpsaxs-sample
  std::string summary;               ///< one line
  std::string description;           ///< a paragraph: inputs, outputs, notes
  std::vector<std::string> sections; ///< config sections the stage's outputs depend on
  bool sharded = false;              ///< accepts --shard/--num-shards
};

struct Options {
  std::string config_path;
  std::string run_dir;  ///< from --run-dir, else the config's run.dir
  std::string log_level = "info";
  int shard = 0;
  int num_shards = 1;
  bool force = false;
  boost::program_options::variables_map vm;  ///< stage-specific options
};

/// Everything a stage body needs. Created by run_stage().
struct StageContext {
  const StageInfo& info;
  mpi::Environment& mpi;
  Options opts;
  config::Config cfg;

  /// run_dir / rel
  std::string path(const std::string& rel) const;
  /// Provenance of this stage's outputs (stage_sha256 over info.sections), or of one target's
  /// outputs for the per-target stages fit and analyze (stages::fingerprint).
  io::Provenance provenance(const std::string& target = "") const;
  bool root() const { return mpi.rank() == 0; }

  /// Decides whether an output must be (re)made: returns false ("up to date", logged) when it is
  /// complete under the same stage fingerprint and --force is off; throws InputError when it is
  /// complete under a different fingerprint and --force is off; true otherwise (a damaged output
  /// is remade, with a warning). The decision is taken under the output's writer lock
  /// (lock_output), which this process then keeps until the stage ends when work is needed.
  /// `collective`: every rank calls (rank 0 locks and decides for all); false when one rank
  /// handles this output alone (analyze spreads targets over ranks).
  bool needs_work(const std::string& output_path, const std::string& target = "", bool collective = true) const;

  /// Takes the writer lock of `output_path` (io::OutputLock) and keeps it until the stage ends.
  /// Throws InputError "... is being written by another process (pid, host)" when another process
  /// holds it (exit code 2). `collective`: as for needs_work.
  void lock_output(const std::string& output_path, bool collective = true) const;

  /// Writer locks taken by needs_work/lock_output, released when the stage ends.
  mutable std::vector<std::shared_ptr<io::OutputLock>> locks;

  /// Checks that the input `rel` (relative to the run directory) is a complete output of
  /// `producer` made under a compatible config. Throws InputError saying what to run otherwise
  /// ("RUN/params.h5 is missing: run lnpsaxs-sample first"). Returns the absolute path.
  /// `target`: for per-target outputs of fit (stages::fingerprint).
  std::string require_input(const std::string& rel, const std::string& producer, const std::string& target = "") const;
};

/// Throws InputError naming the first argument of `parsed` that belongs to no option (a data file
/// given without --data, a typo): such an argument is never silently ignored. Exit code 2.
void reject_positional(const boost::program_options::parsed_options& parsed);

/// Parses the command line, initialises MPI and logging, loads the config, prepares the run
/// directory (creates it, writes config.resolved.yaml) and runs `body`. Returns the exit code.
/// `extra` adds stage-specific options. Catches every exception.
int run_stage(int argc, char** argv, const StageInfo& info,
              const boost::program_options::options_description& extra,
              const std::function<void(StageContext&)>& body);

}  // namespace lnpsaxs::cli
