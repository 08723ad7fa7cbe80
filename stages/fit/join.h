#pragma once
// Joining a target's complete shard files into RUN/fits/<name>/fits.h5 (virtual datasets), serial
// on one process, under the output's join lock (stage-internal).
#include "lnpsaxs/cli.h"
#include "stage_plan.h"

namespace lnpsaxs::fit {

/// Whether RUN/fits/<name>/fits.h5 is complete for this target's definition, config and data.
bool joined_complete(const cli::StageContext& ctx, const Plan& p);

/// Joins the target's shards into fits.h5 once every shard holding its restarts is complete for
/// this definition (records the best restart, its loss-term shares and K-vs-2K error; logs the
/// retained ensemble). Returns true when fits.h5 is complete afterwards, false when a shard is
/// missing or another process holds the join lock. Throws on I/O errors.
bool join_target(const cli::StageContext& ctx, const Plan& p, const GlobalSplit& split, int num_shards);

}  // namespace lnpsaxs::fit
