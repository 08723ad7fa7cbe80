#pragma once
// The `simulate` stage: log10 I(q) of every training and test θ of params.h5 through the GRF
// core–shell simulator, sharded across array tasks and MPI ranks, resumable (issue 3).
//
// Output: RUN/curves/shard-IIII-of-NNNN.h5 per shard (/q, /train/log10_intensity [items, n_q]
// float32, /train/done, the same under /test; attribute item_begin per split), and, when every
// shard is complete, RUN/curves.h5 joining them with HDF5 virtual datasets (no copy) plus copies
// of θ from params.h5.
#include <string>
#include <vector>

#include <memory>

#include "grf_simulator.h"
#include "simulator.h"
#include "lnpsaxs/cli.h"

namespace lnpsaxs::simulate {

/// Name, summary and help text of lnpsaxs-simulate (for cli::run_stage).
const cli::StageInfo& stage_info();

/// Grid settings from the config's `simulate` section.
sim::GridSpec grid_from_config(const config::Config& cfg);

/// Checks the grid against the parameter box and the q grid before any work: the largest radius
/// must fit (names parameters.radius, simulate.grid_n, simulate.dx) and q.max must not exceed the
/// Nyquist limit π/Δx (names q.max, simulate.dx). Throws ConfigError.
void validate_grid(const config::Config& cfg);
/// The radius check, against a constructed simulator's max_radius().
void validate_grid(const config::Config& cfg, const sim::GrfSimulator& simulator);
/// The radius check against the largest radius `max_radius` [Å] a simulator's grid holds.
void validate_grid(const config::Config& cfg, double max_radius);

/// The simulator backend of this rank: --backend if given, else simulate.backend, with auto
/// resolved (cuda on a rank that sees a GPU in a CUDA build, else cpu). InputError for a bad name.
sim::Backend backend_from_config(const cli::StageContext& ctx);

/// Where the cpu backend keeps its FFTW wisdom: $LNPSAXS_FFTW_WISDOM_DIR if set (to share plans
/// between run directories, e.g. in tests that compare runs bit for bit), else RUN/fftw.
std::string fftw_wisdom_dir(const cli::StageContext& ctx);

/// The simulator every stage uses (simulate, synth, analyze's slices): backend_from_config, the
/// torch device from execution.device, the CUDA device local_rank % devices, `threads` OpenMP
/// threads for cpu. InputError if cuda is asked for and no device is visible, NotCompiled (exit 2)
/// without a CUDA build; the grid/q errors of GrfSimulator.
std::unique_ptr<sim::Simulator> simulator_from_config(const cli::StageContext& ctx, const sim::GridSpec& grid,
                                                      const std::vector<double>& q, sim::Interior interior,
                                                      int threads);

/// Path of shard `shard` of `num_shards` relative to the run directory.
std::string shard_file(int shard, int num_shards);

/// Noise key of (item, realisation) for a split: keyed by (run seed, split, item, realisation),
/// or by (run seed, realisation) only when common random numbers are on.
std::uint64_t realisation_key(std::uint64_t seed, bool test_split, std::int64_t item, std::int64_t realisation,
                              bool common_random_numbers);

/// Joins the complete shards into RUN/curves.h5 if all `num_shards` are complete under this
/// config and curves.h5 is not already. Serial; call from one process. Returns true if
/// curves.h5 is complete afterwards.
bool join_shards(const cli::StageContext& ctx, int num_shards);

/// The stage body run by cli::run_stage on every rank (collective over ctx's communicator).
/// Throws InputError (exit 2) for bad inputs, StopRequested (exit 3) after a signal.
void run(cli::StageContext& ctx);

}  // namespace lnpsaxs::simulate
