// Config loader: schema validation with key paths and line numbers (issue 2 acceptance).
#include <doctest/doctest.h>

#include <string>

#include "lnpsaxs/config.h"
#include "lnpsaxs/errors.h"

using lnpsaxs::ConfigError;
using lnpsaxs::config::Config;

namespace {
std::string error_of(const std::string& yaml) {
  try {
    Config::from_string(yaml, "t.yaml");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST_CASE("an empty config resolves to the documented defaults") {
  Config c = Config::from_string("", "empty.yaml");
  CHECK(c.integer("sample.n_train") == 32768);
  CHECK(c.integer("sample.n_test") == 1024);
  CHECK(c.range("parameters.radius") == std::pair<double, double>(100, 500));
  CHECK(c.range("parameters.m_q1") == std::pair<double, double>(0.05, 0.15));
  CHECK(c.string("sample.randomisation") == "owen");
  CHECK_FALSE(c.given("sample.n_train"));
  CHECK(c.sha256().size() == 64);
}

TEST_CASE("given values override defaults and keep their line") {
  Config c = Config::from_string("sample:\n  n_train: 64\n  n_test: 16\n", "t.yaml");
  CHECK(c.integer("sample.n_train") == 64);
  CHECK(c.line("sample.n_train") == 2);
  CHECK(c.line("sample.n_test") == 3);
}

TEST_CASE("unknown key is an error naming the key path and line") {
  const std::string e = error_of("run:\n  seed: 3\nsample:\n  n_trian: 64\n");
  CHECK(e.find("t.yaml:4") != std::string::npos);
  CHECK(e.find("sample.n_trian") != std::string::npos);
  CHECK(e.find("unknown key") != std::string::npos);
  CHECK(e.find("did you mean 'sample.n_train'") != std::string::npos);
  CHECK(error_of("smaple:\n  n_train: 64\n").find("smaple") != std::string::npos);
}

TEST_CASE("wrong type is an error naming the key") {
  std::string e = error_of("sample:\n  n_train: many\n");
  CHECK(e.find("t.yaml:2") != std::string::npos);
  CHECK(e.find("sample.n_train") != std::string::npos);
  CHECK(e.find("expected an integer") != std::string::npos);
  CHECK(error_of("sample:\n  n_train: 64.5\n").find("expected an integer") != std::string::npos);
  CHECK(error_of("parameters:\n  radius: 300\n").find("parameters.radius: expected a range") != std::string::npos);
  CHECK(error_of("sample:\n  randomisation: sobolish\n").find("not one of") != std::string::npos);
  CHECK(error_of("sample: 5\n").find("sample: expected a section") != std::string::npos);
}

TEST_CASE("out-of-range values and inverted bounds are errors naming the key") {
  std::string e = error_of("sample:\n  n_train: -5\n");
  CHECK(e.find("sample.n_train") != std::string::npos);
  CHECK(e.find("out of range") != std::string::npos);
  e = error_of("parameters:\n  radius: [500, 100]\n");
  CHECK(e.find("t.yaml:2") != std::string::npos);
  CHECK(e.find("parameters.radius") != std::string::npos);
  CHECK(e.find("must be < upper bound") != std::string::npos);
  e = error_of("parameters:\n  w: [0, 1.5]\n");
  CHECK(e.find("parameters.w") != std::string::npos);
  CHECK(e.find("upper bound 1.5 is out of range") != std::string::npos);
  e = error_of("parameters:\n  radius: [0, 100]\n");
  CHECK(e.find("must be > 0") != std::string::npos);
}

TEST_CASE("cross-key checks name the key") {
  std::string e = error_of("parameters:\n  radius: [50, 500]\n");
  CHECK(e.find("parameters.shell_thickness") != std::string::npos);
  e = error_of("size_distribution:\n  m_r: [50, 350]\n");
  CHECK(e.find("size_distribution.m_r") != std::string::npos);
}

TEST_CASE("YAML syntax errors and missing files are config errors with the file name") {
  CHECK(error_of("sample:\n  n_train: [1, 2\n").find("YAML syntax error") != std::string::npos);
  CHECK_THROWS_WITH_AS(Config::load("/nonexistent/dir/x.yaml"),
                       doctest::Contains("/nonexistent/dir/x.yaml: cannot read"), ConfigError);
  CHECK(error_of("- 1\n- 2\n").find("must be a mapping") != std::string::npos);
  CHECK(error_of("sample:\n  n_train: 1\n  n_train: 2\n").find("sample.n_train") != std::string::npos);
}

TEST_CASE("the resolved text is canonical: equal values hash equally however written") {
  Config a = Config::from_string("parameters:\n  m_q1: [0.05, 0.15]\n", "a.yaml");
  Config b = Config::from_string("parameters: {m_q1: [5e-2, 1.5e-1]}\n", "b.yaml");
  CHECK(a.sha256() == b.sha256());
  Config c = Config::from_string("sample:\n  n_test: 512\n", "c.yaml");
  CHECK(a.sha256() != c.sha256());
  // The resolved text reloads to the same config.
  Config r = Config::from_string(a.resolved_yaml(), "resolved.yaml");
  CHECK(r.sha256() == a.sha256());
}

TEST_CASE("fingerprints depend only on the named sections") {
  Config a = Config::from_string("run:\n  dir: x\nsample:\n  n_train: 64\n", "a.yaml");
  Config b = Config::from_string("run:\n  dir: y\nsample:\n  n_train: 64\n", "b.yaml");
  Config c = Config::from_string("run:\n  dir: x\nsample:\n  n_train: 128\n", "c.yaml");
  const std::vector<std::string> sections{"run.seed", "parameters", "sample"};
  CHECK(a.sha256() != b.sha256());
  CHECK(a.fingerprint(sections) == b.fingerprint(sections));
  CHECK(a.fingerprint(sections) != c.fingerprint(sections));
  CHECK(a.fingerprint({"parameters"}) == c.fingerprint({"parameters"}));
}

TEST_CASE("every shipped config loads") {
  for (const char* name : {"paper.yaml", "quick.yaml", "ci.yaml"}) {
    CAPTURE(name);
    CHECK_NOTHROW(Config::load(std::string(LNPSAXS_SOURCE_DIR) + "/configs/" + name));
  }
  Config paper = Config::load(std::string(LNPSAXS_SOURCE_DIR) + "/configs/paper.yaml");
  CHECK(paper.integer("sample.n_train") == 32768);
  CHECK(paper.integer("sample.n_test") == 1024);
}

TEST_CASE("record lists validate each field, fill defaults and name the element at fault") {
  using lnpsaxs::config::Kind;
  using lnpsaxs::config::KeySpec;
  lnpsaxs::config::Schema s;
  KeySpec targets;
  targets.path = "fit.targets";
  targets.kind = Kind::records;
  targets.default_yaml = "[]";
  KeySpec name;
  name.path = "name";
  name.kind = Kind::string;
  name.doc = "target name";
  KeySpec model;
  model.path = "model";
  model.kind = Kind::choice;
  model.choices = {"sphere", "core_shell", "surrogate"};
  model.default_yaml = "sphere";
  KeySpec qmax;
  qmax.path = "q_max";
  qmax.kind = Kind::real;
  qmax.default_yaml = "0.2";
  qmax.min = 0.0;
  qmax.min_exclusive = true;
  targets.fields = {name, model, qmax};
  s.add(targets);

  Config c = Config::from_string("fit:\n  targets:\n    - {name: gold, q_max: 0.05}\n    - name: lnp\n      model: surrogate\n", "f.yaml", s);
  const auto r = c.records("fit.targets");
  REQUIRE(r.size() == 2);
  CHECK(r[0].string("name") == "gold");
  CHECK(r[0].string("model") == "sphere");
  CHECK(r[0].real("q_max") == 0.05);
  CHECK(r[1].string("model") == "surrogate");
  CHECK(r[1].real("q_max") == 0.2);
  CHECK(r[1].where("model") == "f.yaml:5: fit.targets[1].model: ");
  CHECK(Config::from_string(c.resolved_yaml(), "again.yaml", s).sha256() == c.sha256());
  CHECK(Config::from_string("", "e.yaml", s).records("fit.targets").empty());

  // A run's identity is its values: rewording a description changes the commented text only.
  lnpsaxs::config::Schema reworded;
  targets.fields[0].doc = "the target's name, as results tables show it";
  targets.doc = "targets to fit";
  reworded.add(targets);
  const char* text = "fit:\n  targets:\n    - {name: gold}\n";
  const Config before = Config::from_string(text, "f.yaml", s), after = Config::from_string(text, "f.yaml", reworded);
  CHECK(before.resolved_yaml() != after.resolved_yaml());
  CHECK(before.sha256() == after.sha256());
  CHECK(before.fingerprint({"fit"}) == after.fingerprint({"fit"}));

  auto err = [&](const std::string& y) {
    try {
      Config::from_string(y, "f.yaml", s);
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  CHECK(err("fit:\n  targets:\n    - {name: a, modle: sphere}\n").find("fit.targets[0].modle: unknown field (did you mean 'model'?)") != std::string::npos);
  CHECK(err("fit:\n  targets:\n    - {model: sphere}\n").find("fit.targets[0]: missing required field 'name'") != std::string::npos);
  CHECK(err("fit:\n  targets:\n    - {name: a}\n    - {name: b, q_max: -1}\n").find("f.yaml:4: fit.targets[1].q_max") != std::string::npos);
  CHECK(err("fit:\n  targets: 3\n").find("expected a list of mappings") != std::string::npos);
}
