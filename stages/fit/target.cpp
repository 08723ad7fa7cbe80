#include "target.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <limits>
#include <sstream>

#include "lnpsaxs/checkpoint.h"
#include "lnpsaxs/config.h"
#include "lnpsaxs/errors.h"
#include "lnpsaxs/h5.h"
#include "lnpsaxs/log.h"
#include "lnpsaxs/physics/interpolate.h"
#include "lnpsaxs/saxs_data.h"
#include "lnpsaxs/sha256.h"

namespace lnpsaxs::fit {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string list_text(const std::vector<double>& v) {
  std::ostringstream os;
  os.precision(17);
  os << "[";
  for (std::size_t i = 0; i < v.size(); ++i) os << (i ? "," : "") << v[i];
  os << "]";
  return os.str();
}

std::string file_sha256(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path + ": cannot open the file");
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return sha256_hex(bytes);
}

/// Reads RUN/targets/case-K.h5 into a Curve-like (q, I) pair plus the ground truth.
void read_synthetic(const std::string& path, std::vector<double>& q, std::vector<double>& intensity,
                    PreparedTarget& out) {
  const io::OutputInfo info = io::inspect_output(path);
  if (info.state != io::OutputState::complete) {
    throw InputError(path + (info.state == io::OutputState::missing ? " is missing" : " is incomplete") +
                     ": run lnpsaxs-synth first (same --config and --run-dir)");
  }
  io::File f = io::File::open(path, io::File::Mode::read);
  for (const char* ds : {"/q", "/intensity"}) {
    if (!io::exists(f, ds)) throw InputError(path + ": no dataset " + ds + " (not a synth target?)");
  }
  q = io::read_all<double>(io::open_dataset(f, "/q"));
  intensity = io::read_all<double>(io::open_dataset(f, "/intensity"));
  if (q.size() != intensity.size() || q.size() < 3) {
    throw InputError(path + ": /q and /intensity must have the same length >= 3");
  }
  for (std::size_t i = 0; i < q.size(); ++i) {
    if (!std::isfinite(q[i]) || (i > 0 && !(q[i] > q[i - 1]))) {
      throw InputError(path + ":/q[" + std::to_string(i) + "]: q must be finite and strictly increasing");
    }
    if (!std::isfinite(intensity[i]) || !(intensity[i] > 0)) {
      throw InputError(path + ":/intensity[" + std::to_string(i) + "]: intensity must be finite and > 0");
    }
  }
  if (io::has_attr(f, "truth_names")) out.truth_names = io::attr_strings(f, "truth_names");
  if (io::has_attr(f, "truth_values")) out.truth_values = io::attr_doubles(f, "truth_values");
  if (out.truth_names.size() != out.truth_values.size()) {
    throw InputError(path + ": attributes truth_names and truth_values differ in length");
  }
  out.identity = "synth " + info.stage_sha256 + " " + info.created_utc;
}

}  // namespace

std::string TargetSpec::canonical() const {
  std::ostringstream os;
  os.precision(17);
  os << "name=" << name << ";file=" << file << ";synth=" << synth << ";format=" << format
     << ";q_unit=" << q_unit << ";model=" << model_name(model) << ";q_min=" << q_min << ";q_max=" << q_max
     << ";background=" << background << ";weighting=" << (sigma_weighting ? "sigma" : "none")
     << ";restarts=" << restarts << ";steps=" << steps << ";m_r=" << list_text(m_r)
     << ";s_r=" << list_text(s_r) << ";truncation=" << list_text(truncation)
     << ";shell_thickness=" << list_text(shell_thickness) << ";contrast=" << list_text(contrast);
  return os.str();
}

std::string TargetSpec::source() const { return synth > 0 ? "synth:" + std::to_string(synth) : file; }

