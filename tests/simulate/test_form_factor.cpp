// Analytic physics of the simulator's particle: sphere and core–shell amplitudes, the 1-D radial
// kernel, the smoothing factor and the log-normal spectrum (common/physics/form_factor.h).
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <vector>

#include "lnpsaxs/errors.h"
#include "lnpsaxs/physics/form_factor.h"

namespace ph = lnpsaxs::physics;

namespace {

double rel(double a, double b) { return std::fabs(a - b) / std::fabs(b); }

/// ∫ g(x) dx over x > 0 for a log-normal-shaped integrand, by Simpson in t = ln x on μ ± 12σ.
double integrate_log(const std::function<double(double)>& g, const ph::LogNormal& ln) {
  const int n = 20001;
  const double lo = ln.mu - 12 * ln.sigma, hi = ln.mu + 12 * ln.sigma, h = (hi - lo) / (n - 1);
  double s = 0;
  for (int i = 0; i < n; ++i) {
    const double x = std::exp(lo + i * h);
    const double wgt = (i == 0 || i == n - 1) ? 1.0 : (i % 2 ? 4.0 : 2.0);
    s += wgt * g(x) * x;  // dx = x dt
  }
  return s * h / 3.0;
}

}  // namespace

TEST_CASE("sphere amplitude: limits, series hand-over, first zero") {
  CHECK(ph::sphere_amplitude(0.0) == 1.0);
  // The series and the closed form agree where they hand over (x = 1e-3) to the closed form's
  // cancellation error, about 10·ε/x² = 2e-9 (the reason for the series).
  const double below = ph::sphere_amplitude(std::nextafter(1e-3, 0.0));
  const double above = ph::sphere_amplitude(1e-3);
  CHECK(std::fabs(below - above) < 2e-9);
  CHECK(std::fabs(below - (1 - 1e-7 + 1e-12 / 280)) < 1e-16);
  CHECK(rel(ph::sphere_amplitude(0.5), 3 * (std::sin(0.5) - 0.5 * std::cos(0.5)) / 0.125) < 1e-15);
  CHECK(ph::sphere_amplitude(-2.0) == ph::sphere_amplitude(2.0));
  // First zero: tan x = x at x = 4.493409457909064.
  CHECK(std::fabs(ph::sphere_amplitude(4.493409457909064)) < 1e-14);
  // Small-x expansion 1 − x²/10 holds to O(x⁴).
  CHECK(std::fabs(ph::sphere_amplitude(0.01) - (1 - 1e-5)) < 1e-9);
}

TEST_CASE("core-shell amplitude: contrast convention and its sphere limits") {
  const double q = 0.031, r = 180, d = 55;
  // Contrast convention: solvent 1, shell holds rho_rel·(1 + delta_rho_int), core mean 1 + delta.
  const auto c = ph::core_shell_contrast(1.2, -0.3);
  CHECK(rel(c.shell, 1.2 * 0.7 - 1.0) < 1e-15);
  CHECK(c.core == -0.3);
  // rho_rel = 1: shell = core → homogeneous sphere of contrast delta.
  CHECK(rel(ph::core_shell_amplitude(q, r, d, 1.0, 0.4),
            0.4 * ph::sphere_volume(r) * ph::sphere_amplitude(q * r)) < 1e-12);
  // d = 0: the core fills the particle; d = r: only the shell contrast remains.
  CHECK(rel(ph::core_shell_amplitude(q, r, 0.0, 0.8, 0.4),
            0.4 * ph::sphere_volume(r) * ph::sphere_amplitude(q * r)) < 1e-12);
  CHECK(rel(ph::core_shell_amplitude(q, r, r, 0.8, 0.4),
            (0.8 * 1.4 - 1) * ph::sphere_volume(r) * ph::sphere_amplitude(q * r)) < 1e-12);
  // Forward scattering = Σ contrast × volume.
  const double f0 = ph::core_shell_amplitude(0.0, r, d, 1.2, -0.3);
  CHECK(rel(f0, c.shell * (ph::sphere_volume(r) - ph::sphere_volume(r - d)) +
                    c.core * ph::sphere_volume(r - d)) < 1e-12);
  CHECK(rel(ph::core_shell_intensity(q, r, d, 1.2, -0.3),
            std::pow(ph::core_shell_amplitude(q, r, d, 1.2, -0.3), 2)) < 1e-15);
  CHECK_THROWS_AS(ph::core_shell_amplitude(q, r, r + 1, 1.0, 0.0), lnpsaxs::InputError);
  CHECK_THROWS_AS(ph::core_shell_amplitude(q, 0.0, 0.0, 1.0, 0.0), lnpsaxs::InputError);
}

TEST_CASE("analytic sphere: Guinier slope gives Rg^2 = 3R^2/5") {
  const double r = 150;
  // ln f(qR)² = −(qR)²/5 − (qR)⁴/350 + …: fit a + b q² + c q⁴ over q·Rg ≤ 1/2.
  const double rg = std::sqrt(0.6) * r;
  double s[5] = {0, 0, 0, 0, 0}, t[3] = {0, 0, 0};
  for (int i = 1; i <= 40; ++i) {
    const double q = i / (80.0 * rg), x = q * q, y = std::log(std::pow(ph::sphere_amplitude(q * r), 2));
    double p = 1;
    for (int k = 0; k < 5; ++k, p *= x) s[k] += p;
    t[0] += y;
    t[1] += y * x;
    t[2] += y * x * x;
  }
  // 3×3 normal equations by Cramer's rule.
  const double a[3][3] = {{s[0], s[1], s[2]}, {s[1], s[2], s[3]}, {s[2], s[3], s[4]}};
  auto det = [](const double m[3][3]) {
    return m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) -
           m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
           m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
  };
  double b[3][3];
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) b[i][j] = j == 1 ? t[i] : a[i][j];
  const double slope = det(b) / det(a);
  CHECK(rel(-3 * slope, 0.6 * r * r) < 1e-4);  // the q⁶ term left by the fit
}

