#include "target.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <limits>
#include <sstream>
#include <tuple>

#include "lnpsaxs/batch.h"
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
  // Issue 13 fields, appended only when not at their defaults, so earlier fits keep their identity.
  if (loss != "default") os << ";loss=" << loss;
  if (!resolution) os << ";resolution=none";
  if (size_prior.active()) os << ";size_prior=" << size_prior.canonical();
  return os.str();
}

std::string TargetSpec::source() const { return synth > 0 ? "synth:" + std::to_string(synth) : file; }

std::string loss_name(LossKind k) {
  switch (k) {
    case LossKind::log:
      return "log";
    case LossKind::composite:
      return "composite";
    case LossKind::chi2:
      return "chi2";
  }
  return "log";
}

LossKind resolve_loss(const std::string& loss, Model model, const std::string& config_default,
                      const std::string& where) {
  const std::string l = loss == "default" ? config_default : loss;
  if (l == "auto") return model == Model::surrogate ? LossKind::composite : LossKind::log;
  if (l == "log") return LossKind::log;
  if (l == "composite") return LossKind::composite;
  if (l == "chi2") return LossKind::chi2;
  throw InputError(where + ": unknown loss '" + l + "' (auto, log, composite, chi2)");
}

void read_target_fields(const config::Record& r, TargetSpec& t) {
  t.format = r.string("format");
  t.q_unit = r.string("q_unit");
  t.model = parse_model(r.string("model"));
  t.q_min = r.real("q_min");
  t.q_max = r.real("q_max");
  t.background = r.boolean("background");
  t.sigma_weighting = r.string("weighting") == "sigma";
  t.loss = r.string("loss");
  t.resolution = r.string("resolution") == "auto";
  t.restarts = r.integer("restarts");
  t.steps = r.integer("steps");
  t.m_r = r.reals("m_r");
  t.s_r = r.reals("s_r");
  t.truncation = r.reals("truncation");
  t.shell_thickness = r.reals("shell_thickness");
  t.contrast = r.reals("contrast");
  t.size_prior = read_size_prior(r.mapping("size_prior"));
}

std::vector<TargetSpec> targets_from_config(const config::Config& cfg) {
  std::vector<TargetSpec> out;
  for (const config::Record& r : cfg.records("fit.targets")) {
    TargetSpec t;
    t.name = r.string("name");
    t.file = r.string("file");
    t.synth = static_cast<int>(r.integer("synth"));
    read_target_fields(r, t);
    t.where = r.where("name");
    t.where = t.where.substr(0, t.where.size() - std::string(".name: ").size());
    out.push_back(std::move(t));
  }
  return out;
}

