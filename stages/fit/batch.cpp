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
    read_target_fields(r, t);
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
