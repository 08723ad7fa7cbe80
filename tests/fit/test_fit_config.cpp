// The `fit` section of the config: fit.targets records (file | synth, model, window, overrides),
// the global fit settings, and the shipped configs.
#include <doctest/doctest.h>

#include <string>

#include "lnpsaxs/config.h"
#include "lnpsaxs/errors.h"
#include "lnpsaxs/stages.h"
#include "target.h"

using lnpsaxs::config::Config;
namespace fit = lnpsaxs::fit;

namespace {
std::string config_error(const std::string& yaml) {
  try {
    Config::from_string(yaml, "f.yaml");
  } catch (const lnpsaxs::ConfigError& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST_CASE("fit.targets records resolve with defaults and per-target overrides") {
  const Config c = Config::from_string(
      "fit:\n"
      "  steps: 200\n"
      "  targets:\n"
      "    - {name: gold, file: data/au.dat, model: sphere, q_min: 0.002, q_max: 0.06, background: true}\n"
      "    - name: lnp1\n"
      "      synth: 1\n"
      "      model: surrogate\n"
      "      restarts: 64\n"
      "    - {name: cs, file: x.csv, model: core_shell, contrast: [0.6, 1.8], m_r: [80, 300]}\n",
      "f.yaml");
  const auto t = fit::targets_from_config(c);
  REQUIRE(t.size() == 3);
  CHECK(t[0].name == "gold");
  CHECK(t[0].file == "data/au.dat");
  CHECK(t[0].synth == 0);
  CHECK(t[0].model == fit::Model::sphere);
  CHECK(t[0].q_min == 0.002);
  CHECK(t[0].q_max == 0.06);
  CHECK(t[0].background);
  CHECK_FALSE(t[0].sigma_weighting);
  CHECK(t[0].source() == "data/au.dat");
  CHECK(fit::restarts_for(t[0], c) == 4096);  // baseline default
  CHECK(t[1].source() == "synth:1");
  CHECK(t[1].model == fit::Model::surrogate);
  CHECK(fit::restarts_for(t[1], c) == 64);
  CHECK(t[2].contrast == std::vector<double>{0.6, 1.8});
  CHECK(t[2].m_r == std::vector<double>{80, 300});
  CHECK(t[2].s_r.empty());
  CHECK(t[1].where.find("f.yaml:5: fit.targets[1]") == 0);
  CHECK(c.integer("fit.steps") == 200);
  CHECK(c.integer("fit.quadrature_nodes") == 64);
  CHECK(c.real("fit.loss_lin_scale") == 1e5);
  // Per-target fingerprints: another target's record does not change this one's.
  const Config c2 = Config::from_string(
      "fit:\n  steps: 200\n  targets:\n"
      "    - {name: gold, file: data/au.dat, model: sphere, q_min: 0.002, q_max: 0.06, background: true}\n",
      "g.yaml");
  CHECK(lnpsaxs::stages::fingerprint(c, "fit", "gold") == lnpsaxs::stages::fingerprint(c2, "fit", "gold"));
  CHECK(lnpsaxs::stages::fingerprint(c, "fit", "gold") != lnpsaxs::stages::fingerprint(c, "fit", "cs"));
  CHECK(Config::from_string(c.resolved_yaml(), "again.yaml").sha256() == c.sha256());
}

TEST_CASE("a target's fingerprint follows the upstream sections it reads, and only those") {
  const std::string targets =
      "fit:\n  targets:\n"
      "    - {name: gold, file: data/au.dat, model: sphere}\n"
      "    - {name: lnp1, synth: 1, model: surrogate}\n"
      "    - {name: lnpfile, file: data/lnp.dat, model: surrogate}\n";
  auto fp = [&](const std::string& extra, const char* stage, const char* target) {
    return lnpsaxs::stages::fingerprint(Config::from_string(extra + targets, "f.yaml"), stage, target);
  };
  const std::string base, more_particles = "synth:\n  particles: 8\n", longer = "train:\n  epochs: 7\n",
                          finer_grid = "simulate:\n  grid_n: 64\n", other_q = "q:\n  n: 200\n",
                          seed = "run:\n  seed: 7\n", analyze = "analyze:\n  slice_grid_n: 32\n";
  for (const char* stage : {"fit", "analyze"}) {
    CAPTURE(stage);
    // The sphere fit of a data file reads neither the training chain nor the synthetic targets.
    CHECK(fp(base, stage, "gold") == fp(more_particles, stage, "gold"));
    CHECK(fp(base, stage, "gold") == fp(longer, stage, "gold"));
    CHECK(fp(base, stage, "gold") == fp(finer_grid, stage, "gold"));
    CHECK(fp(base, stage, "gold") != fp(other_q, stage, "gold"));
    CHECK(fp(base, stage, "gold") != fp(seed, stage, "gold"));
    // A surrogate fit of a synthetic target reads both.
    CHECK(fp(base, stage, "lnp1") != fp(more_particles, stage, "lnp1"));
    CHECK(fp(base, stage, "lnp1") != fp(longer, stage, "lnp1"));
    CHECK(fp(base, stage, "lnp1") != fp(finer_grid, stage, "lnp1"));
    // A surrogate fit of a data file reads the training chain only.
    CHECK(fp(base, stage, "lnpfile") == fp(more_particles, stage, "lnpfile"));
    CHECK(fp(base, stage, "lnpfile") != fp(longer, stage, "lnpfile"));
  }
  CHECK(fp(base, "fit", "gold") == fp(analyze, "fit", "gold"));
  CHECK(fp(base, "analyze", "gold") != fp(analyze, "analyze", "gold"));
}

TEST_CASE("bad fit targets are config errors naming the record and field") {
  CHECK(config_error("fit:\n  targets:\n    - {name: a, model: sphere}\n").find("give exactly one of file") !=
        std::string::npos);
  CHECK(config_error("fit:\n  targets:\n    - {name: a, file: x, synth: 2, model: sphere}\n")
            .find("fit.targets[0].synth: give exactly one") != std::string::npos);
  CHECK(config_error("fit:\n  targets:\n    - {name: a, file: x}\n").find("missing required field 'model'") !=
        std::string::npos);
  CHECK(config_error("fit:\n  targets:\n    - {name: a, file: x, model: cylinder}\n")
            .find("'cylinder' is not one of") != std::string::npos);
  CHECK(config_error("fit:\n  targets:\n    - {name: a, file: x, model: sphere}\n    - {name: a, file: y, "
                     "model: sphere}\n")
            .find("f.yaml:4: fit.targets[1].name: target name 'a' is used twice") != std::string::npos);
  CHECK(config_error("fit:\n  targets:\n    - {name: a/b, file: x, model: sphere}\n")
            .find("not a valid folder name") != std::string::npos);
  CHECK(config_error("fit:\n  targets:\n    - {name: a, file: x, model: sphere, q_min: 0.1, q_max: 0.05}\n")
            .find("fit.targets[0].q_max: must be greater than q_min") != std::string::npos);
  CHECK(config_error("fit:\n  targets:\n    - {name: a, file: x, model: sphere, contrast: [1, 2]}\n")
            .find("fit.targets[0].contrast: applies to model core_shell only") != std::string::npos);
  CHECK(config_error("fit:\n  targets:\n    - {name: a, file: x, model: sphere, m_r: [300, 100]}\n")
            .find("fit.targets[0].m_r: expected [lo, hi]") != std::string::npos);
  CHECK(config_error("fit:\n  targets:\n    - {name: a, synth: 1, model: surrogate, format: csv}\n")
            .find("applies to file targets only") != std::string::npos);
  CHECK(config_error("fit:\n  box:\n    rho_rel: [0.5, 1.3]\n")
            .find("fit.box.rho_rel: must lie inside the training box") != std::string::npos);
  CHECK(config_error("fit:\n  quadrature_nodes: 1\n").find("fit.quadrature_nodes") != std::string::npos);
}

TEST_CASE("the shipped configs load and quick.yaml lists the gold baselines and a synthetic surrogate fit") {
  for (const char* name : {"paper", "quick", "ci"}) {
    CAPTURE(name);
    const std::string path = std::string(LNPSAXS_SOURCE_DIR) + "/configs/" + name + ".yaml";
    CHECK_NOTHROW(Config::load(path));
  }
  const Config q = Config::load(std::string(LNPSAXS_SOURCE_DIR) + "/configs/quick.yaml");
  const auto t = fit::targets_from_config(q);
  int baselines = 0, surrogate_synth = 0, headline = 0;
  for (const auto& s : t) {
    if (s.file.find("au_86116_cosaxs.dat") != std::string::npos && s.model != fit::Model::surrogate) {
      for (double qm : {0.02, 0.05, 0.10}) baselines += s.q_max == qm ? 1 : 0;
      if (s.model == fit::Model::sphere && s.q_min == 0.002 && s.q_max == 0.06 && s.background) ++headline;
    }
    if (s.synth > 0 && s.model == fit::Model::surrogate) ++surrogate_synth;
  }
  CHECK(baselines == 6);  // sphere and core_shell at q_max 0.02, 0.05, 0.10
  CHECK(headline == 1);
  CHECK(surrogate_synth >= 1);
}
