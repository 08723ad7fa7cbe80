#pragma once
// The stage graph: which config sections each stage's outputs depend on (their fingerprint,
// stored as `stage_sha256`) and what each stage reads. A stage refuses an input whose
// stage_sha256 differs from the fingerprint of the producing stage under the current config.
#include <string>
#include <vector>

namespace lnpsaxs::stages {

/// Config prefixes whose values determine `stage`'s outputs (including everything upstream).
/// Throws std::logic_error for an unknown stage name.
const std::vector<std::string>& sections(const std::string& stage);

}  // namespace lnpsaxs::stages

namespace lnpsaxs::config {
class Config;
}

namespace lnpsaxs::stages {

/// The stage_sha256 an output of `stage` must carry under `cfg`. For per-target outputs of `fit`
/// and `analyze`, pass the target's name: the fingerprint then covers run.seed, q,
/// size_distribution, the stage's global keys, that target's own record of fit.targets, and the
/// upstream sections it reads (those of `train` for `model: surrogate`, those of `synth` for a
/// `synth:` target) — so adding or changing another target leaves this one's outputs valid, and a
/// sphere fit of a data file survives retraining. A name not in fit.targets gets the stage-wide
/// fingerprint.
std::string fingerprint(const config::Config& cfg, const std::string& stage, const std::string& target = "");

/// The stage_sha256 of a target's posterior (lnpsaxs-sample-posterior) whose fit outputs carry
/// `fit_fingerprint`: that and every posterior.* key but posterior.enabled (which only says whether
/// the pipeline scripts run the stage). fingerprint(cfg, "posterior", name) is this for a
/// configured target.
std::string posterior_fingerprint(const config::Config& cfg, const std::string& fit_fingerprint);

/// Whether `name` is a record of fit.targets under `cfg`.
bool is_configured_target(const config::Config& cfg, const std::string& name);

/// The stage_sha256 of a fit of a target given on the command line (`lnpsaxs-fit --data/--synth`),
/// whose definition `spec_canonical` (TargetSpec::canonical) is stored in the fit output's
/// attribute `command_line_target`: the stage-wide fit fingerprint plus that definition.
std::string command_line_fit_fingerprint(const config::Config& cfg, const std::string& spec_canonical);

/// Every stage in pipeline order, with the run-directory-relative paths of its outputs under
/// `cfg` (per target / case where the stage has several).
struct StageOutputs {
  std::string stage;
  std::vector<std::string> outputs;
  std::vector<std::string> targets;  ///< fit/analyze/posterior: the target of each output, else empty
};
/// posterior has outputs only with posterior.enabled (the pipeline scripts then run it).
std::vector<StageOutputs> pipeline_outputs(const config::Config& cfg);

}  // namespace lnpsaxs::stages