TEST_CASE("smoothing factor: exp(-sigma^2 dx^2 q^2)") {
  CHECK(rel(ph::smoothing_intensity_factor(0.2, 5.0, 1.0), std::exp(-1.0)) < 1e-15);
  CHECK(ph::smoothing_intensity_factor(0.3, 5.0, 0.0) == 1.0);
  CHECK(rel(ph::smoothing_intensity_factor(0.1, 10.0, 1.5), std::exp(-2.25)) < 1e-15);
}

TEST_CASE("1-D radial kernel: a normalised Gaussian average in |q|") {
  ph::RadialKernel1d k;
  k.sigma_q = 6e-4;
  const std::vector<double> q = {0.02, 0.05, 0.1};
  for (double v : ph::radial_kernel_average([](double) { return 3.5; }, q, k)) CHECK(rel(v, 3.5) < 1e-14);
  // Symmetric window: the mean of Q is q, the variance σ² times the ±5σ truncation factor
  // 1 − 10·φ(5)/(2Φ(5) − 1) = 1 − 1.4867e-5.
  const auto mean = ph::radial_kernel_average([](double x) { return x; }, q, k);
  for (std::size_t i = 0; i < q.size(); ++i) CHECK(rel(mean[i], q[i]) < 1e-12);
  for (double qk : q) {
    const auto var = ph::radial_kernel_average([&](double x) { return (x - qk) * (x - qk); }, {qk}, k);
    CHECK(rel(var[0], k.sigma_q * k.sigma_q * (1 - 1.4867e-5)) < 1e-6);
  }
  // A floor cuts the window: only Q ≥ floor contribute, so the mean moves up.
  k.q_floor = 0.0199;
  const auto cut = ph::radial_kernel_average([](double x) { return x; }, {0.02}, k);
  CHECK(cut[0] > 0.02 + 0.5 * k.sigma_q);
  k.sigma_q = 0;
  CHECK_THROWS_AS(ph::radial_kernel_average([](double x) { return x; }, q, k), lnpsaxs::InputError);
}

TEST_CASE("log-normal: (m, s) map to mu, sigma with the stated real-space mean and SD") {
  struct Case {
    double m, s;
  };
  for (const Case c : {Case{0.1, 0.02}, Case{0.05, 0.15}, Case{0.15, 0.01}, Case{245, 30}}) {
    CAPTURE(c.m);
    CAPTURE(c.s);
    const ph::LogNormal ln = ph::lognormal_from_mean_sd(c.m, c.s);
    CHECK(rel(ln.sigma * ln.sigma, std::log(1 + c.s * c.s / (c.m * c.m))) < 1e-14);
    CHECK(rel(ln.mu, std::log(c.m) - ln.sigma * ln.sigma / 2) < 1e-14);
    const double norm = integrate_log([&](double x) { return ph::lognormal_pdf(x, ln); }, ln);
    const double mean = integrate_log([&](double x) { return x * ph::lognormal_pdf(x, ln); }, ln);
    const double m2 = integrate_log([&](double x) { return x * x * ph::lognormal_pdf(x, ln); }, ln);
    CHECK(rel(norm, 1.0) < 1e-9);
    CHECK(rel(mean, c.m) < 1e-9);
    CHECK(rel(std::sqrt(m2 - mean * mean), c.s) < 1e-7);
  }
  CHECK_THROWS_AS(ph::lognormal_from_mean_sd(0.0, 0.1), lnpsaxs::InputError);
  CHECK_THROWS_AS(ph::lognormal_from_mean_sd(0.1, -0.1), lnpsaxs::InputError);
}

TEST_CASE("GRF spectrum: w weights component 2, DC is zero") {
  const double m1 = 0.06, s1 = 0.01, m2 = 0.14, s2 = 0.02, q = 0.09;
  const auto ln1 = ph::lognormal_from_mean_sd(m1, s1), ln2 = ph::lognormal_from_mean_sd(m2, s2);
  CHECK(rel(ph::grf_power_spectrum(q, 0.0, m1, s1, m2, s2), ph::lognormal_pdf(q, ln1)) < 1e-15);
  CHECK(rel(ph::grf_power_spectrum(q, 1.0, m1, s1, m2, s2), ph::lognormal_pdf(q, ln2)) < 1e-15);
  CHECK(rel(ph::grf_power_spectrum(q, 0.3, m1, s1, m2, s2),
            0.7 * ph::lognormal_pdf(q, ln1) + 0.3 * ph::lognormal_pdf(q, ln2)) < 1e-14);
  CHECK(ph::grf_power_spectrum(0.0, 0.3, m1, s1, m2, s2) == 0.0);
  CHECK_THROWS_AS(ph::grf_power_spectrum(q, 1.5, m1, s1, m2, s2), lnpsaxs::InputError);
}
