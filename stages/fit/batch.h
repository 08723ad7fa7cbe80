#pragma once
// Batch targets of the fit stage: fit.batch records and `--data A B ...` (lnpsaxs/batch.h names them).
#include <string>
#include <vector>

#include "lnpsaxs/batch.h"
#include "target.h"

namespace lnpsaxs::fit {

/// One TargetSpec per member of fit.batch to fit (batch::members_to_fit: an unreadable file throws
/// InputError naming it, or with fit.batch_skip_bad is appended to `skipped`), in record and file order.
std::vector<TargetSpec> batch_targets(const config::Config& cfg, std::vector<batch::Member>* skipped);

/// One TargetSpec per file of `files` (globs expanded), each a copy of `tmpl` with its own file and
/// a name made from the file stem + "_" + model (unique and safe). `name` (--name) is only allowed
/// with a single file. Throws InputError for a glob that matches nothing.
std::vector<TargetSpec> command_line_targets(const TargetSpec& tmpl, const std::vector<std::string>& files,
                                             const std::string& name);

}  // namespace lnpsaxs::fit
