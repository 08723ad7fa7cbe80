#include "batch.h"

#include <filesystem>
#include <set>

#include "lnpsaxs/config.h"
#include "lnpsaxs/errors.h"

namespace lnpsaxs::fit {

std::vector<TargetSpec> batch_targets(const config::Config& cfg, std::vector<batch::Member>* skipped) {
  std::vector<TargetSpec> out;
  const std::vector<config::Record> recs = cfg.records("fit.batch");
  for (const batch::Member& m : batch::members_to_fit(cfg, skipped)) {
    const config::Record& r = recs.at(m.record);
    TargetSpec t;
    t.name = m.name;
    t.file = m.file;
    t.format = r.string("format");
    t.q_unit = r.string("q_unit");
    t.model = parse_model(r.string("model"));
    t.q_min = r.real("q_min");
    t.q_max = r.real("q_max");
    t.background = r.boolean("background");
    t.sigma_weighting = r.string("weighting") == "sigma";
    t.loss = r.string("loss");
    t.resolution = r.string("resolution") == "auto";
    t.restarts = r.integer("restarts");
    t.steps = r.integer("steps");
    t.m_r = r.reals("m_r");
    t.s_r = r.reals("s_r");
    t.truncation = r.reals("truncation");
    t.shell_thickness = r.reals("shell_thickness");
    t.contrast = r.reals("contrast");
    t.where = m.where + " (" + m.file + ")";
    out.push_back(std::move(t));
  }
  return out;
}

std::vector<TargetSpec> command_line_targets(const TargetSpec& tmpl, const std::vector<std::string>& files,
                                             const std::string& name) {
  if (tmpl.synth > 0) return {tmpl};
  const std::vector<std::string> paths = batch::expand_files(files, "--data ");
  if (paths.size() > 1 && !name.empty()) {
    throw InputError("--name " + name + " names one target, and --data gives " + std::to_string(paths.size()) +
                     " files: drop --name (each target is named from its file stem)");
  }
  std::vector<TargetSpec> out;
  std::set<std::string> taken;
  for (const std::string& f : paths) {
    TargetSpec t = tmpl;
    t.file = f;
    t.name = !name.empty() ? name
                           : batch::unique_name(batch::safe_name(std::filesystem::path(f).stem().string()) + "_" +
                                                    model_name(t.model),
                                                taken);
    out.push_back(std::move(t));
  }
  return out;
}

}  // namespace lnpsaxs::fit
