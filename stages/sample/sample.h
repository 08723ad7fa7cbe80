#pragma once
// The `sample` stage: Sobol design of the training and held-out test parameter sets
// (docs/method.md §2; issue "Foundation", item 4).
#include "lnpsaxs/cli.h"

namespace lnpsaxs::sample {

/// Stage description (name, help text, config sections params.h5 depends on).
const cli::StageInfo& stage_info();

/// Writes RUN/params.h5: /train/theta [n_train, 9] (physical units), /train/theta_unit ([0,1]),
/// the same under /test, with parameter names, units and bounds as attributes. Ranks compute and
/// write disjoint row blocks collectively. A complete params.h5 of the same config is left alone.
void run(cli::StageContext& ctx);

}  // namespace lnpsaxs::sample
