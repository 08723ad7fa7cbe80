// lnpsaxs-status: the state of every stage of a run directory under a config, without running
// anything. Used by pipeline/run-local.sh and slurm/full_pipeline.sh to skip complete stages.
#include <boost/program_options.hpp>

#include <cstdio>
#include <iostream>

#include "lnpsaxs/cli.h"
#include "lnpsaxs/errors.h"
#include "lnpsaxs/log.h"
#include "run_state.h"

namespace po = boost::program_options;
using namespace lnpsaxs;

int main(int argc, char** argv) {
  try {
    // Warnings (e.g. a batch file without a unit of q) go to stderr: stdout is for scripts.
    log::init("status", 0, "warn");
    std::string config_path, run_dir, stage;
    po::options_description opts("lnpsaxs-status options");
    opts.add_options()("help,h", "show this help")("config,c", po::value(&config_path), "YAML config")(
        "run-dir", po::value(&run_dir), "run directory (default: the config's run.dir)")(
        "stage", po::value(&stage), "only this stage")(
        "check", "no table: exit 0 if --stage is complete for this config, 3 if not");
    po::variables_map vm;
    try {
      const po::parsed_options parsed = po::parse_command_line(argc, argv, opts);
      cli::reject_positional(parsed);  // a stray argument is an error, never silently ignored
      po::store(parsed, vm);
      po::notify(vm);
    } catch (const po::error& e) {
      throw InputError(std::string("command line: ") + e.what());
    }
    if (vm.count("help")) {
      std::cout << "lnpsaxs-status — state of each pipeline stage in a run directory\n\n"
                << "Usage: lnpsaxs-status --config FILE [--run-dir DIR] [--stage S [--check]]\n\n"
                << opts << "\nStates: complete, stale (made under another config), partial (being\n"
                << "written or killed: rerun to resume), incomplete (some outputs missing), missing.\n";
      return 0;
    }
    if (config_path.empty()) throw InputError("--config FILE is required (see --help)");
    const config::Config cfg = config::Config::load(config_path);
    if (run_dir.empty()) run_dir = cfg.string("run.dir");
    const auto states = pipeline::run_state(cfg, run_dir);
    bool found = stage.empty();
    for (const auto& s : states) found = found || s.stage == stage;
    if (!found) throw InputError("--stage: no stage '" + stage + "' (sample simulate synth train fit analyze posterior report)");
    if (vm.count("check")) {
      if (stage.empty()) throw InputError("--check needs --stage");
      for (const auto& s : states) {
        if (s.stage == stage) return s.state == pipeline::State::complete ? 0 : 3;
      }
    }
    std::printf("run directory %s, config %s\n", run_dir.c_str(), config_path.c_str());
    std::printf("%-9s %-10s %-8s %-21s %s\n", "stage", "state", "outputs", "made (UTC)", "output / note");
    for (const auto& s : states) {
      if (!stage.empty() && s.stage != stage) continue;
      const std::string first = s.outputs.empty() ? "-" : s.outputs.front() + (s.outputs.size() > 1 ? " …" : "");
      std::printf("%-9s %-10s %3d/%-4d %-21s %s%s%s\n", s.stage.c_str(), pipeline::to_string(s.state), s.complete,
                  s.total, s.created_utc.empty() ? "-" : s.created_utc.c_str(), first.c_str(),
                  s.note.empty() ? "" : "  — ", s.note.c_str());
    }
    return 0;
  } catch (const InputError& e) {
    std::cerr << "lnpsaxs-status: error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "lnpsaxs-status: runtime failure: " << e.what() << "\n";
    return 1;
  }
}
