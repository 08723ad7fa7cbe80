// lnpsaxs-config: validate a config and print it resolved, or print one key's value, for shell
// scripts (the SLURM driver reads its `slurm:` settings through this, with the same strict schema
// as every stage).
#include <boost/program_options.hpp>

#include <iostream>
#include <sstream>

#include "lnpsaxs/cli.h"
#include "lnpsaxs/batch.h"
#include "lnpsaxs/errors.h"
#include "lnpsaxs/log.h"
#include "lnpsaxs/config.h"

namespace po = boost::program_options;
using namespace lnpsaxs;

int main(int argc, char** argv) {
  try {
    // Warnings (e.g. a batch file without a unit of q) go to stderr: stdout is for scripts.
    log::init("config", 0, "warn");
    std::string config_path, key;
    po::options_description opts("lnpsaxs-config options");
    opts.add_options()("help,h", "show this help")("config,c", po::value(&config_path), "YAML config")(
        "get", po::value(&key), "print the resolved value of KEY (ranges and lists space-separated)")(
        "sha256", "print the SHA-256 of the resolved config")(
        "fit-targets", "print every fit target, fit.batch members expanded: NAME MODEL RESTARTS SOURCE per line "
                       "(exit 2 naming an unreadable batch file unless fit.batch_skip_bad)")(
        "reference", "print the reference of every key (Markdown table) and exit");
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
      std::cout << "lnpsaxs-config — validate a config; print it resolved or one value\n\n"
                << "Usage: lnpsaxs-config --config FILE [--get KEY | --sha256]\n\n" << opts;
      return 0;
    }
    if (vm.count("reference")) {
      std::cout << "| key | default | unit | meaning |\n|---|---|---|---|\n";
      auto num = [](double v) {
        std::ostringstream os;
        os << v;
        return os.str();
      };
      auto row = [&num](const std::string& path, const config::KeySpec& k) {
        std::string def = k.default_yaml.empty() ? "(required)" : k.default_yaml;
        if (def == "\"\"") def = "\"\" (empty)";
        std::string doc = k.doc;
        if (!k.choices.empty()) {
          doc += " — one of:";
          for (const auto& ch : k.choices) doc += " `" + ch + "`";
        }
        if (k.min || k.max) {
          doc += " — range ";
          doc += k.min ? (k.min_exclusive ? "> " : ">= ") + num(*k.min) : "";
          doc += (k.min && k.max) ? ", " : "";
          doc += k.max ? "<= " + num(*k.max) : "";
        }
        std::cout << "| `" << path << "` | `" << def << "` | " << k.unit << " | " << doc << " |\n";
      };
      for (const auto& k : config::pipeline_schema().keys()) {
        row(k.path, k);
        for (const auto& f : k.fields) {
          row(k.path + "[]." + f.path, f);
          for (const auto& sub : f.fields) row(k.path + "[]." + f.path + "." + sub.path, sub);
        }
      }
      return 0;
    }
    if (config_path.empty()) throw InputError("--config FILE is required (see --help)");
    const config::Config cfg = config::Config::load(config_path);
    if (vm.count("sha256")) {
      std::cout << cfg.sha256() << "\n";
      return 0;
    }
    if (vm.count("fit-targets")) {
      // Restarts 0 take the config default for the target's kind: the fit stage's own rule.
      auto restarts = [&cfg](std::int64_t r, const std::string& model, bool synthetic) {
        return r > 0 ? r : batch::default_restarts(cfg, model == "surrogate", synthetic);
      };
      for (const auto& r : cfg.records("fit.targets")) {
        const bool synthetic = r.integer("synth") > 0;
        std::cout << r.string("name") << " " << r.string("model") << " "
                  << restarts(r.integer("restarts"), r.string("model"), synthetic) << " "
                  << (synthetic ? "synth:" + std::to_string(r.integer("synth")) : r.string("file")) << "\n";
      }
      const auto recs = cfg.records("fit.batch");
      for (const auto& m : batch::members_to_fit(cfg)) {
        const auto& r = recs.at(m.record);
        std::cout << m.name << " " << r.string("model") << " " << restarts(r.integer("restarts"), r.string("model"), false)
                  << " " << m.file << "\n";
      }
      return 0;
    }
    if (key.empty()) {
      std::cout << cfg.resolved_yaml();
      return 0;
    }
    const config::KeySpec* k = cfg.schema().find(key);
    if (!k) throw InputError("--get: no config key '" + key + "'");
    switch (k->kind) {
      case config::Kind::integer: std::cout << cfg.integer(key); break;
      case config::Kind::real: std::cout << cfg.real(key); break;
      case config::Kind::boolean: std::cout << (cfg.boolean(key) ? "true" : "false"); break;
      case config::Kind::string:
      case config::Kind::choice: std::cout << cfg.string(key); break;
      case config::Kind::range: std::cout << cfg.range(key).first << " " << cfg.range(key).second; break;
      case config::Kind::real_list: {
        const char* sep = "";
        for (double v : cfg.reals(key)) { std::cout << sep << v; sep = " "; }
        break;
      }
      case config::Kind::string_list: {
        const char* sep = "";
        for (const auto& v : cfg.strings(key)) { std::cout << sep << v; sep = " "; }
        break;
      }
      case config::Kind::records: {
        for (const auto& r : cfg.records(key)) std::cout << r.canonical() << "\n";
        return 0;
      }
      case config::Kind::mapping:  // a record field only, never a key of its own
        break;
    }
    std::cout << "\n";
    return 0;
  } catch (const InputError& e) {
    std::cerr << "lnpsaxs-config: error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "lnpsaxs-config: runtime failure: " << e.what() << "\n";
    return 1;
  }
}