std::vector<TargetSpec> targets_from_config(const config::Config& cfg) {
  std::vector<TargetSpec> out;
  for (const config::Record& r : cfg.records("fit.targets")) {
    TargetSpec t;
    t.name = r.string("name");
    t.file = r.string("file");
    t.synth = static_cast<int>(r.integer("synth"));
    t.format = r.string("format");
    t.q_unit = r.string("q_unit");
    t.model = parse_model(r.string("model"));
    t.q_min = r.real("q_min");
    t.q_max = r.real("q_max");
    t.background = r.boolean("background");
    t.sigma_weighting = r.string("weighting") == "sigma";
    t.restarts = r.integer("restarts");
    t.steps = r.integer("steps");
    t.m_r = r.reals("m_r");
    t.s_r = r.reals("s_r");
    t.truncation = r.reals("truncation");
    t.shell_thickness = r.reals("shell_thickness");
    t.contrast = r.reals("contrast");
    t.where = r.where("name");
    t.where = t.where.substr(0, t.where.size() - std::string(".name: ").size());
    out.push_back(std::move(t));
  }
  return out;
}

std::int64_t restarts_for(const TargetSpec& t, const config::Config& cfg) {
  if (t.restarts > 0) return t.restarts;
  if (t.model != Model::surrogate) return cfg.integer("fit.restarts_baseline");
  return t.synth > 0 ? cfg.integer("fit.restarts_synthetic") : cfg.integer("fit.restarts_experimental");
}

std::vector<double> trapezoid_weights(const std::vector<double>& q, std::int64_t begin, std::int64_t end) {
  if (end - begin < 2) throw InputError("trapezoid rule needs at least 2 points");
  std::vector<double> c(static_cast<std::size_t>(end - begin), 0.0);
  for (std::int64_t i = begin; i + 1 < end; ++i) {
    const double h = 0.5 * (q[static_cast<std::size_t>(i + 1)] - q[static_cast<std::size_t>(i)]);
    c[static_cast<std::size_t>(i - begin)] += h;
    c[static_cast<std::size_t>(i + 1 - begin)] += h;
  }
  return c;
}

std::vector<double> PreparedTarget::truth_for(const Layout& layout) const {
  std::vector<double> out(layout.size(), kNaN);
  for (std::size_t j = 0; j < layout.size(); ++j) {
    const std::string& n = layout[j].name;
    if (n == "background" && spec.synth > 0) {
      out[j] = 0.0;  // synthetic curves carry no background
      continue;
    }
    if (layout.model() != Model::surrogate && n != "m_r" && n != "s_r" && n != "shell_thickness") continue;
    for (std::size_t k = 0; k < truth_names.size(); ++k) {
      if (truth_names[k] == n) out[j] = truth_values[k];
    }
  }
  return out;
}

