#include "models/forward/quadrature.h"

#include <cmath>
#include <string>

#include "lnpsaxs/errors.h"

namespace lnpsaxs::fit {
namespace {
constexpr double kPi = 3.14159265358979323846;

}  // namespace

GaussLegendre gauss_legendre_unit(std::int64_t k) {
  if (k < 1) throw InputError("Gauss-Legendre quadrature needs at least 1 node, got " + std::to_string(k));
  const auto n = static_cast<std::size_t>(k);
  GaussLegendre g;
  g.node.resize(n);
  g.weight.resize(n);
  // P_n(x) and P_{n-1}(x) by the three-term recurrence.
  auto legendre = [n](double x, double& pn, double& pn1) {
    double p0 = 1.0, p1 = x;
    for (std::size_t j = 2; j <= n; ++j) {
      const double dj = static_cast<double>(j);
      const double p2 = ((2.0 * dj - 1.0) * x * p1 - (dj - 1.0) * p0) / dj;
      p0 = p1;
      p1 = p2;
    }
    pn = p1;
    pn1 = p0;
  };
  const double dn = static_cast<double>(n);
  for (std::size_t i = 0; i < n; ++i) {
    double x = std::cos(kPi * (static_cast<double>(i) + 0.75) / (dn + 0.5));  // Tricomi's start, descending
    double pn = 0, pn1 = 0, dp = 1;
    for (int it = 0; it < 100; ++it) {
      legendre(x, pn, pn1);
      dp = dn * (x * pn - pn1) / (x * x - 1.0);
      const double dx = pn / dp;
      x -= dx;
      if (std::fabs(dx) < 1e-16) break;
    }
    legendre(x, pn, pn1);
    dp = dn * (x * pn - pn1) / (x * x - 1.0);
    g.node[n - 1 - i] = 0.5 * (x + 1.0);
    g.weight[n - 1 - i] = 1.0 / ((1.0 - x * x) * dp * dp);  // w^GL/2 = 1/((1 - x^2) P_n'(x)^2)
  }
  return g;
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

}  // namespace lnpsaxs::fit
