#pragma once
// The `simulate` stage: log10 I(q) of every training and test θ of params.h5 through the GRF
// core–shell simulator, sharded across array tasks and MPI ranks, resumable (issue 3).
//
// Output: RUN/curves/shard-IIII-of-NNNN.h5 per shard (/q, /train/log10_intensity [items, n_q]
// float32, /train/done, the same under /test; attribute item_begin per split), and, when every
// shard is complete, RUN/curves.h5 joining them with HDF5 virtual datasets (no copy) plus copies
// of θ from params.h5.
#include <cstdint>
#include <string>

#include "lnpsaxs/cli.h"

namespace lnpsaxs::simulate {

/// Name, summary and help text of lnpsaxs-simulate (for cli::run_stage).
const cli::StageInfo& stage_info();

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
