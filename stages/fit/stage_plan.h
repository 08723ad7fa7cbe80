#pragma once
// The plan of one fit target (stage-internal): everything the fit, the shard schema and the join
// need, made once per target from its TargetSpec and the config (docs/fit.md).
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include "lnpsaxs/cli.h"
#include "lnpsaxs/config.h"
#include "lnpsaxs/mpi_env.h"
#include "models/forward/forward_model.h"
#include "multistart.h"
#include "target.h"

namespace lnpsaxs::surrogate {
class Surrogate;
}

namespace lnpsaxs::fit {

inline constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

/// Everything needed to fit one target.
struct Plan {
  PreparedTarget target;
  Layout layout;
  ForwardSetup setup;
  std::int64_t restarts = 0;
  std::uint64_t seed = 0;
  std::string target_sha;  ///< identity of the target definition and of its input data
  std::string stage_sha;   ///< stage_sha256 of this target's outputs (stages::fingerprint per target)
  OptimiserSettings opt;
  LossSettings loss;
  StartSettings start;
  std::int64_t quadrature_configured = 0;  ///< fit.quadrature_nodes (the check's starting K)
  double quadrature_tolerance = 0;         ///< fit.quadrature_tolerance (0: unchecked)
  double quadrature_check_error = kNaN;    ///< K-vs-2K error at the check's start points
  bool quadrature_capped = false;
};

/// A target's place in the batch's global restart index: the restarts of all targets of one run,
/// concatenated in target order, are split into contiguous blocks across array tasks (so 1,000
/// files x 64 restarts spread evenly over the tasks), and each task's part of a target across its
/// ranks. Which restarts a shard holds therefore depends on the target list; what a restart
/// computes does not (it depends on run.seed, the target's name and its own index only).
struct GlobalSplit {
  std::int64_t offset = 0;    ///< global index of this target's restart 0
  std::int64_t restarts = 0;  ///< this target's restarts
  std::int64_t total = 0;     ///< restarts of all targets of the run
  /// The target's restarts (its own indices) that fall into shard `shard` of `num_shards`.
  mpi::Range part(int shard, int num_shards) const {
    const mpi::Range s = mpi::block_range(total, num_shards, shard);
    const std::int64_t b = std::max(s.begin, offset), e = std::min(s.end, offset + restarts);
    return e > b ? mpi::Range{b - offset, e - offset} : mpi::Range{0, 0};
  }
};

/// A [rows, cols] float64 tensor (CPU) holding `v` row-major; v.size() must be rows × cols.
at::Tensor tensor_from(const std::vector<double>& v, std::int64_t rows, std::int64_t cols);

/// The plan of one target: its data prepared on `grid` (the surrogate's q grid, or the config's),
/// the parameter boxes, the forward-model setup (the quadrature K checked against 2K when
/// fit.quadrature_tolerance > 0), the optimiser and loss settings, the restart count and seed, and
/// the identities (target_sha, stage_sha) its outputs carry. `sur` is used for surrogate targets.
/// Throws InputError naming the target for bad data or boxes outside the truncation.
Plan make_plan(const TargetSpec& spec, const config::Config& cfg, const std::string& run_dir, c10::Device device,
               const std::shared_ptr<const surrogate::Surrogate>& sur, const std::vector<double>& grid);

/// The plans of `specs` for this run (fit and sample-posterior): checks that each synthetic
/// target's RUN/targets/case-K.h5 exists, loads the surrogate onto `device` once when a target
/// needs it (RUN/surrogate/surrogate.h5, its own q grid), uses the config's q grid otherwise, and
/// builds every forward model once so that configuration errors stop the stage before any work.
/// Throws InputError naming the missing input or the bad target.
std::vector<Plan> plans_of_run(cli::StageContext& ctx, const std::vector<TargetSpec>& specs, c10::Device device);

/// The targets of this run: those given with --data/--synth (when the stage has those options),
/// else fit.targets and every member of fit.batch (bad members skipped with a warning under
/// fit.batch_skip_bad), narrowed to --target NAME ... when given. Throws InputError for an unknown
/// --target, --target with --data, or an empty list.
std::vector<TargetSpec> targets_of_run(const cli::StageContext& ctx);

}  // namespace lnpsaxs::fit
