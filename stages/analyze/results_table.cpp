#include "results_table.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <sstream>

#include "lnpsaxs/batch.h"
#include "lnpsaxs/checkpoint.h"
#include "lnpsaxs/config.h"
#include "lnpsaxs/errors.h"
#include "lnpsaxs/h5.h"
#include "lnpsaxs/log.h"

namespace lnpsaxs::analysis {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string num(double v) {
  if (!std::isfinite(v)) return "";
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.10g", v);
  return buf;
}

/// CSV field: quoted when it holds a comma, quote or newline (RFC 4180).
std::string field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) out += c == '"' ? std::string("\"\"") : std::string(1, c == '\n' ? ';' : c);
  return out + "\"";
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return in ? std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>()) : std::string();
}

/// The parameter columns: union of (name, unit) over the rows, first-seen order.
std::vector<std::pair<std::string, std::string>> parameter_columns(const std::vector<ResultRow>& rows) {
  std::vector<std::pair<std::string, std::string>> cols;
  for (const ResultRow& r : rows) {
    for (std::size_t j = 0; j < r.names.size(); ++j) {
      bool seen = false;
      for (const auto& c : cols) seen = seen || c.first == r.names[j];
      if (!seen) cols.emplace_back(r.names[j], j < r.units.size() ? r.units[j] : "");
    }
  }
  return cols;
}

double value_of(const ResultRow& r, const std::vector<double>& v, const std::string& name) {
  for (std::size_t j = 0; j < r.names.size() && j < v.size(); ++j) {
    if (r.names[j] == name) return v[j];
  }
  return kNaN;
}

void write_strings(hid_t loc, const std::string& name, const std::vector<std::string>& v) {
  io::H5Id t(io::check(H5Tcopy(H5T_C_S1), "H5Tcopy"), H5Tclose);
  io::check(H5Tset_size(t, H5T_VARIABLE), "H5Tset_size");
  io::check(H5Tset_cset(t, H5T_CSET_UTF8), "H5Tset_cset");
  const hsize_t n = v.size();
  io::H5Id s(io::check(H5Screate_simple(1, &n, nullptr), "H5Screate"), H5Sclose);
  io::H5Id d(io::check(H5Dcreate2(loc, name.c_str(), t, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), "H5Dcreate " + name),
             H5Dclose);
  std::vector<const char*> p;
  for (const auto& x : v) p.push_back(x.c_str());
  if (n > 0) io::check(H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, p.data()), "H5Dwrite " + name);
}

void write_column(hid_t loc, const std::string& name, const std::vector<double>& v, const std::string& unit) {
  static const double dummy = 0;
  io::write_dataset<double>(loc, name, {v.size()}, v.empty() ? &dummy : v.data());
  io::H5Id d = io::open_dataset(loc, name);
  io::set_attr(d, "units", unit);
}

void replace(const std::string& tmp, const std::string& path) {
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) throw RuntimeFailure("cannot rename " + tmp + " to " + path + ": " + ec.message());
}

}  // namespace

