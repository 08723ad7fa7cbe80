#include "export.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>

#include "lnpsaxs/errors.h"
#include "lnpsaxs/h5.h"

namespace lnpsaxs::analysis {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

/// Percentile p ∈ [0, 100] of `v` (sorted in place), linear interpolation between order statistics
/// (numpy's default), NaN for an empty sample.
double percentile(std::vector<double>& v, double p) {
  if (v.empty()) return kNaN;
  std::sort(v.begin(), v.end());
  const double x = p / 100.0 * static_cast<double>(v.size() - 1);
  const auto i = static_cast<std::size_t>(std::floor(x));
  const std::size_t j = std::min(i + 1, v.size() - 1);
  return v[i] + (x - static_cast<double>(i)) * (v[j] - v[i]);
}

std::string num(double v) {
  if (!std::isfinite(v)) return "nan";
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

void rename_or_throw(const std::string& from, const std::string& to) {
  std::error_code ec;
  std::filesystem::rename(from, to, ec);
  if (ec) throw RuntimeFailure("cannot rename " + from + " to " + to + ": " + ec.message());
}

void write_csv(const std::string& path, const FitCurves& c, const ExportInfo& info) {
  const std::string tmp = path + ".partial";
  {
    std::ofstream out(tmp);
    if (!out) throw RuntimeFailure(tmp + ": cannot create the file");
    out << "# lnpsaxs fit export: target " << info.target << "\n"
        << "# source: " << info.source << "\n"
        << "# model: " << info.model << "\n"
        << "# loss: " << info.loss << "\n"
        << "# window: q " << num(info.q_min) << " to " << num(info.q_max) << " 1/A (" << c.q.size()
        << " fitted points)\n"
        << "# quadrature nodes K: " << info.quadrature_nodes << "\n";
    for (std::size_t j = 0; j < info.names.size(); ++j) {
      out << "# best " << info.names[j] << " [" << (j < info.units.size() ? info.units[j] : "") << "]: "
          << (j < info.best.size() ? num(info.best[j]) : "nan") << "\n";
    }
    out << "# columns: q [1/A], I and sigma [data unit; sigma nan where the data have none], dQ [1/A; pinhole "
           "sigma_q, 0 where the data have none], I_fit (best fit, fitted background included), I_lower, "
           "I_upper (2.5 and 97.5 % of the retained fits; their median is in fit.h5). The first four are "
           "what SasView's loader reads (q, I, dI, dQ)\n"
        << "q,I,sigma,dQ,I_fit,I_lower,I_upper\n";
    for (std::size_t i = 0; i < c.q.size(); ++i) {
      out << num(c.q[i]) << "," << num(c.intensity[i]) << "," << num(c.sigma[i]) << "," << num(c.dq[i]) << ","
          << num(c.best[i]) << "," << num(c.lower[i]) << "," << num(c.upper[i]) << "\n";
    }
    if (!out.flush()) throw RuntimeFailure(tmp + ": write failed");
  }
  rename_or_throw(tmp, path);
}

void put(hid_t g, const std::string& name, const std::vector<double>& v, const std::string& units) {
  io::write_dataset<double>(g, name, {v.size()}, v.data());
  io::H5Id d = io::open_dataset(g, name);
  io::set_attr(d, "units", units);
}

void write_nxcansas(const std::string& path, const FitCurves& c, const ExportInfo& info) {
  const std::string tmp = path + ".partial";
  {
    io::File f = io::File::create(tmp);
    io::set_attr(f, "NX_class", std::string("NXroot"));
    io::set_attr(f, "default", std::string("sasentry01"));
    io::set_attr(f, "creator", std::string("lnpsaxs analyze"));
    io::H5Id e = io::ensure_group(f, "/sasentry01");
    io::set_attr(e, "NX_class", std::string("NXentry"));
    io::set_attr(e, "canSAS_class", std::string("SASentry"));
    io::set_attr(e, "version", std::string("1.1"));
    io::set_attr(e, "default", std::string("sasdata01"));
    // Scalar strings as datasets, as NXcanSAS has them.
    auto text = [&](const std::string& name, const std::string& value) {
      io::H5Id t(io::check(H5Tcopy(H5T_C_S1), "H5Tcopy"), H5Tclose);
      io::check(H5Tset_size(t, H5T_VARIABLE), "H5Tset_size");
      io::H5Id s(io::check(H5Screate(H5S_SCALAR), "H5Screate"), H5Sclose);
      io::H5Id d(io::check(H5Dcreate2(e, name.c_str(), t, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), "H5Dcreate " + name),
                 H5Dclose);
      const char* p = value.c_str();
      io::check(H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, &p), "H5Dwrite " + name);
    };
    text("definition", "NXcanSAS");
    text("title", info.target);
    text("run", info.target);
    auto sasdata = [&](const std::string& name, const std::vector<double>& i, const std::vector<double>* sigma) {
      io::H5Id g = io::ensure_group(e, name);
      io::set_attr(g, "NX_class", std::string("NXdata"));
      io::set_attr(g, "canSAS_class", std::string("SASdata"));
      io::set_attr(g, "signal", std::string("I"));
      io::set_attr(g, "I_axes", std::string("Q"));
      io::set_attr(g, "Q_indices", std::int64_t{0});
      put(g, "Q", c.q, "1/A");
      put(g, "I", i, "arbitrary");
      if (sigma) {
        io::set_attr(g, "I_uncertainties", std::string("Idev"));
        io::H5Id d = io::open_dataset(g, "I");
        io::set_attr(d, "uncertainties", std::string("Idev"));
        put(g, "Idev", *sigma, "arbitrary");
      }
      return g;
    };
    sasdata("sasdata01", c.intensity, c.has_sigma ? &c.sigma : nullptr);
    {  // the measured curve's resolution, where the data have one (NXcanSAS Q@resolutions)
      bool any = false;
      for (double w : c.dq) any = any || w > 0;
      if (any) {
        io::H5Id g = io::ensure_group(e, "sasdata01");
        io::H5Id qd = io::open_dataset(g, "Q");
        io::set_attr(qd, "resolutions", std::string("dQ"));
        put(g, "dQ", c.dq, "1/A");
      }
    }
    io::H5Id fit = sasdata("sasdata02", c.best, nullptr);
    io::set_attr(fit, "lnpsaxs_curve", std::string("best fit (lowest RMSE_log), background included"));
    io::set_attr(fit, "lnpsaxs_model", info.model);
    io::set_attr(fit, "lnpsaxs_loss", info.loss);
    io::set_attr(fit, "lnpsaxs_parameter_names", info.names);
    io::set_attr(fit, "lnpsaxs_parameter_units", info.units);
    io::set_attr(fit, "lnpsaxs_best_parameters", info.best);
    io::set_attr(fit, "lnpsaxs_quadrature_nodes", info.quadrature_nodes);
    io::set_attr(fit, "lnpsaxs_window", std::vector<double>{info.q_min, info.q_max});
    io::H5Id band = sasdata("sasdata03", c.median, nullptr);
    io::set_attr(band, "lnpsaxs_curve", std::string("median of the retained fits (band: I_lower, I_upper)"));
    put(band, "I_lower", c.lower, "arbitrary");
    put(band, "I_upper", c.upper, "arbitrary");
  }
  rename_or_throw(tmp, path);
}

}  // namespace

