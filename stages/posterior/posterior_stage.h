#pragma once
// The `posterior` stage (lnpsaxs-sample-posterior; docs/posterior.md): gradient-based MCMC (HMC)
// over a finished fit's unconstrained parameters, chains started from the retained cluster medoids
// of analyze (or the best retained restarts), sharded by (array task, MPI rank) on the global chain
// index, resumable per chain, deterministic per (run.seed, target, chain).
//
// Output per target: RUN/posterior/<name>/shard-IIII-of-NNNN.h5 (rows = the shard's chains) and,
// when every shard is complete, RUN/posterior/<name>/posterior.h5 (all chains) with summary.csv.
// posterior.h5: attributes target, model, source, parameter_names, parameter_units, likelihood,
// chains, warmup, draws, leapfrog_steps, target_accept, metric, start_source, n_divergent, rhat_max,
// converged (1 when every R-hat ≤ 1.01), ess_bulk_min, ess_tail_min, truth_values; datasets
// /draws [C, S, P] float64 physical, /ln_scale [C, S] (chi2 fits), /log_density, /accept_stat
// [C, S], /divergent [C, S] uint8, /step_size [C], /inv_metric [C, D, D] (dense; [C, D] diag), /start [C, P], and
// /summary/{mean, sd, mcse_mean, q05, q50, q95, rhat, ess_bulk, ess_tail} [P].
#include <string>

#include "lnpsaxs/cli.h"

namespace lnpsaxs::posterior {

/// Name, summary and help text of lnpsaxs-sample-posterior (for cli::run_stage).
const cli::StageInfo& stage_info();

/// Command-line options beyond the common ones.
boost::program_options::options_description stage_options();

/// The stage body run by cli::run_stage on every rank (collective). Throws InputError (exit 2)
/// for missing or incompatible inputs, StopRequested (exit 3) after a signal.
void run(cli::StageContext& ctx);

}  // namespace lnpsaxs::posterior