ResultRow read_result_row(const std::string& path, const std::string& posterior_h5) {
  io::File f = io::File::open(path, io::File::Mode::read);
  ResultRow r;
  auto need = [&](const char* a) {
    if (!io::has_attr(f, a)) throw InputError(path + ": no attribute " + a + " (not an lnpsaxs analysis file?)");
  };
  for (const char* a : {"target", "model", "source", "q_min", "q_max", "parameter_names", "n_restarts"}) need(a);
  r.target = io::attr_string(f, "target");
  r.model = io::attr_string(f, "model");
  r.source = io::attr_string(f, "source");
  r.q_min = io::attr_double(f, "q_min");
  r.q_max = io::attr_double(f, "q_max");
  r.names = io::attr_strings(f, "parameter_names");
  if (io::has_attr(f, "parameter_units")) r.units = io::attr_strings(f, "parameter_units");
  r.restarts = io::attr_int(f, "n_restarts");
  r.warnings = io::has_attr(f, "warnings") ? io::attr_string(f, "warnings") : "";
  r.loss = io::has_attr(f, "loss_name") ? io::attr_string(f, "loss_name") : "";
  r.quadrature_nodes = io::has_attr(f, "quadrature_nodes") ? io::attr_int(f, "quadrature_nodes") : 0;
  r.chi2_per_n = io::has_attr(f, "chi2_per_n") ? io::attr_double(f, "chi2_per_n") : kNaN;
  if (io::exists(f, "/target/mask")) {
    for (std::uint8_t m : io::read_all<std::uint8_t>(io::open_dataset(f, "/target/mask"))) r.fitted_points += m != 0;
  }
  if (io::exists(f, "/retention")) {
    io::H5Id g = io::ensure_group(f, "/retention");
    if (io::has_attr(g, "n_kept")) r.retained = io::attr_int(g, "n_kept");
  }
  if (io::exists(f, "/clustering")) {
    io::H5Id g = io::ensure_group(f, "/clustering");
    if (io::has_attr(g, "n_clusters")) r.clusters = io::attr_int(g, "n_clusters");
  }
  const std::size_t p = r.names.size();
  r.best.assign(p, kNaN);
  r.mean.assign(p, kNaN);
  r.sd.assign(p, kNaN);
  r.rmse_log = kNaN;
  if (io::exists(f, "/best/params")) {
    r.best = io::read_all<double>(io::open_dataset(f, "/best/params"));
    io::H5Id g = io::ensure_group(f, "/best");
    if (io::has_attr(g, "rmse_log")) r.rmse_log = io::attr_double(g, "rmse_log");
  }
  if (io::exists(f, "/retained/params") && p > 0) {
    const std::vector<double> v = io::read_all<double>(io::open_dataset(f, "/retained/params"));
    const std::size_t k = v.size() / p;
    for (std::size_t j = 0; j < p && k > 0; ++j) {
      double s = 0, s2 = 0;
      for (std::size_t i = 0; i < k; ++i) s += v[i * p + j];
      const double m = s / static_cast<double>(k);
      for (std::size_t i = 0; i < k; ++i) s2 += (v[i * p + j] - m) * (v[i * p + j] - m);
      r.mean[j] = m;
      r.sd[j] = k > 1 ? std::sqrt(s2 / static_cast<double>(k - 1)) : 0.0;
    }
  }
  if (io::has_attr(f, "size_prior")) r.size_prior = io::attr_string(f, "size_prior");
  if (r.retained == 0) r.status = "no retained fit";
  if (!posterior_h5.empty() && io::inspect_output(posterior_h5).state == io::OutputState::complete) {
    io::File pf = io::File::open(posterior_h5, io::File::Mode::read);
    if (io::has_attr(pf, "parameter_names") && io::attr_strings(pf, "parameter_names") == r.names) {
      r.posterior = io::has_attr(pf, "converged") && io::attr_int(pf, "converged") != 0 ? "converged" : "not converged";
      r.post_mean = io::read_all<double>(io::open_dataset(pf, "/summary/mean"));
      r.post_q05 = io::read_all<double>(io::open_dataset(pf, "/summary/q05"));
      r.post_q95 = io::read_all<double>(io::open_dataset(pf, "/summary/q95"));
    }
  }
  return r;
}

ResultRow skipped_row(const std::string& target, const std::string& source, const std::string& why) {
  ResultRow r;
  r.target = target;
  r.source = source;
  r.status = "skipped";
  r.warnings = why;
  r.q_min = r.q_max = r.rmse_log = r.chi2_per_n = kNaN;
  return r;
}

std::string results_csv(const std::vector<ResultRow>& rows) {
  const auto cols = parameter_columns(rows);
  std::ostringstream os;
  os << "target,source,model,loss,status,q_min [1/A],q_max [1/A],fitted_points,K,restarts,retained,clusters,"
        "rmse_log [log10],chi2_per_n,size_prior,posterior";
  for (const char* kind : {"best", "mean", "sd", "post_mean", "post_q05", "post_q95"}) {
    for (const auto& c : cols) os << "," << field(std::string(kind) + "_" + c.first + " [" + c.second + "]");
  }
  os << ",warnings\n";
  for (const ResultRow& r : rows) {
    const bool fitted = r.status != "skipped";
    auto count = [&](std::int64_t v) { return fitted ? std::to_string(v) : std::string(); };
    os << field(r.target) << "," << field(r.source) << "," << field(r.model) << "," << field(r.loss) << ","
       << field(r.status) << "," << num(r.q_min) << "," << num(r.q_max) << "," << count(r.fitted_points) << ","
       << (r.quadrature_nodes > 0 ? std::to_string(r.quadrature_nodes) : "") << "," << count(r.restarts) << ","
       << count(r.retained) << "," << count(r.clusters) << "," << num(r.rmse_log) << "," << num(r.chi2_per_n) << ","
       << field(r.size_prior) << "," << field(r.posterior);
    for (const auto* v : {&r.best, &r.mean, &r.sd, &r.post_mean, &r.post_q05, &r.post_q95}) {
      for (const auto& c : cols) os << "," << num(value_of(r, *v, c.first));
    }
    os << "," << field(r.warnings) << "\n";
  }
  return os.str();
}

