#include "lnpsaxs/stages.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <stdexcept>

#include "lnpsaxs/batch.h"
#include "lnpsaxs/config.h"
#include "lnpsaxs/errors.h"
#include "lnpsaxs/sha256.h"

namespace lnpsaxs::stages {

const std::vector<std::string>& sections(const std::string& stage) {
  static const std::map<std::string, std::vector<std::string>> table = [] {
    std::map<std::string, std::vector<std::string>> t;
    t["sample"] = {"run.seed", "parameters", "sample"};
    t["simulate"] = t["sample"];
    for (const char* s : {"q", "simulate"}) t["simulate"].push_back(s);
    t["synth"] = {"run.seed", "q", "simulate", "synth"};
    t["train"] = t["simulate"];
    t["train"].push_back("train");
    t["fit"] = t["train"];
    for (const char* s : {"size_distribution", "fit"}) t["fit"].push_back(s);
    t["analyze"] = t["fit"];
    t["analyze"].push_back("analyze");
    t["posterior"] = t["fit"];
    t["posterior"].push_back("posterior");
    return t;
  }();
  auto it = table.find(stage);
  if (it == table.end()) throw std::logic_error("no such stage: " + stage);
  return it->second;
}

namespace {
bool per_target(const std::string& stage) { return stage == "fit" || stage == "analyze"; }

/// The per-target fingerprint of a target of `model` (synthetic or not) whose identity text is `own`
/// (its fit.targets record, or batch::member_canonical).
std::string target_fingerprint(const config::Config& cfg, const std::string& stage, const std::string& model,
                               bool synthetic, const std::string& own) {
    // What this target's fit depends on: the seed (starts), the model's q grid, the size boxes, the
    // global fit.* keys (analyze.* too for analyze), its own record; and upstream, the sections of
    // the stages whose outputs it reads: the training chain for the surrogate model (its weights),
    // the synth chain for a synthetic target (its curve). A data file is identified by its content
    // (target_sha256 of the fit output), not here.
    std::vector<std::string> prefixes = {"run.seed", "q", "size_distribution"};
    auto add = [&](const std::vector<std::string>& more) {
      for (const auto& m : more) {
        if (std::find(prefixes.begin(), prefixes.end(), m) == prefixes.end()) prefixes.push_back(m);
      }
    };
    if (model == "surrogate") add(sections("train"));
    if (synthetic) add(sections("synth"));
    for (const auto& k : cfg.schema().keys()) {
      // The target lists themselves are not: each target hashes only its own record.
      const bool in_fit = k.path.rfind("fit.", 0) == 0 && k.path != "fit.targets" && k.path != "fit.batch" &&
                          k.path != "fit.batch_skip_bad";
      const bool in_analyze = stage == "analyze" && k.path.rfind("analyze.", 0) == 0;
      if (in_fit || in_analyze) prefixes.push_back(k.path);
    }
    return sha256_hex(cfg.fingerprint(prefixes) + "\n" + own);
}
}  // namespace

std::string posterior_fingerprint(const config::Config& cfg, const std::string& fit_fingerprint) {
  std::vector<std::string> keys;
  for (const auto& k : cfg.schema().keys()) {
    if (k.path.rfind("posterior.", 0) == 0 && k.path != "posterior.enabled") keys.push_back(k.path);
  }
  return sha256_hex(fit_fingerprint + "\nposterior: " + cfg.fingerprint(keys));
}

std::string fingerprint(const config::Config& cfg, const std::string& stage, const std::string& target) {
  if (stage == "posterior" && !target.empty()) return posterior_fingerprint(cfg, fingerprint(cfg, "fit", target));
  if (!per_target(stage) || target.empty()) return cfg.fingerprint(sections(stage));
  if (!cfg.schema().find("fit.targets")) return cfg.fingerprint(sections(stage));
  for (const auto& r : cfg.records("fit.targets")) {
    if (r.string("name") == target) return target_fingerprint(cfg, stage, r.string("model"), r.integer("synth") > 0, r.canonical());
  }
  for (const batch::Member& m : batch::members(cfg, false)) {
    if (m.name == target) {
      return target_fingerprint(cfg, stage, cfg.records("fit.batch").at(m.record).string("model"), false,
                                batch::member_canonical(cfg, m));
    }
  }
  return cfg.fingerprint(sections(stage));  // not a configured target: the stage-wide fingerprint
}

bool is_configured_target(const config::Config& cfg, const std::string& name) {
  if (!cfg.schema().find("fit.targets")) return false;
  for (const auto& r : cfg.records("fit.targets")) {
    if (r.string("name") == name) return true;
  }
  for (const batch::Member& m : batch::members(cfg, false)) {
    if (m.name == name) return true;
  }
  return false;
}

std::string command_line_fit_fingerprint(const config::Config& cfg, const std::string& spec_canonical) {
  return sha256_hex(fingerprint(cfg, "fit") + "\ncommand line: " + spec_canonical);
}

std::vector<StageOutputs> pipeline_outputs(const config::Config& cfg) {
  std::vector<StageOutputs> out;
  out.push_back({"sample", {"params.h5"}, {}});
  out.push_back({"simulate", {"curves.h5"}, {}});
  StageOutputs synth{"synth", {}, {}};
  for (double k : cfg.reals("synth.cases")) synth.outputs.push_back("targets/case-" + std::to_string(static_cast<int>(k)) + ".h5");
  out.push_back(synth);
  out.push_back({"train", {"surrogate/surrogate.h5"}, {}});
  StageOutputs fit{"fit", {}, {}}, analyze{"analyze", {}, {}}, posterior{"posterior", {}, {}};
  if (cfg.schema().find("fit.targets")) {
    for (const auto& r : cfg.records("fit.targets")) {
      const std::string name = r.string("name");
      fit.outputs.push_back("fits/" + name + "/fits.h5");
      fit.targets.push_back(name);
      analyze.outputs.push_back("analysis/" + name + ".h5");
      analyze.targets.push_back(name);
    }
    for (const batch::Member& m : batch::members_to_fit(cfg)) {  // skipped bad members have no outputs
      fit.outputs.push_back("fits/" + m.name + "/fits.h5");
      fit.targets.push_back(m.name);
      analyze.outputs.push_back("analysis/" + m.name + ".h5");
      analyze.targets.push_back(m.name);
    }
  }
  if (cfg.schema().find("posterior.enabled") && cfg.boolean("posterior.enabled")) {
    for (const std::string& name : fit.targets) {
      posterior.outputs.push_back("posterior/" + name + "/posterior.h5");
      posterior.targets.push_back(name);
    }
  }
  out.push_back(fit);
  out.push_back(analyze);
  out.push_back(posterior);
  return out;
}

}  // namespace lnpsaxs::stages
