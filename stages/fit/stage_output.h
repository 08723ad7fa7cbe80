#pragma once
// What a fit output file holds beyond its rows (stage-internal): the target's attributes and data
// shared by shard files and the joined fits.h5 (the schema is listed in fit_stage.h), and small
// queries on existing outputs.
#include <string>
#include <vector>

#include <hdf5.h>
#include <mpi.h>

#include "lnpsaxs/checkpoint.h"
#include "lnpsaxs/cli.h"
#include "stage_plan.h"

namespace lnpsaxs::fit {

/// The per-restart datasets of a shard file, each with one row per restart (joined by fits.h5).
inline constexpr const char* kRowSets[] = {"start", "params", "loss", "loss_terms", "scale",
                                           "rmse_log", "rmse_log_full", "curve", "steps"};
/// kRowSets, plus size_prior_nll when the target has a size prior.
std::vector<std::string> row_sets(const Plan& p);

/// The loss of `p` in words (the loss_definition attribute).
std::string loss_definition(const Plan& p);

/// Writes the target's root attributes (target, model, source, window, boxes, quadrature, loss, ...)
/// to the open file `f`.
void write_target_attrs(hid_t f, const Plan& p);

/// Writes /q and /target/* (normalised intensity, sigma, masks, bin counts, q_width when smeared),
/// collectively over `comm` (MPI_COMM_NULL: serial).
void write_target_data(hid_t f, const Plan& p, MPI_Comm comm);

/// The provenance every output of this target carries (config identity, per-target stage_sha).
io::Provenance provenance(const cli::StageContext& ctx, const Plan& p);

/// The string attribute `name` of the HDF5 file at `path`, or "" when the file or the attribute is
/// missing or unreadable.
std::string attr_or_empty(const std::string& path, const char* name);

/// Whether the shard file at `path` holds exactly the restarts `r` (its restart_begin/_end).
bool same_restarts(const std::string& path, const mpi::Range& r);

}  // namespace lnpsaxs::fit