FitCurves fit_curves(const FitEnsemble& fits, const EnsembleAnalysis& a, double q_data,
                     const std::vector<double>& q_width) {
  if (!(q_data > 0) || !std::isfinite(q_data)) {
    throw InputError(fits.path + ": attribute data_invariant must be finite and > 0");
  }
  FitCurves c;
  const std::int64_t nq = fits.n_q();
  const std::int64_t best = a.kept.empty() ? -1 : a.kept.front();
  for (std::int64_t i = 0; i < nq; ++i) {
    const auto iu = static_cast<std::size_t>(i);
    if (!fits.target_mask[iu]) continue;
    c.q.push_back(fits.q[iu]);
    c.intensity.push_back(fits.target_intensity[iu] * q_data);
    const double s = iu < fits.target_sigma.size() ? fits.target_sigma[iu] * q_data : kNaN;
    c.sigma.push_back(s);
    c.has_sigma = c.has_sigma || std::isfinite(s);
    const double w = iu < q_width.size() ? q_width[iu] : 0.0;
    c.dq.push_back(std::isfinite(w) && w > 0 ? w : 0.0);
    auto model = [&](std::int64_t r) {
      return std::pow(10.0, static_cast<double>(fits.curve[static_cast<std::size_t>(r * nq + i)])) * q_data;
    };
    c.best.push_back(best >= 0 ? model(best) : kNaN);
    std::vector<double> v;
    for (std::int64_t r : a.kept) v.push_back(model(r));
    c.lower.push_back(percentile(v, 2.5));
    c.median.push_back(percentile(v, 50));
    c.upper.push_back(percentile(v, 97.5));
  }
  return c;
}

void write_exports(const std::string& dir, const FitCurves& c, const ExportInfo& info) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw RuntimeFailure(dir + ": cannot create the folder: " + ec.message());
  write_csv(dir + "/fit.csv", c, info);
  write_nxcansas(dir + "/fit.h5", c, info);
}

}  // namespace lnpsaxs::analysis
