#pragma once
// The `fit` stage (issue 5): multi-start polydisperse fits of measured and synthetic SAXS curves
// with the surrogate or an analytical baseline, restarts split by (array task, MPI rank) on the
// global restart index, resumable, one joined output per target.
//
// Output per target: RUN/fits/<name>/shard-IIII-of-NNNN.h5 (rows = the shard's restarts) and,
// when every shard is complete, RUN/fits/<name>/fits.h5 joining them with virtual datasets.
// Root attributes: target, model, source, q_min, q_max, background, n_restarts, parameter_names,
// parameter_units, parameter_lower, parameter_upper, truth_values (NaN where unknown), plus what
// ForwardModel::from_fit_output needs (quadrature_nodes, quadrature_rule, truncation, data_invariant,
// dtype) and target_sha256 (identity of the target definition and its input data). stage_sha256 is
// the per-target fingerprint stages::fingerprint(cfg, "fit", name). Issue 13 adds: loss,
// loss_definition, loss_term_names, loss_term_shares (best restart), fitted_points, window_points,
// sigma_unusable, resolution (+ resolution_nodes), quadrature_nodes_configured,
// quadrature_tolerance, quadrature_check_error, quadrature_capped, quadrature_error_best,
// best_restart. Datasets: /q (the data's q for sphere/core_shell, the surrogate's grid otherwise),
// /target/intensity (normalised data), /target/mask (fitted points), /target/sigma,
// /target/norm_mask (invariant window), /target/bin_count, /target/q_width (when smeared), and per
// restart /start, /params [R, P] float64 physical, /loss, /loss_terms [R, 2], /scale (chi2),
// /rmse_log, /rmse_log_full [R], /curve [R, n_q] float32 log10 M, /steps [R] int64.
#include <string>

#include "lnpsaxs/cli.h"

namespace lnpsaxs::fit {

/// Name, summary and help text of lnpsaxs-fit (for cli::run_stage).
const cli::StageInfo& stage_info();

/// Command-line options of lnpsaxs-fit beyond the common ones.
boost::program_options::options_description stage_options();

/// Path of a target's shard file relative to the run directory.
std::string shard_file(const std::string& target, int shard, int num_shards);

/// The stage body run by cli::run_stage on every rank (collective over ctx's communicator).
/// Throws InputError (exit 2) for bad inputs, StopRequested (exit 3) after a signal.
void run(cli::StageContext& ctx);

}  // namespace lnpsaxs::fit
