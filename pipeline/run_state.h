#pragma once
// State of a run directory: which stages are complete for a config (docs/architecture.md §10).
#include <string>
#include <vector>

#include "lnpsaxs/config.h"

namespace lnpsaxs::pipeline {

/// complete: every output complete under this config, every virtual-dataset source in place, and
/// every input (upstream stage, data file) complete too; stale: some output complete under another
/// config; partial: some output (or shard) being written; damaged: some output unusable (not
/// HDF5, truncated, or a source shard of its virtual datasets missing or foreign); incomplete:
/// some outputs missing, others complete, or the outputs complete but an input not; missing:
/// nothing there.
enum class State { complete, stale, partial, damaged, incomplete, missing };
const char* to_string(State s);

struct StageState {
  std::string stage;
  State state = State::missing;
  int complete = 0;              ///< outputs complete under this config
  int total = 0;                 ///< outputs expected
  std::string created_utc;       ///< newest creation time among complete outputs
  std::vector<std::string> outputs;  ///< absolute paths
  std::string note;              ///< e.g. which output is stale or partial
};

/// The state of every stage (sample … analyze, report) of `run_dir` under `cfg`.
std::vector<StageState> run_state(const config::Config& cfg, const std::string& run_dir);

}  // namespace lnpsaxs::pipeline
