#pragma once
// The `train` stage (issue 4): fits the DCT residual-MLP surrogate (surrogate.h) to the simulated
// training curves of RUN/curves.h5, data-parallel over the MPI ranks, resumable from checkpoints
// every train.checkpoint_every epochs, and evaluates it on the held-out test split.
//
// Output (RUN/surrogate/): weights.pt (LibTorch archive) and surrogate.h5 with the standard
// checkpoint attributes and
//   /q, attributes y_mean, y_std, parameter_names, box_lower/upper, n_inputs, width, blocks, n_q,
//       weights_file, weights_sha256 (surrogate::write_metadata; read by Surrogate::load)
//   /history/loss, /history/lr          per epoch
//   /test/{male_log, rmse_log, relerr_log} [n_test], /test/log10_intensity_pred [n_test, n_q],
//       summary attributes <metric>_{mean, std, median, p95, max} on /test
//   /train_fit/male_log [n_train] and the same summary attributes for the training curves.
// RUN/surrogate/train_state.pt holds the resumable state while training (removed at the end).
#include "lnpsaxs/cli.h"

namespace lnpsaxs::train {

/// Name, summary and help text of lnpsaxs-train (for cli::run_stage).
const cli::StageInfo& stage_info();

/// Relative to the run directory.
inline constexpr const char* kStateFile = "surrogate/train_state.pt";

/// The stage body run by cli::run_stage on every rank (collective over ctx's communicator).
/// Throws InputError (exit 2) for bad inputs, StopRequested (exit 3) after a signal.
void run(cli::StageContext& ctx);

}  // namespace lnpsaxs::train
