#include "run_state.h"

#include <filesystem>
#include <map>
#include <fstream>
#include <set>

#include "lnpsaxs/batch.h"
#include "lnpsaxs/checkpoint.h"
#include "lnpsaxs/config.h"
#include "lnpsaxs/stages.h"

namespace fs = std::filesystem;

namespace lnpsaxs::pipeline {

const char* to_string(State s) {
  switch (s) {
    case State::complete: return "complete";
    case State::stale: return "stale";
    case State::partial: return "partial";
    case State::damaged: return "damaged";
    case State::incomplete: return "incomplete";
    case State::missing: return "missing";
  }
  return "?";
}

namespace {
/// Any NAME.partial below `dir` (a stage's shard folder)?
std::string find_partial(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return "";
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.path().extension() == ".partial") return e.path().string();
  }
  return "";
}
StageState* find(std::vector<StageState>& states, const std::string& stage) {
  for (auto& s : states) {
    if (s.stage == stage) return &s;
  }
  return nullptr;
}

/// A stage is complete only while what it read is: its upstream stages (which can have lost a
/// shard or a file since) and, for fit, the data files of its targets.
void require_inputs(const config::Config& cfg, std::vector<StageState>& states) {
  std::map<std::string, std::vector<std::string>> inputs = {
      {"simulate", {"sample"}}, {"train", {"simulate"}}, {"analyze", {"fit"}}, {"posterior", {"analyze"}},
      {"report", {"analyze"}}};
  std::vector<std::string> files;
  if (cfg.schema().find("fit.targets")) {
    for (const auto& r : cfg.records("fit.targets")) {
      if (r.string("model") == "surrogate") inputs["fit"].push_back("train");
      if (r.integer("synth") > 0) inputs["fit"].push_back("synth");
      if (!r.string("file").empty()) files.push_back(r.string("file"));
    }
  }
  for (auto& st : states) {  // pipeline order: an upstream verdict is final before it is read
    if (st.state != State::complete) continue;
    for (const auto& up : inputs[st.stage]) {
      const StageState* u = find(states, up);
      if (u && u->state != State::complete) {
        st.state = State::incomplete;
        st.note = "its input stage " + up + " is " + to_string(u->state) + (u->note.empty() ? "" : " (" + u->note + ")");
        break;
      }
    }
    if (st.stage == "fit" && st.state == State::complete) {
      for (const auto& f : files) {
        std::error_code ec;
        if (!fs::is_regular_file(f, ec)) {
          st.state = State::incomplete;
          st.note = "its input data file " + f + " is missing";
          break;
        }
      }
    }
  }
}

/// Why RUN/results.csv is out of date ("" if it is not): missing, older than an analysis file,
/// or not listing every analysed target and skipped batch member (`expected`).
std::string results_out_of_date(const std::string& run_dir, const std::set<std::string>& expected) {
  std::error_code ec;
  const fs::path table = fs::path(run_dir) / "results.csv";
  if (!fs::exists(table, ec)) return "results.csv missing";
  {
    std::ifstream in(table);
    std::string line;
    std::set<std::string> listed;
    std::getline(in, line);  // header
    while (std::getline(in, line)) listed.insert(line.substr(0, line.find(',')));
    for (const auto& n : expected) {
      if (!listed.count(n)) return "results.csv lacks " + n;
    }
  }
  const auto t = fs::last_write_time(table, ec);
  for (const auto& e : fs::directory_iterator(fs::path(run_dir) / "analysis", ec)) {
    if (e.path().extension() == ".h5" && fs::last_write_time(e.path(), ec) > t) {
      return "results.csv out of date (" + e.path().filename().string() + " is newer)";
    }
  }
  return "";
}
}  // namespace

std::vector<StageState> run_state(const config::Config& cfg, const std::string& run_dir) {
  std::vector<StageState> out;
  for (const auto& so : stages::pipeline_outputs(cfg)) {
    StageState st;
    st.stage = so.stage;
    st.total = static_cast<int>(so.outputs.size());
    int stale = 0, partial = 0, damaged = 0;
    for (std::size_t i = 0; i < so.outputs.size(); ++i) {
      const fs::path p = fs::path(run_dir) / so.outputs[i];
      st.outputs.push_back(p.string());
      const io::OutputInfo info = io::inspect_output(p.string());
      const std::string target = so.targets.empty() ? "" : so.targets[i];
      if (info.state == io::OutputState::complete) {
        if (info.stage_sha256 == stages::fingerprint(cfg, so.stage, target)) {
          ++st.complete;
          st.created_utc = std::max(st.created_utc, info.created_utc);
        } else {
          ++stale;
          st.note = so.outputs[i] + " made under another config";
        }
      } else if (info.state == io::OutputState::damaged) {
        ++damaged;
        st.note = so.outputs[i] + " " + info.problem;
      } else {
        // A stage with shards may have no NAME.partial yet but shard files in progress.
        std::string part = info.state == io::OutputState::partial ? info.path : "";
        if (part.empty() && (so.stage == "simulate" || so.stage == "synth" || so.stage == "fit" ||
                              so.stage == "posterior")) {
          part = find_partial(so.stage == "simulate" ? fs::path(run_dir) / "curves" : p.parent_path());
        }
        if (!part.empty()) {
          ++partial;
          st.note = "in progress: " + fs::path(part).filename().string();
        }
      }
    }
    if (st.total == 0) {
      st.state = State::complete;
      st.note = so.stage == "posterior" ? "not enabled (posterior.enabled: false)" : "nothing configured";
    } else if (st.complete == st.total) {
      st.state = State::complete;
    } else if (partial > 0) {
      st.state = State::partial;
    } else if (damaged > 0) {
      st.state = State::damaged;
    } else if (stale > 0) {
      st.state = State::stale;
    } else if (st.complete > 0) {
      st.state = State::incomplete;
    } else {
      st.state = State::missing;
    }
    if (so.stage == "analyze" && st.state == State::complete && st.total > 0) {
      // RUN/results.csv (written by analyze) must be at least as new as every analysis file.
      std::set<std::string> expected(so.targets.begin(), so.targets.end());
      if (cfg.boolean("fit.batch_skip_bad")) {
        for (const auto& m : batch::members(cfg, true)) {
          if (!m.problem.empty()) expected.insert(m.name);
        }
      }
      const std::string why = results_out_of_date(run_dir, expected);
      if (!why.empty()) {
        st.state = State::incomplete;
        st.note = why + ": rerun lnpsaxs-analyze to regenerate it";
      }
    }
    out.push_back(st);
  }
  // The report: an HTML page rendered from the analysis files (no fingerprint of its own).
  StageState rep;
  rep.stage = "report";
  rep.total = 1;
  const fs::path index = fs::path(run_dir) / "report" / "index.html";
  rep.outputs.push_back(index.string());
  std::error_code ec;
  if (fs::exists(index, ec)) {
    rep.complete = 1;
    rep.state = State::complete;
  }
  out.push_back(rep);
  require_inputs(cfg, out);
  return out;
}

}  // namespace lnpsaxs::pipeline
