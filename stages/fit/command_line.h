#pragma once
// A fit target given on lnpsaxs-fit's command line (--data FILE ... or --synth K) instead of the
// config's fit.targets (docs/fit.md, "Fitting from the command line").
#include <optional>

#include <boost/program_options/variables_map.hpp>

#include "target.h"

namespace lnpsaxs::fit {

/// The target described by --data/--synth and their companion options (--model, --name, --q-min,
/// --q-max, --background, --weighting, --loss, --resolution, --restarts, --steps, --format,
/// --q-unit), or nullopt when neither --data nor --synth is given. Throws InputError naming the
/// option at fault (a companion option without --data/--synth, both given, a bad value).
std::optional<TargetSpec> command_line_target(const boost::program_options::variables_map& vm);

}  // namespace lnpsaxs::fit
