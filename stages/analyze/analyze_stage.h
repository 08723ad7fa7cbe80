#pragma once
// The `analyze` stage (issue 6): for every fitted target RUN/fits/<name>/fits.h5, the ensemble
// analysis of ensemble.h plus the Jacobian-based sensitivity (autograd through the fit stage's
// polydisperse forward model) and a realised 2-D density slice per group medoid (surrogate
// model), written to RUN/analysis/<name>.h5. tools/report.py renders RUN/report/ from these.
#include <optional>
#include <string>
#include <vector>

#include "ensemble.h"
#include "forward_fn.h"
#include "lnpsaxs/cli.h"

namespace lnpsaxs::analysis {

const cli::StageInfo& stage_info();

/// Options of the `analyze` config section (and size_distribution.truncation).
AnalysisOptions options_from_config(const config::Config& cfg);

/// Names of the targets to analyse: --target, else analyze.targets, else every folder under
/// RUN/fits that holds fits.h5 or fits.h5.partial (sorted). Throws InputError when none.
std::vector<std::string> target_names(const cli::StageContext& ctx);

/// The differentiable forward model of a fitted ensemble (physical parameters → log10 I_PI on the
/// fit's q grid), or nullopt with the reason in `why` when this build or run cannot provide it.
std::optional<ForwardFn> forward_model_for(const cli::StageContext& ctx, const FitEnsemble& fits, std::string& why);

void run(cli::StageContext& ctx);

}  // namespace lnpsaxs::analysis
