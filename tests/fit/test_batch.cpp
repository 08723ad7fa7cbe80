// fit.batch and --data A B ...: expansion of globs into one target per file (names from the file
// stem, safe and unique), per-member fingerprints (adding a file leaves the others' unchanged),
// and unreadable members (one line naming the file, or skipped with fit.batch_skip_bad).
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <string>

#include "batch.h"
#include "lnpsaxs/batch.h"
#include "lnpsaxs/config.h"
#include "lnpsaxs/errors.h"
#include "lnpsaxs/stages.h"

namespace fs = std::filesystem;
using lnpsaxs::InputError;
using lnpsaxs::config::Config;
namespace batch = lnpsaxs::batch;
namespace fit = lnpsaxs::fit;

namespace {
struct BatchDir {
  fs::path path;
  BatchDir() {
    char tmpl[] = "/tmp/lnpsaxs-batch-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~BatchDir() { fs::remove_all(path); }
  /// A valid 3-column curve of 6 points.
  std::string curve(const std::string& name) const {
    const std::string p = (path / name).string();
    std::ofstream out(p);
    for (int i = 1; i <= 6; ++i) out << 0.01 * i << " " << 100.0 / i << " " << 1.0 / i << "\n";
    return p;
  }
  Config config(const std::string& extra = "") const {
    return Config::from_string("fit:\n" + extra +
                                   "  targets:\n"
                                   "    - {name: b, file: x.dat, model: sphere}\n"
                                   "  batch:\n"
                                   "    - {files: '" + (path / "*.dat").string() + "', model: sphere, restarts: 4}\n",
                               "f.yaml");
  }
};

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST_CASE("member names: file stems made safe and unique, against fit.targets too") {
  CHECK(batch::safe_name("run 3 (dil.1:2)") == "run_3__dil.1_2_");
  CHECK(batch::safe_name("") == "curve");
  std::set<std::string> taken{"a"};
  CHECK(batch::unique_name("a", taken) == "a-2");
  CHECK(batch::unique_name("a", taken) == "a-3");
  CHECK(batch::unique_name("b", taken) == "b");

  BatchDir d;
  d.curve("b.dat");  // collides with the fit.targets name b
  d.curve("c 1.dat");
  d.curve("a.dat");
  fs::create_directory(d.path / "sub.dat");  // a folder matching the glob is not a member
  const auto m = batch::members(d.config(), false);
  REQUIRE(m.size() == 3);
  CHECK(m[0].name == "a");  // glob matches are sorted
  CHECK(m[1].name == "b-2");
  CHECK(m[2].name == "c_1");
  CHECK(m[2].where.find("fit.batch[0]") != std::string::npos);
  const auto t = fit::batch_targets(d.config(), nullptr);
  REQUIRE(t.size() == 3);
  CHECK(t[1].file == (d.path / "b.dat").string());
  CHECK(t[1].restarts == 4);
  CHECK(t[1].model == fit::Model::sphere);
}

TEST_CASE("adding a file to the glob leaves every other member's fingerprint unchanged") {
  BatchDir d;
  d.curve("s01.dat");
  d.curve("s03.dat");
  const Config before = d.config();
  const std::string f1 = lnpsaxs::stages::fingerprint(before, "fit", "s01");
  const std::string f3 = lnpsaxs::stages::fingerprint(before, "analyze", "s03");
  const std::string old_b = lnpsaxs::stages::fingerprint(before, "fit", "b");
  d.curve("s02.dat");  // sorts between them
  const Config after = d.config();
  CHECK(lnpsaxs::stages::fingerprint(after, "fit", "s01") == f1);
  CHECK(lnpsaxs::stages::fingerprint(after, "analyze", "s03") == f3);
  CHECK(lnpsaxs::stages::fingerprint(after, "fit", "b") == old_b);
  CHECK(lnpsaxs::stages::is_configured_target(after, "s02"));
  // Files given as a list: the list itself is not part of any member's identity.
  auto listed = [&](const std::string& files) {
    return Config::from_string("fit:\n  targets:\n    - {name: b, file: x.dat, model: sphere}\n  batch:\n"
                               "    - {files: [" + files + "], model: sphere, restarts: 4}\n", "l.yaml");
  };
  const std::string a1 = (d.path / "s01.dat").string(), a2 = (d.path / "s02.dat").string(),
                    a3 = (d.path / "s03.dat").string();
  const Config two = listed(a1 + ", " + a3), three = listed(a1 + ", " + a2 + ", " + a3);
  CHECK(lnpsaxs::stages::fingerprint(two, "fit", "s01") == lnpsaxs::stages::fingerprint(three, "fit", "s01"));
  CHECK(lnpsaxs::stages::fingerprint(two, "analyze", "s03") == lnpsaxs::stages::fingerprint(three, "analyze", "s03"));
  CHECK(lnpsaxs::stages::fingerprint(two, "fit", "b") == lnpsaxs::stages::fingerprint(three, "fit", "b"));
  // A member's own record still matters: another model or window is another fit.
  const Config other = Config::from_string(
      "fit:\n  batch:\n    - {files: '" + (d.path / "*.dat").string() + "', model: sphere, restarts: 5}\n", "g.yaml");
  CHECK(lnpsaxs::stages::fingerprint(other, "fit", "s01") != f1);
  const auto outs = lnpsaxs::stages::pipeline_outputs(after);
  int members = 0;
  for (const auto& o : outs) {
    if (o.stage != "fit") continue;
    for (const auto& p : o.outputs) members += p.find("fits/s0") == 0;
  }
  CHECK(members == 3);
}

TEST_CASE("an unreadable member stops with one line naming it, or is skipped with fit.batch_skip_bad") {
  BatchDir d;
  d.curve("a.dat");
  std::ofstream(d.path / "bad.dat") << "q I\nnot numbers\n";
  d.curve("c.dat");
  const std::string e = error_of([&] { batch::members_to_fit(d.config()); });
  CHECK(e.find("bad.dat") != std::string::npos);
  CHECK(e.find("fit.batch[0]") != std::string::npos);
  CHECK(e.find('\n') == std::string::npos);
  std::vector<batch::Member> skipped;
  const auto t = fit::batch_targets(d.config("  batch_skip_bad: true\n"), &skipped);
  REQUIRE(t.size() == 2);
  CHECK(t[0].name == "a");
  CHECK(t[1].name == "c");
  REQUIRE(skipped.size() == 1);
  CHECK(skipped[0].name == "bad");
  CHECK(skipped[0].problem.find("bad.dat") != std::string::npos);
}

TEST_CASE("a glob that matches nothing, and --data with several files") {
  BatchDir d;
  const std::string e = error_of([&] { batch::members(d.config(), false); });
  CHECK(e.find("matches no file") != std::string::npos);
  CHECK(e.find("fit.batch[0].files") != std::string::npos);
  d.curve("x-1.dat");
  d.curve("x 2.dat");
  fit::TargetSpec tmpl;
  tmpl.model = fit::Model::core_shell;
  const auto t = fit::command_line_targets(tmpl, {(d.path / "x*.dat").string(), (d.path / "x-1.dat").string()}, "");
  REQUIRE(t.size() == 2);  // the repeated file counts once
  CHECK(t[0].name == "x_2_core_shell");
  CHECK(t[1].name == "x-1_core_shell");
  CHECK(error_of([&] { fit::command_line_targets(tmpl, {(d.path / "x*.dat").string()}, "mine"); })
            .find("--name mine names one target") != std::string::npos);
  CHECK(error_of([&] { fit::command_line_targets(tmpl, {(d.path / "nope*.dat").string()}, ""); })
            .find("'" + (d.path / "nope*.dat").string() + "' matches no file") != std::string::npos);
}
