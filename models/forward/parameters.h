#pragma once
// The free parameters of each forward model, their boxes and the unconstrained
// reparameterisations the optimiser works in (docs/method.md §1.2–1.3,
// §5.5, §7). Plain double precision; multistart.cpp applies the same maps to tensors.
//
// Physical order (the order of every output file):
//   surrogate  [m_r, s_r, delta_rho_int, w, m_q1, m_q2, s_q1, s_q2, shell_thickness, rho_rel]
//   sphere     [m_r, s_r]
//   core_shell [m_r, s_r, shell_thickness, contrast]
// plus `background` last when the target fits one.
// Maps from an unconstrained raw value ρ:
//   sigmoid box  x = lo + (hi − lo)·sigmoid(ρ)            (m_r, s_r, background)
//   tanh box     x = mid + half·tanh(ρ)                   (structural parameters, d and c)
//   eta          m_q2 = m_q1 + η(ρ)·(h − m_q1), η = ε + (1 − 2ε)·sigmoid(ρ), h = upper end of m_q1
//   cv           s_r = m_r·(cv_lo + (cv_hi − cv_lo)·sigmoid(ρ))  (fit.size_parameters = m_r_cv)
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace lnpsaxs::fit {

/// Forward model of a fit (docs/method.md §5, §7): the GRF surrogate or an analytical baseline.
enum class Model { surrogate, sphere, core_shell };
/// "surrogate" | "sphere" | "core_shell" (InputError otherwise).
Model parse_model(const std::string& s);
/// The config spelling of `m` (inverse of parse_model).
std::string model_name(Model m);

enum class Transform { sigmoid, tanh, eta, cv };

struct ParamSpec {
  std::string name;
  std::string unit;
  double lower = 0;  ///< reported box (physical units); the map keeps x strictly inside
  double upper = 1;
  Transform transform = Transform::sigmoid;
  double t_lower = 0;  ///< cv: the box of cv; unused otherwise
  double t_upper = 1;
  int ref = -1;  ///< eta: index of m_q1; cv: index of m_r
};

/// Boxes of one fit (config + target overrides).
struct Boxes {
  std::pair<double, double> m_r{120, 350}, s_r{10, 100}, cv{0.10, 0.35};
  bool size_as_cv = false;
  // surrogate structural boxes
  std::pair<double, double> delta_rho_int{-0.98, 0.98}, w{0.01, 0.99}, m_q1{0.05, 0.15}, s_q1{0.01, 0.15},
      s_q2{0.01, 0.15}, shell_thickness{40, 70}, rho_rel{0.7, 1.3};
  // core-shell baseline
  std::pair<double, double> cs_shell_thickness{20, 100}, cs_contrast{0.5, 2.0};
  double background_upper = 1;  ///< background box [0, this] in the data's intensity unit
};

class Layout {
 public:
  Layout(Model model, bool background, const Boxes& boxes);
  Model model() const { return model_; }
  bool background() const { return background_; }
  std::size_t size() const { return params_.size(); }
  const ParamSpec& operator[](std::size_t j) const { return params_.at(j); }
  const std::vector<ParamSpec>& params() const { return params_; }
  std::vector<std::string> names() const;
  std::vector<std::string> units() const;
  std::vector<double> lower() const;
  std::vector<double> upper() const;
  /// Index of `name`, or −1.
  int index(const std::string& name) const;

  /// One row: raw [size()] → physical [size()].
  void physical_from_raw(const double* raw, double* physical) const;
  /// Inverse (clamped like the reference: tanh argument to ±0.999999, sigmoid fraction to
  /// [1e-6, 1 − 1e-6], η to [1e-4, 1 − 1e-4]).
  void raw_from_physical(const double* physical, double* raw) const;

 private:
  Model model_;
  bool background_;
  std::vector<ParamSpec> params_;
};

/// How restarts start (docs/method.md §5.5).
struct StartSettings {
  double margin = 0.05;     ///< Sobol coordinates mapped to [margin, 1 − margin] of each box
  bool fixed_size = false;  ///< (m_r, s_r) = fixed_m_r, fixed_s_r for every restart
  double fixed_m_r = 205.32;
  double fixed_s_r = 41.064;
  double m_q2_gap = 0.1;  ///< initial m_q2 − m_q1 ≥ gap·(span of the m_q1 box)
};

/// Physical starts of restarts [first, first + count): row-major [count, layout.size()]. Restart i
/// uses point i of an Owen-scrambled Sobol design seeded by `seed`, so it depends only on
/// (seed, i).
std::vector<double> sobol_starts(const Layout& layout, const StartSettings& s, std::uint64_t seed,
                                 std::int64_t first, std::int64_t count);

}  // namespace lnpsaxs::fit
