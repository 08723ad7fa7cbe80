// Parameter space: unit-cube maps and the η ordering reparameterisation (docs/method.md §1.1, §1.3).
#include <doctest/doctest.h>

#include <cmath>
#include <random>

#include "lnpsaxs/config.h"
#include "lnpsaxs/param_space.h"

using lnpsaxs::ParameterSpace;
namespace eta = lnpsaxs::eta;

TEST_CASE("default box is the paper's training box in surrogate input order") {
  const ParameterSpace s = ParameterSpace::defaults();
  CHECK(s[ParameterSpace::delta_rho_int].name == "delta_rho_int");
  CHECK(s[ParameterSpace::radius].name == "radius");
  CHECK(s[ParameterSpace::radius].lower == 100);
  CHECK(s[ParameterSpace::radius].upper == 500);
  CHECK(s[ParameterSpace::shell_thickness].lower == 40);
  CHECK(s[ParameterSpace::rho_rel].upper == doctest::Approx(1.3));
  CHECK(s.names().size() == 9);
}

TEST_CASE("unit cube <-> physical round trip") {
  const auto cfg = lnpsaxs::config::Config::from_string("parameters:\n  radius: [150, 320]\n", "t.yaml");
  const ParameterSpace s = ParameterSpace::from_config(cfg);
  CHECK(s[ParameterSpace::radius].lower == 150);
  std::mt19937_64 gen(7);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<double> unit(9 * 100), phys(unit.size()), back(unit.size());
  for (auto& x : unit) x = u(gen);
  s.to_physical(unit.data(), phys.data(), 100);
  s.to_unit(phys.data(), back.data(), 100);
  for (std::size_t i = 0; i < unit.size(); ++i) {
    CHECK(back[i] == doctest::Approx(unit[i]).epsilon(1e-14));
    const auto& p = s[static_cast<int>(i % 9)];
    CHECK(phys[i] >= p.lower);
    CHECK(phys[i] <= p.upper);
  }
  // Corners map to the bounds exactly.
  std::vector<double> zero(9, 0.0), one(9, 1.0), pz(9), po(9);
  s.to_physical(zero.data(), pz.data(), 1);
  s.to_physical(one.data(), po.data(), 1);
  CHECK(pz[ParameterSpace::radius] == 150);
  CHECK(po[ParameterSpace::radius] == 320);
}

TEST_CASE("eta round trip and strict ordering m_q2 > m_q1") {
  const double h = 0.15;
  for (double m1 = 0.05; m1 < h; m1 += 0.0013) {
    for (double raw = -40; raw <= 40; raw += 0.37) {
      const double e = eta::from_raw(raw);
      CHECK(e >= eta::kEpsilon);
      CHECK(e <= 1 - eta::kEpsilon);
      const double m2 = eta::m_q2_from_eta(m1, e, h);
      CHECK(m2 > m1);
      CHECK(m2 < h);
      CHECK(eta::eta_from_m_q2(m1, m2, h) == doctest::Approx(e).epsilon(1e-9));
    }
  }
  // raw -> eta -> raw inside the reference clamp (|raw| < ~13.8).
  for (double raw = -13; raw <= 13; raw += 0.5) {
    CHECK(eta::to_raw(eta::from_raw(raw)) == doctest::Approx(raw).epsilon(1e-6));
  }
  // Extreme raw values saturate at the bounds and never cross m_q1.
  CHECK(eta::m_q2_from_eta(0.149, eta::from_raw(-1e6), h) > 0.149);
  CHECK(eta::from_raw(1e6) == doctest::Approx(1 - eta::kEpsilon));
}