PreparedTarget prepare_target(const TargetSpec& spec, const std::vector<double>& grid,
                              const std::string& run_dir) {
  PreparedTarget t;
  t.spec = spec;
  t.q = grid;
  const std::size_t n = grid.size();
  std::vector<double> dq, di, ds;  // data q, I, σ
  if (spec.synth > 0) {
    const std::string path = run_dir + "/targets/case-" + std::to_string(spec.synth) + ".h5";
    read_synthetic(path, dq, di, t);
    t.rows_read = static_cast<std::int64_t>(dq.size());
  } else {
    const io::Curve c =
        io::read_curve(spec.file, io::parse_curve_format(spec.format), io::parse_q_unit(spec.q_unit));
    if (c.q.size() < 3)
      throw InputError(spec.file + ": only " + std::to_string(c.q.size()) + " points with I > 0");
    dq = c.q;
    di = c.intensity;
    ds = c.sigma;
    t.rows_read = static_cast<std::int64_t>(c.rows_read);
    t.rows_masked = static_cast<std::int64_t>(c.rows_masked);
    t.q_unit = c.q_unit;
    t.q_unit_source = c.q_unit_source;
    t.identity = "file " + file_sha256(spec.file);
    if (spec.sigma_weighting && !c.has_sigma()) {
      throw InputError(spec.where + ".weighting: sigma weighting needs a sigma column, and " + spec.file +
                       " has none");
    }
  }
  // Grid points inside the data's q range.
  std::int64_t sb = 0, se = static_cast<std::int64_t>(n);
  while (sb < se && grid[static_cast<std::size_t>(sb)] < dq.front()) ++sb;
  while (se > sb && grid[static_cast<std::size_t>(se - 1)] > dq.back()) --se;
  t.support_begin = sb;
  t.support_end = se;
  std::int64_t fb = sb, fe = se;
  while (fb < fe && grid[static_cast<std::size_t>(fb)] < spec.q_min) ++fb;
  while (fe > fb && grid[static_cast<std::size_t>(fe - 1)] > spec.q_max) --fe;
  if (fe - fb < 3) {
    throw InputError(spec.where + ": the fit window [" + std::to_string(spec.q_min) + ", " +
                     std::to_string(spec.q_max) + "] 1/A holds " +
                     std::to_string(std::max<std::int64_t>(fe - fb, 0)) + " grid points where the data (q " +
                     std::to_string(dq.front()) + " to " + std::to_string(dq.back()) +
                     " 1/A) exist; need at least 3");
  }
  if (spec.q_max > grid[static_cast<std::size_t>(fe - 1)] + 1e-12 && fe == se &&
      se < static_cast<std::int64_t>(n)) {
    log::info("{}: q_max {} lies beyond the data (last q {:.4g} 1/A): fitting up to the data's end",
              spec.name, spec.q_max, dq.back());
  }
  t.fit_begin = fb;
  t.fit_end = fe;
  if (spec.model == Model::surrogate) {
    t.norm_begin = sb;
    t.norm_end = se;
  } else {
    t.norm_begin = fb;
    t.norm_end = fe;
  }
  // Interpolate linear I (and σ) onto the supported grid points.
  const std::vector<double> gq(grid.begin() + sb, grid.begin() + se);
  const std::vector<double> gi = physics::monotone_cubic_interpolate(dq, di, gq);
  std::vector<double> gs(gq.size(), kNaN);
  if (!ds.empty()) {
    // σ where the bracketing data points both have one; monotone cubic between them.
    std::vector<double> sq, sv;
    for (std::size_t i = 0; i < ds.size(); ++i) {
      if (std::isfinite(ds[i])) {
        sq.push_back(dq[i]);
        sv.push_back(ds[i]);
      }
    }
    if (sq.size() >= 2) {
      const std::vector<double> s = physics::monotone_cubic_interpolate(sq, sv, gq);
      for (std::size_t i = 0; i < gq.size(); ++i) {
        if (gq[i] >= sq.front() && gq[i] <= sq.back() && s[i] > 0) gs[i] = s[i];
      }
    }
  }
  for (std::size_t i = 0; i < gi.size(); ++i) {
    if (!(gi[i] > 0) || !std::isfinite(gi[i])) {
      throw InputError(spec.source() + ": the interpolated intensity at q = " + std::to_string(gq[i]) +
                       " 1/A is not positive");
    }
  }
  // Invariant over the normalisation window.
  const std::vector<double> c = trapezoid_weights(grid, t.norm_begin, t.norm_end);
  double qinv = 0;
  for (std::int64_t i = t.norm_begin; i < t.norm_end; ++i) {
    const double qi = grid[static_cast<std::size_t>(i)];
    qinv += c[static_cast<std::size_t>(i - t.norm_begin)] * qi * qi * gi[static_cast<std::size_t>(i - sb)];
  }
  t.data_invariant = qinv;
  t.intensity.assign(n, kNaN);
  t.sigma.assign(n, kNaN);
  t.fit_mask.assign(n, 0);
  t.norm_mask.assign(n, 0);
  for (std::int64_t i = sb; i < se; ++i) {
    t.intensity[static_cast<std::size_t>(i)] = gi[static_cast<std::size_t>(i - sb)] / qinv;
    t.sigma[static_cast<std::size_t>(i)] = gs[static_cast<std::size_t>(i - sb)] / qinv;
  }
  for (std::int64_t i = fb; i < fe; ++i) t.fit_mask[static_cast<std::size_t>(i)] = 1;
  for (std::int64_t i = t.norm_begin; i < t.norm_end; ++i) t.norm_mask[static_cast<std::size_t>(i)] = 1;
  t.min_fit_intensity = INFINITY;
  for (std::int64_t i = fb; i < fe; ++i) {
    t.min_fit_intensity = std::min(t.min_fit_intensity, gi[static_cast<std::size_t>(i - sb)]);
  }
  if (spec.sigma_weighting) {
    for (std::int64_t i = fb; i < fe; ++i) {
      if (!std::isfinite(t.sigma[static_cast<std::size_t>(i)])) {
        throw InputError(spec.where + ".weighting: no usable sigma at q = " +
                         std::to_string(grid[static_cast<std::size_t>(i)]) +
                         " 1/A inside the fit window of " + spec.source());
      }
    }
  }
  return t;
}

}  // namespace lnpsaxs::fit
