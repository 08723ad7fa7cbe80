#include "lnpsaxs/batch.h"

#include <glob.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <filesystem>

#include "lnpsaxs/config.h"
#include "lnpsaxs/errors.h"
#include "lnpsaxs/saxs_data.h"

namespace lnpsaxs::batch {
namespace {

/// RAII owner of a glob_t.
struct Glob {
  glob_t g{};
  ~Glob() { globfree(&g); }
};

/// Quiets the readers' per-file info lines while members are checked (the fit logs them when it reads).
struct QuietLog {
  spdlog::level::level_enum old = spdlog::get_level();
  QuietLog() {
    if (old < spdlog::level::warn) spdlog::set_level(spdlog::level::warn);
  }
  ~QuietLog() { spdlog::set_level(old); }
};

bool has_glob_chars(const std::string& s) { return s.find_first_of("*?[") != std::string::npos; }

}  // namespace

std::vector<std::string> expand_files(const std::vector<std::string>& patterns, const std::string& where) {
  std::vector<std::string> out;
  std::set<std::string> seen;
  auto add = [&](const std::string& f) {
    if (seen.insert(std::filesystem::path(f).lexically_normal().string()).second) out.push_back(f);
  };
  for (const std::string& p : patterns) {
    if (!has_glob_chars(p)) {  // a plain path: the reader says what is wrong with it ("cannot open")
      add(p);
      continue;
    }
    Glob g;
    const int rc = glob(p.c_str(), GLOB_ERR, nullptr, &g.g);
    if (rc == GLOB_NOMATCH || (rc == 0 && g.g.gl_pathc == 0)) {
      throw InputError(where + "'" + p + "' matches no file");
    }
    if (rc != 0) throw InputError(where + "'" + p + "': cannot expand the glob (a directory cannot be read)");
    for (std::size_t i = 0; i < g.g.gl_pathc; ++i) {
      const std::string f = g.g.gl_pathv[i];
      std::error_code ec;
      if (std::filesystem::is_directory(f, ec)) continue;
      add(f);
    }
  }
  return out;
}

std::string safe_name(const std::string& stem) {
  std::string s = stem;
  for (char& c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') c = '_';
  }
  if (s.empty() || s == "." || s == "..") s = "curve" + s;
  return s;
}

std::string unique_name(const std::string& base, std::set<std::string>& taken) {
  std::string name = base;
  for (int k = 2; taken.count(name); ++k) name = base + "-" + std::to_string(k);
  taken.insert(name);
  return name;
}

std::vector<Member> members(const config::Config& cfg, bool check_files) {
  std::vector<Member> out;
  if (!cfg.schema().find("fit.batch")) return out;
  std::set<std::string> taken;
  for (const config::Record& r : cfg.records("fit.targets")) taken.insert(r.string("name"));
  const std::vector<config::Record> recs = cfg.records("fit.batch");
  for (std::size_t i = 0; i < recs.size(); ++i) {
    const config::Record& r = recs[i];
    const std::string where = r.where("files");
    for (const std::string& f : expand_files(r.strings("files"), where)) {
      Member m;
      m.file = f;
      m.record = i;
      m.where = where.substr(0, where.size() - std::string(".files: ").size());
      m.name = unique_name(safe_name(std::filesystem::path(f).stem().string()) + r.string("suffix"), taken);
      if (check_files) {
        const QuietLog quiet;
        try {
          const io::Curve c =
              io::read_curve(f, io::parse_curve_format(r.string("format")), io::parse_q_unit(r.string("q_unit")));
          if (c.q.size() < 3) m.problem = f + ": only " + std::to_string(c.q.size()) + " points with I > 0";
        } catch (const std::exception& e) {
          m.problem = e.what();
        }
      }
      out.push_back(std::move(m));
    }
  }
  return out;
}

std::vector<Member> members_to_fit(const config::Config& cfg, std::vector<Member>* skipped) {
  const bool skip = cfg.boolean("fit.batch_skip_bad");
  std::vector<Member> all = members(cfg, true), keep;
  for (Member& m : all) {
    if (m.problem.empty()) {
      keep.push_back(std::move(m));
    } else if (!skip) {
      throw InputError(m.where + ": " + m.problem + " (fix or remove the file, or set fit.batch_skip_bad: true)");
    } else if (skipped) {
      skipped->push_back(std::move(m));
    }
  }
  return keep;
}

std::int64_t default_restarts(const config::Config& cfg, bool surrogate, bool synthetic) {
  if (!surrogate) return cfg.integer("fit.restarts_baseline");
  return cfg.integer(synthetic ? "fit.restarts_synthetic" : "fit.restarts_experimental");
}

std::string member_canonical(const config::Config& cfg, const Member& m) {
  return cfg.records("fit.batch").at(m.record).canonical_except("files") + "\nmember name=" + m.name +
         ";file=" + m.file;
}

}  // namespace lnpsaxs::batch
