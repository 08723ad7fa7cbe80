#include "command_line.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <string>
#include <vector>

#include "lnpsaxs/errors.h"
#include "lnpsaxs/saxs_data.h"

namespace po = boost::program_options;
namespace fs = std::filesystem;

namespace lnpsaxs::fit {

std::optional<TargetSpec> command_line_target(const po::variables_map& vm) {
  if (!vm.count("data") && !vm.count("synth")) {
    for (const char* k : {"model", "name", "q-min", "q-max", "background", "weighting", "restarts", "steps",
                          "format", "q-unit", "loss", "resolution"}) {
      if (vm.count(k) && !vm[k].defaulted())
        throw InputError(std::string("--") + k + " needs --data FILE or --synth K");
    }
    return std::nullopt;
  }
  if (vm.count("data") && vm.count("synth")) throw InputError("give --data FILE or --synth K, not both");
  if (!vm.count("model"))
    throw InputError("--model (surrogate, sphere or core_shell) is required with --data/--synth");
  TargetSpec t;
  t.where = "command line";
  t.origin = TargetOrigin::command_line;
  t.model = parse_model(vm["model"].as<std::string>());
  if (vm.count("data")) {
    t.file = vm["data"].as<std::vector<std::string>>().front();
  } else {
    t.synth = vm["synth"].as<int>();
    if (t.synth < 1) throw InputError("--synth " + std::to_string(t.synth) + " must be >= 1");
  }
  std::string stem = t.synth > 0 ? "case-" + std::to_string(t.synth) : fs::path(t.file).stem().string();
  for (char& c : stem) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') c = '_';
  }
  t.name = vm.count("name") ? vm["name"].as<std::string>() : stem + "_" + model_name(t.model);
  if (t.name.empty() || t.name == "." || t.name == ".." ||
      !std::all_of(t.name.begin(), t.name.end(),
                   [](unsigned char c) { return std::isalnum(c) || c == '_' || c == '-' || c == '.'; })) {
    throw InputError("--name '" + t.name + "' is not a valid folder name (letters, digits, '.', '_', '-')");
  }
  t.format = vm["format"].as<std::string>();
  t.q_unit = vm["q-unit"].as<std::string>();
  io::parse_curve_format(t.format);
  io::parse_q_unit(t.q_unit);
  t.q_min = vm["q-min"].as<double>();
  t.q_max = vm["q-max"].as<double>();
  if (!(t.q_min >= 0) || !(t.q_min < t.q_max))
    throw InputError("--q-min and --q-max must satisfy 0 <= q-min < q-max");
  t.background = vm.count("background") && vm["background"].as<bool>();
  const std::string wt = vm["weighting"].as<std::string>();
  if (wt != "none" && wt != "sigma") throw InputError("--weighting must be none or sigma, got '" + wt + "'");
  t.sigma_weighting = wt == "sigma";
  t.loss = vm["loss"].as<std::string>();
  if (t.loss != "default" && t.loss != "auto" && t.loss != "log" && t.loss != "composite" && t.loss != "chi2")
    throw InputError("--loss must be auto, log, composite or chi2, got '" + t.loss + "'");
  const std::string res = vm["resolution"].as<std::string>();
  if (res != "auto" && res != "none") throw InputError("--resolution must be auto or none, got '" + res + "'");
  t.resolution = res == "auto";
  t.restarts = vm["restarts"].as<std::int64_t>();
  if (t.restarts < 0) throw InputError("--restarts must be >= 0");
  t.steps = vm["steps"].as<std::int64_t>();
  if (t.steps < 0) throw InputError("--steps must be >= 0");
  return t;
}

}  // namespace lnpsaxs::fit
