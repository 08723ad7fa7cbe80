#include "fits_file.h"

#include <cmath>
#include <limits>

#include "lnpsaxs/errors.h"
#include "lnpsaxs/h5.h"

namespace lnpsaxs::analysis {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

struct Reader {
  const std::string& path;
  hid_t file;

  [[noreturn]] void bad(const std::string& what) const { throw InputError(path + ": " + what + " (not a fits.h5 of lnpsaxs-fit?)"); }

  std::vector<hsize_t> shape(const std::string& ds) const {
    if (!io::exists(file, ds)) bad("dataset " + ds + " is missing");
    io::H5Id d = io::open_dataset(file, ds);
    return io::dims(d);
  }
  template <class T>
  std::vector<T> read(const std::string& ds, std::vector<hsize_t> want) const {
    const auto got = shape(ds);
    bool ok = got.size() == want.size();
    for (std::size_t i = 0; ok && i < got.size(); ++i) ok = want[i] == 0 || got[i] == want[i];
    if (!ok) {
      std::string g;
      for (auto v : got) g += (g.empty() ? "" : ", ") + std::to_string(v);
      bad("dataset " + ds + " has shape [" + g + "], expected " + std::to_string(want.size()) + "-D matching /params and /q");
    }
    io::H5Id d = io::open_dataset(file, ds);
    return io::read_all<T>(d);
  }
  std::string attr_string(const std::string& name, const std::string& fallback = "\x01") const {
    if (!io::has_attr(file, name)) {
      if (fallback != "\x01") return fallback;
      bad("attribute " + name + " is missing");
    }
    return io::attr_string(file, name);
  }
  double attr_double(const std::string& name, double fallback) const {
    return io::has_attr(file, name) ? io::attr_double(file, name) : fallback;
  }
  std::vector<double> attr_doubles(const std::string& name, std::size_t n, bool required) const {
    if (!io::has_attr(file, name)) {
      if (required) bad("attribute " + name + " is missing");
      return std::vector<double>(n, kNaN);
    }
    auto v = io::attr_doubles(file, name);
    if (v.size() != n) bad("attribute " + name + " has " + std::to_string(v.size()) + " values for " + std::to_string(n) + " parameters");
    return v;
  }
};

}  // namespace

std::int64_t FitEnsemble::index_of(const std::string& name) const {
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (names[i] == name) return static_cast<std::int64_t>(i);
  }
  return -1;
}

double FitEnsemble::criterion(std::int64_t r) const {
  const double rmse = rmse_log[static_cast<std::size_t>(r)];
  if (size_prior_nll.empty() || fitted_points == 0) return rmse;
  return rmse * std::exp(size_prior_nll[static_cast<std::size_t>(r)] / static_cast<double>(fitted_points));
}

bool FitEnsemble::valid(std::int64_t r) const {
  const std::size_t i = static_cast<std::size_t>(r);
  if (!std::isfinite(loss[i]) || !std::isfinite(rmse_log[i])) return false;
  for (std::int64_t p = 0; p < params.cols; ++p) {
    if (!std::isfinite(params(r, p))) return false;
  }
  return true;
}

Matrix FitEnsemble::scaled(const Matrix& physical) const {
  Matrix out = physical;
  for (std::int64_t r = 0; r < out.rows; ++r) {
    for (std::int64_t p = 0; p < out.cols; ++p) {
      const std::size_t k = static_cast<std::size_t>(p);
      out(r, p) = (physical(r, p) - lower[k]) / (upper[k] - lower[k]);
    }
  }
  return out;
}

FitEnsemble read_fits(const std::string& path) {
  io::File f = [&] {
    try {
      return io::File::open(path, io::File::Mode::read);
    } catch (const RuntimeFailure& e) {
      throw InputError(path + ": cannot be opened as HDF5 (" + e.what() + ")");
    }
  }();
  const Reader rd{path, f.id()};
  FitEnsemble e;
  e.path = path;
  e.target = rd.attr_string("target");
  e.model = rd.attr_string("model");
  e.source = rd.attr_string("source", "");
  e.q_min = rd.attr_double("q_min", kNaN);
  e.q_max = rd.attr_double("q_max", kNaN);
  e.background = io::has_attr(f, "background") && io::attr_int(f, "background") != 0;
  if (!io::has_attr(f, "parameter_names")) rd.bad("attribute parameter_names is missing");
  e.names = io::attr_strings(f, "parameter_names");
  const std::size_t p = e.names.size();
  if (p == 0) rd.bad("attribute parameter_names is empty");
  e.units = io::has_attr(f, "parameter_units") ? io::attr_strings(f, "parameter_units") : std::vector<std::string>(p, "");
  if (e.units.size() != p) e.units.resize(p, "");
  e.lower = rd.attr_doubles("parameter_lower", p, true);
  e.upper = rd.attr_doubles("parameter_upper", p, true);
  for (std::size_t i = 0; i < p; ++i) {
    if (!(e.upper[i] > e.lower[i])) rd.bad("parameter " + e.names[i] + ": parameter_upper must exceed parameter_lower");
  }
  e.truth = rd.attr_doubles("truth_values", p, false);
  if (io::has_attr(f, "truncation")) {
    e.truncation = io::attr_doubles(f, "truncation");
    if (e.truncation.size() != 2 || !(e.truncation[0] > 0 && e.truncation[0] < e.truncation[1])) {
      rd.bad("attribute truncation must be [A, B] with 0 < A < B");
    }
  }

  e.q = rd.read<double>("/q", {0});
  const hsize_t nq = e.q.size();
  const auto pshape = rd.shape("/params");
  if (pshape.size() != 2 || pshape[1] != p) rd.bad("/params must be [R, " + std::to_string(p) + "] (one column per parameter_names entry)");
  const hsize_t r = pshape[0];
  e.params = Matrix(static_cast<std::int64_t>(r), static_cast<std::int64_t>(p));
  e.params.data = rd.read<double>("/params", {r, p});
  if (io::exists(f, "/start")) {
    e.start = Matrix(static_cast<std::int64_t>(r), static_cast<std::int64_t>(p));
    e.start.data = rd.read<double>("/start", {r, p});
  }
  e.loss = rd.read<double>("/loss", {r});
  e.rmse_log = rd.read<double>("/rmse_log", {r});
  e.rmse_log_full = io::exists(f, "/rmse_log_full") ? rd.read<double>("/rmse_log_full", {r}) : std::vector<double>(r, kNaN);
  e.curve = rd.read<float>("/curve", {r, nq});
  if (io::exists(f, "/steps")) e.steps = rd.read<std::int64_t>("/steps", {r});
  e.target_intensity = rd.read<double>("/target/intensity", {nq});
  e.target_mask = rd.read<std::uint8_t>("/target/mask", {nq});
  e.target_sigma = io::exists(f, "/target/sigma") ? rd.read<double>("/target/sigma", {nq}) : std::vector<double>(nq, kNaN);
  for (std::uint8_t m : e.target_mask) e.fitted_points += m != 0;
  if (io::has_attr(f, "size_prior")) {
    e.size_prior = io::attr_string(f, "size_prior");
    if (!io::exists(f, "/size_prior_nll")) rd.bad("attribute size_prior without the dataset /size_prior_nll");
    e.size_prior_nll = rd.read<double>("/size_prior_nll", {r});
  }
  return e;
}

}  // namespace lnpsaxs::analysis