bool write_results(const std::string& run_dir, const std::vector<ResultRow>& rows) {
  const std::string csv_path = run_dir + "/results.csv", h5_path = run_dir + "/results.h5";
  const std::string text = results_csv(rows);
  std::error_code ec;
  if (slurp(csv_path) == text && std::filesystem::exists(h5_path, ec)) {
    // Same content: keep the files, but mark them current (lnpsaxs-status compares their time
    // with the analysis files').
    const auto now = std::filesystem::file_time_type::clock::now();
    std::filesystem::last_write_time(csv_path, now, ec);
    std::filesystem::last_write_time(h5_path, now, ec);
    return false;
  }
  {
    std::ofstream out(csv_path + ".partial", std::ios::binary);
    if (!(out << text) || !out.flush()) throw RuntimeFailure(csv_path + ".partial: cannot write the file");
  }
  {
    io::File f = io::File::create(h5_path + ".partial");
    io::set_attr(f, "description", std::string("one row per target (same rows and columns as results.csv); "
                                               "parameters in physical units, NaN where a model lacks one"));
    auto strings = [&](const char* name, auto get) {
      std::vector<std::string> v;
      for (const ResultRow& r : rows) v.push_back(get(r));
      write_strings(f, name, v);
    };
    strings("target", [](const ResultRow& r) { return r.target; });
    strings("source", [](const ResultRow& r) { return r.source; });
    strings("model", [](const ResultRow& r) { return r.model; });
    strings("loss", [](const ResultRow& r) { return r.loss; });
    strings("status", [](const ResultRow& r) { return r.status; });
    strings("warnings", [](const ResultRow& r) { return r.warnings; });
    strings("size_prior", [](const ResultRow& r) { return r.size_prior; });
    strings("posterior", [](const ResultRow& r) { return r.posterior; });
    auto numbers = [&](const char* name, const char* unit, auto get) {
      std::vector<double> v;
      for (const ResultRow& r : rows) v.push_back(get(r));
      write_column(f, name, v, unit);
    };
    numbers("q_min", "1/A", [](const ResultRow& r) { return r.q_min; });
    numbers("q_max", "1/A", [](const ResultRow& r) { return r.q_max; });
    numbers("fitted_points", "1", [](const ResultRow& r) { return static_cast<double>(r.fitted_points); });
    numbers("K", "1", [](const ResultRow& r) { return static_cast<double>(r.quadrature_nodes); });
    numbers("restarts", "1", [](const ResultRow& r) { return static_cast<double>(r.restarts); });
    numbers("retained", "1", [](const ResultRow& r) { return static_cast<double>(r.retained); });
    numbers("clusters", "1", [](const ResultRow& r) { return static_cast<double>(r.clusters); });
    numbers("rmse_log", "log10", [](const ResultRow& r) { return r.rmse_log; });
    numbers("chi2_per_n", "1", [](const ResultRow& r) { return r.chi2_per_n; });
    for (const auto& c : parameter_columns(rows)) {
      const std::string& n = c.first;
      for (const char* kind : {"best", "mean", "sd", "post_mean", "post_q05", "post_q95"}) {
        std::vector<double> v;
        for (const ResultRow& r : rows) {
          const std::string k = kind;
          v.push_back(value_of(r, k == "best"       ? r.best
                                  : k == "mean"     ? r.mean
                                  : k == "sd"       ? r.sd
                                  : k == "post_mean" ? r.post_mean
                                  : k == "post_q05" ? r.post_q05
                                                    : r.post_q95,
                               n));
        }
        io::ensure_group(f, std::string("/") + kind);
        write_column(f, std::string("/") + kind + "/" + n, v, c.second);
      }
    }
  }
  replace(csv_path + ".partial", csv_path);
  replace(h5_path + ".partial", h5_path);
  return true;
}

void update_results(const config::Config& cfg, const std::string& run_dir) {
  namespace fs = std::filesystem;
  auto path = [&run_dir](const std::string& rel) { return (fs::path(run_dir) / rel).string(); };
  std::vector<std::string> order;
  std::vector<ResultRow> rows;
  for (const auto& r : cfg.records("fit.targets")) order.push_back(r.string("name"));
  const bool skip_bad = cfg.boolean("fit.batch_skip_bad");
  std::vector<std::pair<std::string, ResultRow>> skipped;
  for (const batch::Member& m : batch::members(cfg, skip_bad)) {
    if (!m.problem.empty()) {
      log::warn("{}: skipped (fit.batch_skip_bad): {}", m.name, m.problem);
      skipped.emplace_back(m.name, skipped_row(m.name, m.file, m.problem));
    } else {
      order.push_back(m.name);
    }
  }
  std::vector<std::string> others;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(path("analysis"), ec)) {
    if (e.path().extension() == ".h5") others.push_back(e.path().stem().string());
  }
  std::sort(others.begin(), others.end());
  for (const auto& o : others) {
    if (std::find(order.begin(), order.end(), o) == order.end()) order.push_back(o);
  }
  for (const std::string& n : order) {
    const std::string a = path("analysis/" + n + ".h5");
    if (io::inspect_output(a).state != io::OutputState::complete) continue;
    try {
      rows.push_back(read_result_row(a, path("posterior/" + n + "/posterior.h5")));
    } catch (const std::exception& e) {
      log::warn("results table: {}: {}", a, e.what());
    }
  }
  for (auto& s : skipped) rows.push_back(std::move(s.second));
  const bool wrote = write_results(run_dir, rows);
  log::info("results table {}: {} ({} rows{})", wrote ? "written" : "unchanged", path("results.csv"), rows.size(),
            skipped.empty() ? "" : ", " + std::to_string(skipped.size()) + " skipped");
}

}  // namespace lnpsaxs::analysis
