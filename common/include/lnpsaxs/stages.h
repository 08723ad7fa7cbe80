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