std::int64_t restarts_for(const TargetSpec& t, const config::Config& cfg) {
  return t.restarts > 0 ? t.restarts : batch::default_restarts(cfg, t.model == Model::surrogate, t.synth > 0);
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

namespace {

/// The raw data of a target, before it is put onto the model's q.
struct RawData {
  std::vector<double> q, intensity, sigma, q_width;  // sigma / q_width empty when absent
  std::vector<std::string> where;                    // "FILE:LINE" per point (files only)
};

/// Index range [b, e) of the sorted `x` inside [lo, hi].
std::pair<std::int64_t, std::int64_t> inside(const std::vector<double>& x, double lo, double hi) {
  const auto b = std::lower_bound(x.begin(), x.end(), lo) - x.begin();
  const auto e = std::upper_bound(x.begin(), x.end(), hi) - x.begin();
  return {b, std::max(b, e)};
}

/// Sphere/core_shell: the model's q is the data's own q.
void on_data_q(const RawData& d, PreparedTarget& t) {
  t.q = d.q;
  t.intensity = d.intensity;
  t.sigma = d.sigma.empty() ? std::vector<double>(d.q.size(), kNaN) : d.sigma;
  t.q_width = d.q_width;
  t.bin_count.assign(d.q.size(), 1);
  t.support_begin = 0;
  t.support_end = static_cast<std::int64_t>(d.q.size());
  std::tie(t.fit_begin, t.fit_end) = inside(d.q, t.spec.q_min, t.spec.q_max);
  t.norm_begin = t.fit_begin;
  t.norm_end = t.fit_end;
}

/// Surrogate: the data binned onto `grid` (nearest grid point; window bins hold window points only).
void binned(const RawData& d, const std::vector<double>& grid, PreparedTarget& t) {
  const auto n = static_cast<std::int64_t>(grid.size());
  t.q = grid;
  t.intensity.assign(grid.size(), kNaN);
  t.sigma.assign(grid.size(), kNaN);
  t.bin_count.assign(grid.size(), 0);
  std::vector<double> dqsum(grid.size(), 0.0);
  const bool has_dq = !d.q_width.empty();
  // Grid points inside the data's q range, and the grid point each measured point belongs to.
  const auto [sb, se] = inside(grid, d.q.front(), d.q.back());
  std::vector<std::int64_t> cell(d.q.size());
  for (std::size_t i = 0; i < d.q.size(); ++i) {
    const auto up = std::lower_bound(grid.begin(), grid.end(), d.q[i]) - grid.begin();
    std::int64_t c = std::min<std::int64_t>(up, n - 1);
    if (up > 0 && (up == n || d.q[i] - grid[static_cast<std::size_t>(up - 1)] <
                                  grid[static_cast<std::size_t>(up)] - d.q[i]))
      c = up - 1;
    cell[i] = c;
  }
  const auto [wb, we] = inside(d.q, t.spec.q_min, t.spec.q_max);
  auto in_window = [&, wb = wb, we = we](std::size_t i) {
    return static_cast<std::int64_t>(i) >= wb && static_cast<std::int64_t>(i) < we;
  };
  std::int64_t fb = n, fe = 0;
  for (std::size_t i = 0; i < d.q.size(); ++i) {
    if (in_window(i)) {
      fb = std::min(fb, cell[i]);
      fe = std::max(fe, cell[i] + 1);
    }
  }
  t.support_begin = std::min<std::int64_t>(sb, fb);
  t.support_end = std::max<std::int64_t>(se, fe);
  t.fit_begin = fb;
  t.fit_end = std::max(fb, fe);
  // Inverse-variance means where every member has σ, plain means (σ = √Σσ²/n) otherwise.
  std::vector<double> sw(grid.size(), 0), swi(grid.size(), 0), si(grid.size(), 0), ss2(grid.size(), 0);
  std::vector<std::uint8_t> all_sigma(grid.size(), 1);
  for (std::size_t i = 0; i < d.q.size(); ++i) {
    const auto c = static_cast<std::size_t>(cell[i]);
    const bool window_bin = cell[i] >= fb && cell[i] < fe;
    if (window_bin != in_window(i)) continue;  // window bins: window points only; others: the rest
    if (static_cast<std::int64_t>(c) < t.support_begin || static_cast<std::int64_t>(c) >= t.support_end)
      continue;
    const double s = d.sigma.empty() ? kNaN : d.sigma[i];
    ++t.bin_count[c];
    si[c] += d.intensity[i];
    if (std::isfinite(s)) {
      sw[c] += 1 / (s * s);
      swi[c] += d.intensity[i] / (s * s);
      ss2[c] += s * s;
    } else {
      all_sigma[c] = 0;
    }
    if (has_dq) dqsum[c] += d.q_width[i];
  }
  if (has_dq) t.q_width.assign(grid.size(), kNaN);
  std::vector<double> gq;
  for (std::int64_t g = t.support_begin; g < t.support_end; ++g) {
    const auto c = static_cast<std::size_t>(g);
    const double k = static_cast<double>(t.bin_count[c]);
    if (k == 0) {
      gq.push_back(grid[c]);
      continue;
    }
    if (all_sigma[c] && sw[c] > 0) {
      t.intensity[c] = swi[c] / sw[c];
      t.sigma[c] = 1 / std::sqrt(sw[c]);
    } else {
      t.intensity[c] = si[c] / k;
      t.sigma[c] = kNaN;
    }
    if (has_dq) t.q_width[c] = dqsum[c] / k;  // NaN when a member's dQ is unusable
  }
  if (!gq.empty()) {  // grid points inside the data's range that received no point: interpolate
    const std::vector<double> gi = physics::monotone_cubic_interpolate(d.q, d.intensity, gq);
    std::vector<double> gs(gq.size(), kNaN), gw(gq.size(), kNaN);
    std::vector<double> sq, sv, wq, wv;
    for (std::size_t i = 0; i < d.q.size(); ++i) {
      if (!d.sigma.empty() && std::isfinite(d.sigma[i])) sq.push_back(d.q[i]), sv.push_back(d.sigma[i]);
      if (has_dq && std::isfinite(d.q_width[i])) wq.push_back(d.q[i]), wv.push_back(d.q_width[i]);
    }
    if (sq.size() >= 2) gs = physics::monotone_cubic_interpolate(sq, sv, gq);
    if (wq.size() >= 2) gw = physics::monotone_cubic_interpolate(wq, wv, gq);
    std::size_t k = 0;
    for (std::int64_t g = t.support_begin; g < t.support_end; ++g) {
      const auto c = static_cast<std::size_t>(g);
      if (t.bin_count[c] != 0) continue;
      t.intensity[c] = gi[k];
      t.sigma[c] = gs[k] > 0 ? gs[k] : kNaN;
      if (has_dq) t.q_width[c] = gw[k] > 0 ? gw[k] : kNaN;
      ++k;
    }
  }
  t.norm_begin = t.support_begin;
  t.norm_end = t.support_end;
}

}  // namespace

PreparedTarget prepare_target(const TargetSpec& spec, const std::vector<double>& grid,
                              const std::string& run_dir) {
  PreparedTarget t;
  t.spec = spec;
  RawData d;
  bool file_has_sigma = false;
  if (spec.synth > 0) {
    const std::string path = run_dir + "/targets/case-" + std::to_string(spec.synth) + ".h5";
    read_synthetic(path, d.q, d.intensity, t);
    t.rows_read = static_cast<std::int64_t>(d.q.size());
  } else {
    io::Curve c =
        io::read_curve(spec.file, io::parse_curve_format(spec.format), io::parse_q_unit(spec.q_unit));
    if (c.q.size() < 3)
      throw InputError(spec.file + ": only " + std::to_string(c.q.size()) + " points with I > 0");
    file_has_sigma = c.has_sigma();
    d.q = std::move(c.q);
    d.intensity = std::move(c.intensity);
    d.sigma = std::move(c.sigma);
    d.where = std::move(c.where);
    if (spec.resolution) d.q_width = std::move(c.q_width);
    t.rows_read = static_cast<std::int64_t>(c.rows_read);
    t.rows_masked = static_cast<std::int64_t>(c.rows_masked);
    t.q_unit = c.q_unit;
    t.q_unit_source = c.q_unit_source;
    t.identity = "file " + file_sha256(spec.file);
  }
  const bool needs_sigma = spec.sigma_weighting || spec.loss == "chi2";
  if (needs_sigma && !file_has_sigma) {
    throw InputError(spec.where + (spec.sigma_weighting ? ".weighting: sigma weighting" : ".loss: loss chi2") +
                     " needs a sigma column, and " + spec.source() + " has none");
  }
  // Every measured point of the window, and which of them lack a usable σ or dQ.
  const auto [wb, we] = inside(d.q, spec.q_min, spec.q_max);
  t.window_points = we - wb;
  if (t.window_points < 3) {
    throw InputError(spec.where + ": the fit window [" + std::to_string(spec.q_min) + ", " +
                     std::to_string(spec.q_max) + "] 1/A holds " + std::to_string(t.window_points) +
                     " measured points (data q " + std::to_string(d.q.front()) + " to " +
                     std::to_string(d.q.back()) + " 1/A); need at least 3");
  }
  std::int64_t bad_dq = 0, first_bad_s = -1, first_bad_dq = -1;
  for (std::int64_t i = wb; i < we; ++i) {
    const auto k = static_cast<std::size_t>(i);
    if (file_has_sigma && !std::isfinite(d.sigma[k])) {
      if (first_bad_s < 0) first_bad_s = i;
      ++t.sigma_unusable;
    }
    if (!d.q_width.empty() && !std::isfinite(d.q_width[k])) {
      if (first_bad_dq < 0) first_bad_dq = i;
      ++bad_dq;
    }
  }
  auto row = [&](std::int64_t i) {
    return d.where.empty() ? "q = " + std::to_string(d.q[static_cast<std::size_t>(i)]) + " 1/A"
                           : d.where[static_cast<std::size_t>(i)];
  };
  if (t.sigma_unusable > 0) {
    const std::string what = std::to_string(t.sigma_unusable) + " of the " + std::to_string(t.window_points) +
                             " points in the fit window have sigma <= 0 or not finite (first: " +
                             row(first_bad_s) + ")";
    if (needs_sigma) {
      throw InputError(spec.where + (spec.sigma_weighting ? ".weighting" : ".loss") + ": " + what +
                       "; fix or remove those rows, or narrow q_min/q_max");
    }
    log::warn("{}: {}; they are fitted, unweighted losses do not use sigma", spec.name, what);
  }
  if (bad_dq > 0) {
    throw InputError(spec.where + ": " + std::to_string(bad_dq) +
                     " points in the fit window have dQ <= 0 or not finite (first: " + row(first_bad_dq) +
                     "); fix them or set resolution: none");
  }
  if (spec.model == Model::surrogate) {
    binned(d, grid, t);
  } else {
    on_data_q(d, t);
  }
  const std::size_t n = t.q.size();
  if (spec.q_max > d.q.back()) {
    log::info("{}: q_max {} lies beyond the data (last q {:.4g} 1/A): fitting up to the data's end",
              spec.name, spec.q_max, d.q.back());
  }
  for (std::int64_t i = t.support_begin; i < t.support_end; ++i) {
    const double v = t.intensity[static_cast<std::size_t>(i)];
    if (!(v > 0) || !std::isfinite(v)) {
      throw InputError(spec.source() + ": the intensity at q = " + std::to_string(t.q[static_cast<std::size_t>(i)]) +
                       " 1/A is not positive");
    }
  }
  // Invariant over the normalisation window.
  const std::vector<double> c = trapezoid_weights(t.q, t.norm_begin, t.norm_end);
  double qinv = 0;
  for (std::int64_t i = t.norm_begin; i < t.norm_end; ++i) {
    const double qi = t.q[static_cast<std::size_t>(i)];
    qinv += c[static_cast<std::size_t>(i - t.norm_begin)] * qi * qi * t.intensity[static_cast<std::size_t>(i)];
  }
  t.data_invariant = qinv;
  t.min_fit_intensity = INFINITY;
  for (std::int64_t i = t.fit_begin; i < t.fit_end; ++i)
    t.min_fit_intensity = std::min(t.min_fit_intensity, t.intensity[static_cast<std::size_t>(i)]);
  for (std::size_t i = 0; i < n; ++i) {
    t.intensity[i] /= qinv;
    t.sigma[i] /= qinv;
  }
  t.fit_mask.assign(n, 0);
  t.norm_mask.assign(n, 0);
  for (std::int64_t i = t.fit_begin; i < t.fit_end; ++i) t.fit_mask[static_cast<std::size_t>(i)] = 1;
  for (std::int64_t i = t.norm_begin; i < t.norm_end; ++i) t.norm_mask[static_cast<std::size_t>(i)] = 1;
  if (needs_sigma) {
    for (std::int64_t i = t.fit_begin; i < t.fit_end; ++i) {
      if (!std::isfinite(t.sigma[static_cast<std::size_t>(i)])) {
        throw InputError(spec.where + ": no usable sigma at q = " +
                         std::to_string(t.q[static_cast<std::size_t>(i)]) + " 1/A inside the fit window of " +
                         spec.source());
      }
    }
  }
  return t;
}

}  // namespace lnpsaxs::fit
