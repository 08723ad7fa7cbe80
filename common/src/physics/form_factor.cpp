#include "lnpsaxs/physics/form_factor.h"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <string>

#include "lnpsaxs/errors.h"

namespace lnpsaxs::physics {
namespace {

constexpr double kPi = 3.14159265358979323846;

[[noreturn]] void fail(const std::string& what) { throw InputError(what); }

std::string num(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

}  // namespace

double sphere_amplitude(double x) {
  const double ax = std::fabs(x);
  if (ax < 1e-3) {
    const double x2 = x * x;
    return 1.0 - x2 / 10.0 + x2 * x2 / 280.0;
  }
  return 3.0 * (std::sin(ax) - ax * std::cos(ax)) / (ax * ax * ax);
}

double sphere_volume(double radius) { return 4.0 / 3.0 * kPi * radius * radius * radius; }

CoreShellContrast core_shell_contrast(double rho_rel, double delta_rho_int) {
  return {rho_rel * (1.0 + delta_rho_int) - 1.0, delta_rho_int};
}

double core_shell_amplitude(double q, double radius, double shell_thickness, double rho_rel,
                            double delta_rho_int) {
  if (!(radius > 0.0)) fail("core-shell amplitude: radius must be > 0 Å, got " + num(radius));
  if (!(shell_thickness >= 0.0 && shell_thickness <= radius))
    fail("core-shell amplitude: shell_thickness must lie in [0, radius = " + num(radius) + "] Å, got " +
         num(shell_thickness));
  const CoreShellContrast c = core_shell_contrast(rho_rel, delta_rho_int);
  const double rc = radius - shell_thickness;
  return c.shell * sphere_volume(radius) * sphere_amplitude(q * radius) +
         (c.core - c.shell) * sphere_volume(rc) * sphere_amplitude(q * rc);
}

double core_shell_intensity(double q, double radius, double shell_thickness, double rho_rel,
                            double delta_rho_int) {
  const double f = core_shell_amplitude(q, radius, shell_thickness, rho_rel, delta_rho_int);
  return f * f;
}

double smoothing_intensity_factor(double q, double dx, double sigma_px) {
  const double a = sigma_px * dx * q;
  return std::exp(-a * a);
}

std::vector<double> radial_kernel_average(const std::function<double(double)>& intensity,
                                          const std::vector<double>& q, const RadialKernel1d& kernel) {
  if (!(kernel.sigma_q > 0.0)) fail("radial kernel: sigma_q must be > 0, got " + num(kernel.sigma_q));
  if (!(kernel.cutoff_sigmas > 0.0))
    fail("radial kernel: cutoff_sigmas must be > 0, got " + num(kernel.cutoff_sigmas));
  if (kernel.nodes < 3) fail("radial kernel: nodes must be >= 3, got " + num(kernel.nodes));
  const int n = kernel.nodes % 2 == 1 ? kernel.nodes : kernel.nodes + 1;  // Simpson needs odd
  std::vector<double> out;
  out.reserve(q.size());
  for (const double qk : q) {
    const double half = kernel.cutoff_sigmas * kernel.sigma_q;
    const double lo = std::max(qk - half, kernel.q_floor);
    const double hi = qk + half;
    if (!(hi > lo)) {  // the whole window lies below the floor: no pixel contributes
      out.push_back(0.0);
      continue;
    }
    const double h = (hi - lo) / (n - 1);
    double num_sum = 0.0;
    double den_sum = 0.0;
    for (int i = 0; i < n; ++i) {
      const double qq = lo + i * h;
      const double u = (qq - qk) / kernel.sigma_q;
      const double simpson = (i == 0 || i == n - 1) ? 1.0 : (i % 2 == 1 ? 4.0 : 2.0);
      const double g = simpson * std::exp(-0.5 * u * u);
      num_sum += g * intensity(qq);
      den_sum += g;
    }
    out.push_back(num_sum / den_sum);
  }
  return out;
}

LogNormal lognormal_from_mean_sd(double mean, double sd) {
  if (!(mean > 0.0) || !(sd > 0.0) || !std::isfinite(mean) || !std::isfinite(sd))
    fail("log-normal: real-space mean and SD must be finite and > 0, got mean " + num(mean) + ", SD " +
         num(sd));
  const double s2 = std::log1p((sd / mean) * (sd / mean));
  return {std::log(mean) - 0.5 * s2, std::sqrt(s2)};
}

double lognormal_pdf(double x, const LogNormal& ln) {
  if (!(x > 0.0)) return 0.0;
  const double z = (std::log(x) - ln.mu) / ln.sigma;
  return std::exp(-0.5 * z * z) / (x * ln.sigma * std::sqrt(2.0 * kPi));
}

double grf_power_spectrum(double q, double w, double m_q1, double s_q1, double m_q2, double s_q2) {
  if (!(w >= 0.0 && w <= 1.0)) fail("GRF spectrum: weight w must lie in [0, 1], got " + num(w));
  const LogNormal c1 = lognormal_from_mean_sd(m_q1, s_q1);
  const LogNormal c2 = lognormal_from_mean_sd(m_q2, s_q2);
  if (!(q > 0.0)) return 0.0;
  return (1.0 - w) * lognormal_pdf(q, c1) + w * lognormal_pdf(q, c2);
}

}  // namespace lnpsaxs::physics
